"""Loading `deploygate.toml` into frozen dataclasses, with errors that name file, check and key.

Plain Python: no pytest here. :func:`load_config` is the entry point; each check kind reads its
own keys through an :class:`EntryReader`, which tracks what was read so that an unknown key is
reported (with a suggestion) instead of silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

# tomli, not the stdlib's tomllib: its compiled wheels parse three times faster (the same parser)
import tomli as tomllib

from .api import Entry, OptionsT, Severity, Target
from .db.url import DatabaseConfig, parse_database_url
from .errors import ConfigError, MissingVariable
from .secrets import Redactor
from .wording import count, describe_value, format_duration, parse_duration

if TYPE_CHECKING:
    from .api import CheckKind


DEFAULT_SAMPLES = 5
MAX_SAMPLES = 10_000
MAX_INTEGER = 2**63 - 1  # a PostgreSQL bigint: what a count or a bound is compared with
MAX_TIMEOUT = 24 * 86400.0  # statement_timeout is an int of milliseconds: 24.8 days at most
DEFAULT_TIMEOUT = 30.0
DEFAULT_HTTP_CONCURRENCY = 8
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_STATEMENT_TIMEOUT = 60.0
CONFIG_FILENAME = "deploygate.toml"
SETTINGS_KEYS = ("samples", "timeout", "could_not_check", "http_concurrency")


_VARIABLE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


def interpolate(text: str, environ: Mapping[str, str], used: dict[str, str] | None = None) -> str:
    """Replace `${VAR}` and `${VAR:-default}` from `environ`; `$${` is a literal `${`.

    Args:
        text: the string from the config.
        environ: where variables are read.
        used: filled with the variables that were read from `environ` (their values are secrets).

    Raises:
        MissingVariable: a `${VAR}` without default whose variable is unset.
        ValueError: a `${` that does not form a variable reference.
    """
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        whole, name, default = match.group(0), match.group(1), match.group(2)
        if whole == "$${":
            return "${"
        if name is None:
            # the offset, not the text: the value may be a URL with its password in it
            raise ValueError(f'has a "${{" at character {match.start() + 1} that is not ${{VAR}} or '
                             f'${{VAR:-default}} (write $${{ for a literal)')
        if name in environ:
            if used is not None:
                used[name] = environ[name]
            return environ[name]
        if default is not None:
            return default
        raise MissingVariable(name)

    return _VARIABLE.sub(replace, text)


def suggest(word: str, choices: Iterable[str]) -> str:
    """` (did you mean "query"?)` for a misspelt key, else the valid keys."""
    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f' (did you mean "{close[0]}"?)'
    if choices:
        return " (valid keys: " + ", ".join(choices) + ")"
    return ""


# ---------------------------------------------------------------------------------------------
# Reading one table


class _Loading:
    """State shared by every reader of one file: where it is, the environment, the secrets."""

    def __init__(self, file: Path, display: str, environ: Mapping[str, str],
                 databases: Mapping[str, DatabaseConfig] | None = None) -> None:
        self.file = file
        self.display = display
        self.environ = environ
        self.databases: Mapping[str, DatabaseConfig] = databases or {}
        self.used: dict[str, str] = {}
        self.secrets: list[str] = []


class EntryReader:
    """Typed, validating access to one config table; each getter marks its key as known.

    Kinds call the getters in `CheckKind.parse`; after that, keys nobody read are reported as
    unknown with a suggestion. Every error is a :class:`ConfigError` naming file, check and key.
    """

    def __init__(self, data: Mapping[str, Any], loading: _Loading, where: str, prefix: str = "") -> None:
        self._data = data
        self._loading = loading
        self.where = where
        self._prefix = prefix
        self._known: set[str] = set()

    # -- context -----------------------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        """The config file's folder: relative paths are relative to it."""
        return self._loading.file.parent

    @property
    def database_aliases(self) -> tuple[str, ...]:
        return tuple(self._loading.databases)

    def database_config(self, alias: str) -> DatabaseConfig:
        return self._loading.databases[alias]

    @property
    def redactor(self) -> Redactor:
        """Scrubs what was read so far that could be secret (database passwords, `${VAR}` values):
        for a kind that reaches a database while it parses."""
        return Redactor([*self._loading.used.values(), *self._loading.secrets])

    def error(self, key: str | None, message: str) -> ConfigError:
        """A ConfigError about `key` of this table; secrets read so far are masked in `message`
        (`statement_timeout = "${DB_PASSWORD}"` quotes what it read)."""
        full = f"{self._prefix}{key}" if key else (self._prefix.rstrip(".") or None)
        return ConfigError(self._loading.display, self.where, full, self.redactor(message))

    def add_secret(self, value: str) -> None:
        """Mark a value (a header value, a token) as never to be shown."""
        self._loading.secrets.append(value)

    def secret_variable(self, name: str) -> None:
        """Mark an environment variable's value as a secret (e.g. one `[[environment]]` requires)."""
        if name in self._loading.environ:
            self._loading.used[name] = self._loading.environ[name]

    # -- keys --------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return list(self._data)

    def has(self, key: str) -> bool:
        self._known.add(key)
        return key in self._data

    def known(self, *keys: str) -> None:
        """Declare keys as valid without reading them (read elsewhere)."""
        self._known.update(keys)

    def unknown_keys(self, extra_known: Iterable[str] = ()) -> None:
        known = self._known | set(extra_known)
        for key in self._data:
            if key not in known:
                raise self.error(key, "unknown key" + suggest(key, known))

    def misspelt(self, key: str) -> None:
        """Raise "unknown key ... (did you mean `key`?)" when a key nobody read looks like `key`."""
        for found in self._data:
            if found not in self._known and difflib.get_close_matches(found, [key], n=1, cutoff=0.6):
                raise self.error(found, f'unknown key (did you mean "{key}"?)')

    def raw(self, key: str) -> Any:
        self._known.add(key)
        return self._data.get(key)

    def _typed(self, key: str, kinds: type | tuple[type, ...], what: str) -> Any:
        value = self.raw(key)
        if value is None:
            return None
        # bool is an int in Python; TOML keeps them apart and so do we
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            raise self.error(key, f"expected {what}, got {describe_value(value)}")
        if not isinstance(value, kinds):
            raise self.error(key, f"expected {what}, got {describe_value(value)}")
        return value

    def _interpolate(self, key: str, text: str) -> str:
        try:
            return interpolate(text, self._loading.environ, self._loading.used)
        except MissingVariable as exc:
            raise self.error(key, f"environment variable {exc.name} is not set "
                                  f"(set it, or write ${{{exc.name}:-default}})") from None
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def interpolate_text(self, key: str, text: str) -> str:
        """`${VAR}` in a string found inside a value (a table, a list) that the kind reads itself."""
        return self._interpolate(key, text)

    @overload
    def string(self, key: str, default: str, *, required: bool = ..., interpolate: bool = ...) -> str: ...
    @overload
    def string(self, key: str, default: None = ..., *, required: bool = ..., interpolate: bool = ...) -> str | None: ...

    def string(self, key: str, default: str | None = None, *, required: bool = False,
               interpolate: bool = True) -> str | None:
        value = self._typed(key, str, "a string")
        if value is None:
            if required:
                raise self.error(key, "is required")
            return default
        return self._interpolate(key, value) if interpolate else value

    def required_string(self, key: str, *, interpolate: bool = True) -> str:
        value = self.string(key, interpolate=interpolate)
        if value is None:
            raise self.error(key, "is required")
        return value

    def strings(self, key: str, default: Sequence[str] = (), *, interpolate: bool = True) -> tuple[str, ...]:
        """A string or a list of strings."""
        value = self.raw(key)
        if value is None:
            return tuple(default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"expected a string or a list of strings, got {describe_value(value)}")
        return tuple(self._interpolate(key, v) if interpolate else v for v in value)

    @overload
    def integer(self, key: str, default: int, *, minimum: int | None = ..., maximum: int = ...) -> int: ...
    @overload
    def integer(self, key: str, default: None = ..., *, minimum: int | None = ...,
                maximum: int = ...) -> int | None: ...

    def integer(self, key: str, default: int | None = None, *, minimum: int | None = None,
                maximum: int = MAX_INTEGER) -> int | None:
        """An integer; by default at most a 64-bit database integer holds (`bigint`)."""
        value = self._typed(key, int, "an integer")
        if value is None:
            return default
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise self.error(key, f"must be at most {count(maximum)}, got {count(value) if value < 10**30 else 'more'}")
        return int(value)

    @overload
    def number(self, key: str, default: float) -> float: ...
    @overload
    def number(self, key: str, default: None = ...) -> float | None: ...

    def number(self, key: str, default: float | None = None) -> float | None:
        value = self._typed(key, (int, float), "a number")
        return default if value is None else float(value)

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self._typed(key, bool, "true or false")
        return default if value is None else bool(value)

    @overload
    def duration(self, key: str, default: float, *, timeout: bool = ...) -> float: ...
    @overload
    def duration(self, key: str, default: None = ..., *, timeout: bool = ...) -> float | None: ...

    def duration(self, key: str, default: float | None = None, *, timeout: bool = False) -> float | None:
        """A duration (`"30s"`); a `timeout` is above zero and at most 24 days (PostgreSQL's limit)."""
        text = self.string(key)
        if text is None:
            return default
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if timeout and not 0 < seconds <= MAX_TIMEOUT:
            raise self.error(key, f'"{text}" is not a time limit between 1ms and {format_duration(MAX_TIMEOUT)}')
        return seconds

    def regex(self, key: str) -> str | None:
        text = self.string(key, interpolate=False)
        if text is not None:
            self.check_regex(key, text)
        return text

    def check_regex(self, key: str, pattern: str) -> re.Pattern[str]:
        try:
            # re's FutureWarning ("Possible nested set" for PostgreSQL's `[[:alpha:]]`) would be a
            # traceback under `-W error`; the pattern is valid, so it is not shown (tests/test_config_fuzz.py)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                return re.compile(pattern)
        except re.error as exc:
            raise self.error(key, f"invalid regular expression {pattern!r}: {exc}") from None
        except (RecursionError, OverflowError) as exc:
            # re's parser lets these out: groups nested ~1,000 deep, `a{99999999999}` (tests/test_config_fuzz.py)
            what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise self.error(key, f"invalid regular expression {pattern[:80]!r}: {what}") from None

    @overload
    def choice(self, key: str, choices: Sequence[str], default: str) -> str: ...
    @overload
    def choice(self, key: str, choices: Sequence[str], default: None = ...) -> str | None: ...

    def choice(self, key: str, choices: Sequence[str], default: str | None = None) -> str | None:
        value = self.string(key, interpolate=False)
        if value is None:
            return default
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise self.error(key, f'"{value}" is not one of {", ".join(choices)}{hint}')
        return value

    def path(self, key: str, *, required: bool = False) -> Path | None:
        """A path, relative to the config file's folder unless absolute."""
        text = self.string(key, required=required)
        if text is None:
            return None
        return (self.base_dir / text) if not os.path.isabs(text) else Path(text)

    def string_table(self, key: str) -> dict[str, str]:
        """A table of string values (headers, labels)."""
        value = self._typed(key, dict, "a table")
        if value is None:
            return {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise self.error(f"{key}.{k}", f"expected a string, got {describe_value(v)}")
        return {k: self._interpolate(f"{key}.{k}", v) for k, v in value.items()}

    def table(self, key: str) -> EntryReader | None:
        """A nested table, read with its own reader (its keys reported as `key.sub`)."""
        value = self._typed(key, dict, "a table")
        if value is None:
            return None
        return EntryReader(value, self._loading, self.where, f"{self._prefix}{key}.")

    def tables(self, key: str) -> list[tuple[str, EntryReader]]:
        """A table of tables (`[rows.columns.slug]`), in file order."""
        outer = self.table(key)
        if outer is None:
            return []
        result = []
        for name in outer.keys():  # noqa: SIM118 - a reader, not a dict: keys() is its API
            inner = outer.table(name)
            if inner is None:  # `[rows.columns] slug = 1`: a value where a table belongs
                raise outer.error(name, "expected a table")
            result.append((name, inner))
        return result

    def one_or_more(self, key: str, *, interpolate: bool = True) -> tuple[str, ...]:
        """A string or a list of strings, as a tuple (`strip_prefix = "/"` or `["/", "https://cdn/"]`)."""
        if isinstance(self.raw(key), str):
            return (self.string(key, interpolate=interpolate) or "",)
        return self.strings(key, interpolate=interpolate)

    def dotted_name(self, key: str, text: str, *, parts: tuple[int, int]) -> tuple[str, ...]:
        """`schema.table` or `table.column` (the value of `key`) split on dots, checked for the
        number of parts: (1, 2) for a table, (2, 3) for a column."""
        names = tuple(text.split("."))
        if not (parts[0] <= len(names) <= parts[1]) or not all(n.strip() for n in names):
            shapes = {(1, 2): '"table" or "schema.table"', (2, 3): '"table.column" or "schema.table.column"'}
            raise self.error(key, f'"{text}" is not {shapes[parts]}')
        return names

    def database(self, key: str = "database") -> str:
        """A database alias, checked against `[databases]`; optional when there is only one."""
        aliases = self.database_aliases
        value = self.string(key, interpolate=False)
        if value is None:
            if len(aliases) == 1:
                return aliases[0]
            if not aliases:
                raise self.error(key, "is required, and no [databases.NAME] table is defined")
            raise self.error(key, f"is required (databases: {', '.join(aliases)})")
        if value not in aliases:
            hint = suggest(value, aliases).replace("valid keys", "databases")
            raise self.error(key, f'unknown database "{value}"{hint or " (no [databases.NAME] is defined)"}')
        return value


# ---------------------------------------------------------------------------------------------
# The whole file


@dataclass(frozen=True)
class Settings:
    """`[deploygate]`.

    Attributes:
        samples: examples a failure shows.
        timeout: a check's default time budget, in seconds.
        could_not_check: what a check that could not run does (a database down, a query error):
            "fail" (the default, whatever the check's severity) or "warn" (reported, the run passes).
        http_concurrency: how many fetches (HTTP requests of `[[endpoint]]`) one process runs at
            once, ahead of their items.
    """

    samples: int = DEFAULT_SAMPLES
    timeout: float = DEFAULT_TIMEOUT
    could_not_check: Severity = "fail"
    http_concurrency: int = DEFAULT_HTTP_CONCURRENCY


@dataclass(frozen=True)
class GateConfig:
    """A loaded config: its settings, databases, entries and their targets (in file order)."""

    path: Path
    display: str
    settings: Settings
    databases: Mapping[str, DatabaseConfig]
    entries: tuple[Entry[Any], ...]
    targets: tuple[Target[Any, Any], ...]
    secrets: tuple[str, ...] = field(default=())

    def entries_of(self, kind: CheckKind[OptionsT, Any]) -> list[Entry[OptionsT]]:
        """The entries of `kind`, typed by its options (a kind looking at its sibling entries)."""
        return [cast("Entry[OptionsT]", entry) for entry in self.entries if entry.kind == kind.name]

    @cached_property
    def redactor(self) -> Redactor:
        """Scrubs this gate's secrets from any text."""
        return Redactor(self.secrets)


_NAME = re.compile(r"^[^\[\]\s]+$")
_MARK = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # pytest refuses marks that start with "_"


def _read_toml(path: Path, display: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(display, "", None, f"cannot read: {exc.strerror or exc}") from None
    try:
        # a byte-order mark, as some Windows editors write, is not part of the TOML
        data = tomllib.loads(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(display, "", None, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
                                             "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(display, "", None, f"invalid TOML: {exc}") from None
    except (RecursionError, ValueError) as exc:
        # tomli lets two errors out undressed (found by tests/test_config_fuzz.py): a RecursionError
        # for inline arrays/tables nested past 400 levels, and int()'s ValueError for an integer of
        # more than 4,300 digits (whose advice after the ";", sys.set_int_max_str_digits, is not for a config)
        raise ConfigError(display, "", None, f"invalid TOML: {str(exc).split(';')[0]}") from None
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        if not isinstance(tool, dict) or "deploygate" not in tool:
            raise ConfigError(display, "", None, "has no [tool.deploygate] table")
        section = tool["deploygate"]
        if not isinstance(section, dict):
            raise ConfigError(display, "[tool.deploygate]", None, "expected a table")
        return section
    return data


def load_config(path: Path, kinds: Mapping[str, CheckKind[Any, Any]], environ: Mapping[str, str] | None = None,
                display: str | None = None) -> GateConfig:
    """Read, interpolate, validate and expand a gate config.

    Args:
        path: `deploygate.toml`, another TOML file, or a `pyproject.toml` with `[tool.deploygate]`.
        kinds: the registered check kinds, by table name.
        environ: where `${VAR}` is read (default: `os.environ`).
        display: how messages name the file (default: its path).

    Raises:
        ConfigError: anything wrong, in one line naming file, check and key.
    """
    environ = os.environ if environ is None else environ
    display = display or str(path)
    data = _read_toml(path, display)
    in_pyproject = path.name == "pyproject.toml"
    loading = _Loading(path, display, environ)

    settings = _read_settings(data, loading, in_pyproject)
    databases = _read_databases(data.get("databases"), loading)
    loading.databases = databases

    # in pyproject.toml the settings sit in [tool.deploygate] itself: a [tool.deploygate.deploygate]
    # table would be read by nobody
    top_known = {"databases", *kinds, *(SETTINGS_KEYS if in_pyproject else ("deploygate",))}
    for key in data:
        if key not in top_known:
            raise ConfigError(display, "", key, "unknown table" + suggest(key, top_known).replace(
                "valid keys", "valid tables"))

    entries: list[Entry[Any]] = []
    for kind_name in data:
        if kind_name not in kinds:
            continue
        tables = data[kind_name]
        if isinstance(tables, dict):  # `[sql]` written for `[[sql]]`: one entry, as meant
            tables = [tables]
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ConfigError(display, f"[[{kind_name}]]", None, "expected tables ([[" + kind_name + "]])")
        for index, table in enumerate(tables, start=1):
            entries.append(_read_entry(kinds[kind_name], index, table, loading, settings))

    secrets = [*loading.used.values(), *loading.secrets,
               *(secret for db in databases.values() for secret in db.url.secrets)]
    targets = _expand(entries, kinds, display, Redactor(s for s in secrets if s))
    return GateConfig(path, display, settings, databases, tuple(entries), targets,
                      tuple(s for s in secrets if s))


def _read_settings(data: Mapping[str, Any], loading: _Loading, in_pyproject: bool) -> Settings:
    if in_pyproject:
        section: Any = {k: v for k, v in data.items() if k in SETTINGS_KEYS}
        where = "[tool.deploygate]"
    else:
        section = data.get("deploygate", {})
        where = "[deploygate]"
    if not isinstance(section, dict):
        raise ConfigError(loading.display, where, None, "expected a table")
    reader = EntryReader(section, loading, where)
    samples = reader.integer("samples", DEFAULT_SAMPLES, minimum=0, maximum=MAX_SAMPLES)
    timeout = reader.duration("timeout", DEFAULT_TIMEOUT, timeout=True)
    could_not_check: Severity = "warn" if reader.choice("could_not_check", ("fail", "warn"), "fail") == "warn" else "fail"
    http_concurrency = reader.integer("http_concurrency", DEFAULT_HTTP_CONCURRENCY, minimum=1, maximum=256)
    reader.unknown_keys()
    return Settings(samples, timeout, could_not_check, http_concurrency)


def _read_databases(section: Any, loading: _Loading) -> dict[str, DatabaseConfig]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(loading.display, "[databases]", None, "expected tables [databases.NAME]")
    result = {}
    for alias, table in section.items():
        where = f"[databases.{alias}]"
        if not isinstance(table, dict):
            raise ConfigError(loading.display, where, None, "expected a table with a url")
        if not _NAME.match(alias):
            raise ConfigError(loading.display, where, None, "a database name cannot contain spaces or brackets")
        reader = EntryReader(table, loading, where)
        raw_url = reader.required_string("url")
        try:
            url = parse_database_url(raw_url, reader.base_dir)
        except ValueError as exc:
            raise reader.error("url", str(exc)) from None
        connect_timeout = reader.duration("connect_timeout", DEFAULT_CONNECT_TIMEOUT, timeout=True)
        statement_timeout = reader.duration("statement_timeout", DEFAULT_STATEMENT_TIMEOUT, timeout=True)
        allow_privileged = reader.boolean("allow_privileged")
        reader.unknown_keys()
        result[alias] = DatabaseConfig(alias, url, connect_timeout, statement_timeout, allow_privileged)
    return result


def _read_entry(kind: CheckKind[Any, Any], index: int, table: Mapping[str, Any], loading: _Loading,
                settings: Settings) -> Entry[Any]:
    given_name = table.get("name")
    label = f"[[{kind.name}]] #{index}" + (f' "{given_name}"' if isinstance(given_name, str) else "")
    reader = EntryReader(table, loading, label)

    name = reader.string("name", interpolate=False)
    if name is not None and not _NAME.match(name):
        raise reader.error("name", f'"{name}" cannot contain spaces or brackets (it becomes the item id)')
    severity: Severity = "warn" if reader.choice("severity", ("fail", "warn"), "fail") == "warn" else "fail"
    marks = reader.strings("marks", interpolate=False)
    for mark in marks:
        if not _MARK.match(mark):
            raise reader.error("marks", f'"{mark}" is not a valid mark name')
    timeout = reader.duration("timeout", settings.timeout, timeout=True)
    skip_value = reader.raw("skip")
    if skip_value is None or skip_value is False:
        skip = None
    elif skip_value is True:
        skip = "skipped in the config"
    elif isinstance(skip_value, str) and skip_value.strip():
        skip = skip_value
    elif isinstance(skip_value, str):
        raise reader.error("skip", 'is empty: give a reason (skip = "waiting for the migration") or true')
    else:
        raise reader.error("skip", f"expected a reason (a string) or true, got {describe_value(skip_value)}")
    database = _entry_database(kind, reader)

    try:
        options = kind.parse(reader)
    except ConfigError as exc:
        # `qeury = "..."`: say the key is misspelt, not that "query" is missing
        if exc.key is not None:
            reader.misspelt(exc.key)
        raise
    except OSError as exc:  # a path too long for the system, a folder that cannot be read
        raise reader.error(None, f"cannot use a path it names: {exc.strerror or exc}"
                                 + (f" ({str(exc.filename)[:80]}…)" if exc.filename else "")) from None
    reader.unknown_keys()
    return Entry(
        kind=kind.name, index=index,
        # a name derived from what the entry says (a URL's path, a glob's folder) may hold a
        # `${VAR}` value; one written as `name` is taken as written (not interpolated)
        name=name if name is not None else reader.redactor(kind.default_name(options, index, database)),
        severity=severity, marks=marks, timeout=timeout, skip=skip, options=options,
        source=loading.file, database=database,
    )


def _entry_database(kind: CheckKind[Any, Any], reader: EntryReader) -> str | None:
    use: object = kind.uses_database
    if use is True or use == "required":  # True: kinds written before DatabaseUse
        return reader.database()
    if use == "optional" and reader.has("database"):
        return reader.database()
    return None


def _expand(entries: Sequence[Entry[Any]], kinds: Mapping[str, CheckKind[Any, Any]], display: str,
            redactor: Redactor | None = None) -> tuple[Target[Any, Any], ...]:
    targets: list[Target[Any, Any]] = []
    seen: dict[str, Entry[Any]] = {}
    for entry in entries:
        try:
            expanded = kinds[entry.kind].expand(entry)
        except ConfigError as exc:  # kinds name the file by path; messages name it as the user does
            raise ConfigError(display, exc.where, exc.key, exc.message) from None
        if redactor is not None:
            # an id is a node id, in every output: a `${VAR}` value in a file name a glob found
            # (`path = "${LOG_DIR}/*.log"`) or in a path is masked there too
            expanded = [dataclasses.replace(t, suffix=redactor(t.suffix), subject=redactor(t.subject))
                        if redactor(t.suffix) != t.suffix or redactor(t.subject) != t.subject else t for t in expanded]
        for target in expanded:
            other = seen.get(target.item_name)
            if other is not None:
                where = "the same entry" if other is entry else other.label
                raise ConfigError(display, entry.label, "name",
                                  f"duplicate id {target.item_name} (also from {where}); give it a distinct name")
            seen[target.item_name] = entry
            targets.append(target)
    return tuple(targets)


def entry_error(entry: Entry[Any], key: str | None, message: str, display: str | None = None) -> ConfigError:
    """A ConfigError about an entry, for kinds that find a problem while expanding it."""
    return ConfigError(display or str(entry.source), entry.label, key, message)


def raw_marks(path: Path) -> set[str]:
    """The `marks` the entries of a config file declare, read without validating anything else."""
    try:
        data = _read_toml(path, str(path))
    except ConfigError:
        return set()
    marks: set[str] = set()
    for tables in data.values():
        for table in (tables if isinstance(tables, list) else [tables]):
            if isinstance(table, dict):
                value = table.get("marks")
                for mark in ([value] if isinstance(value, str) else value if isinstance(value, list) else []):
                    if isinstance(mark, str) and _MARK.match(mark):
                        marks.add(mark)
    return marks


def find_config(rootdir: Path, option: str | None, ini: str | None) -> Path | None:
    """Where the gate's config is: the option, the ini key, `deploygate.toml`, `pyproject.toml`."""
    if option:
        return Path(option).resolve()
    if ini:
        return (rootdir / ini).resolve()
    candidate = rootdir / CONFIG_FILENAME
    if candidate.is_file():
        return candidate.resolve()
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file():
        try:
            with pyproject.open("rb") as fh:
                tool = tomllib.load(fh).get("tool", {})
        except (OSError, ValueError, RecursionError):
            # ValueError: invalid TOML, not UTF-8 (it crashed), an integer of 4,301+ digits; RecursionError:
            # inline arrays nested past 400 levels (tests/test_config_fuzz.py)
            return None
        if isinstance(tool, dict) and "deploygate" in tool:
            return pyproject.resolve()
    return None
