"""golang-migrate: `schema_migrations` holds only the current version and a dirty flag."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from . import base
from .base import DiskMigration, Findings, Row, Tool, TrackingSpec

#: the up migrations on disk, and every version that has a file (up or down)
GolangDisk = tuple[list[DiskMigration], frozenset[int]]


class GolangMigrate(Tool[GolangDisk]):
    """`migrate up`: `<version>_<name>.up.<ext>` / `.down.<ext>` files, one stored version."""

    name = "golang-migrate"
    tracking = TrackingSpec("schema_migrations", "version, dirty", "ORDER BY version DESC", failures=True)
    _name = re.compile(r"^([0-9]+)_(.*)\.(up|down)\.(.*)$")

    def scan(self, directory: Path) -> GolangDisk:
        ups = []
        versions = set()
        for path in base.files(directory, "*"):
            match = self._name.match(path.name)
            if not match:
                continue
            versions.add(int(match[1]))
            if match[3] == "up":
                ups.append(DiskMigration(int(match[1]), f"{match[1]}_{match[2]}"))
        ups.sort(key=lambda m: m.key)
        base.no_duplicates(ups)
        return ups, frozenset(versions)

    def compare(self, disk: GolangDisk, rows: Sequence[Row]) -> Findings:
        ups, versions = disk
        if not rows:  # nothing migrated yet
            return Findings(on_disk=len(ups), applied=0, pending=[m.name for m in ups])
        # only the current version is stored: everything up to it counts as applied
        current, dirty = int(rows[0][0]), bool(rows[0][1])
        names = {m.key: m.name for m in ups}
        findings = Findings(on_disk=len(ups), applied=sum(1 for m in ups if m.key <= current),
                            pending=[m.name for m in ups if m.key > current])
        if current not in versions:
            findings.missing = [str(current)]
        if dirty:
            findings.failed = [(f"migration {names.get(current, current)} is dirty (it failed midway)",
                                f"fix the database by hand, then `migrate force {current}`")]
        return findings

    def applied(self, rows: Sequence[Row]) -> list[str]:
        """The current version only (what it follows is known from the folder alone); none when dirty."""
        if not rows or bool(rows[0][1]):
            return []
        return [str(int(rows[0][0]))]
