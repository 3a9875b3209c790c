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

    manifest = commands.add_parser(
        "manifest", help="Write a backup's deploygate-manifest.json",
        description="Describe a backup folder in BACKUP_DIR/deploygate-manifest.json (and a "
                    "<folder>.manifest-sha256.txt per folder of files), which [[backup]] reads. With no "
                    "option, the components are found: *.dump, *.sql, *.sql.gz dumps, folders of files, "
                    "a *migration*.csv copy of the tracking table.")
    manifest.add_argument("backup_dir", help="The backup's folder")
    manifest.add_argument("--dump", action="append", default=[], metavar="PATH", help="A dump (repeatable)")
    manifest.add_argument("--files", action="append", default=[], metavar="DIR", help="A folder of files (repeatable)")
    manifest.add_argument("--migrations", action="append", default=[], metavar="CSV",
                          help="A CSV copy of the migrations tracking table (repeatable)")
    manifest.add_argument("--schema-file", metavar="PATH", help="Record this schema file's sha256")
    manifest.add_argument("--copy-started", metavar="TIME", help="When the files copy started (ISO 8601; "
                          "default: the earliest change time of its files)")
    manifest.add_argument("--copy-finished", metavar="TIME", help="When it finished (default: the latest)")
    manifest.add_argument("--created-at", metavar="TIME", help="When the backup was taken (default: now)")
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


def manifest_command(args: argparse.Namespace) -> int:
    from .checks.backup.manifest import ManifestPlan, discover, parse_time, write_manifest

    if not Path(args.backup_dir).is_dir():
        print(f"deploygate manifest: {args.backup_dir} is not a folder", file=sys.stderr)
        return 2
    folder = Path(args.backup_dir).resolve()
    try:
        named = args.dump or args.files or args.migrations
        plan = ManifestPlan(folder, [Path(p).absolute() for p in args.dump], [Path(p).absolute() for p in args.files],
                            [Path(p).absolute() for p in args.migrations]) if named else discover(folder)
        for path in (*plan.dumps, *plan.files, *plan.migrations):
            if not path.exists():
                raise ValueError(f"{path} does not exist")
            if not path.resolve().is_relative_to(folder) or path.is_symlink():
                raise ValueError(f"{path} is not inside {args.backup_dir} (a manifest names what the backup holds)")
        plan.dumps, plan.files, plan.migrations = ([p.resolve() for p in paths]
                                                   for paths in (plan.dumps, plan.files, plan.migrations))
        plan.schema_file = Path(args.schema_file) if args.schema_file else None
        plan.copy_started_at = parse_time(args.copy_started) if args.copy_started else None
        plan.copy_finished_at = parse_time(args.copy_finished) if args.copy_finished else None
        plan.created_at = parse_time(args.created_at) if args.created_at else None
        target, document = write_manifest(plan)
    except (ValueError, OSError, CheckError) as exc:
        print(f"deploygate manifest: {exc}", file=sys.stderr)
        return 1
    files = sum(f["count"] for f in document["files"])
    print(f"wrote {target}: {len(document['dumps'])} dumps, {len(document['files'])} folders "
          f"({files} files), {len(document['migrations'])} migrations copies")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "snapshot":
        return snapshot_command(args)
    return manifest_command(args)


if __name__ == "__main__":
    sys.exit(main())
