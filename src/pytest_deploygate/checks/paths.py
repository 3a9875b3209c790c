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
from pathlib import Path


def shown(path: str) -> str:
    """A path as messages show it: bytes that are not UTF-8 (kept by `surrogateescape`) and control
    characters escaped (`\\xff`, `\\n`), never a crash on printing a name."""
    if path.isprintable() and path.isascii():
        return path
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
        elif char == "[" and pattern.find("]", pos + 2) != -1:
            end = pattern.find("]", pos + 2)  # a "]" right after "[" is a member, not the end
            body = pattern[pos + 1:end]
            negated = body.startswith("!")
            body = re.sub(r"([\\\]^])", r"\\\1", body[1:] if negated else body)
            out.append(f"[{'^' if negated else ''}{body}]")
            pos = end + 1
        else:
            out.append(re.escape(char))
            pos += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE if case_insensitive else 0)


#: first characters that send a stored path the long way: a slash, a dot (`./`, `..`), whitespace
_UNUSUAL_START = frozenset("/. \t\n\r\x0b\x0c")


class PathReader:
    """Stored paths as paths relative to a root.

    Args:
        roots: the root folder's absolute paths (as configured, and with its links resolved).
        strip_prefix: prefixes the stored paths carry that the files under the root do not
            (`https://cdn.example.com/`, `/uploads/`); the first that matches is removed.
        case_insensitive: compare names as a case-insensitive store would (both sides casefolded).
    """

    def __init__(self, roots: Sequence[Path], strip_prefix: Sequence[str] = (), case_insensitive: bool = False) -> None:
        self.root_texts = tuple(dict.fromkeys(os.fspath(root).rstrip("/") + "/" for root in roots))
        self.prefixes = tuple(p for p in strip_prefix if p)
        self.case_insensitive = case_insensitive

    def relative(self, stored: str) -> tuple[str, str]:
        """(relative path, "") for a usable path; ("", why) for one that is empty or invalid.

        Leading `./` and `/` go (a web path `/uploads/x.webp` is under the root), as does the
        root's own absolute path; duplicate slashes collapse. A NUL byte or a `..` part makes the
        path invalid: it is never looked up, inside the root or out of it.
        """
        path = stored
        for prefix in self.prefixes:
            if path.startswith(prefix):
                path = path[len(prefix):]
                break
        # the usual stored path (`uploads/ads/x.webp`) is already relative and plain: as it is
        if (path and path[0] not in _UNUSUAL_START and path[-1] > " " and path[-1] != "/" and "//" not in path
                and "/." not in path and "\\" not in path and "\x00" not in path):
            return (path.casefold() if self.case_insensitive else path), ""
        path = path.strip()
        for root in self.root_texts:
            if path.startswith(root):
                path = path[len(root):]
                break
        if "\x00" in path:
            return "", "contains a NUL byte"
        parts = [part for part in path.replace("\\", "/").split("/") if part and part != "."]
        if not parts:
            return "", "empty"
        if ".." in parts:
            return "", "leaves the root (..)"
        joined = "/".join(parts)
        return (joined.casefold() if self.case_insensitive else joined), ""


@dataclass
class Walk:
    """What one walk of a root found.

    Attributes:
        files: the regular files, as relative paths (casefolded for a case-insensitive store);
            a link inside the root to a regular file inside the root counts as that file.
        matching: the files whose path matches the walk's glob (a subset of `files`).
        small: files smaller than the walk's `min_size` -> their size.
        escaping: links that point outside the root (or nowhere) -> why; never followed.
        unreadable: folders that could not be read -> why.
        entries: everything seen.
    """

    files: set[str] = field(default_factory=set)
    matching: set[str] = field(default_factory=set)
    small: dict[str, int] = field(default_factory=dict)
    escaping: dict[str, str] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    entries: int = 0


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
         progress: Callable[[], None] = lambda: None) -> Walk:
    """Walk `root` once with `os.scandir`, without following links out of it.

    Args:
        root: the folder, which exists.
        glob: collect the files matching it in :attr:`Walk.matching`.
        min_size: collect the files smaller than it in :attr:`Walk.small` (one `lstat` per file).
        case_insensitive: casefold the paths.
        progress: called every 10,000 entries (the caller's deadline check).
    """
    real_root = os.path.realpath(root)
    pattern = glob_regex(glob, case_insensitive) if glob else None
    found = Walk()
    folders = [("", real_root)]
    while folders:
        relative, folder = folders.pop()
        try:
            entries = os.scandir(folder)
        except OSError as exc:
            found.unreadable.append((relative or ".", exc.strerror or str(exc)))
            continue
        with entries:
            for entry in entries:
                found.entries += 1
                if found.entries % 10_000 == 0:
                    progress()
                path = f"{relative}/{entry.name}" if relative else entry.name
                key = path.casefold() if case_insensitive else path
                try:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append((path, entry.path))
                        continue
                    if entry.is_file(follow_symlinks=False):
                        size = entry.stat(follow_symlinks=False).st_size if min_size is not None else None
                    elif entry.is_symlink():
                        target, why = confined_target(entry.path, real_root)
                        if target is None:
                            found.escaping[key] = why
                            continue
                        mode = os.lstat(target)
                        if not stat.S_ISREG(mode.st_mode):
                            continue  # a link to a folder (not followed) or to something else
                        size = mode.st_size if min_size is not None else None
                    else:
                        continue  # a socket, a fifo, a device: not a file
                except OSError as exc:
                    found.unreadable.append((path, exc.strerror or str(exc)))
                    continue
                found.files.add(key)
                if pattern is not None and pattern.match(key):
                    found.matching.add(key)
                if size is not None and min_size is not None and size < min_size:
                    found.small[key] = size
    return found
