"""Bad config is a clear error: the loader, fed generated and mutated configs, raises nothing but
ConfigError, in one line that starts with the file's name.

Four sources, at least 10,000 examples in all on every run (FUZZ_EXAMPLES):

- generated documents: a valid config (every table and key of docs/configuration.md and
  docs/checks/*.md), then up to three damages (a wrong value of the right type or of any type,
  a key deleted, renamed, added, a value wrapped), written by a small TOML writer (tomli has none)
  with tables as headers, inline or as dotted keys;
- the same documents in `pyproject.toml` (`[tool.deploygate]`, `[[tool.deploygate.sql]]`);
- known-good configs mutated as bytes: lines deleted, duplicated, swapped, tokens swapped, bytes
  inserted or flipped, truncated, invalid UTF-8, a byte-order mark;
- raw text and bytes.

Each example writes one file and loads it once. Loading reads files only (never a database or the
network); the configs' paths are relative to one folder per module, which holds what they may name
(snapshots good and bad, a migrations folder, a plain file). A failure shows the file's content.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from pytest_deploygate.checks import builtin_kinds
from pytest_deploygate.checks.migrations import TOOLS
from pytest_deploygate.checks.schema import schema_json
from pytest_deploygate.config import ConfigError, GateConfig, find_config, load_config
from pytest_deploygate.db.reflect import Schema, Table

KINDS = {kind.name: kind for kind in builtin_kinds()}
# some variables set (a secret, an empty one, one with a line break), others (MISSING, NOPE) not
ENV = {
    "DB_PASSWORD": "hunter2-secret",
    "API_URL": "http://127.0.0.1:8000",
    "DATABASE_URL": "postgresql://app:pw@db.internal:5432/prod",
    "SQLITE_URL": "sqlite:///app.db",
    "EMPTY": "",
    "MULTILINE": "line one\nline two",
    "BRACES": "${NOT_AGAIN}",
}

#: examples per test, 10,000 in all per run
FUZZ_EXAMPLES = {"generated": 4000, "pyproject": 1500, "mutated": 3000, "raw": 1500}

FUZZ = settings(
    deadline=None,
    database=None,  # no .hypothesis/ folder in the checkout: a failure prints its input, its seed and a blob
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------------------------------
# Loading one file


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The configs' folder, with the files and folders their paths may name."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "gates").mkdir()
    (root / "migrations" / "20250101000000_init").mkdir(parents=True)
    (root / "migrations" / "20250101000000_init" / "migration.sql").write_text("SELECT 1;\n")
    (root / "notadir").write_text("a file, not a folder\n")
    (root / "snapdir.json").mkdir()
    table = Table(columns={"id": {"type": "integer", "nullable": False, "default": None}}, primary_key=["id"])
    (root / "snapshot.json").write_text(schema_json(Schema("sqlite", {"ads": table})), encoding="utf-8")
    (root / "snapshot_pg.json").write_text(schema_json(Schema("postgresql", {"ads": table}, {"mood": ["a"]})),
                                           encoding="utf-8")
    (root / "broken.json").write_text('{"format": ', encoding="utf-8")
    (root / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (root / "latin1.json").write_bytes(b'{"format": "\xe9"}')
    (root / "shape.json").write_text('{"format": "pytest-deploygate schema snapshot", "version": 1, '
                                     '"dialect": "sqlite", "tables": {"ads": 5}, "enums": {}}', encoding="utf-8")
    return root


def write(path: Path, content: bytes) -> None:
    # a new file, not the old one truncated: ext4 flushes a file truncated and written again
    # (auto_da_alloc), 1-3 ms each time, half the run's time
    path.unlink(missing_ok=True)
    path.write_bytes(content)


def check_load(folder: Path, name: str, content: bytes) -> None:
    """Write `content` as `name` and load it: a GateConfig, or a one-line ConfigError naming the file."""
    note(f"{name}:\n{content.decode('utf-8', 'backslashreplace')}")
    path = folder / name
    write(path, content)
    with warnings.catch_warnings():
        # a warning the loader lets out is a traceback under `-W error` (this suite's own setting)
        warnings.simplefilter("error")
        try:
            gate = load_config(path, KINDS, ENV, display=name)
        except ConfigError as exc:
            message = str(exc)
            assert message.startswith(f"{name}: "), message
            assert "\n" not in message, message
            assert len(message.splitlines()) == 1, message
            event(f"ConfigError {exc.where.split(' ')[0] or exc.key or exc.message[:12]}")
            return
    assert isinstance(gate, GateConfig)
    event(f"loaded ({'with' if gate.targets else 'without'} targets)")


def check_find(folder: Path, content: bytes) -> None:
    """`find_config` reads a rootdir's pyproject.toml: it finds the gate there, or not, and says nothing."""
    rootdir = folder / "rootdir"  # no deploygate.toml here: the pyproject.toml is read
    rootdir.mkdir(exist_ok=True)
    write(rootdir / "pyproject.toml", content)
    assert find_config(rootdir, None, None) in (None, rootdir / "pyproject.toml")


# ---------------------------------------------------------------------------------------------
# A small TOML writer


class Raw(str):
    """TOML text written as is: literals the writer would not produce (`inf`, `0x1F`, dates)."""

    __slots__ = ()


_ESCAPES = {i: f"\\u{i:04x}" for i in [*range(0x20), 0x7F]}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"})


def toml_string(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


def toml_key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        return key
    return toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.date | dt.time):  # a datetime is a date
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _dotted(prefix: str, value: Any, lines: list[str]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _dotted(f"{prefix}.{toml_key(key)}", inner, lines)
    else:
        lines.append(f"{prefix} = {toml_value(value)}")


def toml_document(document: dict[str, Any], *, headers_below: int = 99, dotted: bool = False) -> str:
    """`document` as TOML: tables as `[a.b]` headers and lists of tables as `[[a]]` down to
    `headers_below` levels, deeper ones inline (`{...}`) or as dotted keys (`a.b = 1`)."""
    lines: list[str] = []

    def table(path: tuple[str, ...], data: dict[str, Any]) -> None:
        nested = len(path) < headers_below
        sections = [(k, v) for k, v in data.items() if nested and (isinstance(v, dict) or _is_table_array(v))]
        for key, value in data.items():
            if not nested or not (isinstance(value, dict) or _is_table_array(value)):
                if dotted:
                    _dotted(toml_key(key), value, lines)
                else:
                    lines.append(f"{toml_key(key)} = {toml_value(value)}")
        for key, value in sections:
            header = ".".join(toml_key(k) for k in (*path, key))
            if isinstance(value, dict):
                lines.append(f"[{header}]")
                table((*path, key), value)
            else:
                for item in value:
                    lines.append(f"[[{header}]]")
                    table((*path, key), item)

    table((), document)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Valid documents, built from a seed (one hypothesis draw: cheap, where a strategy per key cost
# ~10 ms an example), with each key's valid values as the docs give them


DURATIONS = ["500ms", "30s", "10m", "26h", "7d", "24d", "1ms", "1.5s", " 5 s ", "${MISSING:-5s}"]
REGEXES = ["^sk_", "^[a-z0-9-]+$", r"\d+", "(?i)^x", "^[[:alpha:]]+$", "$${literal}"]
TABLES = ["ads", "public.ads", "users", "billing.invoices"]
COLUMNS = ["slug", "price", "id", "title", "created_at"]
SEVERITIES = ["fail", "warn"]

COMMON: dict[str, list[Any]] = {
    "name": ["q", "ads-without-images", "main.extra", "x_1", "a:b", "Zz-9", "é"],
    "severity": SEVERITIES,
    "marks": [[], ["nightly"], ["nightly", "slow"], "smoke", ["Gate_1"]],
    "timeout": DURATIONS,
    "skip": [True, False, "waiting for the migration"],
    "database": ["main"],
}
#: kind -> (required keys, optional keys), each with its valid values
KEYS: dict[str, tuple[dict[str, list[Any]], dict[str, list[Any]]]] = {
    "sql": ({"query": ["SELECT 1", "SELECT 1;", "select id from ads where slug is null", "SELECT '${API_URL}'",
                       "SELECT '$${not a variable}'"]}, COMMON),
    "environment": ({"require": [["DATABASE_URL"], ["STRIPE_SECRET_KEY", "DB_PASSWORD"], "HOME", ["EMPTY"]]},
                    {**{k: v for k, v in COMMON.items() if k != "database"}, "allow_empty": [True, False],
                     "pattern": REGEXES}),
    "rows": ({"table": TABLES},
             {**COMMON, "where": ["id > 0", "deleted_at IS NULL"], "key": [[], ["id"], ["id", "slug"], "slug"],
              "min_rows": [0, 1, 1000, {"value": 5}, {"value": 5, "severity": "warn"}], "max_rows": [1000, 10**6],
              "fresh": [{"column": "created_at", "max_age": "26h"}, {"column": "id", "max_age": "7d", "severity": "warn"}]}),
    "schema": ({}, {**COMMON, "ignore": [["django_*"], ["tmp_*", "ads"], "ads"]}),
    "migrations": ({"tool": sorted(TOOLS), "directory": ["migrations", "${MISSING:-migrations}"]},
                   {**COMMON, "table": ["schema_migrations", "ops.migrations_log"]}),
}
COLUMN_RULES: dict[str, list[Any]] = {
    "not_null": [True, False, {"severity": "warn"}, {"value": True, "severity": "fail"}],
    "not_empty": [True, {"severity": "warn"}], "unique": [True, False],
    "pattern": REGEXES, "severity": SEVERITIES,
    "min": [0, -5, 0.5, {"value": 0, "severity": "warn"}], "max": [100, 1e6],
    "min_length": [0, 1], "max_length": [10, 80, {"value": 80}],
    "allowed": [["a", "b"], [1, 2, 3], [True], ["draft", 1, 2.5]],
    "references": ["categories.id", "public.categories.id"],
}
VALID_URLS = ["sqlite:///app.db", "sqlite:////abs/app.db", "sqlite:///:memory:", "sqlite:///data/app.db",
              "postgresql://app:s3cret@db:5432/prod", "postgres://app:p%40ss@db/prod?sslmode=require",
              "postgresql://user:pass@host/db?schema=public&connection_limit=5&password=x",
              "postgresql:///prod?host=/run/postgresql", "postgresql://[::1]:5432,h2:5433/db",
              "postgresql://app:${DB_PASSWORD}@127.0.0.1:5432/prod", "${DATABASE_URL}", "${SQLITE_URL}",
              "${MISSING:-sqlite:///app.db}"]
DATABASE_KEYS: dict[str, list[Any]] = {"connect_timeout": DURATIONS, "statement_timeout": DURATIONS,
                                       "allow_privileged": [True, False]}


def _pick(rng: random.Random, required: dict[str, list[Any]], optional: dict[str, list[Any]],
          share: float = 0.3) -> dict[str, Any]:
    table = {key: rng.choice(choices) for key, choices in required.items()}
    table.update({key: rng.choice(choices) for key, choices in optional.items() if rng.random() < share})
    return table


def valid_document(seed: int) -> dict[str, Any]:
    """A valid config (but for a duplicate id, now and then)."""
    rng = random.Random(seed)
    databases = {"main": _pick(rng, {"url": VALID_URLS}, DATABASE_KEYS)}
    sqlite = "sqlite" in databases["main"]["url"].lower() or databases["main"]["url"] == "${SQLITE_URL}"
    document: dict[str, Any] = {"databases": databases}
    if rng.random() < 0.3:
        document["deploygate"] = _pick(rng, {}, {"samples": [0, 1, 5, 10_000], "timeout": DURATIONS,
                                                "could_not_check": SEVERITIES}, 0.6)
    for kind, (required, optional) in KEYS.items():
        if rng.random() < 0.5:
            continue
        entries = [_pick(rng, required, optional) for _ in range(rng.choice((1, 1, 2)))]
        for entry in entries:
            if kind == "rows":
                entry["columns"] = {rng.choice(COLUMNS): _pick(rng, {}, COLUMN_RULES) or {"not_null": True}
                                    for _ in range(rng.randint(1, 3))}
            elif kind == "schema" and rng.random() < 0.5:
                entry["snapshot"] = rng.choice(["snapshot.json" if sqlite else "snapshot_pg.json", "missing.json"])
            elif kind == "schema":
                entry["require"] = {rng.choice(TABLES): rng.sample(COLUMNS, rng.randint(0, 2))
                                    for _ in range(rng.randint(1, 3))}
        if len(entries) == 2:  # two entries of a kind named alike would have the same ids
            entries[1]["name"] = "second"
        document[kind] = entries
    return document


# ---------------------------------------------------------------------------------------------
# Damages: wrong values by key, wrong values of any type, keys deleted, renamed, added


INTERPOLATIONS = ["${DB_PASSWORD}", "${MISSING}", "${MISSING:-x}", "${MISSING:-}", "$${", "${", "${1BAD}",
                  "${ not a name }", "a${API_URL}b", "${MULTILINE}", "${EMPTY:-fallback}", "$$", "${BRACES}",
                  "$${MISSING}", "${DATABASE_URL}", "${SQLITE_URL}", "${MISSING:-${NESTED}}", "${NOPE:-}}"]
RAW_LITERALS = [Raw(t) for t in (
    "inf", "-inf", "+inf", "nan", "-nan", "+nan", "0x7fffffffffffffff", "0xdeadbeef", "0o777", "0b101",
    "1_000_000", "-0", "+0.0", "1e400", "-1e400", "5e-324", "1979-05-27", "07:32:00", "00:00:00.999999",
    "1979-05-27T07:32:00-08:00", "1979-05-27 07:32:00.999999", "1979-05-27T07:32:00Z",
    '"""multi\nline"""', "'''raw \\n'''", "'lit'", "''", "[]", "{}", "[[]]", "[{}]",
    "-" + "9" * 4000,  # 4,000 digits: still an int whose repr works (4,301 are not: see the plain tests at the end)
)]
TZ = dt.timezone(dt.timedelta(hours=5, minutes=30))
MOMENTS = [dt.date(2020, 1, 1), dt.date(1, 1, 1), dt.datetime(2030, 1, 1), dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
           dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=TZ), dt.time(12, 30), dt.time(0, 0, 0, 1)]
#: wrong values whatever the key
ANY_KEY = [*INTERPOLATIONS, *RAW_LITERALS, *MOMENTS, "", " ", "é", "a\nb", "\x00", "\u2028", -1, 0, 1, 2**63,
           2**64, -(2**63) - 1, 10**300, 1.5, -0.0, float("inf"), float("nan"), True, False, [], [1, "a"], [[]], {},
           {"": {}}, [{}], [{"a": 1}, {"b": 2}], {"value": 1}, {"severity": "warn"}]

#: wrong values of (mostly) the right type, by key
BAD: dict[str, list[Any]] = {
    "samples": [-1, 10_001, 2**63, 10**30, -(10**4200), 1.5, "5"],
    "timeout": ["25d", "0s", "0.0001ms", "30", "-1s", "", "1w", "9" * 400 + "s", "99999999999999999999d", "٣s",
                "${MULTILINE}", "${MISSING}", "${DB_PASSWORD}", 30],
    "url": ["sqlite://", "sqlite:///", "sqlite://relative", "postgresql://[::1/db", "postgresql://u:p@h:notaport/db",
            "postgresql://%zz@h/%", "postgresql://h/db?a=%ff&&=&x", "${MISSING}", "${MULTILINE}", "mysql://x@y/z",
            "://", "", "not a url", "sqlite:///" + "x" * 5000 + ".db", "postgresql://" + "@" * 50,
            "sqlite:///a\x00b.db", "${ not a name }", "$${DATABASE_URL}", "postgresql://[", "POSTGRESQL://h/db",
            "postgresql://h/db?schema=a b\\c&options=-c x", "postgresql://:@/?password=&sslpassword="],
    "name": ["a b", "x]", "", "main:1", "sql[q]", "tab\there", "a\nb", "main.ads", "${MISSING}", "a\x85b"],
    "severity": ["warning", "FAIL", "", "${MISSING:-warn}", "a\u2028b"],
    "marks": [["_private"], ["1bad"], ["not a mark"], [""], ["é"], "bad mark", [1], []],
    "skip": ["", "  ", 0, 1, [], {}],
    "database": ["mian", "local", "other", "", "${MISSING:-main}"],
    "query": [";", "   ", "${MISSING}", "${", "; ;", ""],
    "require": [["1BAD"], [], "", ["A-B"], ["A", "A"], ["MULTILINE", "a\nb"], {"": []}, {"ads]": ["id"]},
                {"ads": [""]}, {"ads": "id"}, {"a b": []}, {"ads": [1]}],
    "pattern": ["([", "(?P<a>x)(?P=b)", "a{99999999999}", "a{2,1}", "(" * 1000 + ")" * 1000, "*", "\\",
                "(?<=a+)b", r"\N{NOPE}", "${API_URL}", "[[:alpha:]", "x" * 10_000, "(?P<é>x)"],
    "table": ["a.b.c", "", ".", "ads.", " ", "x]", "a b", "a..b", "${MISSING}"],
    "where": ["", "  ", "${MISSING}", "${MULTILINE}"],
    "key": [[1], "", [""], [[]]],
    "min_rows": [-1, 2**63, 10**30, {"value": -1}, {"severity": "warn"}, {"value": 1, "extra": 1}, 1.0, True,
                 {"value": 10**7}],
    "fresh": [{}, {"column": "x"}, {"max_age": "1h"}, {"column": 1, "max_age": "1h"}, {"column": "x", "max_age": "1y"},
              {"column": "x", "max_age": "1h", "max_agee": 1}, True, {"column": "x", "max_age": "0s"}],
    "columns": [{}, {"": {"not_null": True}}, {" ": {"not_null": True}}, {"slug": {}}, {"slug": 1},
                {"slug": {"not_null": False}}, {"slug": {"min": 5, "max": 1}}, {"slug": {"min_length": 9, "max_length": 1}},
                {"slug": {"min": 1, "max": "a"}}, {"slug": {"min": dt.date(2020, 1, 1), "max": dt.datetime(2030, 1, 1)}},
                {"slug": {"min": dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "max": dt.datetime(2030, 1, 1)}},
                {"slug": {"min": dt.time(1), "max": dt.time(2, tzinfo=dt.UTC)}}, {"slug": []},
                {"slug": {"min": {"value": 5}, "max": {"value": 1}}}, {"a\nb": {"unique": True}}],
    "min": [float("inf"), float("nan"), [], True, {}, "", {"value": float("nan")}, {"severity": "warn"}, 10**30],
    "min_length": [-1, 2**63, 10**30, "5", 1.5, {"value": -1}],
    "allowed": [[], [[]], [{}], "a", [float("nan")], [dt.date(2020, 1, 1), True], {"value": []}],
    "references": ["categories", "a.b.c.d", ".id", "a..b", "", "categories.id.", 1],
    "not_null": [0, "yes", {"value": "x"}, {"value": True, "severity": "warning"}, {"extra": 1}, [True]],
    "snapshot": ["broken.json", "deep.json", "latin1.json", "shape.json", "snapdir.json", "notadir/x.json",
                 "s" * 300 + ".json", "/nonexistent/snap.json", "a\x00b.json", "", "${MISSING:-snapshot.json}",
                 "snapshot_pg.json", "migrations", "${MISSING}"],
    "ignore": [["["], [""], "*", [1], ["*"]],
    "tool": ["prsima", "Prisma", "", "${MISSING:-prisma}", 1],
    "directory": ["notadir", "missing", "/", ".", "m" * 300, "a\x00b", "", "migrations/20250101000000_init",
                  "/nonexistent", "${MISSING}", "migrations/" + "m/" * 2000],
    "allow_empty": ["yes", 1, "true"],
    "value": [-1, "x", [], {}, float("nan")],
}
for _same, _keys in {"timeout": ("connect_timeout", "statement_timeout", "max_age"), "min": ("max",),
                     "min_rows": ("max_rows",), "min_length": ("max_length",), "allow_empty": ("allow_privileged",),
                     "not_null": ("not_empty", "unique"), "samples": ("deploygate",), "url": ("main",),
                     "severity": ("could_not_check",)}.items():
    for _key in _keys:
        BAD[_key] = BAD[_same]
KEY_NAMES = sorted({*BAD, "databases", "sql", "environment", "rows", "schema", "migrations", "column"})
#: keys a damage adds or renames to: misspelt, misplaced, odd
ODD_KEYS = [*(k[:-1] for k in KEY_NAMES), *(k + "s" for k in KEY_NAMES), *KEY_NAMES, "", " ", "x.y", "a b", "[",
            "é", "a\nb", "\x85", "tool", "sqll", "qurey", "severty", "a" * 500]
DAMAGES = ["bad", "bad", "any", "drawn", "delete", "rename", "add", "wrap"]

#: values hypothesis draws, for the damages "drawn" and "add": odd text, any number, a date
drawn_values = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=24),
    st.text("${}:-_ABZaz09$ \n.", max_size=12),
    st.integers(),
    st.floats(),
    st.sampled_from(ANY_KEY),
    st.lists(st.sampled_from(ANY_KEY), max_size=3),
)
damages = st.lists(st.tuples(st.sampled_from(DAMAGES), st.integers(0, 2**16), st.integers(0, 2**16)), max_size=3)


def _slots(node: Any, name: str, found: list[tuple[Any, Any, str]]) -> None:
    """Every (container, key or index, key name) of a document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key, key))
            _slots(value, key, found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index, name))
            _slots(value, name, found)


def damage(document: dict[str, Any], ops: list[tuple[str, int, int]], drawn: Any) -> dict[str, Any]:
    """`document` with each damage `(what, where, which)` done to it, in order."""
    document = copy.deepcopy(document)
    for op, i, j in ops:
        slots: list[tuple[Any, Any, str]] = []
        _slots(document, "", slots)
        if op == "add" or not slots:
            tables = [document, *(c[k] for c, k, _ in slots if isinstance(c[k], dict))]
            # copies: a later damage may add a key to this value, which must not be ANY_KEY's
            # own (the next example's), nor the table it is in (a cycle)
            value = copy.deepcopy(drawn if j % 2 else ANY_KEY[j % len(ANY_KEY)])
            tables[i % len(tables)][ODD_KEYS[j % len(ODD_KEYS)]] = value
            continue
        container, key, name = slots[i % len(slots)]
        if op == "bad":
            choices = BAD.get(name, ANY_KEY)
            container[key] = copy.deepcopy(choices[j % len(choices)])
        elif op == "any":
            container[key] = copy.deepcopy(ANY_KEY[j % len(ANY_KEY)])
        elif op == "drawn":
            container[key] = copy.deepcopy(drawn)
        elif op == "delete":
            del container[key]
        elif op == "rename" and isinstance(container, dict):
            container[key[:-1] if j % 3 == 0 else ODD_KEYS[j % len(ODD_KEYS)]] = container.pop(key)
        elif op == "wrap":
            container[key] = [container[key]] if j % 2 else {"value": container[key]}
    return document


def test_the_valid_documents_mostly_load(folder: Path) -> None:
    # the generator is worth its examples only if it reaches the check families: most of its
    # undamaged documents load (the rest: a duplicate id, a snapshot of the other dialect)
    loaded = 0
    for seed in range(200):
        (folder / "deploygate.toml").write_text(toml_document(valid_document(seed)), encoding="utf-8")
        try:
            load_config(folder / "deploygate.toml", KINDS, ENV, display="deploygate.toml")
            loaded += 1
        except ConfigError:
            pass
    assert loaded >= 150


# ---------------------------------------------------------------------------------------------
# 1. Generated documents


@settings(FUZZ, max_examples=FUZZ_EXAMPLES["generated"])
@given(seed=st.integers(0, 2**32), ops=damages, drawn=drawn_values, headers_below=st.sampled_from([99, 99, 1, 2]),
       dotted=st.booleans(), name=st.sampled_from(["deploygate.toml", "deploygate.toml", "gates/prod.toml"]))
def test_generated_configs_load_or_are_one_config_error(folder: Path, seed: int, ops: list[tuple[str, int, int]],
                                                        drawn: Any, headers_below: int, dotted: bool, name: str) -> None:
    document = damage(valid_document(seed), ops, drawn)
    text = toml_document(document, headers_below=headers_below, dotted=dotted)
    check_load(folder, name, text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# 2. The same in pyproject.toml


def as_pyproject(document: dict[str, Any], form: str) -> dict[str, Any]:
    """`document` under [tool.deploygate], its settings lifted into that table as the docs say;
    or one of the ways to get that wrong."""
    inner = {k: v for k, v in document.items() if k != "deploygate"}
    settings_table = document.get("deploygate")
    if form == "settings-lifted" and isinstance(settings_table, dict):
        inner = {**settings_table, **inner}
    elif form == "settings-nested" and settings_table is not None:
        inner = {"deploygate": settings_table, **inner}
    project: dict[str, Any] = {"project": {"name": "app", "version": "1.0"}}
    if form == "no-tool-table":
        return {**project, "tool": {"ruff": {"line-length": 100}}}
    if form == "not-a-table":
        return {**project, "tool": {"deploygate": inner.get("databases", 1)}}
    return {**project, "tool": {"black": {"line-length": 100}, "deploygate": inner}}


@settings(FUZZ, max_examples=FUZZ_EXAMPLES["pyproject"])
@given(seed=st.integers(0, 2**32), ops=damages, drawn=drawn_values, headers_below=st.sampled_from([99, 99, 3]),
       dotted=st.booleans(), form=st.sampled_from(["settings-lifted"] * 4 + ["settings-nested", "no-tool-table",
                                                                             "not-a-table"]))
def test_generated_pyproject_configs_load_or_are_one_config_error(folder: Path, seed: int,
                                                                  ops: list[tuple[str, int, int]], drawn: Any,
                                                                  headers_below: int, dotted: bool, form: str) -> None:
    document = as_pyproject(damage(valid_document(seed), ops, drawn), form)
    text = toml_document(document, headers_below=headers_below, dotted=dotted)
    check_load(folder, "pyproject.toml", text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# 3. Known-good configs, mutated


SEEDS: dict[str, tuple[str, str]] = {
    "full": ("deploygate.toml", """\
[deploygate]
samples = 3
timeout = "10s"

[databases.main]
url = "postgresql://app:${DB_PASSWORD}@127.0.0.1:5432/prod?schema=public&connection_limit=5"
connect_timeout = "2s"
statement_timeout = "2s"

[databases.local]
url = "sqlite:///data/app.db"

[[environment]]
require = ["DATABASE_URL", "STRIPE_SECRET_KEY"]
pattern = "^sk_"
allow_empty = false

[[sql]]
name = "ads-without-images"
database = "main"
query = "SELECT a.id FROM ads a WHERE NOT EXISTS (SELECT 1 FROM ad_images i WHERE i.ad_id = a.id);"
severity = "warn"
marks = ["nightly"]
timeout = "500ms"

[[sql]]
database = "local"
query = "SELECT 2"
skip = "until the migration lands"
"""),
    "rows": ("deploygate.toml", """\
[databases.main]
url = "${DATABASE_URL:-sqlite:///app.db}"

[[rows]]
table = "public.ads"
where = "created_at > '2025-01-01'"
key = ["id"]
min_rows = 1
max_rows = { value = 1000000, severity = "warn" }
fresh = { column = "created_at", max_age = "26h" }

[rows.columns.slug]
not_null = true
not_empty = { severity = "warn" }
pattern = '^[a-z0-9-]+$'
unique = true
min_length = 1
max_length = 80

[rows.columns.price]
min = 0
max = 100000.5
allowed = [1, 2, 3]

[rows.columns.category_id]
references = "categories.id"

[rows.columns.published_at]
min = 2020-01-01
max = 2030-01-01
"""),
    "schema": ("deploygate.toml", """\
[databases.main]
url = "sqlite:///app.db"

[[schema]]
name = "homepage-needs"
require = { categories = ["id", "name"], user_favorites = [] }
ignore = ["django_*"]

[[schema]]
snapshot = "snapshot.json"
ignore = ["tmp_*"]

[[migrations]]
tool = "prisma"
directory = "migrations"
table = "public._prisma_migrations"
"""),
    "pyproject": ("pyproject.toml", """\
[project]
name = "app"

[tool.deploygate]
samples = 2
timeout = "5s"

[tool.deploygate.databases.main]
url = "sqlite:///app.db"

[[tool.deploygate.sql]]
name = "q"
query = "SELECT 1"

[[tool.deploygate.rows]]
table = "ads"

[tool.deploygate.rows.columns.slug]
not_null = true
pattern = "^[a-z]+$"
"""),
}

TOKENS = [b"=", b'"', b"'", b"[", b"]", b"[[", b"]]", b"true", b"1", b'"30s"', b"\n", b".", b"main", b"sql",
          b"query", b"${", b"{", b"}", b",", b"#", b"\\", b"tool.", b"deploygate", b"0", b"-", b" ", b"", b"\r\n",
          b"\t", b"\xc3", b"\xff", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x00", b"inf", b"nan", b"9" * 30, b'"""',
          b"\\u0000", b"\\n", b"\\", b"\xe2\x80\xa8"]
OPS = ["delete-line", "duplicate-line", "swap-lines", "insert", "delete", "truncate", "flip", "replace-token",
       "insert-token", "bom"]
mutations = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 2**16), st.integers(0, 2**16)),
                     min_size=1, max_size=4)


def mutate(content: bytes, ops: list[tuple[str, int, int]], blob: bytes) -> bytes:
    """`content` with each mutation `(what, where, which)` done to it; `blob` is what "insert" inserts."""
    for op, i, j in ops:
        lines = content.split(b"\n")
        n = max(len(content), 1)
        if op == "delete-line":
            del lines[i % len(lines)]
            content = b"\n".join(lines)
        elif op == "duplicate-line":
            lines.insert(i % len(lines), lines[j % len(lines)])
            content = b"\n".join(lines)
        elif op == "swap-lines":
            a, b = i % len(lines), j % len(lines)
            lines[a], lines[b] = lines[b], lines[a]
            content = b"\n".join(lines)
        elif op == "insert":
            content = content[: i % n] + blob + content[i % n:]
        elif op == "delete":
            content = content[: i % n] + content[i % n + j % 16:]
        elif op == "truncate":
            content = content[: i % n]
        elif op == "flip" and content:
            at = i % len(content)
            content = content[:at] + bytes([content[at] ^ (j % 255 + 1)]) + content[at + 1:]
        elif op == "replace-token":
            old, new = TOKENS[i % len(TOKENS)], TOKENS[j % len(TOKENS)]
            at = content.find(old, j % n) if old else -1
            at = content.find(old) if old and at < 0 else at
            if at >= 0:
                content = content[:at] + new + content[at + len(old):]
        elif op == "insert-token":
            content = content[: i % n] + TOKENS[j % len(TOKENS)] + content[i % n:]
        elif op == "bom":
            content = b"\xef\xbb\xbf" + content
    return content


@pytest.mark.parametrize("seed", SEEDS)
def test_the_seeds_of_the_mutations_are_valid_configs(folder: Path, seed: str) -> None:
    name, text = SEEDS[seed]
    path = folder / name
    path.write_text(text, encoding="utf-8")
    assert load_config(path, KINDS, ENV, display=name).targets


@settings(FUZZ, max_examples=FUZZ_EXAMPLES["mutated"])
@given(seed=st.sampled_from(sorted(SEEDS)), ops=mutations, blob=st.binary(max_size=8), other_name=st.booleans())
@example(seed="full", ops=[("insert", 0, 0)], blob=b"a = " + b"[" * 500 + b"]" * 500 + b"\n", other_name=False).via(
    "arrays nested too deep for tomli: RecursionError")
@example(seed="full", ops=[("insert", 0, 0)], blob=b"a = 1" + b"0" * 4400 + b"\n", other_name=False).via(
    "an integer of 4,401 digits: int()'s ValueError out of tomli")
@example(seed="pyproject", ops=[("insert", 0, 0)], blob=b"\xff", other_name=False).via(
    "not UTF-8: find_config's UnicodeDecodeError")
def test_mutated_configs_load_or_are_one_config_error(folder: Path, seed: str, ops: list[tuple[str, int, int]],
                                                      blob: bytes, other_name: bool) -> None:
    name, text = SEEDS[seed]
    if other_name:  # a deploygate.toml read as pyproject.toml and the other way round
        name = "deploygate.toml" if name == "pyproject.toml" else "pyproject.toml"
    content = mutate(text.encode("utf-8"), ops, blob)
    check_load(folder, name, content)
    if name == "pyproject.toml":
        check_find(folder, content)


# ---------------------------------------------------------------------------------------------
# 4. Raw text and bytes


TOML_CHARACTERS = '[]{}=."\',#\n\r\t $-_:+\\0123456789abcdefinqlrstu\x00\x7f\u2028é'


@settings(FUZZ, max_examples=FUZZ_EXAMPLES["raw"])
@given(content=st.one_of(st.text(TOML_CHARACTERS, max_size=80).map(str.encode),
                         st.text(st.characters(codec="utf-8"), max_size=40).map(str.encode),
                         st.binary(max_size=200)),
       name=st.sampled_from(["deploygate.toml", "pyproject.toml", "other.toml"]))
@example(content=b"", name="pyproject.toml")
@example(content=b"\xef\xbb\xbf", name="deploygate.toml")
@example(content=b"\xef\xbb\xbf\xef\xbb\xbf", name="deploygate.toml")
def test_raw_text_and_bytes_load_or_are_one_config_error(folder: Path, content: bytes, name: str) -> None:
    check_load(folder, name, content)
    if name == "pyproject.toml":
        check_find(folder, content)


def test_the_fuzz_runs_ten_thousand_examples() -> None:
    assert sum(FUZZ_EXAMPLES.values()) >= 10_000


# ---------------------------------------------------------------------------------------------
# What the fuzz found, as plain tests


DB = '[databases.main]\nurl = "sqlite:///app.db"\n'


@pytest.mark.parametrize(("text", "message"), [
    ('[deploygate]\nsamples = 1' + "0" * 4400, 'deploygate.toml: invalid TOML: Exceeds the limit (4300 digits) for '
                                                'integer string conversion: value has 4401 digits'),
    ("a = " + "[" * 500 + "]" * 500, "deploygate.toml: invalid TOML: TOML inline arrays/tables are nested more"),
    (DB + '[[environment]]\nrequire = ["A"]\npattern = "' + "(" * 1000 + ")" * 1000 + '"',
     'deploygate.toml: [[environment]] #1: key "pattern": invalid regular expression '
     f"{'(' * 80!r}: nested too deeply"),
    (DB + '[[rows]]\ntable = "ads"\ncolumns.slug.pattern = "a{99999999999}"',
     'deploygate.toml: [[rows]] #1: key "columns.slug.pattern": invalid regular expression \'a{99999999999}\': '
     "the repetition number is too large"),
    (DB + '[[schema]]\nsnapshot = "deep.json"',
     'deploygate.toml: [[schema]] #1: key "snapshot": {folder}/deep.json is not a snapshot (JSON nested too deeply)'),
    (DB + '[[sql]]\nquery = "SELECT 1"\nseverity = "a\\nb"',
     'deploygate.toml: [[sql]] #1: key "severity": "a\\nb" is not one of fail, warn'),
    (DB + '[[sql]]\nquery = "SELECT 1"\n"a\\u2028b" = 1',
     'deploygate.toml: [[sql]] #1: key "a\\u2028b": unknown key'),
    (DB + '[[sql]]\nname = "a\\nb"\nquery = "SELECT 1"',
     'deploygate.toml: [[sql]] #1 "a\\nb": key "name": "a\\nb" cannot contain spaces'),
    (DB + '[[sql]]\nquery = "SELECT 1"\ntimeout = "${MULTILINE}"',
     # a value read from a variable is a secret: masked, so its line break is gone with it
     'deploygate.toml: [[sql]] #1: key "timeout": "***" is not a duration'),
])
def test_what_the_fuzz_found_is_one_config_error(folder: Path, text: str, message: str) -> None:
    (folder / "deploygate.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_config(folder / "deploygate.toml", KINDS, ENV, display="deploygate.toml")
    assert str(excinfo.value).startswith(message.replace("{folder}", str(folder)))
    assert len(str(excinfo.value).splitlines()) == 1


def test_a_posix_class_in_a_pattern_is_no_warning(folder: Path) -> None:
    # PostgreSQL's `[[:alpha:]]` is a FutureWarning to Python's re: a traceback under -W error
    (folder / "deploygate.toml").write_text(DB + '[[rows]]\ntable = "ads"\ncolumns.slug.pattern = "^[[:alpha:]]+$"\n',
                                            encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gate = load_config(folder / "deploygate.toml", KINDS, ENV, display="deploygate.toml")
    assert gate.entries[0].options.column_rules[0].value == "^[[:alpha:]]+$"


@pytest.mark.parametrize("content", [
    b"[tool.deploygate]\nx = '\xe9'\n",  # not UTF-8: UnicodeDecodeError
    b"[tool.deploygate]\nx = " + b"[" * 500 + b"]" * 500 + b"\n",  # tomli's RecursionError
    b"[tool.deploygate]\nx = 1" + b"0" * 4400 + b"\n",  # int()'s ValueError
])
def test_find_config_passes_over_a_pyproject_it_cannot_read(folder: Path, content: bytes) -> None:
    check_find(folder, content)
    assert find_config(folder / "rootdir", None, None) is None
