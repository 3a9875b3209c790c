"""Reflect a whole database schema in a handful of bulk catalog queries.

PostgreSQL: five queries on `pg_catalog` (not information_schema, which hides the defaults of tables
the user does not own), with `search_path` pinned to `pg_catalog` so that every name the server
prints is schema-qualified the same way on every database, and objects owned by extensions left
out. SQLite: `sqlite_schema` joined with the pragma table functions, three queries.

The result is plain, JSON-ready data: the snapshot file is exactly :meth:`Schema.to_json`, and
comparing two schemas is comparing dictionaries (:mod:`pytest_deploygate.checks.schema`).
"""

from __future__ import annotations

import gc
import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from . import Session

SNAPSHOT_FORMAT = "pytest-deploygate schema snapshot"
SNAPSHOT_VERSION = 1


@dataclass
class Table:
    """One table. Columns are keyed by name: their order in the table is not compared.

    A SQLite virtual table (FTS5, R*Tree) is described by its definition alone, `virtual`:
    `fts5(title, body, content='ads')`. Its columns are the module's business, and reading them
    would open the table, which FTS5 and R*Tree do not allow a read-only connection.
    """

    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    primary_key: list[str] = field(default_factory=list)
    unique: dict[str, str] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    foreign_keys: dict[str, str] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    virtual: str | None = None
    #: grantee -> privileges (`SELECT, INSERT`), the owner's own left out; None: not reflected
    privileges: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "columns": {name: self.columns[name] for name in sorted(self.columns)},
            "primary_key": self.primary_key,
            "unique": dict(sorted(self.unique.items())),
            "indexes": dict(sorted(self.indexes.items())),
            "foreign_keys": dict(sorted(self.foreign_keys.items())),
            "checks": dict(sorted(self.checks.items())),
        }
        if self.virtual is not None:  # only then: snapshots of ordinary tables stay as they were
            document["virtual"] = self.virtual
        if self.privileges is not None:
            document["privileges"] = dict(sorted(self.privileges.items()))
        return document

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Table:
        return cls(
            columns=dict(data.get("columns", {})),
            primary_key=list(data.get("primary_key", [])),
            unique=dict(data.get("unique", {})),
            indexes=dict(data.get("indexes", {})),
            foreign_keys=dict(data.get("foreign_keys", {})),
            checks=dict(data.get("checks", {})),
            virtual=str(data["virtual"]) if data.get("virtual") is not None else None,
            privileges=dict(data["privileges"]) if data.get("privileges") is not None else None,
        )


@dataclass
class Schema:
    """A database's tables (keyed `name`, or `schema.name` outside `public`) and enums."""

    dialect: str
    tables: dict[str, Table] = field(default_factory=dict)
    enums: dict[str, list[str]] = field(default_factory=dict)

    def without(self, ignore: tuple[str, ...]) -> Schema:
        """The schema less the tables (and enums) whose name matches one of the globs."""
        if not ignore:
            return self
        return Schema(self.dialect, {k: v for k, v in self.tables.items() if not ignored(k, ignore)},
                      {k: v for k, v in self.enums.items() if not ignored(k, ignore)})

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "dialect": self.dialect,
            "tables": {name: self.tables[name].to_json() for name in sorted(self.tables)},
            "enums": {name: self.enums[name] for name in sorted(self.enums)},
        }

    @classmethod
    def from_json(cls, data: Any) -> Schema:
        """Read a snapshot document; raises ValueError saying what is wrong with it."""
        if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError("is not a deploygate schema snapshot (write one with `deploygate snapshot`)")
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"has snapshot version {data.get('version')!r}; this deploygate reads version {SNAPSHOT_VERSION}")
        dialect = data.get("dialect")
        tables = data.get("tables")
        enums = data.get("enums", {})
        if dialect not in ("postgresql", "sqlite") or not isinstance(tables, dict) or not isinstance(enums, dict):
            raise ValueError("is corrupt: it needs a dialect, a tables object and an enums object")
        try:
            return cls(dialect, {name: Table.from_json(t) for name, t in tables.items()},
                       {name: list(labels) for name, labels in enums.items()})
        except (TypeError, AttributeError, ValueError):
            raise ValueError("is corrupt: a table entry is not of the snapshot's shape") from None


def ignored(name: str, ignore: tuple[str, ...]) -> bool:
    """Whether `name` (`table` or `schema.table`) matches one of the `ignore` globs, whole or bare."""
    bare = name.rsplit(".", 1)[-1]
    return any(fnmatchcase(name, glob) or fnmatchcase(bare, glob) for glob in ignore)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a schema's many small objects are built.

    A schema is tens of thousands of dicts and lists without a single reference cycle, yet their
    allocation sets off collections that walk every object the process holds (all of pytest's
    too): on 1,000 tables x 20 columns, each pause cost 10-25 ms, a tenth of the whole compare.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def reflect(session: Session, ignore: tuple[str, ...] = (), *, privileges: bool = False) -> Schema:
    """The schema of the database behind `session` (one read-only transaction).

    Args:
        session: an open session.
        ignore: globs of tables (and enums) to leave out; they are left out before anything of
            theirs is read, so a table that cannot be read (a SQLite virtual table of a module
            the reader lacks) is no obstacle once ignored.
        privileges: PostgreSQL: read each table's grants too (who may do what; the owner's own
            and the owner itself are left out, as they differ between environments).
    """
    with gc_paused():
        if session.dialect == "postgresql":
            return _reflect_postgres(session, ignore, privileges)
        return _reflect_sqlite(session, ignore)


# -- PostgreSQL ---------------------------------------------------------------------------------

# The relations we describe: ordinary and partitioned tables outside system schemas, not owned by
# an extension. Every other query joins this set by oid.
_PG_TABLES = """
SELECT c.oid, n.nspname, c.relname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
"""

_PG_QUERIES = {
    "columns": f"""
WITH t AS ({_PG_TABLES})
SELECT a.attrelid, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> ty.typcollation THEN co.collname END
FROM pg_catalog.pg_attribute a
JOIN t ON t.oid = a.attrelid
JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
WHERE a.attnum > 0 AND NOT a.attisdropped
""",
    "constraints": f"""
WITH t AS ({_PG_TABLES})
SELECT con.conrelid, con.conname, con.contype, pg_catalog.pg_get_constraintdef(con.oid, true),
       ARRAY(SELECT a.attname FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord)::text[]
FROM pg_catalog.pg_constraint con
JOIN t ON t.oid = con.conrelid
WHERE con.contype IN ('p', 'u', 'f', 'c', 'x')
""",
    # indexes that back a constraint are described by the constraint
    "indexes": f"""
WITH t AS ({_PG_TABLES})
SELECT i.indrelid, ic.relname, pg_catalog.pg_get_indexdef(i.indexrelid)
FROM pg_catalog.pg_index i
JOIN t ON t.oid = i.indrelid
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con WHERE con.conindid = i.indexrelid
                  AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
""",
    "enums": """
SELECT n.nspname, t.typname, e.enumlabel
FROM pg_catalog.pg_enum e
JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
                    AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY n.nspname, t.typname, e.enumsortorder
""",
}


# grants on each table, to roles other than its owner (PUBLIC as grantee 0): one privilege once,
# whoever granted it (grantors differ between environments), with its grant option
_PG_PRIVILEGES = f"""
WITH t AS ({_PG_TABLES})
SELECT c.oid, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END,
       pg_catalog.string_agg(DISTINCT g.granted, ', ' ORDER BY g.granted)
FROM pg_catalog.pg_class c
JOIN t ON t.oid = c.oid
CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
CROSS JOIN LATERAL (SELECT a.privilege_type || CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) g(granted)
WHERE a.grantee <> c.relowner
GROUP BY c.oid, a.grantee
"""


def postgres_catalog_queries() -> dict[str, str]:
    """The catalog queries, by name (the benchmark times them alone)."""
    return {"tables": _PG_TABLES, **_PG_QUERIES}


def _pg_name(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def _index_body(definition: str) -> str:
    # "CREATE UNIQUE INDEX ads_slug_idx ON public.ads USING btree (slug)": the name is the key already
    return re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?", lambda m: f"{m.group(1) or ''}ON {m.group(2) or ''}", definition)


def _reflect_postgres(session: Session, ignore: tuple[str, ...], privileges: bool = False) -> Schema:
    # printed names are qualified relative to search_path: pin it so that every database prints
    # them alike (a restore may come with another search_path)
    session.query("SET LOCAL search_path = pg_catalog")
    schema = Schema("postgresql")
    names: dict[int, str] = {}
    for oid, nspname, relname in session.query(_PG_TABLES).rows:
        name = _pg_name(nspname, relname)
        if not ignored(name, ignore):
            names[oid] = name
            schema.tables[name] = Table()
    tables = {oid: schema.tables[name] for oid, name in names.items()}

    for relid, column, type_, notnull, default, identity, generated, collation in session.query(_PG_QUERIES["columns"]).rows:
        if relid not in tables:
            continue
        spec: dict[str, Any] = {"type": type_, "nullable": not notnull, "default": default}
        if identity:
            spec["identity"] = {"a": "always", "d": "by default"}[identity]
        if generated:
            spec["generated"] = "stored"
        if collation:
            spec["collation"] = collation
        tables[relid].columns[column] = spec

    for relid, conname, contype, definition, columns in session.query(_PG_QUERIES["constraints"]).rows:
        table = tables.get(relid)
        if table is None:
            continue
        if contype == "p":
            table.primary_key = list(columns)
        elif contype in ("u", "x"):
            table.unique[conname] = definition
        elif contype == "f":
            table.foreign_keys[conname] = definition
        else:
            table.checks[conname] = definition

    for relid, index_name, definition in session.query(_PG_QUERIES["indexes"]).rows:
        if relid in tables:
            tables[relid].indexes[index_name] = _index_body(definition)

    for nspname, typname, label in session.query(_PG_QUERIES["enums"]).rows:
        name = _pg_name(nspname, typname)
        if not ignored(name, ignore):
            schema.enums.setdefault(name, []).append(label)

    if privileges:
        grants: dict[int, dict[str, str]] = {oid: {} for oid in tables}
        for relid, grantee, granted in session.query(_PG_PRIVILEGES).rows:
            if relid in grants:
                grants[relid][grantee] = granted
        for oid, table in tables.items():
            table.privileges = grants[oid]
    return schema


# -- SQLite -------------------------------------------------------------------------------------

_SQLITE_TABLES = """
SELECT name, sql FROM sqlite_schema
WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
"""
# each joins a pragma to every table but those left out ({skip}: virtual, shadow and ignored tables)
_SQLITE_COLUMNS = """
SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk, p.hidden, m.sql
FROM sqlite_schema m JOIN pragma_table_xinfo(m.name) p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'{skip}
ORDER BY m.name, p.cid
"""
_SQLITE_INDEXES = """
SELECT m.name, il.name, il."unique", il.origin, ii.seqno, ii.name, ii."desc", ii.coll, ix.sql
FROM sqlite_schema m
JOIN pragma_index_list(m.name) il
JOIN pragma_index_xinfo(il.name) ii
LEFT JOIN sqlite_schema ix ON ix.type = 'index' AND ix.name = il.name
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'{skip} AND ii.key = 1
ORDER BY m.name, il.name, ii.seqno
"""
_SQLITE_FOREIGN_KEYS = """
SELECT m.name, f.id, f.seq, f."table", f."from", f."to", f.on_update, f.on_delete, f."match"
FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) f
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'{skip}
ORDER BY m.name, f.id, f.seq
"""

#: the shadow tables each virtual table module keeps its data in (`<table>_<suffix>`): left out,
#: their layout is the module's and changes with the SQLite version; the virtual table stands for them
_SHADOW_SUFFIXES = {
    "fts5": ("data", "idx", "content", "docsize", "config"),
    "fts4": ("content", "segments", "segdir", "docsize", "stat"),
    "fts3": ("content", "segments", "segdir", "docsize", "stat"),
    "rtree": ("node", "parent", "rowid"),
    "rtree_i32": ("node", "parent", "rowid"),
    "geopoly": ("node", "parent", "rowid"),
}
_NAME = r'(?:"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[^\s.("\[`]+)'
_VIRTUAL = re.compile(rf"^\s*CREATE\s+VIRTUAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{_NAME}\s*\.\s*)?{_NAME}"
                      rf"\s+USING\s+({_NAME})\s*(.*)$", re.IGNORECASE | re.DOTALL)
#: SQLite names virtual and shadow tables itself from 3.37 (pragma table_list), without opening them
_SQLITE_TABLE_LIST = "SELECT name, type FROM pragma_table_list WHERE schema = 'main'"


def sqlite_catalog_queries() -> dict[str, str]:
    return {"tables": _SQLITE_TABLES, "columns": _SQLITE_COLUMNS.format(skip=""),
            "indexes": _SQLITE_INDEXES.format(skip=""), "foreign_keys": _SQLITE_FOREIGN_KEYS.format(skip="")}


def _squash(sql: str) -> str:
    return " ".join(sql.split())


def _check_constraints(create_sql: str) -> list[str]:
    """The CHECK (...) expressions of a CREATE TABLE statement (SQLite keeps no catalog of them)."""
    found = []
    for match in re.finditer(r"\bCHECK\s*\(", create_sql, re.IGNORECASE):
        depth, start = 0, match.end() - 1
        for pos in range(start, len(create_sql)):
            if create_sql[pos] == "(":
                depth += 1
            elif create_sql[pos] == ")":
                depth -= 1
                if depth == 0:
                    found.append(_squash(create_sql[start + 1:pos]))
                    break
    return found


def _unquoted(name: str) -> str:
    if name[:1] in ('"', "[", "`"):
        return name[1:-1].replace(name[0] * 2, name[0]) if name[0] != "[" else name[1:-1]
    return name


def _sqlite_tables(session: Session, schema: Schema, ignore: tuple[str, ...]) -> list[str]:
    """Describe the virtual tables; the names the pragma queries must leave out."""
    rows = session.query(_SQLITE_TABLES).rows
    virtual = {}
    for name, sql in rows:
        match = _VIRTUAL.match(sql or "")
        if match:
            module = _unquoted(match.group(1))
            virtual[name] = (module.lower(), f"{module}{_squash(match.group(2))}")
    if sqlite3.sqlite_version_info >= (3, 37):
        kinds = dict(session.query(_SQLITE_TABLE_LIST).rows)
        shadows = {name for name, kind in kinds.items() if kind == "shadow"}
        virtual = {name: virtual.get(name, ("", "")) for name, kind in kinds.items() if kind == "virtual"}
    else:  # the shadow tables of the modules SQLite ships, by name
        shadows = {f"{name}_{suffix}" for name, (module, _) in virtual.items()
                   for suffix in _SHADOW_SUFFIXES.get(module, ())}
    skip = []
    for name, _ in rows:
        if name in virtual or name in shadows or ignored(name, ignore):
            skip.append(name)
            if name in virtual and not ignored(name, ignore):
                schema.tables[name] = Table(virtual=virtual[name][1] or "(unknown module)")
    return skip


def _reflect_sqlite(session: Session, ignore: tuple[str, ...]) -> Schema:
    schema = Schema("sqlite")
    skip = _sqlite_tables(session, schema, ignore)
    # tables left out are never named to a pragma: that would open them (virtual tables refuse a
    # read-only connection, and an ignored table is ignored because it may not be readable);
    # many are one JSON parameter (SQLite before 3.32 allows 999 parameters)
    params: tuple[Any, ...] | None
    if len(skip) > 500:
        where, params = " AND m.name NOT IN (SELECT value FROM json_each(?))", (json.dumps(skip),)
    else:
        where = f" AND m.name NOT IN ({', '.join('?' * len(skip))})" if skip else ""
        params = tuple(skip) or None
    pk_columns: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for table_name, column, type_, notnull, default, pk, hidden, create_sql in session.query(
            _SQLITE_COLUMNS.format(skip=where), params).rows:
        table = schema.tables.get(table_name)
        if table is None:
            table = schema.tables[table_name] = Table()
            for number, expression in enumerate(_check_constraints(create_sql or ""), start=1):
                table.checks[f"check_{number}"] = expression
        spec: dict[str, Any] = {"type": type_.lower(), "nullable": not notnull, "default": default}
        if hidden in (2, 3):
            spec["generated"] = "stored" if hidden == 3 else "virtual"
        table.columns[column] = spec
        if pk:
            pk_columns[table_name].append((pk, column))
    for table_name, columns in pk_columns.items():
        schema.tables[table_name].primary_key = [column for _, column in sorted(columns)]

    index_columns: dict[tuple[str, str], list[str]] = defaultdict(list)
    index_info: dict[tuple[str, str], tuple[int, str, str | None]] = {}
    for table_name, index_name, unique, origin, _seq, column, desc, collation, sql in session.query(
            _SQLITE_INDEXES.format(skip=where), params).rows:
        part = column if column is not None else "<expression>"
        if desc:
            part += " DESC"
        if collation and collation.upper() != "BINARY":
            part += f" COLLATE {collation}"
        index_columns[(table_name, index_name)].append(part)
        index_info[(table_name, index_name)] = (unique, origin, sql)
    for (table_name, index_name), parts in index_columns.items():
        unique, origin, sql = index_info[(table_name, index_name)]
        table = schema.tables[table_name]
        if origin == "pk":
            continue  # the primary key, already described
        if origin == "u":
            # autoindex names (sqlite_autoindex_t_1) are numbered in declaration order: name by columns
            table.unique[f"unique ({', '.join(parts)})"] = f"UNIQUE ({', '.join(parts)})"
        else:
            table.indexes[index_name] = _squash(sql) if sql else f"{'UNIQUE ' if unique else ''}({', '.join(parts)})"

    foreign: dict[tuple[str, int], list[Any]] = {}
    for table_name, fk_id, _seq, target, source, to, on_update, on_delete, match in session.query(
            _SQLITE_FOREIGN_KEYS.format(skip=where), params).rows:
        entry = foreign.setdefault((table_name, fk_id), [target, [], [], on_update, on_delete, match])
        entry[1].append(source)
        entry[2].append(to if to is not None else "<primary key>")
    for (table_name, _), (target, sources, targets, on_update, on_delete, match) in foreign.items():
        definition = f"FOREIGN KEY ({', '.join(sources)}) REFERENCES {target}({', '.join(targets)})"
        definition += f" ON UPDATE {on_update} ON DELETE {on_delete}" + (f" MATCH {match}" if match != "NONE" else "")
        # SQLite foreign keys have no names; their definition is their identity
        schema.tables[table_name].foreign_keys[f"({', '.join(sources)}) -> {target}"] = definition
    return schema
