"""config.py as plain Python: interpolation, durations, and one clear message per mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_deploygate.checks import builtin_kinds
from pytest_deploygate.config import (
    ConfigError,
    MissingVariable,
    find_config,
    format_duration,
    interpolate,
    load_config,
    parse_duration,
)
from pytest_deploygate.db.url import parse_database_url
from pytest_deploygate.secrets import Redactor

KINDS = {kind.name: kind for kind in builtin_kinds()}
ENV = {"DB_PASSWORD": "hunter2-secret", "API_URL": "http://127.0.0.1:8000", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("${API_URL}/health", "http://127.0.0.1:8000/health"),
        ("${MISSING:-fallback}", "fallback"),
        ("${MISSING:-}", ""),
        ("${EMPTY:-fallback}", ""),
        ("$${API_URL}", "${API_URL}"),
        ("cost: $5", "cost: $5"),
        ("a${API_URL}b${MISSING:-c}", "ahttp://127.0.0.1:8000bc"),
    ],
)
def test_interpolation_reads_variables_and_defaults(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


def test_interpolation_of_an_unset_variable_names_it() -> None:
    with pytest.raises(MissingVariable) as excinfo:
        interpolate("postgresql://${NOPE}/db", ENV)
    assert excinfo.value.name == "NOPE"


def test_interpolation_of_a_broken_reference_says_how_to_write_a_literal() -> None:
    with pytest.raises(ValueError, match=r"write \$\$\{ for a literal"):
        interpolate("${not a name}", ENV)


def test_interpolation_records_the_variables_it_read() -> None:
    used: dict[str, str] = {}
    interpolate("${DB_PASSWORD} ${MISSING:-x}", ENV, used)
    assert used == {"DB_PASSWORD": "hunter2-secret"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("10m", 600), ("26h", 93600), ("7d", 604800), ("1.5s", 1.5)],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "30 sec", "-1s", "s", "1w", ""])
def test_bad_durations_are_rejected_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r'use e\.g\. "500ms", "30s"'):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(93600, "26h"), (0.2, "200ms"), (90, "90s"), (600, "10m")])
def test_durations_format_back_for_messages(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def load(tmp_path: Path, text: str, name: str = "deploygate.toml") -> object:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, KINDS, ENV, display=name)


DB = '[databases.main]\nurl = "sqlite:///app.db"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[sql]\nquery = 1", "deploygate.toml: invalid TOML: "),
        (DB + '[[sql]]\nname = "x"\nqurey = "SELECT 1"',
         'deploygate.toml: [[sql]] #1 "x": key "qurey": unknown key (did you mean "query"?)'),
        (DB + '[[sql]]\nname = "x"',
         'deploygate.toml: [[sql]] #1 "x": key "query": is required'),
        (DB + '[[sql]]\nname = "x"\nquery = "SELECT 1"\nqurey = "SELECT 2"',
         'deploygate.toml: [[sql]] #1 "x": key "qurey": unknown key (did you mean "query"?)'),
        (DB + '[[sql]]\nquery = "SELECT 1"\nseverity = "warning"',
         'deploygate.toml: [[sql]] #1: key "severity": "warning" is not one of fail, warn (did you mean "warn"?)'),
        (DB + '[[sql]]\nquery = 42',
         'deploygate.toml: [[sql]] #1: key "query": expected a string, got 42'),
        (DB + '[[sql]]\nquery = "SELECT 1"\ntimeout = "30 seconds"',
         'deploygate.toml: [[sql]] #1: key "timeout": "30 seconds" is not a duration'),
        (DB + '[[sql]]\nquery = "SELECT 1"\ndatabase = "mian"',
         'deploygate.toml: [[sql]] #1: key "database": unknown database "mian" (did you mean "main"?)'),
        ('[databases.a]\nurl = "sqlite:///a.db"\n[databases.b]\nurl = "sqlite:///b.db"\n[[sql]]\nquery = "SELECT 1"',
         'deploygate.toml: [[sql]] #1: key "database": is required (databases: a, b)'),
        (DB + '[[environment]]\nrequire = ["A"]\npattern = "(["',
         'deploygate.toml: [[environment]] #1: key "pattern": invalid regular expression'),
        (DB + '[[sql]]\nname = "same"\nquery = "SELECT 1"\n[[sql]]\nname = "same"\nquery = "SELECT 2"',
         'deploygate.toml: [[sql]] #2 "same": key "name": duplicate id sql[same] (also from [[sql]] #1 "same")'),
        (DB + '[[sqll]]\nquery = "SELECT 1"',
         'deploygate.toml: key "sqll": unknown table (did you mean "sql"?)'),
        ('[databases.main]\nurl = "mysql://x@y/z"',
         'deploygate.toml: [databases.main]: key "url": unsupported database URL scheme "mysql"'),
        ('[databases.main]\nurl = "${NOT_SET_ANYWHERE}"',
         'deploygate.toml: [databases.main]: key "url": environment variable NOT_SET_ANYWHERE is not set'),
        ('[deploygate]\nsamples = "five"', 'deploygate.toml: [deploygate]: key "samples": expected an integer, got "five"'),
        ('[deploygate]\nsample = 5', 'deploygate.toml: [deploygate]: key "sample": unknown key (did you mean "samples"?)'),
        (DB + '[[sql]]\nquery = "SELECT 1"\nmarks = ["not a mark"]',
         'deploygate.toml: [[sql]] #1: key "marks": "not a mark" is not a valid mark name'),
        (DB + '[[sql]]\nname = "a b"\nquery = "SELECT 1"',
         'deploygate.toml: [[sql]] #1 "a b": key "name": "a b" cannot contain spaces or brackets'),
        (DB + '[[environment]]\nrequire = ["1BAD"]',
         'deploygate.toml: [[environment]] #1: key "require": "1BAD" is not a variable name'),
        (DB + '[[sql]]\nquery = "SELECT 1"\nskip = 3',
         'deploygate.toml: [[sql]] #1: key "skip": expected a reason (a string) or true, got 3'),
        # issue 11: ranges, empty values and names that cannot become ids, said at collection
        (DB.replace('"\n', '"\nstatement_timeout = "25d"\n', 1) + '[[sql]]\nquery = "SELECT 1"',
         'deploygate.toml: [databases.main]: key "statement_timeout": "25d" is not a time limit between 1ms and 24d'),
        (DB + '[[sql]]\nquery = "SELECT 1"\ntimeout = "' + "9" * 400 + 's"',
         'deploygate.toml: [[sql]] #1: key "timeout": "' + "9" * 40 + '" is longer than any duration'),
        (DB + '[[sql]]\nquery = "SELECT 1"\ntimeout = "0s"',
         'deploygate.toml: [[sql]] #1: key "timeout": "0s" is not a time limit between 1ms and 24d'),
        ('[deploygate]\nsamples = 100000000000000000000', 'deploygate.toml: [deploygate]: key "samples": must be at most 10,000'),
        (DB + '[[sql]]\nquery = "SELECT 1"\nskip = ""',
         'deploygate.toml: [[sql]] #1: key "skip": is empty: give a reason'),
        (DB + '[[schema]]\nrequire = { "" = [] }',
         'deploygate.toml: [[schema]] #1: key "require": "" is not a table name'),
        (DB + '[[schema]]\nrequire = { "ads]" = ["id"] }',
         'deploygate.toml: [[schema]] #1: key "require": "ads]" is not a table name'),
        (DB + '[[schema]]\nsnapshot = "' + "s" * 300 + '.json"',
         'deploygate.toml: [[schema]] #1: cannot use a path it names: File name too long'),
    ],
)
def test_each_config_mistake_is_one_message_naming_file_check_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load(tmp_path, text)
    assert str(excinfo.value).startswith(message)
    assert "\n" not in str(excinfo.value)


def test_a_config_that_is_not_utf8_is_one_message(tmp_path: Path) -> None:
    (tmp_path / "deploygate.toml").write_bytes(DB.encode() + b'[[sql]]\nquery = "SELECT \xe9"\n')
    with pytest.raises(ConfigError, match=r"^deploygate.toml: is not UTF-8 text \(byte 0xe9 at offset \d+\): save it as UTF-8$"):
        load_config(tmp_path / "deploygate.toml", KINDS, ENV, display="deploygate.toml")


def test_a_config_error_never_quotes_a_secret_it_read(tmp_path: Path) -> None:
    text = '[databases.main]\nurl = "sqlite:///a.db"\nstatement_timeout = "${DB_PASSWORD}"\n'
    with pytest.raises(ConfigError) as excinfo:
        load(tmp_path, text)
    assert str(excinfo.value) == ('deploygate.toml: [databases.main]: key "statement_timeout": '
                                  '"***" is not a duration (use e.g. "500ms", "30s", "10m", "26h", "7d")')


def test_a_byte_order_mark_is_not_part_of_the_toml(tmp_path: Path) -> None:
    (tmp_path / "deploygate.toml").write_bytes(b"\xef\xbb\xbf" + DB.encode() + b'[[sql]]\nquery = "SELECT 1"\n')
    gate = load_config(tmp_path / "deploygate.toml", KINDS, ENV, display="deploygate.toml")
    assert [t.id for t in gate.targets] == ["main:1"]


def test_settings_nested_in_pyproject_are_an_unknown_table(tmp_path: Path) -> None:
    text = '[tool.deploygate]\nsamples = 3\n[tool.deploygate.deploygate]\nsamples = 5\n'
    with pytest.raises(ConfigError, match=r'^pyproject.toml: key "deploygate": unknown table'):
        load(tmp_path, text, name="pyproject.toml")


def test_a_valid_config_becomes_entries_and_targets_in_file_order(tmp_path: Path) -> None:
    gate = load(tmp_path, """
        [deploygate]
        samples = 3
        timeout = "10s"

        [databases.main]
        url = "postgresql://app:${DB_PASSWORD}@127.0.0.1:5432/prod"
        statement_timeout = "2s"

        [[environment]]
        require = ["DATABASE_URL", "STRIPE_SECRET_KEY"]

        [[sql]]
        name = "ads-without-images"
        query = "SELECT 1;"
        severity = "warn"
        marks = ["nightly"]
        timeout = "500ms"

        [[sql]]
        query = "SELECT 2"
        skip = "until the migration lands"
    """)
    assert [t.item_name for t in gate.targets] == [  # type: ignore[attr-defined]
        "environment[DATABASE_URL]", "environment[STRIPE_SECRET_KEY]", "sql[ads-without-images]", "sql[main:2]"]
    first_sql = gate.entries[1]  # type: ignore[attr-defined]
    assert (first_sql.severity, first_sql.marks, first_sql.timeout, first_sql.options.query) == (
        "warn", ("nightly",), 0.5, "SELECT 1")
    assert gate.entries[2].skip == "until the migration lands"  # type: ignore[attr-defined]
    assert gate.entries[2].timeout == 10  # type: ignore[attr-defined]
    assert gate.settings.samples == 3  # type: ignore[attr-defined]
    database = gate.databases["main"]  # type: ignore[attr-defined]
    assert database.statement_timeout == 2
    assert database.url.display == "postgresql://app:***@127.0.0.1:5432/prod"
    assert "hunter2-secret" in gate.secrets  # type: ignore[attr-defined]


def test_relative_sqlite_paths_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "deploygate.toml"
    path.write_text('[databases.main]\nurl = "sqlite:///data/app.db"\n')
    gate = load_config(path, KINDS, ENV)
    assert gate.databases["main"].url.conninfo == str(tmp_path / "sub" / "data" / "app.db")


def test_pyproject_tool_deploygate_is_a_config(tmp_path: Path) -> None:
    gate = load(tmp_path, """
        [project]
        name = "x"

        [tool.deploygate]
        samples = 2

        [tool.deploygate.databases.main]
        url = "sqlite:///app.db"

        [[tool.deploygate.sql]]
        name = "q"
        query = "SELECT 1"
    """, name="pyproject.toml")
    assert [t.item_name for t in gate.targets] == ["sql[q]"]  # type: ignore[attr-defined]
    assert gate.settings.samples == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "display", "password"),
    [
        ("postgresql://app:s3cret@db:5432/prod", "postgresql://app:***@db:5432/prod", "s3cret"),
        ("postgres://app:p%40ss@db/prod", "postgresql://app:***@db/prod", "p@ss"),
        ("postgresql://app@db/prod", "postgresql://app@db/prod", ""),
        ("postgresql:///prod?host=/run/postgresql", "postgresql:///prod?host=/run/postgresql", ""),
    ],
)
def test_database_urls_display_without_their_password(url: str, display: str, password: str) -> None:
    parsed = parse_database_url(url, Path("/"))
    assert (parsed.dialect, parsed.display, parsed.password) == ("postgresql", display, password)


def test_redactor_masks_secrets_in_any_form() -> None:
    redact = Redactor(["p@ss word!"])
    assert redact("url postgresql://u:p%40ss%20word%21@h and p@ss word!") == "url postgresql://u:***@h and ***"
    assert Redactor(["abc"])("abc") == "abc"  # too short to mask without garbling every message


def test_find_config_order(tmp_path: Path) -> None:
    assert find_config(tmp_path, None, None) is None
    (tmp_path / "pyproject.toml").write_text("[tool.deploygate]\n")
    assert find_config(tmp_path, None, None) == tmp_path / "pyproject.toml"
    (tmp_path / "deploygate.toml").write_text("")
    assert find_config(tmp_path, None, None) == tmp_path / "deploygate.toml"
    assert find_config(tmp_path, None, "gates/prod.toml") == tmp_path / "gates" / "prod.toml"
    assert find_config(tmp_path, str(tmp_path / "x.toml"), "gates/prod.toml") == tmp_path / "x.toml"
