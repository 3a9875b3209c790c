"""Alembic: `alembic_version` holds only the applied heads of a graph of revision files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import CheckError
from . import base
from .base import Findings, Row, Tool, TrackingSpec


@dataclass(frozen=True)
class AlembicRevision:
    """One revision file.

    Attributes:
        revision: its `revision` id.
        file: its file name, for messages.
        down: the revisions it revises (`down_revision`: one, several for a merge, none for a base).
        depends: the revisions it depends on (`depends_on`), applied before it too.
    """

    revision: str
    file: str
    down: tuple[str, ...]
    depends: tuple[str, ...]


class Alembic(Tool[dict[str, AlembicRevision]]):
    """`alembic upgrade`: everything a recorded head revises, transitively, is applied."""

    name = "alembic"
    tracking = TrackingSpec("alembic_version", "version_num")

    def scan(self, directory: Path) -> dict[str, AlembicRevision]:
        # `directory` may be the alembic folder (with env.py and versions/) or versions/ itself
        versions = directory / "versions" if (directory / "versions").is_dir() else directory
        revisions: dict[str, AlembicRevision] = {}
        for path in base.files(versions, "*.py", recursive=True):
            values = base.module_assignments(path, {"revision", "down_revision", "depends_on"})
            revision = values.get("revision")
            if not isinstance(revision, str):
                continue  # not a revision file (a helper module)
            if revision in revisions:
                raise CheckError(f"two files on disk define revision {revision}: "
                                 f"{revisions[revision].file} and {path.name}")
            revisions[revision] = AlembicRevision(revision, path.name, base.names(values.get("down_revision")),
                                                  base.names(values.get("depends_on")))
        return revisions

    @staticmethod
    def _in_order(revisions: dict[str, AlembicRevision]) -> list[str]:
        """Revisions from base to heads (each after everything it revises)."""
        ordered: list[str] = []
        state: dict[str, int] = {}
        for start in sorted(revisions):
            stack = [(start, False)]
            while stack:
                rev, done = stack.pop()
                if done:
                    state[rev] = 2
                    ordered.append(rev)
                    continue
                if state.get(rev) or rev not in revisions:
                    continue
                state[rev] = 1
                stack.append((rev, True))
                parents = (*revisions[rev].down, *revisions[rev].depends)
                stack.extend((parent, False) for parent in sorted(parents, reverse=True) if not state.get(parent))
        return ordered

    def compare(self, disk: dict[str, AlembicRevision], rows: Sequence[Row]) -> Findings:
        heads = self.applied(rows)
        unknown = [head for head in heads if head not in disk]
        applied: set[str] = set()
        stack = [head for head in heads if head in disk]
        while stack:  # everything a recorded head revises is applied
            rev = stack.pop()
            if rev in applied or rev not in disk:
                continue
            applied.add(rev)
            stack.extend((*disk[rev].down, *disk[rev].depends))
        findings = Findings(on_disk=len(disk), applied=len(applied), missing=unknown)
        if unknown:
            findings.pending_unknown = (f"cannot tell which migrations are pending: applied revision "
                                        f"{unknown[0]} is not on disk")
        findings.pending = [f"{rev} ({disk[rev].file})" for rev in self._in_order(disk) if rev not in applied]
        return findings

    def applied(self, rows: Sequence[Row]) -> list[str]:
        """The applied heads only: what they revise is known from the revision files alone."""
        return [str(row[0]) for row in rows]
