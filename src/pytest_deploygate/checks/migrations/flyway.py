"""Flyway: `flyway_schema_history`, versioned (`V1_1__name.sql`) and repeatable (`R__name.sql`) scripts."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import base
from .base import DiskMigration, Findings, Record, Row, Tool, TrackingSpec

#: the versioned migrations on disk, and the repeatable ones (keyed by description)
FlywayDisk = tuple[list[DiskMigration], list[DiskMigration]]
#: a repeatable migration's key in the history: ("R", description), beside the version tuples
_REPEATABLE = "R"


def flyway_checksum(script: bytes) -> int:
    """Flyway's `checksum` column: CRC32 over the script's lines, as a signed 32-bit integer.

    Flyway reads the file line by line (`BufferedReader.readLine`, so `\\n`, `\\r\\n` and `\\r` all
    end a line and none is hashed), drops a byte-order mark, and feeds each line's UTF-8 bytes
    to one CRC32; the Java `int` cast makes it signed.

    Args:
        script: the bytes of the migration script.
    """
    text = script.decode("utf-8", errors="replace").removeprefix("\ufeff")
    crc = 0
    for line in re.split(r"\r\n|\r|\n", text):
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= (1 << 31) else crc


def _flyway_version(text: str) -> tuple[int, ...] | None:
    """Flyway's MigrationVersion: `1_1` and `1.1` are one version, trailing zeros do not count."""
    try:
        parts = [int(part) for part in text.replace("_", ".").split(".")]
    except ValueError:
        return None
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _repeatable(key: Any) -> bool:
    return isinstance(key, tuple) and key[:1] == (_REPEATABLE,)


class Flyway(Tool[FlywayDisk]):
    """`flyway migrate` / `validate`: a history row per run; the latest row of a migration decides."""

    name = "flyway"
    tracking = TrackingSpec("flyway_schema_history", "version, description, type, script, checksum, success",
                            "ORDER BY installed_rank", failures=True, checksums=True)
    _name = re.compile(r"^(?P<prefix>[VR])(?P<version>[0-9][0-9._]*?)?__(?P<description>.+)\.sql$")

    def scan(self, directory: Path) -> FlywayDisk:
        versioned: list[DiskMigration] = []
        repeatable: list[DiskMigration] = []
        for path in base.files(directory, "*.sql", recursive=True):
            match = self._name.match(path.name)
            if not match:
                continue  # undo (U), baseline (B) or not a migration: Flyway ignores it too
            checksum = flyway_checksum(base.read(path))
            if match["prefix"] == "R" and match["version"] is None:
                description = match["description"].replace("_", " ")
                repeatable.append(DiskMigration(description, path.stem, frozenset({checksum}), str(checksum)))
                continue
            version = _flyway_version(match["version"] or "")
            if match["prefix"] == "V" and version is not None:
                versioned.append(DiskMigration(version, path.stem, frozenset({checksum}), str(checksum)))
        versioned.sort(key=lambda m: m.key)
        base.no_duplicates(versioned)
        repeatable.sort(key=lambda m: m.key)
        base.no_duplicates(repeatable, "the description")
        return versioned, repeatable

    @staticmethod
    def _history(rows: Sequence[Row]) -> tuple[tuple[int, ...], dict[Any, Record]]:
        """The baseline version (or ()) and the latest row of each version or repeatable description."""
        baseline: tuple[int, ...] = ()
        state: dict[Any, Record] = {}  # the latest row of each version (or repeatable description)
        for version_text, description, kind, script, checksum, success in rows:
            kind = str(kind or "").upper()
            version = _flyway_version(str(version_text)) if version_text is not None else None
            key: Any = version if version is not None else (_REPEATABLE, description)
            if kind == "SCHEMA":
                continue
            if kind in ("BASELINE", "SQL_BASELINE"):  # everything up to a baseline counts as applied
                baseline = max(baseline, version or ())
                continue
            if kind == "DELETE" or (kind.startswith("UNDO") and success):  # `repair` / `undo`: not applied
                state.pop(key, None)
                continue
            name = script or f"{version_text} {description}"
            name = str(name).rsplit("/", 1)[-1].removesuffix(".sql")
            state[key] = Record(key, name, failed=not success, checksum=checksum,
                                detail=f"migration {name} failed (success = false)")
        return baseline, state

    def records(self, rows: Sequence[Row]) -> list[Record]:
        """The latest row of each migration; the versions a baseline covers have none."""
        return list(self._history(rows)[1].values())

    def compare(self, disk: FlywayDisk, rows: Sequence[Row]) -> Findings:
        versioned, repeatable = disk
        baseline, state = self._history(rows)
        versioned_state = {k: r for k, r in state.items() if not _repeatable(k)}
        findings = base.compare([m for m in versioned if m.key > baseline or m.key in versioned_state],
                           list(versioned_state.values()))
        findings.on_disk = len(versioned) + len(repeatable)
        # repeatable migrations: applied again whenever their checksum changes
        for migration in repeatable:
            record = state.get((_REPEATABLE, migration.key))
            if record is None or record.failed:
                findings.pending.append(migration.name)
            elif record.checksum not in migration.checksums:
                findings.pending.append(f"{migration.name} (changed since it was applied)")
            else:
                findings.applied += 1
        on_disk = {m.key for m in repeatable}
        for key, record in state.items():
            if _repeatable(key):
                if record.failed:
                    findings.failed.append((record.detail, ""))
                elif key[1] not in on_disk:
                    findings.missing.append(record.name)
        return findings
