"""`[[build]]`: the compiled output is newer than its sources (no restart on a stale build).

The shell scripts' `find src -newer dist/server.js`, as one item per entry: every file the
`sources` globs match must be older than the oldest file the `outputs` globs match, and there must
be outputs. With `map` (a source glob to the output glob each source compiles to, `src/**/*.ts` to
`dist/**/*.js`), each source is checked against its own output, which must exist: the stale and
the missing are named one by one. One walk per glob (`os.scandir`), one `stat` per matching file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..api import CheckKind, Entry, Result, RunContext, Target, id_part
from ..config import EntryReader
from ..errors import CheckError
from ..wording import age, count, plural
from . import BUILTIN
from .paths import Found, check_glob, find, glob_base, normal_glob, shown


@dataclass(frozen=True)
class BuildOptions:
    """A `[[build]]` entry's own keys.

    Attributes:
        base: the config's folder (globs are relative to it unless absolute).
        sources, outputs: globs (`**` across folders).
        map: (source glob, output glob) pairs: the wildcards of a source's match fill the output's.
        exclude: globs of files that are neither sources nor outputs (`**/*.d.ts`).
    """

    base: Path
    sources: tuple[str, ...]
    outputs: tuple[str, ...]
    map: tuple[tuple[str, str], ...]
    exclude: tuple[str, ...] = ()


#: a map's wildcards: `**/` (any folders, with their slashes), `**`, `*`, `?`
_WILDCARD = re.compile(r"\*\*/|\*\*|\*|\?")


def _wildcards(pattern: str) -> list[str]:
    return _WILDCARD.findall(pattern)


@lru_cache(maxsize=64)
def _capturing(pattern: str) -> re.Pattern[str]:
    """The glob as a regex whose groups are its wildcards, in order."""
    out, pos = [], 0
    while pos < len(pattern):
        if pattern.startswith("**/", pos):
            out.append("((?:[^/]*/)*)")
            pos += 3
        elif pattern.startswith("**", pos):
            out.append("(.*)")
            pos += 2
        elif pattern[pos] == "*":
            out.append("([^/]*)")
            pos += 1
        elif pattern[pos] == "?":
            out.append("([^/])")
            pos += 1
        else:
            out.append(re.escape(pattern[pos]))
            pos += 1
    return re.compile("".join(out) + r"\Z")


def mapped(source: str, source_glob: str, output_glob: str) -> str | None:
    """Where `source` compiles to: its match of `source_glob`'s wildcards put in `output_glob`'s
    (`backend/src/routes/a.ts` by `backend/src/**/*.ts` -> `backend/dist/**/*.js` gives
    `backend/dist/routes/a.js`); None when it does not match."""
    match = _capturing(source_glob).match(source)
    if match is None:
        return None
    parts = iter(match.groups())
    return _WILDCARD.sub(lambda _: next(parts), output_glob)


@dataclass(frozen=True)
class File:
    name: str
    mtime: int  # ns


class BuildCheck(CheckKind[BuildOptions, None]):
    """`[[build]]`: one item per entry."""

    name = "build"
    summary = BUILTIN["build"].summary

    def parse(self, reader: EntryReader) -> BuildOptions:
        sources = tuple(normal_glob(glob) for glob in reader.strings("sources"))
        if not sources:
            raise reader.error("sources", 'is required: a glob of the source files ("backend/src/**/*.ts") or a list')
        outputs = tuple(normal_glob(glob) for glob in reader.strings("outputs"))
        exclude = tuple(normal_glob(glob) for glob in reader.strings("exclude"))
        pairs: list[tuple[str, str]] = []
        table = reader.raw("map")
        if table is not None:
            if not isinstance(table, dict) or not table:
                raise reader.error("map", 'expected a table of source globs to output globs ({ "src/**/*.ts" = "dist/**/*.js" })')
            for source_glob, output_glob in table.items():
                key = f"map.{source_glob}"
                if not isinstance(output_glob, str):
                    raise reader.error(key, "expected the output glob (a string)")
                for glob in (source_glob, output_glob):
                    why = check_glob(glob)
                    if why:
                        raise reader.error(key, why)
                if "[" in source_glob or "[" in output_glob:
                    raise reader.error(key, "a map's globs take *, ** and ?, not [...] classes")
                if _wildcards(source_glob) != _wildcards(output_glob):
                    raise reader.error(key, f"'{output_glob}' must have the wildcards of '{source_glob}', in the same "
                                            "order (each is filled with what the source's matched)")
                pairs.append((normal_glob(source_glob), normal_glob(output_glob)))
        if not outputs and not pairs:
            raise reader.error("outputs", "is required (the build's output), unless map says where each source's is")
        for key, globs in (("sources", sources), ("outputs", outputs), ("exclude", exclude)):
            for glob in globs:
                why = check_glob(glob)
                if why:
                    raise reader.error(key, why)
        return BuildOptions(reader.base_dir, sources, outputs, tuple(pairs), exclude)

    def default_name(self, options: BuildOptions, entry_index: int, database: str | None) -> str:
        """The outputs' folder: `build[backend/dist]`."""
        first = options.outputs[0] if options.outputs else options.map[0][1]
        return id_part(glob_base(first)[0]) or f"build{entry_index}"

    def expand(self, entry: Entry[BuildOptions]) -> list[Target[BuildOptions, None]]:
        return [Target.at(entry, payload=None, subject=", ".join(entry.options.outputs or
                                                                  [o for _, o in entry.options.map]))]

    def run(self, target: Target[BuildOptions, None], ctx: RunContext) -> Result:
        options = target.entry.options

        def files(globs: tuple[str, ...], what: str) -> list[File]:
            found: dict[str, int] = {}
            for glob in globs:
                def progress(walking: str = glob) -> None:
                    ctx.check_deadline(f"walking {walking}")

                result: Found = find(options.base, glob, mtimes=True, exclude=options.exclude, progress=progress)
                if result.unreadable:
                    where, why = result.unreadable[0]
                    raise CheckError(f"{shown(where)} cannot be read: {why}")
                if result.escaping:
                    where, why = next(iter(result.escaping.items()))
                    raise CheckError(f"{what} {shown(where)} is {why}: not followed (exclude it, or name the "
                                     "files where they are)")
                if result.folders and not result.files:
                    folders.append(f"{glob} is a folder: give a glob of its files, {glob}/**/*")
                found.update(result.mtimes)
            return [File(name, mtime) for name, mtime in sorted(found.items())]

        folders: list[str] = []
        sources = files(options.sources, "source")
        outputs = files(options.outputs, "output") if options.outputs else []
        figures = {"sources": len(sources), "outputs": len(outputs)}
        problems: list[str] = []
        samples: list[str] = []
        if not sources:
            problems.append(f"no source matches {' or '.join(options.sources)}")
        if options.outputs:
            if not outputs:
                problems.append(f"no output matches {' or '.join(options.outputs)}: the build is missing")
            elif sources:
                oldest = min(outputs, key=lambda f: (f.mtime, f.name))
                stale = sorted((s for s in sources if s.mtime > oldest.mtime), key=lambda f: (-f.mtime, f.name))
                figures["stale"] = len(stale)
                if stale:
                    first = stale[0]
                    more = f" (and {plural(len(stale) - 1, 'more source')} newer than it)" if len(stale) > 1 else ""
                    problems.append(f"{shown(first.name)} is newer than {shown(oldest.name)} "
                                    f"(by {_by(first.mtime - oldest.mtime)}){more}")
                    samples += [f"{shown(s.name)} (by {_by(s.mtime - oldest.mtime)})" for s in stale[1:]]
        if options.map and sources:
            pairs = self._pairs(options, sources)
            figures.update(missing=pairs.missing, stale_pairs=pairs.stale, paired=pairs.paired)
            if not options.outputs:
                figures["outputs"] = pairs.paired - pairs.missing
            problems += pairs.problems
            samples += pairs.samples
        problems += folders
        if not problems:
            against = f"{plural(len(outputs), 'output')}" if options.outputs else f"their {plural(figures.get('paired', 0), 'output')}"
            return Result.ok(f"{plural(len(sources), 'source')}, none newer than {against}", **figures)
        also = [f"also: {problem}" for problem in problems[1:]]
        return Result.fail(problems[0], also + samples[:ctx.samples], **figures)

    @staticmethod
    def _pairs(options: BuildOptions, sources: list[File]) -> Pairs:
        """Each source a map names against its own output: the outputs of each map entry found by
        one walk of their glob, not a look per source."""
        missing: list[tuple[str, str]] = []
        stale: list[tuple[str, str, int]] = []
        escaping: list[tuple[str, str]] = []
        outputs = {output_glob: find(options.base, output_glob, mtimes=True) for _, output_glob in options.map}
        paired = 0
        for source in sources:
            for source_glob, output_glob in options.map:
                output = mapped(source.name, source_glob, output_glob)
                if output is None:
                    continue
                paired += 1
                found = outputs[output_glob]
                if output in found.escaping:
                    escaping.append((output, source.name))
                elif output not in found.mtimes:
                    missing.append((output, source.name))
                elif source.mtime > found.mtimes[output]:
                    stale.append((source.name, output, source.mtime - found.mtimes[output]))
                break
        pairs = Pairs(paired=paired, missing=len(missing), stale=len(stale))
        if not paired:
            keys = " or ".join(source_glob for source_glob, _ in options.map)
            pairs.problems.append(f"map pairs no source: none of the {plural(len(sources), 'source')} matches {keys}")
        stale.sort(key=lambda s: -s[2])
        if stale:
            name, output, by = stale[0]
            more = f" (and {plural(len(stale) - 1, 'more stale output')})" if len(stale) > 1 else ""
            pairs.problems.append(f"{shown(name)} is newer than {shown(output)} (by {_by(by)}){more}")
            pairs.samples += [f"{shown(n)} is newer than {shown(o)} (by {_by(b)})" for n, o, b in stale[1:]]
        if missing:
            absent, built_from = missing[0]
            more = f" (and {plural(len(missing) - 1, 'more')})" if len(missing) > 1 else ""
            pairs.problems.append(f"{shown(absent)} is missing (built from {shown(built_from)}){more}")
            pairs.samples += [f"{shown(o)} is missing (built from {shown(s)})" for o, s in missing[1:]]
        if escaping:
            linked, linked_from = escaping[0]
            pairs.problems.append(f"{shown(linked)} (built from {shown(linked_from)}) is a link out of the config's "
                                  "folder: not followed")
        return pairs


@dataclass
class Pairs:
    """What checking each source against its mapped output found."""

    paired: int = 0
    missing: int = 0
    stale: int = 0
    problems: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)


def _by(nanoseconds: int) -> str:
    seconds = nanoseconds / 1e9
    if seconds >= 1:
        return age(seconds)
    return f"{count(round(seconds * 1000))}ms" if seconds >= 0.001 else "less than 1ms"

