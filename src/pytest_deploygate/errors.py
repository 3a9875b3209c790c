"""Every error the gate raises on purpose, in one place.

Two families: a :class:`ConfigError` is a problem with the config file (one line naming file,
check and key, reported at collection), a :class:`CheckError` is "could not check" at run time
(a database unreachable, a query that fails): the item fails with its message, no traceback.
"""

from __future__ import annotations

#: str.splitlines' line boundaries, each shown as its escape (`\n`, `\x85`, `\u2028`)
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


class ConfigError(Exception):
    """A config problem, said in one line: `file: check: key "k": what is wrong`.

    Args:
        file: the config file as the user names it.
        where: the check (`[[rows]] #2 "ads"`) or table (`[databases.main]`), or "".
        key: the key at fault (`columns.slug.pattern`), or None.
        message: what is wrong and, where it helps, how to fix it.
    """

    def __init__(self, file: str, where: str, key: str | None, message: str) -> None:
        # one line, whatever the config holds: a value, key or name quoted in it may hold a line
        # break (`severity = "a\nb"`, `"a\nb" = 1`), shown as its escape (tests/test_config_fuzz.py)
        file, where, message = (text.translate(_LINE_BREAKS) for text in (file, where, message))
        key = key.translate(_LINE_BREAKS) if key is not None else None
        self.file, self.where, self.key, self.message = file, where, key, message
        parts = [file]
        if where:
            parts.append(where)
        if key:
            parts.append(f'key "{key}"')
        super().__init__(": ".join([*parts, message]))


class MissingVariable(Exception):
    """A `${VAR}` without default whose variable is not set (config turns it into a ConfigError)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class CheckError(Exception):
    """A check could not run (database unreachable, unknown table): it fails with this message."""


class DatabaseUnavailable(CheckError):
    """The database could not be reached; every check that needs it fails with this message."""


class QueryError(CheckError):
    """A query failed (syntax, permission, timeout, read-only violation)."""
