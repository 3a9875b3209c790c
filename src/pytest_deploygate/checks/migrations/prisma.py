"""Prisma: `_prisma_migrations`, one folder per migration holding its `migration.sql`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from . import base
from .base import DiskMigration, Findings, Record, Row, Tool, TrackingSpec


def prisma_checksum(script: bytes) -> str:
    """Prisma's `checksum` column: the SHA-256 of `migration.sql`, in hex.

    Args:
        script: the bytes of `migration.sql`.
    """
    return hashlib.sha256(script).hexdigest()


def _prisma_checksums(script: bytes) -> frozenset[str]:
    """Every checksum Prisma accepts for a script (prisma-engines `script_matches_checksum`).

    Prisma also accepts the script with its line endings swapped (a checkout with `autocrlf`), and
    checksums written by old engines, which dropped the leading zero of each byte's hex.

    Args:
        script: the bytes of `migration.sql`.
    """
    lf = script.replace(b"\r\n", b"\n")
    accepted = set()
    for variant in (script, lf, lf.replace(b"\n", b"\r\n")):
        digest = hashlib.sha256(variant).digest()
        accepted.add(digest.hex())
        accepted.add("".join(f"{byte:x}" for byte in digest))
    return frozenset(accepted)


class Prisma(Tool[list[DiskMigration]]):
    """`prisma migrate deploy`: a row per attempt, failed while `finished_at` is NULL (P3009)."""

    name = "prisma"
    tracking = TrackingSpec(
        "_prisma_migrations",
        "migration_name, checksum, finished_at IS NOT NULL, rolled_back_at IS NOT NULL, "
        "CASE WHEN finished_at IS NULL THEN logs END",
        "ORDER BY started_at, migration_name", failures=True, checksums=True)

    def scan(self, directory: Path) -> list[DiskMigration]:
        migrations = []
        for script in base.files(directory, "*/migration.sql"):
            content = base.read(script)
            migrations.append(DiskMigration(script.parent.name, script.parent.name, _prisma_checksums(content),
                                            base.show_checksum(prisma_checksum(content))))
        return migrations

    def records(self, rows: Sequence[Row]) -> list[Record]:
        records = []
        for name, checksum, finished, rolled_back, logs in rows:
            if rolled_back:  # `migrate resolve --rolled-back`: neither applied nor failed
                continue
            if not finished:  # P3009: migrate deploy refuses to run while this row exists
                records.append(Record(name, name, failed=True, note=base.first_line(logs),
                                      detail=f"migration {name} failed (finished_at NULL, not rolled back)"))
            else:
                records.append(Record(name, name, checksum=checksum))
        return records

    def compare(self, disk: list[DiskMigration], rows: Sequence[Row]) -> Findings:
        return base.compare(disk, self.records(rows))
