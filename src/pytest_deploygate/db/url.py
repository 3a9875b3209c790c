"""Database URLs and settings: which backend, how to connect, how to show one without its password."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..secrets import MASK

#: query parameters of Prisma's URL form that libpq does not know: dropped (`schema` becomes the
#: search path). Prisma's docs list them; every Prisma app's `.env` has some.
PRISMA_ONLY = frozenset({
    "schema", "connection_limit", "pool_timeout", "pgbouncer", "socket_timeout", "statement_cache_size",
    "sslaccept", "sslidentity", "connect_timeout",  # connect_timeout: the gate's own setting wins
})
#: query parameters whose values are secrets
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL.

    Attributes:
        dialect: "postgresql" or "sqlite".
        conninfo: what the driver connects with (PostgreSQL URL, or SQLite file path). Secret.
        display: the URL with its password masked: safe to print.
        password: the password, for the redactor ("" when none).
        secrets: every secret value the URL holds (the password, `?password=`, `?sslpassword=`).
    """

    dialect: str
    conninfo: str
    display: str
    password: str = ""
    secrets: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class DatabaseConfig:
    """One `[databases.NAME]` table, validated.

    Attributes:
        alias: NAME, how checks refer to it.
        url: the parsed URL.
        connect_timeout: seconds to wait for a connection.
        statement_timeout: seconds any one statement may run.
        allow_privileged: run user-written SQL even on a role that can write files, run
            programs or act outside the database (a read-only transaction cannot stop it).
    """

    alias: str
    url: DatabaseURL
    connect_timeout: float
    statement_timeout: float
    allow_privileged: bool = False


def parse_database_url(url: str, base_dir: Path) -> DatabaseURL:
    """Parse `postgresql://`, `postgres://`, `sqlite:///relative.db` or `sqlite:////abs.db`.

    Raises:
        ValueError: an unsupported scheme or a malformed URL (message never shows the password).
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError("expected a URL such as postgresql://user@host/db or sqlite:///file.db")
    if scheme in ("postgresql", "postgres"):
        return _postgres_url(rest)
    if scheme == "sqlite":
        if not rest.startswith("/"):
            raise ValueError("SQLite URLs are sqlite:///relative/path.db or sqlite:////absolute/path.db")
        path_text = rest[1:]
        if path_text == ":memory:":
            return DatabaseURL("sqlite", ":memory:", url)
        if not path_text:
            raise ValueError("the SQLite URL names no file")
        path = Path(path_text)
        resolved = path if path.is_absolute() else base_dir / path
        return DatabaseURL("sqlite", str(resolved), url)
    raise ValueError(f'unsupported database URL scheme "{scheme}" (use postgresql:// or sqlite:///)')


def _keyword(value: str) -> str:
    """A libpq keyword/value conninfo value, quoted (spaces, quotes and backslashes are safe)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _postgres_url(rest: str) -> DatabaseURL:
    """A PostgreSQL URL as libpq keyword/value conninfo, read by us rather than by libpq.

    libpq's own URI parser rejects what real apps' URLs hold (Prisma's `?schema=public&
    connection_limit=5`, a password with an unencoded space) and psycopg then shows the whole URL,
    password and all, in its error. Here the URL is split once, Prisma's parameters are translated
    (`schema` -> `search_path`) or dropped, and libpq gets keywords it only has to look up.
    """
    parts = urlsplit("postgresql://" + rest)
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    if not at and "@" in rest:
        # a password with an unencoded "/", "?" or "#" (base64 ones have "/"): the URL parser ends
        # the host part there and would take the password for a host or a path. Split at the
        # last "@" instead, so that the password is known, masked and never shown.
        userinfo, at, tail = rest.rpartition("@")
        parts = urlsplit("postgresql://" + tail)
        hostinfo = parts.netloc
    user, colon, password = userinfo.partition(":") if at else ("", "", "")
    params: dict[str, str] = {}
    if user:
        params["user"] = unquote(user)
    if colon:
        params["password"] = unquote(password)
    hosts, ports = [], []
    for host in filter(None, hostinfo.split(",")):  # libpq's multi-host form: h1:5432,h2:5433
        name, port = _host_port(host)
        hosts.append(unquote(name))
        ports.append(port)
    if hosts:
        params["host"] = ",".join(hosts)
    if any(ports):
        params["port"] = ",".join(port or "5432" for port in ports)
    if parts.path.strip("/"):
        params["dbname"] = unquote(parts.path.lstrip("/"))
    schema = None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() == "schema":
            schema = value
        elif key.lower() not in PRISMA_ONLY:
            params[key.lower()] = value  # libpq's keywords are lower case
    if schema:
        # libpq splits `options` on spaces: a space inside the value is escaped
        search_path = "-c search_path=" + schema.replace("\\", "\\\\").replace(" ", "\\ ")
        params["options"] = f"{params.get('options', '')} {search_path}".strip()
    # keys in any case: libpq refuses `?PASSWORD=`, and its message would show the URL
    secrets = tuple(value for key, value in params.items() if key.lower() in SECRET_PARAMETERS and value)
    if colon and password:
        secrets = (unquote(password), *secrets)
    conninfo = " ".join(f"{key}={_keyword(value)}" for key, value in params.items())
    query = "&".join(f"{key}={MASK if key.lower() in SECRET_PARAMETERS else quote(value, safe='/,:')}"
                     for key, value in parse_qsl(parts.query, keep_blank_values=True))
    netloc = _masked_netloc(f"{userinfo}@{hostinfo}" if at else hostinfo)
    display = f"postgresql://{netloc}{parts.path}" + (f"?{query}" if query else "")
    return DatabaseURL("postgresql", conninfo, display, params.get("password", ""), tuple(dict.fromkeys(secrets)))


def _host_port(text: str) -> tuple[str, str]:
    """`db:5432` -> (db, 5432), `[::1]:5432` -> (::1, 5432), `db` -> (db, "")."""
    if text.startswith("["):
        name, _, after = text[1:].partition("]")
        return name, after.removeprefix(":")
    name, colon, port = text.rpartition(":")
    return (name, port) if colon else (text, "")


def _masked_netloc(netloc: str) -> str:
    userinfo, at, hostinfo = netloc.rpartition("@")
    if not at:
        return netloc
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}@{hostinfo}" if colon else netloc
