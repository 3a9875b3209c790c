"""The `deploygate` command: `deploygate snapshot URL -o schema.json [--ignore GLOB]`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .checks.schema import schema_json, write_snapshot
from .config import interpolate
from .db import Database, DatabaseConfig, parse_database_url
from .db.reflect import reflect
from .errors import CheckError
from .secrets import Redactor
from .wording import parse_duration


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploygate", description="pytest-deploygate helpers "
                                     "(the gate itself runs as `pytest --deploygate`)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    snapshot = commands.add_parser("snapshot", help="Write a deterministic, diff-friendly schema snapshot",
                                   description="Reflect a database's schema (read-only) into the JSON "
                                               "file that [[schema]] snapshot = ... compares against.")
    snapshot.add_argument("url", help="postgresql://... or sqlite:///file.db (${VAR} is read from the environment)")
    snapshot.add_argument("-o", "--output", default="-", help="File to write (default: standard output)")
    snapshot.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                          help="Leave out tables (and enums) matching GLOB; repeatable")
    snapshot.add_argument("--connect-timeout", type=_duration, default=10.0, metavar="DURATION")
    snapshot.add_argument("--statement-timeout", type=_duration, default=300.0, metavar="DURATION")

    commands.add_parser("manifest", help="Write a backup manifest (not available yet)")
    return parser


def snapshot_command(args: argparse.Namespace) -> int:
    used: dict[str, str] = {}
    try:
        raw_url = interpolate(args.url, os.environ, used)
        url = parse_database_url(raw_url, Path.cwd())
    except Exception as exc:  # MissingVariable, ValueError: one line, never the URL's password
        print(f"deploygate snapshot: bad URL: {exc}", file=sys.stderr)
        return 2
    redact = Redactor([*used.values(), *url.secrets])
    database = Database(DatabaseConfig("snapshot", url, args.connect_timeout, args.statement_timeout), redact)
    try:
        with database.session() as session:
            schema = reflect(session, tuple(args.ignore))
    except CheckError as exc:
        print(f"deploygate snapshot: {redact(str(exc))}", file=sys.stderr)
        return 1
    finally:
        database.close()
    if args.output == "-":
        sys.stdout.write(schema_json(schema))
    else:
        write_snapshot(Path(args.output), schema)
        print(f"wrote {args.output}: {len(schema.tables)} tables, {len(schema.enums)} enums from {url.display}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "snapshot":
        return snapshot_command(args)
    print("deploygate manifest: not available yet ([[backup]] checks are not built)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
