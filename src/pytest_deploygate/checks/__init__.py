"""The built-in check families, one module (or package) each.

Adding a family: write `checks/<kind>.py` with a :class:`~pytest_deploygate.api.CheckKind`
subclass and add a line to :data:`BUILTIN`. Nothing else changes. Modules are imported only
when a gate is collected, so a pytest run without a gate does not pay for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..api import CheckKind


class Builtin(NamedTuple):
    module: str
    cls: str
    summary: str


#: table name -> where the kind lives, and its one-line summary (for `--markers` and the docs)
BUILTIN: dict[str, Builtin] = {
    "sql": Builtin("sql", "SqlCheck", "custom SQL assertions: pass when the query returns no rows"),
    "environment": Builtin("environment", "EnvironmentCheck", "environment variables that must be set"),
    "rows": Builtin("rows", "RowsCheck",
                    "data rules on tables (not_null, pattern, unique, references, ...), one scan per table"),
    "schema": Builtin("schema", "SchemaCheck",
                      "schema drift against a snapshot, or tables and columns that must exist"),
    "migrations": Builtin("migrations", "MigrationsCheck",
                          "the migration tool's tracking table agrees with the migrations folder"),
    "files": Builtin("files", "FilesCheck",
                     "files the database references exist under a root, and files there are referenced"),
    "backup": Builtin("backup", "BackupCheck",
                      "the newest backup is present, fresh, complete, consistent and restorable"),
    "endpoint": Builtin("endpoint", "EndpointCheck",
                        "HTTP endpoints answer with the expected status, latency, body and certificate"),
    "logs": Builtin("logs", "LogsCheck", "log files hold no line matching a forbidden pattern (and the required ones)"),
    "build": Builtin("build", "BuildCheck", "compiled output is newer than its sources"),
}


def builtin_kinds() -> list[CheckKind[Any, Any]]:
    """An instance of every built-in kind (imports their modules)."""
    kinds = []
    for builtin in BUILTIN.values():
        kind: CheckKind[Any, Any] = getattr(import_module(f"{__name__}.{builtin.module}"), builtin.cls)()
        kinds.append(kind)
    return kinds
