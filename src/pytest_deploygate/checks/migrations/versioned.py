"""Rails, dbmate, knex, goose: a row per applied migration, keyed by the file's version or name."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from . import base
from .base import DiskMigration, Findings, Record, Row, Tool, TrackingSpec


class _VersionFiles(Tool[list[DiskMigration]]):
    """Tools whose table holds one row per applied migration, keyed by the file's version or name.

    Attributes:
        pattern: the file names that are migrations; group 1 is the version, where there is one.
        recursive: look in subfolders too.
        glob: the files to look at, before `pattern`.
        keep_suffix: messages name a migration by its file name with (knex) or without its suffix.
        text_keys: the table records text (dbmate's version with its leading zeros, knex's file
            name), compared as text; otherwise versions are compared as numbers.
    """

    pattern: ClassVar[re.Pattern[str]]
    recursive: ClassVar[bool] = False
    glob: ClassVar[str] = "*"
    keep_suffix: ClassVar[bool] = False
    text_keys: ClassVar[bool] = False

    def key(self, match: re.Match[str], path: Path) -> Any:
        """What the table records for the file `path`: its version (group 1 of `pattern`)."""
        return match[1] if self.text_keys else int(match[1])

    def row_key(self, value: Any) -> Any:
        """A recorded value as a key comparable with :meth:`key`."""
        return str(value) if self.text_keys else int(value)

    def scan(self, directory: Path) -> list[DiskMigration]:
        migrations = []
        for path in base.files(directory, self.glob, recursive=self.recursive):
            match = self.pattern.match(path.name)
            if match:
                migrations.append(DiskMigration(self.key(match, path), path.name if self.keep_suffix else path.stem))
        migrations.sort(key=lambda m: m.key)
        base.no_duplicates(migrations)
        return migrations

    def records(self, rows: Sequence[Row]) -> list[Record]:
        return [Record(self.row_key(row[0]), str(row[0])) for row in rows]

    def compare(self, disk: list[DiskMigration], rows: Sequence[Row]) -> Findings:
        return base.compare(disk, self.records(rows))


class Rails(_VersionFiles):
    """`rails db:migrate`: `schema_migrations.version`, the file's timestamp as text."""

    name = "rails"
    tracking = TrackingSpec("schema_migrations", "version", "ORDER BY version")
    # ActiveRecord::Migrator: db/migrate/**/[0-9]*_*.rb, `<version>_<name>[.<scope>].rb`
    pattern = re.compile(r"^([0-9]+)_([_a-z0-9]*)\.?([_a-z0-9]*)?\.rb$")
    recursive = True
    glob = "*.rb"


class Dbmate(_VersionFiles):
    """`dbmate up`: `schema_migrations.version`, the file's version as text."""

    name = "dbmate"
    tracking = TrackingSpec("schema_migrations", "version", "ORDER BY version")
    pattern = re.compile(r"^([0-9]+)_.*\.sql$")
    glob = "*.sql"
    text_keys = True  # dbmate stores the version as text, leading zeros and all


class Knex(_VersionFiles):
    """`knex migrate:latest`: `knex_migrations.name`, the file name."""

    name = "knex"
    tracking = TrackingSpec("knex_migrations", "name", "ORDER BY id")
    # knex's default loadExtensions (plus .mjs/.cjs/.mts/.cts, which newer knex loads)
    pattern = re.compile(r"^[^.].*\.(co|coffee|eg|iced|js|cjs|mjs|litcoffee|ls|ts|cts|mts)$")
    keep_suffix = True
    text_keys = True

    def key(self, match: re.Match[str], path: Path) -> Any:
        return path.name  # knex records the file name, extension included


class Goose(_VersionFiles):
    """`goose up`: `goose_db_version`, a row per up or down; the latest row of a version decides."""

    name = "goose"
    tracking = TrackingSpec("goose_db_version", "version_id, is_applied", "ORDER BY id")
    pattern = re.compile(r"^([0-9]+)_.*(?<!_test)\.(sql|go)$")

    def records(self, rows: Sequence[Row]) -> list[Record]:
        latest: dict[int, bool] = {}
        for version, is_applied in rows:  # the latest row of a version decides (old goose: is_applied = false on down)
            latest[int(version)] = bool(is_applied)
        return [Record(version, str(version)) for version, on in latest.items() if on and version != 0]
