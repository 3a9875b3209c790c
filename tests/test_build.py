"""[[build]]: real files with real modification times (`os.utime`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pytest_deploygate.checks.build import mapped

from .conftest import Gate

NOW = time.time()


def touch(root: Path, name: str, minutes_ago: float) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"// {name}\n")
    moment = NOW - minutes_ago * 60
    os.utime(path, (moment, moment))
    return path


def backend(root: Path, *, source_ages: dict[str, float], output_ages: dict[str, float]) -> None:
    for name, age in source_ages.items():
        touch(root, f"backend/src/{name}.ts", age)
    for name, age in output_ages.items():
        touch(root, f"backend/dist/{name}.js", age)


GATE = '[[build]]\nsources = "backend/src/**/*.ts"\noutputs = "backend/dist/**/*.js"\n'
PAIRS = '[[build]]\nname = "backend"\nsources = "backend/src/**/*.ts"\nmap = { "backend/src/**/*.ts" = "backend/dist/**/*.js" }\n'


def test_a_build_newer_than_its_sources_passes(gate: Gate) -> None:
    backend(gate.path, source_ages={"server": 60, "routes/communities": 30}, output_ages={"server": 10, "routes/communities": 10})
    gate.config(GATE)
    result = gate.run("-v", "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*build[[]backend/dist[]] PASSED*"])
    text = (gate.path / "out.xml").read_text()
    assert 'name="sources" value="2"' in text
    assert 'name="outputs" value="2"' in text


def test_a_source_edited_after_the_build_fails_naming_both(gate: Gate) -> None:
    backend(gate.path, source_ages={"server": 60, "routes/communities": 2, "routes/ads": 4.5},
            output_ages={"server": 4, "routes/communities": 5})
    gate.config(GATE)
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "backend/src/routes/communities.ts is newer than backend/dist/routes/communities.js (by 3m) "
        "(and 1 more source newer than it)",
        "  backend/src/routes/ads.ts (by 30s)",
    ])


def test_no_output_at_all_fails(gate: Gate) -> None:
    backend(gate.path, source_ages={"server": 60}, output_ages={})
    gate.config(GATE)
    result = gate.run()
    result.stdout.fnmatch_lines(["no output matches backend/dist/**/*.js: the build is missing"])


def test_map_checks_each_source_against_its_own_output(gate: Gate) -> None:
    backend(gate.path, source_ages={"server": 60, "routes/communities": 1, "routes/ads": 60, "routes/new": 2},
            output_ages={"server": 30, "routes/communities": 4, "routes/ads": 30})
    gate.config(PAIRS)
    result = gate.run("--junitxml=out.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "backend/src/routes/communities.ts is newer than backend/dist/routes/communities.js (by 3m)",
        "  also: backend/dist/routes/new.js is missing (built from backend/src/routes/new.ts)",
    ])
    text = (gate.path / "out.xml").read_text()
    assert 'name="missing" value="1"' in text
    assert 'name="stale_pairs" value="1"' in text


def test_map_and_outputs_together(gate: Gate) -> None:
    backend(gate.path, source_ages={"a": 20}, output_ages={"a": 10})
    touch(gate.path, "backend/dist/bundle.js", 30)  # older than the source: the global check fails
    gate.config('[[build]]\nsources = "backend/src/**/*.ts"\noutputs = "backend/dist/*.js"\n'
                'map = { "backend/src/**/*.ts" = "backend/dist/**/*.js" }\n')
    result = gate.run()
    result.stdout.fnmatch_lines(["backend/src/a.ts is newer than backend/dist/bundle.js (by 10m)"])


@pytest.mark.parametrize(("source", "source_glob", "output_glob", "expected"), [
    ("backend/src/routes/a.ts", "backend/src/**/*.ts", "backend/dist/**/*.js", "backend/dist/routes/a.js"),
    ("backend/src/a.ts", "backend/src/**/*.ts", "backend/dist/**/*.js", "backend/dist/a.js"),
    ("src/x/y/z.ts", "src/**/*.ts", "out/**/*.mjs", "out/x/y/z.mjs"),
    ("src/a.scss", "src/*.scss", "public/css/*.css", "public/css/a.css"),
    ("src/a.ts", "lib/*.ts", "dist/*.js", None),
])
def test_map_fills_the_output_glob_with_what_the_source_matched(
        source: str, source_glob: str, output_glob: str, expected: str | None) -> None:
    assert mapped(source, source_glob, output_glob) == expected


def test_a_link_out_of_the_config_folder_is_not_followed(gate: Gate, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    touch(outside, "new.ts", 0)
    backend(gate.path, source_ages={"a": 60}, output_ages={"a": 10})
    os.symlink(outside / "new.ts", gate.path / "backend/src/linked.ts")
    gate.config(GATE)
    result = gate.run()
    result.assert_outcomes(failed=1)  # could not check, and said: not silently left out
    result.stdout.fnmatch_lines(["source backend/src/linked.ts is a link out of the config's folder: not followed "
                                 "(exclude it, or name the files where they are)"])
    gate.config(GATE + 'exclude = "backend/src/linked.ts"\n')
    gate.run().assert_outcomes(passed=1)


@pytest.mark.parametrize(("entry", "message"), [
    ('sources = "src/**/*.ts"', "outputs: is required (the build's output), unless map says*"),
    ('outputs = "dist/*.js"', "sources: is required*"),
    ('sources = "../src/*.ts"\noutputs = "dist/*.js"', 'sources: "../src/*.ts" leaves the config\'s folder*'),
    ('sources = "src/**/*.ts"\nmap = { "src/**/*.ts" = "dist/*.js" }', "map.src/**/*.ts: 'dist/*.js' must have the wildcards of 'src/**/*.ts'*"),
    ('sources = "src/*.ts"\nmap = { "src/*.ts" = 1 }', "map.src/*.ts: expected the output glob (a string)"),
])
def test_bad_build_config_is_one_clear_message(gate: Gate, entry: str, message: str) -> None:
    gate.config(f'[[build]]\nname = "web"\n{entry}\n')
    result = gate.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    key, text = message.split(": ", 1)
    result.stdout.fnmatch_lines([f'*[[][[]build]] #1 "web": key "{key}": {text}'])
    assert "Traceback" not in result.stdout.str()


def test_a_map_that_pairs_no_source_fails_and_dot_slash_is_read_as_written(gate: Gate) -> None:
    backend(gate.path, source_ages={"a": 1}, output_ages={"a": 10})
    gate.config('[[build]]\nsources = "backend/src/**/*.ts"\nmap = { "src/**/*.ts" = "dist/**/*.js" }\n')
    result = gate.run()
    result.stdout.fnmatch_lines(["map pairs no source: none of the 1 source matches src/**/*.ts"])
    gate.config('[[build]]\nsources = "./backend/src/**/*.ts"\nmap = { "backend/src/**/*.ts" = "backend//dist/**/*.js" }\n')
    result = gate.run()
    result.stdout.fnmatch_lines(["backend/src/a.ts is newer than backend/dist/a.js (by 9m)"])


def test_exclude_leaves_declaration_files_out_of_a_typescript_map(gate: Gate) -> None:
    backend(gate.path, source_ages={"a": 20, "types.d": 20}, output_ages={"a": 10})
    gate.config(PAIRS)
    gate.run().stdout.fnmatch_lines(["backend/dist/types.d.js is missing (built from backend/src/types.d.ts)"])
    gate.config(PAIRS + 'exclude = "**/*.d.ts"\n')
    result = gate.run("-v")
    result.assert_outcomes(passed=1)


def test_equal_times_pass_and_a_tiny_difference_is_said_as_it_is(gate: Gate) -> None:
    source = touch(gate.path, "src/a.ts", 10)
    output = touch(gate.path, "dist/a.js", 10)
    gate.config('[[build]]\nsources = "src/*.ts"\noutputs = "dist/*.js"\n')
    gate.run().assert_outcomes(passed=1)
    info = output.stat()
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns + 1000))  # one microsecond newer
    gate.run().stdout.fnmatch_lines(["src/a.ts is newer than dist/a.js (by less than 1ms)"])
