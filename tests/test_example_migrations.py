"""conftest_examples/migrations runs as a user would run it: a prisma folder in sync passes."""

from __future__ import annotations

import pytest

from .conftest import Example


def test_migrations_example_in_sync_passes(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIGRATIONS_INCIDENT", raising=False)
    example.copy("migrations")
    result = example.run("--deploygate", "-v")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*deploygate.toml::migrations[[]main:checksums[]] PASSED*"])
