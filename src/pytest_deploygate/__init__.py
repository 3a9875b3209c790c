"""pytest-deploygate: the pre-deployment checklist as an ordinary pytest run.

The kind API is exported here, so a conftest or a plugin that adds a check kind imports from
the package, never from a private module. The names are loaded on first use: the plugin is
imported by every pytest run, and most of them never collect a gate.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import (
        AspectKind,
        CheckKind,
        DatabaseUse,
        Entry,
        Result,
        RunContext,
        RunOptions,
        Severity,
        Target,
        item_id,
    )
    from .config import EntryReader
    from .errors import CheckError, ConfigError
    from .wording import count, plural

_EXPORTS = {
    "AspectKind": "api", "CheckKind": "api", "DatabaseUse": "api", "Entry": "api", "Result": "api",
    "RunContext": "api", "RunOptions": "api", "Severity": "api", "Target": "api", "item_id": "api",
    "EntryReader": "config", "CheckError": "errors", "ConfigError": "errors",
    "count": "wording", "plural": "wording",
}
__all__ = [
    "AspectKind", "CheckError", "CheckKind", "ConfigError", "DatabaseUse", "Entry", "EntryReader", "Result",
    "RunContext", "RunOptions", "Severity", "Target", "__version__", "count", "item_id", "plural",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
