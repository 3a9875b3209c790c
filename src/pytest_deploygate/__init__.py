"""pytest-deploygate: the pre-deployment checklist as an ordinary pytest run."""

from __future__ import annotations

from .api import CheckError, CheckKind, Entry, Result, RunContext, Target

__version__ = "0.1.0"
__all__ = ["CheckError", "CheckKind", "Entry", "Result", "RunContext", "Target", "__version__"]
