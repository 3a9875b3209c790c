"""Django: `django_migrations` holds (app, name) rows; each app has a `migrations` package."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path

from ...errors import CheckError
from . import base
from .base import DiskMigration, Findings, Row, Tool, TrackingSpec

#: (app, name) of a squashed migration -> the (app, name) pairs it replaces
Replaces = dict[tuple[str, str], tuple[tuple[str, str], ...]]
#: the migrations on disk, the apps they belong to, and what the squashed ones replace
DjangoDisk = tuple[list[DiskMigration], frozenset[str], Replaces]


class Django(Tool[DjangoDisk]):
    """`manage.py migrate`: a row per applied migration; a squashed one stands for what it replaces.

    Args:
        app_labels: an app's folder (relative to the migrations `directory`, or its bare name) ->
            its label, over what its `apps.py` says (the config's `app_labels`).
    """

    name = "django"
    tracking = TrackingSpec("django_migrations", "app, name", "ORDER BY id")
    _skip = frozenset({"node_modules", "site-packages", "venv", ".venv", "__pycache__"})

    def __init__(self, app_labels: Mapping[str, str] | None = None) -> None:
        self.app_labels = dict(app_labels or {})

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

    def label(self, app_folder: Path, directory: Path) -> str:
        """The app's label, as Django names it in `django_migrations`: the config's `app_labels`,
        else the `label` its `apps.py` gives (read, not imported), else the folder's name."""
        try:
            relative = app_folder.relative_to(directory).as_posix()
        except ValueError:  # `directory` is the migrations folder itself
            relative = app_folder.name
        for key in (relative, app_folder.name):
            if key in self.app_labels:
                return self.app_labels[key]
        apps_py = app_folder / "apps.py"
        return (app_config_label(apps_py) if apps_py.is_file() else None) or app_folder.name

    def scan(self, directory: Path) -> DjangoDisk:
        migrations = []
        replaces: Replaces = {}
        for folder in self._migration_folders(directory):
            app = self.label(folder.parent, directory)
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
        # What Django's MigrationLoader does with a squashed migration: it is applied when all it
        # replaces are; when all or none are, it stands in for them (the replaced ones are not
        # separate migrations to apply); when some are, it is set aside and they are applied one
        # by one.
        set_aside: set[tuple[str, str]] = set()
        for squash, replaced in replaces.items():
            done = [pair in applied for pair in replaced]
            if all(done):
                applied.add(squash)
            else:
                applied.discard(squash)
            if all(done) or not any(done):
                set_aside.update(replaced)
            else:
                set_aside.add(squash)
        findings = Findings(on_disk=len(migrations), applied=len(applied & on_disk))
        findings.pending = [m.name for m in migrations if m.key not in applied and m.key not in set_aside]
        # apps whose migrations live elsewhere (django.contrib, installed packages) are not compared
        all_replaced = {pair for pairs in replaces.values() for pair in pairs}
        findings.missing = base.unique(f"{app}.{name}" for app, name in recorded
                                       if app in apps and (app, name) not in on_disk and (app, name) not in all_replaced)
        return findings

    def applied(self, rows: Sequence[Row]) -> list[str]:
        """Every recorded `app.name`, the apps that live elsewhere (django.contrib) included."""
        return base.unique(f"{app}.{name}" for app, name in rows)


def app_config_label(apps_py: Path) -> str | None:
    """The `label` of the app's AppConfig in `apps.py`, read without importing it.

    As Django chooses the config: the subclass marked `default = True`, else the only one; its
    `label`, else the last part of its `name`. None when the file gives no literal label.
    """
    try:
        tree = base.parse_python(apps_py)
    except CheckError:
        return None
    configs = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(_base_name(b).endswith("AppConfig") for b in node.bases):
            values = {}
            for statement in node.body:
                if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                        and isinstance(statement.targets[0], ast.Name)):
                    values[statement.targets[0].id] = base.literal(statement.value)
            configs.append(values)
    # Django skips a config marked `default = False` when it looks for the one to use
    candidates = [c for c in configs if c.get("default") is not False]
    chosen = [c for c in candidates if c.get("default") is True] or (candidates if len(candidates) == 1 else [])
    if not chosen:
        return None
    label, name = chosen[0].get("label"), chosen[0].get("name")
    if isinstance(label, str) and label:
        return label
    return name.rpartition(".")[2] if isinstance(name, str) and name else None


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""
