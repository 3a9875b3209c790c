"""Files under a root folder: paths as users store them, kept inside the root, walked once.

For every family that reads files a config or a database names (`[[files]]`, and the families
that read backups and logs): a stored path becomes a path relative to the root, or is refused
(it would leave the root); the root is walked once with `os.scandir`, never following a link
out of it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from pathlib import Path
from typing import Any


def shown(path: str) -> str:
    """A path as messages show it: bytes that are not UTF-8 (kept by `surrogateescape`) and control
    characters escaped (`\\xff`, `\\n`), never a crash on printing a name."""
    if path.isprintable() and path.isascii():
        return path
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _class_end(pattern: str, start: int) -> int:
    """Where the class `[...]` opened at `start` closes, or -1 (then `[` is itself): a `]` first
    in the class (after a `!`) is a member, not the end."""
    first = start + (2 if pattern.startswith("!", start + 1) else 1)
    return pattern.find("]", first + 1)


@lru_cache(maxsize=64)
def glob_regex(pattern: str, case_insensitive: bool = False) -> re.Pattern[str]:
    """A glob over relative paths as a regex: `*` and `?` within one folder name, `**` across
    folders (`uploads/**/*.webp` matches `uploads/a.webp` and `uploads/x/y/a.webp`), `[...]` a class.
    """
    out, pos = [], 0
    while pos < len(pattern):
        char = pattern[pos]
        if pattern.startswith("**/", pos):
            out.append("(?:[^/]*/)*")  # any folders, none included
            pos += 3
        elif pattern.startswith("**", pos):
            out.append(".*")
            pos += 2
        elif char == "*":
            out.append("[^/]*")
            pos += 1
        elif char == "?":
            out.append("[^/]")
            pos += 1
        elif char == "[" and _class_end(pattern, pos) != -1:
            end = _class_end(pattern, pos)
            negated = pattern.startswith("!", pos + 1)
            body = pattern[pos + (2 if negated else 1):end]
            body = re.sub(r"([\\\]\[^&~|])", r"\\\1", body)
            out.append(f"[{'^' if negated else ''}{body}]")
            pos = end + 1
        else:
            out.append(re.escape(char))
            pos += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE if case_insensitive else 0)


class GlobMatcher:
    """A glob tested folder by folder: the folder part once per folder, the name part per file
    (`*.webp` as an `endswith` over the folder's names), the whole path only when the name part
    has a `**`."""

    def __init__(self, pattern: str, case_insensitive: bool = False) -> None:
        folder, _, name = pattern.rpartition("/")
        self.whole = glob_regex(pattern, case_insensitive) if "**" in name else None
        self.folder = glob_regex(f"{folder}/" if folder else "", case_insensitive)
        tail = name[1:]
        self.suffix = (tail.lower() if case_insensitive else tail) \
            if name.startswith("*") and not any(c in tail for c in "*?[") else None
        self.name = glob_regex(name, case_insensitive)

    def in_folder(self, relative: str) -> Callable[[str, str], object] | None:
        """A test of (name, path) for the files of the folder `relative`; None when none can match."""
        whole = self.whole
        if whole is not None:
            return lambda _name, path: whole.match(path)
        if not self.folder.match(f"{relative}/" if relative else ""):
            return None
        suffix, name = self.suffix, self.name
        if suffix is not None:
            return lambda file_name, _path: file_name.endswith(suffix)
        return lambda file_name, _path: name.match(file_name)

    def matching(self, relative: str, names: list[str], paths: list[str]) -> list[str]:
        """The `paths` (of the files `names` in the folder `relative`) that match, a folder at a time."""
        if self.whole is not None:
            match = self.whole.match
            return [p for p in paths if match(p)]
        if not self.folder.match(f"{relative}/" if relative else ""):
            return []
        suffix = self.suffix
        if suffix is not None:
            return [p for n, p in zip(names, paths, strict=True) if n.endswith(suffix)]
        match = self.name.match
        return [p for n, p in zip(names, paths, strict=True) if match(n)]


class PathReader:
    """Stored paths as paths relative to a root.

    Args:
        roots: the root folder's absolute paths (as configured, and with its links resolved).
        strip_prefix: prefixes the stored paths carry that the files under the root do not
            (`https://cdn.example.com/`, `/uploads/`); the first that matches is removed.
        case_insensitive: compare names as a case-insensitive store would (both sides lower-cased).
    """

    def __init__(self, roots: Sequence[Path], strip_prefix: Sequence[str] = (), case_insensitive: bool = False) -> None:
        self.root_texts = tuple(dict.fromkeys(os.fspath(root).rstrip("/") + "/" for root in roots))
        self.case_insensitive = case_insensitive
        # compared as the names are: lower-cased in a case-insensitive store
        self.prefixes = tuple((p.lower() if case_insensitive else p) for p in strip_prefix if p)

    def quick(self, values: list[Any]) -> list[Any]:
        """Each value as a usual stored path becomes: lower-cased where asked, its prefix stripped.

        For a whole batch of rows at C speed. A result that is among the walk's files is a clean
        relative path already (the walk's names are), so it needs nothing more; every other value
        goes through :meth:`relative`.
        """
        if self.case_insensitive:
            values = [v.lower() if v.__class__ is str else v for v in values]
        prefixes = self.prefixes
        if prefixes:
            values = [self._strip(v) if v.__class__ is str and v.startswith(prefixes) else v for v in values]
        return values

    def _strip(self, value: str) -> str:
        for prefix in self.prefixes:
            if value.startswith(prefix):
                return value[len(prefix):]
        return value  # pragma: no cover - quick() calls this only for a value with a prefix

    def relative(self, stored: str) -> tuple[str, str]:
        """(relative path, "") for a usable path; ("", why) for one that is empty or invalid.

        Surrounding whitespace goes; a path that starts with the root's own absolute path is made
        relative to it; then the first matching prefix goes; leading `./` and `/` go (a web path
        `/uploads/x.webp` is under the root); duplicate slashes collapse and `\\` is a separator.
        A NUL byte or a `..` part makes the path invalid: it is never looked up, inside the root
        or out of it.
        """
        path = stored.strip()
        if self.case_insensitive:
            path = path.lower()
        for root in self.root_texts:
            if path.startswith(root.lower() if self.case_insensitive else root):
                path = path[len(root):]
                break
        else:
            for prefix in self.prefixes:
                if path.startswith(prefix):
                    path = path[len(prefix):]
                    break
        if "\x00" in path:
            return "", "contains a NUL byte"
        parts = [part for part in path.replace("\\", "/").split("/") if part and part != "."]
        if not parts:
            return "", "empty"
        if ".." in parts:
            return "", "has a .. part"
        return "/".join(parts), ""


@dataclass
class Walk:
    """What one walk of a root found.

    Attributes:
        files: the regular files, as relative paths (lower-cased for a case-insensitive store);
            a link inside the root to a regular file inside the root counts as that file.
        matching: the files whose path matches the walk's glob (a subset of `files`).
        small: files smaller than the walk's `min_size` -> their size.
        escaping: links that point outside the root (or nowhere) -> why; never followed.
        folder_links: links to folders inside the root -> the folder's path: not walked (their
            files are walked where they are), followed for a stored path that goes through one.
        on_disk: for a case-insensitive walk, the lower-cased paths of `matching` -> as on disk.
        mtimes: with `mtimes`, the files of `matching` -> their modification time (ns).
        unreadable: folders that could not be read -> why.
        entries: everything seen.
    """

    files: set[str] = field(default_factory=set)
    matching: set[str] = field(default_factory=set)
    small: dict[str, int] = field(default_factory=dict)
    escaping: dict[str, str] = field(default_factory=dict)
    folder_links: dict[str, str] = field(default_factory=dict)
    on_disk: dict[str, str] = field(default_factory=dict)
    mtimes: dict[str, int] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    entries: int = 0

    def through_links(self, path: str) -> tuple[str | None, str]:
        """A path whose folders may be links inside the root (`current -> releases/v2`, not
        followed by the walk): (the path it leads to, "") or (None, why) for a link out."""
        for _ in range(40):
            parts = path.split("/")
            for end in range(1, len(parts)):
                head = "/".join(parts[:end])
                if head in self.escaping:
                    return None, self.escaping[head]
                if head in self.folder_links:
                    path = "/".join([self.folder_links[head], *parts[end:]])
                    break
            else:
                return path, ""
        return None, "a loop of links"


def confined_target(link: str, root: str) -> tuple[str | None, str]:
    """Where the link `link` (a path under `root`, which has no links itself) leads, resolved one
    part at a time without ever looking outside `root`: (the path, "") or (None, why).

    `os.path.realpath` would `lstat` each part of a target outside the root on its way; this
    stops at the first step out.
    """
    parts = link[len(root):].strip("/").split("/")
    resolved, hops = root, 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if resolved == root:
                return None, "a link that points outside the root"
            resolved = os.path.dirname(resolved)
            continue
        candidate = f"{resolved}/{part}"
        try:
            mode = os.lstat(candidate).st_mode
        except OSError:
            return None, "a link to nothing (broken)"
        if not stat.S_ISLNK(mode):
            resolved = candidate
            continue
        hops += 1
        if hops > 40:
            return None, "a loop of links"
        target = os.readlink(candidate)
        if target.startswith("/"):
            inside = "/" + "/".join(p for p in target.split("/") if p)
            if inside != root and not inside.startswith(root.rstrip("/") + "/"):
                return None, "a link that points outside the root"
            parts = inside[len(root):].strip("/").split("/") + parts
            resolved = root
        else:
            parts = target.split("/") + parts
    return resolved, ""


def walk(root: Path, *, glob: str | None = None, min_size: int | None = None, case_insensitive: bool = False,
         mtimes: bool = False, boundary: Path | None = None, progress: Callable[[], None] = lambda: None) -> Walk:
    """Walk `root` once with `os.scandir`, without following links out of it (or out of
    `boundary`, a folder that holds it, when given: a link to a file there counts as that file).

    Args:
        root: the folder, which exists.
        glob: collect the files matching it in :attr:`Walk.matching`.
        min_size: collect the files smaller than it in :attr:`Walk.small` (one `lstat` per file).
        case_insensitive: casefold the paths.
        mtimes: collect the modification times of the files matching `glob` in :attr:`Walk.mtimes`
            (one `stat` per such file).
        boundary: where links may lead (default: `root`); links to folders are never followed.
        progress: called every 10,000 entries (the caller's deadline check).
    """
    real_root = os.path.realpath(root)
    real_boundary = os.path.realpath(boundary) if boundary is not None else real_root
    matcher = GlobMatcher(glob, case_insensitive) if glob else None
    found = Walk()
    folders = [("", real_root)]
    next_progress = 10_000
    while folders:
        relative, folder = folders.pop()
        try:
            with os.scandir(folder) as scan:
                entries = list(scan)
        except OSError as exc:
            found.unreadable.append((relative or ".", exc.strerror or str(exc)))
            continue
        found.entries += len(entries)
        if found.entries >= next_progress:
            progress()
            next_progress = found.entries + 10_000
        prefix = f"{relative}/" if relative else ""
        try:
            # a folder's entries a list at a time (is_file reads the folder's own listing)
            flags = [e.is_file(follow_symlinks=False) for e in entries]
            plain = list(compress(entries, flags))
            others = [] if all(flags) else [e for e, flag in zip(entries, flags, strict=True) if not flag]
        except OSError:  # an entry gone between the listing and the look: one at a time below
            plain, others = [], entries
        names = [e.name for e in plain]
        keys = [prefix + n for n in names]
        if case_insensitive:
            lowered = [k.lower() for k in keys]
            shown_as = dict(zip(lowered, keys, strict=True))
            names, keys = [n.lower() for n in names], lowered
        found.files.update(keys)
        folder_key = relative.lower() if case_insensitive else relative
        if matcher is not None:
            matched = matcher.matching(folder_key, names, keys)
            found.matching.update(matched)
            if mtimes and matched:
                _mtimes(found, plain, keys, set(matched))
            if case_insensitive:  # the names as they are on disk, for messages
                found.on_disk.update((k, shown_as[k]) for k in matched)
        if min_size is not None:
            for entry, key in zip(plain, keys, strict=True):
                try:
                    size = entry.stat(follow_symlinks=False).st_size
                except OSError as exc:
                    found.unreadable.append((prefix + entry.name, exc.strerror or str(exc)))
                    continue
                if size < min_size:
                    found.small[key] = size
        if others:
            matches = matcher.in_folder(folder_key) if matcher is not None else None
            for entry in others:
                _other(found, entry, prefix, real_root, folders, matches, min_size, case_insensitive, real_boundary)
    return found


def _mtimes(found: Walk, plain: list[os.DirEntry[str]], keys: list[str], matched: set[str]) -> None:
    for entry, key in zip(plain, keys, strict=True):
        if key in matched:
            try:
                found.mtimes[key] = entry.stat(follow_symlinks=False).st_mtime_ns
            except OSError as exc:  # gone since the listing
                found.unreadable.append((key, exc.strerror or str(exc)))


def _other(found: Walk, entry: os.DirEntry[str], prefix: str, real_root: str, folders: list[tuple[str, str]],
           matches: Callable[[str, str], object] | None, min_size: int | None, case_insensitive: bool,
           real_boundary: str) -> None:
    """An entry that is not a plain file: a folder to walk, a link to resolve inside the root, or
    something else (a socket, a device), which is not a file."""
    path = prefix + entry.name
    key = path.lower() if case_insensitive else path
    try:
        if entry.is_dir(follow_symlinks=False):
            folders.append((path, entry.path))
            return
        if entry.is_file(follow_symlinks=False):  # listed as gone a moment ago, back now
            info = entry.stat(follow_symlinks=False)
            size, mtime = info.st_size, info.st_mtime_ns
        elif entry.is_symlink():
            target, why = confined_target(entry.path, real_boundary)
            if target is None:
                found.escaping[key] = why
                return
            mode = os.lstat(target)
            if stat.S_ISDIR(mode.st_mode):
                if target != real_root and not target.startswith(real_root.rstrip("/") + "/"):
                    found.escaping[key] = "a link to a folder elsewhere (links to folders are not followed)"
                    return
                inside = target[len(real_root):].strip("/")
                found.folder_links[key] = inside.lower() if case_insensitive else inside
                return
            if not stat.S_ISREG(mode.st_mode):
                return  # a link to something else: not a file
            size, mtime = mode.st_size, mode.st_mtime_ns
        else:
            return  # a socket, a fifo, a device: not a file
    except OSError as exc:
        found.unreadable.append((path, exc.strerror or str(exc)))
        return
    found.files.add(key)
    if matches is not None and matches(entry.name.lower() if case_insensitive else entry.name, key):
        found.matching.add(key)
        found.mtimes[key] = mtime
    if min_size is not None and size < min_size:
        found.small[key] = size


_WILD = re.compile(r"[*?\[]")


@dataclass
class Found:
    """The files a glob of the config matched (see :func:`find`).

    Attributes:
        files: each file as messages show it (relative to the config's folder, or absolute when
            the glob is) -> its path on disk.
        mtimes: with `mtimes`, each file as shown -> its modification time (ns).
        escaping: links the glob matches that lead outside where it may look, as shown -> what
            they are, worded for a message (`a link out of the config's folder`); never followed.
        unreadable: folders or files that could not be read -> why.
        folders: the glob, when it names a folder rather than files (a hint for the message).
    """

    files: dict[str, Path] = field(default_factory=dict)
    mtimes: dict[str, int] = field(default_factory=dict)
    escaping: dict[str, str] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)


def glob_base(pattern: str) -> tuple[str, str]:
    """A glob split where its wildcards start: ("logs", "backend*.log") for `logs/backend*.log`,
    ("backend/src", "**/*.ts"), ("logs/app.log", "") for a plain path."""
    parts = pattern.split("/")
    for index, part in enumerate(parts):
        if _WILD.search(part):
            return "/".join(parts[:index]), "/".join(parts[index:])
    return pattern, ""


def check_glob(pattern: str) -> str:
    """Why a config's glob cannot be used ("" when it can): one relative to the config's folder
    stays inside it (no `..` part); an absolute one says it means to leave it."""
    if not pattern.strip():
        return "is empty"
    if "\x00" in pattern:
        return "contains a NUL byte"
    if not os.path.isabs(pattern) and ".." in pattern.replace("\\", "/").split("/"):
        return (f'"{pattern}" leaves the config\'s folder (a .. part): write an absolute path if that is meant')
    return ""


def normal_glob(pattern: str) -> str:
    """A config's glob as the gate reads it: `./` parts and doubled slashes gone, so that the names
    it matches (and a `map` against them) are written one way."""
    absolute = pattern.startswith("/")
    parts = [part for part in pattern.split("/") if part not in ("", ".")]
    return ("/" if absolute else "") + "/".join(parts)


def find(base_dir: Path, pattern: str, *, mtimes: bool = False, exclude: Sequence[str] = (),
         progress: Callable[[], None] = lambda: None) -> Found:
    """The regular files matching `pattern` (`*`, `?`, `[...]`, `**` as in :func:`glob_regex`),
    relative to `base_dir` unless absolute, found by one walk of the folder where its wildcards
    start, less those matching an `exclude` glob. A relative glob stays inside `base_dir`: a link
    (in its fixed part or under it) that leads out of `base_dir` is not followed but reported in
    :attr:`Found.escaping`; an absolute glob stays inside its fixed part. What cannot be read is in
    :attr:`Found.unreadable`, never raised.
    """
    pattern = normal_glob(pattern)
    absolute = os.path.isabs(pattern)
    head, rest = glob_base(pattern)
    found = Found()
    shown_head = head.rstrip("/")
    real_base = os.path.realpath(base_dir)
    try:
        if absolute:
            root, boundary = Path(head or "/"), Path(head or "/")
        else:
            target, why = confined_target(os.path.join(real_base, head), real_base) if head else (real_base, "")
            if target is None:
                if why != "a link to nothing (broken)":
                    found.escaping[head] = _escape_wording(why, "the config's folder")
                return found
            root, boundary = Path(target), Path(real_base)
        if not rest:  # a plain path: the file itself, if it is one
            info = root.stat()
            if stat.S_ISREG(info.st_mode) and not _excluded(pattern, exclude):
                found.files[pattern] = root
                if mtimes:
                    found.mtimes[pattern] = info.st_mtime_ns
            elif stat.S_ISDIR(info.st_mode):
                found.folders.append(pattern)
            return found
        if not root.is_dir():
            return found
        walked = walk(root, glob=rest, mtimes=mtimes, boundary=boundary, progress=progress)
    except FileNotFoundError:
        return found
    except OSError as exc:  # a folder on the way that cannot be searched, a name too long
        found.unreadable.append((shown_head or ".", exc.strerror or str(exc)))
        return found

    def name(relative: str) -> str:
        return f"{shown_head}/{relative}" if shown_head else relative

    for relative in sorted(walked.matching):
        if _excluded(name(relative), exclude):
            continue
        found.files[name(relative)] = root / relative
        if relative in walked.mtimes:
            found.mtimes[name(relative)] = walked.mtimes[relative]
    matcher = glob_regex(rest)
    boundary_said = "the config's folder" if not absolute else shown_head or "/"
    found.escaping = {name(k): _escape_wording(v, boundary_said) for k, v in walked.escaping.items()
                      if matcher.match(k) and not _excluded(name(k), exclude)}
    found.unreadable = [(name(where) if where != "." else shown_head or ".", why) for where, why in walked.unreadable]
    return found


def _escape_wording(why: str, boundary: str) -> str:
    """What a link that is not followed is, as a message says it."""
    if "outside" in why or "elsewhere" in why:
        return f"a link out of {boundary}"
    return why


def _excluded(name: str, exclude: Sequence[str]) -> bool:
    return any(glob_regex(normal_glob(glob)).match(name) for glob in exclude)
