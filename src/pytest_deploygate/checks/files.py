"""`[[files]]`: the paths a database stores against the files under a root folder, both ways.

Incident 3: `ad_images.file_path` named uploads that did not exist, because the database and the
uploads folder came from different backups. One entry is up to three items that share one walk of
the root (`os.scandir`, once) and one streamed read of the column (never a query per row or per
file):

- `missing`: stored paths that are not regular files under the root (and stored paths that would
  leave the root, reported as invalid and never looked up);
- `orphans` (with an `orphans` glob): files matching it that no row references;
- `empty` (with `min_size`): referenced files smaller than that.

Memory: the walk's set of names, and the glob's matches as a subset of it; the rows are checked as
they stream and only `samples` of them are kept.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

from ..api import AspectKind, Entry, Result, RunContext, Target
from ..config import EntryReader
from ..db import Session
from ..db.catalog import table_info
from ..db.sql import Builder, dialect_of
from ..errors import CheckError
from ..wording import count, plural, show_value
from . import BUILTIN
from .paths import GlobMatcher, PathReader, Walk, shown, walk


@dataclass(frozen=True)
class FilesOptions:
    """A `[[files]]` entry's own keys.

    Attributes:
        root: the folder the files lie under (resolved against the config file).
        root_text: the folder as the config writes it, for messages.
        query: the user's query (its first column is the path), or None with `table`.
        table: `(table,)` or `(schema, table)`, with `column`.
        column: the column that holds the path.
        where: the user's filter on `table`.
        key: the columns that name a row in samples (default: the primary key).
        orphans: the glob of files that must be referenced, or None (no `orphans` item).
        orphans_severity: "warn" (the default) or "fail".
        strip_prefix: prefixes the stored paths carry.
        case_insensitive: compare names as a case-insensitive store would.
        min_size: referenced files smaller than this fail the `empty` item (None: no such item).
    """

    root: Path
    root_text: str
    query: str | None
    table: tuple[str, ...]
    column: str
    where: str | None
    key: tuple[str, ...]
    orphans: str | None
    orphans_severity: str
    strip_prefix: tuple[str, ...]
    case_insensitive: bool
    min_size: int | None

    @property
    def source(self) -> str:
        """What references the files, as messages name it: `ad_images.file_path`, `the query`."""
        return f"{'.'.join(self.table)}.{self.column}" if self.query is None else "the query"


@dataclass
class FilesState:
    """What the items of one entry share: one walk, one read of the column.

    Attributes:
        walk: what the walk of the root found.
        rows: rows read (NULL and empty values included).
        referenced: rows with a usable path.
        found, missing, invalid, nulls, blanks: rows by what their path turned out to be.
        missing_samples, invalid_samples, small_samples: `samples` of each, as shown.
        matching: how many files match `orphans`.
        unreferenced: the files matching `orphans` that no row references (the walk's set, emptied
            as rows reference them).
    """

    walk: Walk
    rows: int = 0
    referenced: int = 0
    found: int = 0
    missing: int = 0
    invalid: int = 0
    nulls: int = 0
    blanks: int = 0
    small: int = 0
    matching: int = 0
    missing_samples: list[str] = field(default_factory=list)
    invalid_samples: list[str] = field(default_factory=list)
    small_samples: list[str] = field(default_factory=list)
    unreferenced: set[str] = field(default_factory=set)


class FilesCheck(AspectKind[FilesOptions, FilesState]):
    """`[[files]]`: up to three aspects (missing, orphans, empty) of one walk and one read."""

    name = "files"
    summary = BUILTIN["files"].summary
    uses_database = "required"

    def parse(self, reader: EntryReader) -> FilesOptions:
        query = reader.string("query")
        table_text = reader.string("table", interpolate=False)
        column = reader.string("column", interpolate=False)
        if (query is None) == (table_text is None):
            raise reader.error("query" if query is None else "table",
                               "give either query (its first column is the path) or table and column, one of them")
        if query is not None:
            if not query.strip():
                raise reader.error("query", "is empty")
            for key in ("column", "where", "key"):
                if reader.has(key):
                    raise reader.error(key, "goes with table, not with query (filter and name rows in the query)")
        elif column is None or not column.strip():
            raise reader.error("column", f'is required with table (the column of {table_text} that holds the path)')
        table = reader.dotted_name("table", table_text, parts=(1, 2)) if table_text is not None else ()
        where = reader.string("where")
        if where is not None and not where.strip():
            raise reader.error("where", "is empty (leave it out to check every row)")
        root_text = reader.required_string("root")
        if not root_text.strip():
            raise reader.error("root", "is empty: give the folder the files lie under (\"apps/web/public\")")
        root = reader.path("root", required=True) or Path(root_text)
        orphans = reader.string("orphans", interpolate=False)
        if orphans is not None:
            orphans = orphans.strip()
            while orphans.startswith(("./", "/")):  # relative to root, as stored paths are
                orphans = orphans[1:] if orphans.startswith("/") else orphans[2:]
            if not orphans:
                raise reader.error("orphans", 'is empty: give a glob of files under root ("uploads/**/*.webp")')
            if orphans.endswith("/"):
                raise reader.error("orphans", f'"{orphans}" names folders, and orphans are files: '
                                              f'"{orphans}*" or "{orphans}**/*"')
            try:
                GlobMatcher(orphans)
            except re.error as exc:
                raise reader.error("orphans", f'"{orphans}" is not a glob this reads ({exc})') from None
        severity = reader.choice("orphans_severity", ("warn", "fail"), "warn")
        if reader.has("orphans_severity") and orphans is None:
            raise reader.error("orphans_severity", "goes with orphans (a glob of files that must be referenced)")
        strip_prefix = reader.one_or_more("strip_prefix")
        min_size = reader.integer("min_size", minimum=0)
        return FilesOptions(
            root=root, root_text=root_text, query=query.strip() if query else None, table=table,
            column=(column or "").strip(), where=where.strip() if where else None,
            key=reader.strings("key", interpolate=False), orphans=orphans,
            orphans_severity=severity, strip_prefix=strip_prefix,
            case_insensitive=reader.boolean("case_insensitive"), min_size=min_size)

    def default_name(self, options: FilesOptions, entry_index: int, database: str | None) -> str:
        if options.query is not None:
            return f"{database}.files{entry_index}"
        return f"{database}.{'.'.join(options.table)}.{options.column}"

    def aspects(self, entry: Entry[FilesOptions]) -> list[str]:
        options = entry.options
        return ["missing", *(["orphans"] if options.orphans else []), *(["empty"] if options.min_size is not None else [])]

    def expand(self, entry: Entry[FilesOptions]) -> list[Target[FilesOptions, str]]:
        options = entry.options
        return [Target.at(entry, aspect=aspect, payload=aspect, subject=self.subject(entry, aspect),
                          severity="warn" if aspect == "orphans" and options.orphans_severity == "warn" else None)
                for aspect in self.aspects(entry)]

    def subject(self, entry: Entry[FilesOptions], aspect: str) -> str:
        options = entry.options
        return {
            "missing": f"files referenced by {options.source} exist under {options.root_text}",
            "orphans": f"files under {options.root_text} matching {options.orphans} are referenced",
            "empty": f"files referenced by {options.source} are at least {options.min_size} bytes",
        }[aspect]

    # -- the shared work ----------------------------------------------------------------------

    def compute(self, entry: Entry[FilesOptions], ctx: RunContext) -> FilesState:
        options = entry.options
        if not options.root.is_dir():
            what = "is not a folder" if options.root.exists() else "does not exist"
            raise CheckError(f"root {options.root_text} {what} ({options.root})")
        found = walk(options.root, glob=options.orphans, min_size=options.min_size,
                     case_insensitive=options.case_insensitive,
                     progress=lambda: ctx.check_deadline(f"walking {options.root_text}"))
        # the glob's matches become the files nobody references yet: the read takes them away
        state = FilesState(found, matching=len(found.matching), unreferenced=found.matching)
        paths = PathReader((options.root, options.root.resolve()), options.strip_prefix, options.case_insensitive)
        with ctx.database(entry.database or "").session(ctx.timeout) as session:
            columns, rows = self._rows(session, entry, ctx)
            # closed before the session ends, also when a row stops the read (a deadline, a value
            # that is no path): an open stream holds the connection, which the session's
            # rollback then waits for
            with closing(rows):
                decode = session.dialect == "sqlite"  # bytes: the table's column (see _rows), or a query's CAST
                self._read(state, paths, columns, rows, ctx, options.source, decode)
        return state

    def _read(self, state: FilesState, paths: PathReader, columns: tuple[str, ...],
              rows: Iterator[tuple[Any, ...]], ctx: RunContext, source: str, decode: bool) -> None:
        """Each row's path against the walk, 10,000 rows at a time.

        The usual row (a plain path to a file that exists) costs set operations in C: the batch's
        paths as a set, less the walk's files, taken from the files nobody references yet. Only the
        rows left over (NULL, empty, to be cleaned, invalid, missing, small) are looked at one by
        one, in :meth:`_unusual`.
        """
        files, small, unreferenced = state.walk.files, state.walk.small, state.unreferenced
        at = len(columns)  # table: (key..., path); query: the path is its first column
        path_of = itemgetter(at)
        while batch := list(islice(rows, 10_000)):
            ctx.check_deadline(f"reading {source}")
            raw = list(map(path_of, batch))
            if decode:  # SQLite's column is read as bytes: names need not be UTF-8
                raw = [v.decode("utf-8", "surrogateescape") if v.__class__ is bytes else v for v in raw]
            values = paths.quick(raw)
            try:
                seen = set(values)
            except TypeError:  # an array, a JSON object: not a path
                seen = set()
                for value in values:
                    if not isinstance(value, str | None):
                        raise CheckError(self._not_text(source, value)) from None
            if unreferenced:
                unreferenced.difference_update(seen)
            odd = seen - files
            if small:
                odd |= seen & small.keys()
            state.rows += len(batch)
            usual = len(batch)
            if odd:
                for index, value in enumerate(values):
                    if value in odd:
                        usual -= 1
                        key = batch[index][:at] if columns else ()
                        self._unusual(state, paths, columns, key, raw[index], ctx.samples, source)
            state.found += usual
            state.referenced += usual

    def _rows(self, session: Session, entry: Entry[FilesOptions],
              ctx: RunContext) -> tuple[tuple[str, ...], Generator[tuple[Any, ...], None, None]]:
        """The key columns' names, and the rows: (key values..., path)."""
        options = entry.options
        if options.query is not None:
            return (), session.user_stream(options.query)  # the path is the first column: see _read
        info = ctx.memo(("files:catalog", entry.database, options.table),
                        lambda: table_info(session, options.table, entry.database or ""))
        info.column(options.column)  # CheckError naming the table's columns when it has no such column
        for name in options.key:
            info.column(name)  # the default key (primary key, else ctid / rowid) needs no check
        key = options.key or info.row_key
        b = Builder(dialect_of(session.dialect))
        path = b.column(options.column)
        if b.dialect == "sqlite":
            path = f"CAST({path} AS BLOB)"  # names that are not UTF-8 arrive as bytes, not as an error
        if options.where:
            session.guard_user_sql()
        sql, params = b.done(f"SELECT {', '.join([*(b.column(k) for k in key), path])} "
                             f"FROM {b.ident(*options.table)}{b.user_where(options.where)}")
        return key, session.stream(sql, params, exclusive=True)

    @staticmethod
    def _not_text(source: str, value: Any) -> str:
        what = "the query's first column" if source == "the query" else f"column {source}"
        return f"{what} must hold text (a path), got {type(value).__name__} {show_value(value)}"

    @classmethod
    def _unusual(cls, state: FilesState, paths: PathReader, columns: tuple[str, ...], row: tuple[Any, ...],
                 value: Any, samples: int, source: str) -> None:
        """A row off the usual path: NULL, empty, to be cleaned, invalid, missing, a link out, small."""

        def sample(into: list[str], note: str = "") -> None:
            if len(into) < samples:
                who = ", ".join(f"{c}={show_value(v)}" for c, v in zip(columns, row, strict=False))
                into.append(f"{who + ': ' if who else ''}{shown(value)}{note}")

        if value is None:
            state.nulls += 1
            return
        if not isinstance(value, str):
            raise CheckError(cls._not_text(source, value))
        relative, why = paths.relative(value)
        if why == "empty":
            state.blanks += 1
            return
        state.referenced += 1
        walked = state.walk
        target: str | None = relative
        if not why and relative not in walked.files:
            if relative in walked.escaping:  # a link out, named itself
                why = walked.escaping[relative]
            elif walked.folder_links or walked.escaping:  # a path through links to folders
                target, through = walked.through_links(relative)
                why = f"through {through}" if through else ""
        if why or target is None:
            state.invalid += 1
            sample(state.invalid_samples, f" ({why})")
        elif target in walked.files:  # found once cleaned (`/uploads/a.webp`) or through a link, or small
            state.found += 1
            state.unreferenced.discard(target)
            if target in walked.small:
                state.small += 1
                sample(state.small_samples, f" ({plural(walked.small[target], 'byte')})")
        else:
            state.missing += 1
            sample(state.missing_samples)

    # -- the items ------------------------------------------------------------------------------

    def judge(self, aspect: str, shared: FilesState, target: Target[FilesOptions, str], ctx: RunContext) -> Result:
        options = target.entry.options
        state = shared
        figures: dict[str, int] = {"referenced": state.referenced, "found": state.found, "missing": state.missing,
                                   "invalid": state.invalid, "null": state.nulls, "empty_values": state.blanks,
                                   "files": len(state.walk.files)}
        unread = [f"cannot read {shown(folder)} under {options.root_text}: {why}"
                  for folder, why in state.walk.unreadable]
        if aspect == "missing":
            return self._missing(state, options, figures, unread, ctx.samples)
        if aspect == "orphans":
            n = len(state.unreferenced)
            figures = {"orphans": n, "matching": state.matching, "referenced": state.referenced}
            if n:
                return Result.fail(
                    f"{plural(n, 'file')} under {options.root_text} match{'es' if n == 1 else ''} {options.orphans} "
                    f"but no row of {options.source} references {'it' if n == 1 else 'them'}",
                    [shown(state.walk.on_disk.get(p, p)) for p in sorted(state.unreferenced)[:ctx.samples]] + unread,
                    **figures)
            if unread:
                return Result.error(f"{plural(len(unread), 'folder')} under {options.root_text} could not be read: "
                                    f"{'; '.join(unread[:ctx.samples])}")
            return Result.ok(f"every file matching {options.orphans} is referenced "
                             f"({count(state.matching)})", **figures)
        figures = {"small": state.small, "found": state.found}
        if state.small:
            return Result.fail(f"{count(state.small)} of {count(state.found)} files referenced by {options.source} "
                               f"{'is' if state.small == 1 else 'are'} smaller than {plural(options.min_size or 0, 'byte')}",
                               state.small_samples, **figures)
        return Result.ok(f"{count(state.found)} referenced files are at least {plural(options.min_size or 0, 'byte')}",
                         **figures)

    @staticmethod
    def _missing(state: FilesState, options: FilesOptions, figures: dict[str, int], unread: list[str],
                 samples: int) -> Result:
        skipped = ", ".join(part for part in (
            f"{count(state.nulls)} NULL" if state.nulls else "",
            f"{count(state.blanks)} empty" if state.blanks else "") if part)
        note = f" (not counted: {skipped})" if skipped else ""
        under = f"under {options.root_text}"
        problems = []
        if state.missing:
            problems.append(f"{count(state.missing)} of {count(state.referenced)} files referenced by {options.source} "
                            f"{'is' if state.missing == 1 else 'are'} missing {under}")
        if state.invalid:
            is_are = "is" if state.invalid == 1 else "are"
            problems.append(f"{count(state.invalid)} of {count(state.referenced)} paths in {options.source} {is_are} "
                            f"invalid (a .. part, a NUL byte or a link out of {options.root_text}: never looked up)"
                            if not state.missing else f"{count(state.invalid)} {is_are} invalid (never looked up)")
        if problems:
            # the invalid first: a path that tries to leave the root is the one to see
            return Result.fail(", and ".join(problems) + note,
                               (state.invalid_samples + state.missing_samples)[:samples] + unread, **figures)
        if unread:
            return Result.error(f"{plural(len(unread), 'folder')} {under} could not be read, so files referenced by "
                                f"{options.source} may be there unseen: {'; '.join(unread[:samples])}")
        return Result.ok(f"{plural(state.found, 'file')} referenced by {options.source} "
                         f"{'exists' if state.found == 1 else 'exist'} {under}{note}", **figures)
