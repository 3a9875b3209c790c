"""`[[sql]]`: a custom assertion: the query must return no rows."""

from __future__ import annotations

from dataclasses import dataclass

from ..api import CheckKind, Entry, Result, RunContext, Target
from ..config import EntryReader
from ..wording import plural, show_row
from . import BUILTIN


@dataclass(frozen=True)
class SqlOptions:
    query: str


class SqlCheck(CheckKind[SqlOptions, None]):
    name = "sql"
    summary = BUILTIN["sql"].summary
    uses_database = "required"

    def parse(self, reader: EntryReader) -> SqlOptions:
        query = reader.required_string("query").strip().rstrip(";").strip()
        if not query:
            raise reader.error("query", "is empty")
        return SqlOptions(query)

    def default_name(self, options: SqlOptions, entry_index: int, database: str | None) -> str:
        return f"{database}:{entry_index}"

    def expand(self, entry: Entry[SqlOptions]) -> list[Target[SqlOptions, None]]:
        return [Target.at(entry, payload=None, subject="query")]

    def run(self, target: Target[SqlOptions, None], ctx: RunContext) -> Result:
        options = target.entry.options
        with ctx.database(target.entry.database or "").session(ctx.timeout) as session:
            result = session.user_query(options.query, samples=ctx.samples)
        if not result.count:
            return Result.ok("query returned no rows", rows=0)
        return Result.fail(
            f"query returned {plural(result.count, 'row')} (expected none)",
            [show_row(result.columns, row) for row in result.samples],
            rows=result.count,
        )
