"""How the gate words things: counts, plurals, durations, ages, values and rows.

One module, so every family says `120,412 rows`, `26h` and `slug=NULL` the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

MAX_VALUE_LENGTH = 80


def count(n: int) -> str:
    """`120412` -> `120,412`: figures in verdicts read like a person wrote them."""
    return f"{n:,}"


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 row`, `3 rows`, with the count formatted by :func:`count`."""
    return f"{count(n)} {one if n == 1 else (many or one + 's')}"


# -- durations ------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION = 100 * 365 * 86400.0  # beyond it a figure is a typo (and 400 digits overflow a float)


def parse_duration(text: str) -> float:
    """`"500ms"` -> 0.5, `"26h"` -> 93600.0. Raises ValueError with the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f'"{text}" is not a duration (use e.g. "500ms", "30s", "10m", "26h", "7d")')
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION:
        raise ValueError(f'"{text[:40]}" is longer than any duration the gate measures (at most 100 years)')
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration`, for messages: 93600 -> "26h"."""
    for unit in ("d", "h", "m", "s"):
        value = seconds / _UNITS[unit]
        if value >= 1 and value == int(value):
            return f"{int(value)}{unit}"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


def age(seconds: float) -> str:
    """31h, 2d 4h, 12m, 40s: an age as a person says it."""
    if seconds >= 86400:
        days, rest = divmod(int(seconds), 86400)
        return f"{days}d {rest // 3600}h" if rest >= 3600 else f"{days}d"
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60)}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m"
    return f"{int(seconds)}s"


# -- values -----------------------------------------------------------------------------------------


def describe_value(value: Any) -> str:
    """A config value as an error message quotes it: `"five"`, `true`, `a table`, `42`."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def printable(text: str, keep: str = "\t") -> str:
    """Control characters (a terminal escape in a body or a log line) as escapes, never sent raw;
    those in `keep` stay."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else f"\\x{ord(ch):02x}" for ch in text)


def show_value(value: Any) -> str:
    """A database value as a person reads it: NULL, '' for an empty string, long values cut."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        text = value if len(value) <= MAX_VALUE_LENGTH else value[: MAX_VALUE_LENGTH - 1] + "…"
        return repr(text) if (text == "" or text != text.strip() or "\n" in text) else text
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return str(value)


def show_row(columns: Sequence[str], row: Sequence[Any]) -> str:
    """`id=11, slug=NULL`: a sample row, each value shown by :func:`show_value`."""
    return ", ".join(f"{col}={show_value(val)}" for col, val in zip(columns, row, strict=False))
