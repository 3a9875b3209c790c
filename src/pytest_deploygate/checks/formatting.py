"""How values and rows are shown in samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_VALUE_LENGTH = 80


def show_value(value: Any) -> str:
    """A value as a person reads it: NULL, '' for an empty string, long values cut."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        text = value if len(value) <= MAX_VALUE_LENGTH else value[: MAX_VALUE_LENGTH - 1] + "…"
        return repr(text) if (text == "" or text != text.strip() or "\n" in text) else text
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return str(value)


def show_row(columns: Sequence[str], row: Sequence[Any]) -> str:
    """`id=11, slug=NULL`."""
    return ", ".join(f"{col}={show_value(val)}" for col, val in zip(columns, row, strict=False))
