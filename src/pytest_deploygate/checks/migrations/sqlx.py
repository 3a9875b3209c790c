"""sqlx: `_sqlx_migrations`, `<version>_<description>.sql` (or `.up.sql` / `.down.sql`) files."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import base
from .base import DiskMigration, Findings, Record, Row, Tool, TrackingSpec


def sqlx_checksum(script: bytes) -> bytes:
    """sqlx's `checksum` column: the SHA-384 of the (up) migration file.

    Args:
        script: the bytes of the migration file.
    """
    return hashlib.sha384(script).digest()


class Sqlx(Tool[list[DiskMigration]]):
    """`sqlx migrate run`: a row per applied version, `success = false` while half-applied."""

    name = "sqlx"
    tracking = TrackingSpec("_sqlx_migrations", "version, description, success, checksum", "ORDER BY version",
                            failures=True, checksums=True)
    _name = re.compile(r"^([0-9]+)_(.+?)(\.up)?\.sql$")

    def scan(self, directory: Path) -> list[DiskMigration]:
        migrations = []
        for path in base.files(directory, "*.sql"):
            if path.name.endswith(".down.sql"):
                continue
            match = self._name.match(path.name)
            if match:
                digest = sqlx_checksum(base.read(path))
                migrations.append(DiskMigration(int(match[1]), path.name.removesuffix(".sql").removesuffix(".up"),
                                                frozenset({digest}), base.show_checksum(digest)))
        migrations.sort(key=lambda m: m.key)
        base.no_duplicates(migrations)
        return migrations

    def records(self, rows: Sequence[Row], names: Mapping[int, str] | None = None) -> list[Record]:
        """The rows as records, each named after its file on disk in `names` (version -> name).

        A version without a file is named as sqlx would have named its file:
        `<version>_<description with underscores>`.
        """
        names = names or {}
        records = []
        for version, description, success, checksum in rows:
            name = names.get(int(version), f"{version}_{str(description).replace(' ', '_')}")
            records.append(Record(int(version), name, failed=not success,
                                  checksum=bytes(checksum) if checksum is not None else None,
                                  detail=f"migration {name} is partially applied (success = false)"))
        return records

    def compare(self, disk: list[DiskMigration], rows: Sequence[Row]) -> Findings:
        return base.compare(disk, self.records(rows, {m.key: m.name for m in disk}))
