"""Django: `django_migrations` holds (app, name) rows; each app has a `migrations` package."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

from . import base
from .base import DiskMigration, Findings, Row, Tool, TrackingSpec

#: (app, name) of a squashed migration -> the (app, name) pairs it replaces
Replaces = dict[tuple[str, str], tuple[tuple[str, str], ...]]
#: the migrations on disk, the apps they belong to, and what the squashed ones replace
DjangoDisk = tuple[list[DiskMigration], frozenset[str], Replaces]


class Django(Tool[DjangoDisk]):
    """`manage.py migrate`: a row per applied migration; a squashed one stands for what it replaces."""

    name = "django"
    tracking = TrackingSpec("django_migrations", "app, name", "ORDER BY id")
    _skip = frozenset({"node_modules", "site-packages", "venv", ".venv", "__pycache__"})

    def _migration_folders(self, directory: Path) -> list[Path]:
        if directory.name == "migrations":
            return [directory]
        found = []
        for init in directory.rglob("migrations/__init__.py"):
            relative = init.relative_to(directory).parts
            if any(part.startswith(".") or part in self._skip for part in relative):
                continue
            found.append(init.parent)
        return sorted(found)

    def scan(self, directory: Path) -> DjangoDisk:
        migrations = []
        replaces: Replaces = {}
        for folder in self._migration_folders(directory):
            app = folder.parent.name  # the default app label: the app package's last name
            for path in base.files(folder, "*.py"):
                if path.name.startswith(("_", "~")):
                    continue
                key = (app, path.stem)
                migrations.append(DiskMigration(key, f"{app}.{path.stem}"))
                if b"replaces" in base.read(path):  # a squashed migration
                    replaced = self._replaces(path)
                    if replaced:
                        replaces[key] = replaced
        base.no_duplicates(migrations, "the name")
        apps = frozenset(m.key[0] for m in migrations)
        return sorted(migrations, key=lambda m: m.key), apps, replaces

    @staticmethod
    def _replaces(path: Path) -> tuple[tuple[str, str], ...]:
        for node in base.parse_python(path).body:
            if isinstance(node, ast.ClassDef) and node.name == "Migration":
                for statement in node.body:
                    if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                            and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == "replaces"):
                        value = base.literal(statement.value)
                        if isinstance(value, list | tuple):
                            return tuple((str(a), str(n)) for a, n in value)
        return ()

    def compare(self, disk: DjangoDisk, rows: Sequence[Row]) -> Findings:
        migrations, apps, replaces = disk
        recorded = [(str(app), str(name)) for app, name in rows]
        applied = set(recorded)
        on_disk = {m.key for m in migrations}
        replaced = {pair for pairs in replaces.values() for pair in pairs}
        findings = Findings(on_disk=len(migrations), applied=len(applied & on_disk))
        for migration in migrations:
            # a squashed migration counts as applied once everything it replaces is
            squashed = replaces.get(migration.key)
            if migration.key not in applied and not (squashed and all(pair in applied for pair in squashed)):
                findings.pending.append(migration.name)
        # apps whose migrations live elsewhere (django.contrib, installed packages) are not compared
        findings.missing = base.unique(f"{app}.{name}" for app, name in recorded
                                  if app in apps and (app, name) not in on_disk and (app, name) not in replaced)
        return findings

    def applied(self, rows: Sequence[Row]) -> list[str]:
        """Every recorded `app.name`, the apps that live elsewhere (django.contrib) included."""
        return base.unique(f"{app}.{name}" for app, name in rows)
