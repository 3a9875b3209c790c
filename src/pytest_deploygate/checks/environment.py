"""`[[environment]]`: variables the deployment needs must be set (their values are never shown)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..api import CheckKind, Entry, Result, RunContext, Target
from ..config import EntryReader
from . import BUILTIN

_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class EnvironmentOptions:
    require: tuple[str, ...]
    allow_empty: bool
    pattern: str | None


class EnvironmentCheck(CheckKind[EnvironmentOptions, str]):
    name = "environment"
    summary = BUILTIN["environment"].summary

    def parse(self, reader: EntryReader) -> EnvironmentOptions:
        require = reader.strings("require", interpolate=False)
        if not require:
            raise reader.error("require", "is required: a list of variable names")
        for variable in require:
            if not _VARIABLE_NAME.match(variable):
                raise reader.error("require", f'"{variable}" is not a variable name')
            reader.secret_variable(variable)
        return EnvironmentOptions(require, reader.boolean("allow_empty"), reader.regex("pattern"))

    def default_name(self, options: EnvironmentOptions, entry_index: int, database: str | None) -> str:
        return ""

    def expand(self, entry: Entry[EnvironmentOptions]) -> list[Target[EnvironmentOptions, str]]:
        return [Target.at(entry, variable, payload=variable, subject=variable) for variable in entry.options.require]

    def run(self, target: Target[EnvironmentOptions, str], ctx: RunContext) -> Result:
        options = target.entry.options
        variable = target.payload
        value = os.environ.get(variable)
        if value is None:
            return Result.fail(f"environment variable {variable} is not set")
        if not value.strip() and not options.allow_empty:
            return Result.fail(f"environment variable {variable} is set but empty")
        if options.pattern and not re.search(options.pattern, value):
            # the value is a secret: say that it does not match, never what it is
            return Result.fail(f"environment variable {variable} does not match {options.pattern!r}")
        return Result.ok(f"{variable} is set")
