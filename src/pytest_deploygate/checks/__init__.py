"""The built-in check families, one module each.

Adding a family: write `checks/<kind>.py` with a :class:`~pytest_deploygate.api.CheckKind`
subclass and add it to :func:`builtin_kinds`. Nothing else changes.
"""

from __future__ import annotations

from ..api import CheckKind


def builtin_kinds() -> list[CheckKind]:
    from .environment import EnvironmentCheck
    from .migrations import MigrationsCheck
    from .rows import RowsCheck
    from .schema import SchemaCheck
    from .sql import SqlCheck

    return [SqlCheck(), EnvironmentCheck(), RowsCheck(), SchemaCheck(), MigrationsCheck()]
