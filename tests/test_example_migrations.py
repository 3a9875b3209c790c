"""conftest_examples/migrations runs as a user would run it: a prisma folder in sync passes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent / "conftest_examples" / "migrations"


def test_migrations_example_in_sync_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIGRATIONS_INCIDENT", raising=False)
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("app.db", "app.tmp", "__pycache__"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--deploygate", "-v")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*deploygate.toml::migrations[[]main:checksums[]] PASSED*"])
