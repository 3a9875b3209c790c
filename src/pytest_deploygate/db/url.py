"""Database URLs and settings: which backend, how to connect, how to show one without its password."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from ..secrets import MASK


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL.

    Attributes:
        dialect: "postgresql" or "sqlite".
        conninfo: what the driver connects with (PostgreSQL URL, or SQLite file path). Secret.
        display: the URL with its password masked: safe to print.
        password: the password, for the redactor ("" when none).
    """

    dialect: str
    conninfo: str
    display: str
    password: str = ""


@dataclass(frozen=True)
class DatabaseConfig:
    """One `[databases.NAME]` table, validated.

    Attributes:
        alias: NAME, how checks refer to it.
        url: the parsed URL.
        connect_timeout: seconds to wait for a connection.
        statement_timeout: seconds any one statement may run.
    """

    alias: str
    url: DatabaseURL
    connect_timeout: float
    statement_timeout: float


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
        parts = urlsplit("postgresql://" + rest)
        password = unquote(parts.password or "")
        display = "postgresql://" + rest
        if parts.password is not None:  # rebuilt only when there is a password: urlunsplit drops an empty host
            display = urlunsplit(parts._replace(netloc=_masked_netloc(parts.netloc)))
        return DatabaseURL("postgresql", "postgresql://" + rest, display, password)
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


def _masked_netloc(netloc: str) -> str:
    userinfo, at, hostinfo = netloc.rpartition("@")
    if not at:
        return netloc
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}@{hostinfo}" if colon else netloc
