"""`[[endpoint]]`: an HTTP endpoint answers as it should.

The shell scripts' `curl` loop (`/api/health`, `/api/communities` coming back empty), as one item
per endpoint: the status, the latency, JMESPath assertions on the JSON, substrings and a pattern
in the body, response headers, the content type, where a redirect leads and how long the TLS
certificate has left.

How it runs: the request is the kind's `fetch` (see `CheckKind.fetch`), so the gate sends the
requests of consecutive endpoint items concurrently (`[deploygate] http_concurrency`), each item
then judging its own response. One `requests.Session` per process (the `deploygate_http`
fixture). Connection errors, timeouts and unexpected 5xx answers are retried (`retries`); an
answer that fails an assertion is not. Each attempt is bounded by the entry's `timeout`, the body
is read up to :data:`MAX_BODY` bytes, and the item stops waiting after every attempt's time is up.

Secrets: header values, basic-auth and URL passwords and query values whose names look secret
(`api_key`, `token`) are registered with the redactor, and no message shows a query string at
all: an endpoint is named by its method and path (`GET /api/communities`).
"""

from __future__ import annotations

import base64
import codecs
import json as jsonlib
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit, urlunsplit

from ..ahead import FetchTimeout
from ..api import CheckKind, Entry, Result, RunContext, Target, id_part
from ..config import EntryReader
from ..errors import CheckError
from ..wording import count, describe_value, format_duration, plural, printable
from . import BUILTIN

if TYPE_CHECKING:
    import requests

#: a body is read up to this many bytes; the body assertions need it whole
MAX_BODY = 16 * 1024 * 1024
#: how much longer than its timeout an attempt is waited for before it is given up
GRACE = 0.25
#: characters of the body a failure shows
BODY_SHOWN = 600
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: query parameters whose values are treated as secrets (never shown, masked if echoed back)
SECRET_NAME = re.compile(r"key|token|secret|pass|pwd|auth|sig|session|credential|code|jwt|bearer", re.IGNORECASE)
#: response headers whose values are never shown
SECRET_HEADERS = re.compile(r"^(set-cookie|cookie|authorization|proxy-authorization)$|token|secret|key", re.IGNORECASE)
_STATUS_CLASS = re.compile(r"^[1-5]xx$", re.IGNORECASE)


@dataclass(frozen=True)
class HeaderRule:
    """A response header that must equal a value, or match a pattern."""

    name: str
    value: str
    regex: bool = False


@dataclass(frozen=True)
class EndpointOptions:
    """An `[[endpoint]]` entry's own keys.

    Attributes:
        url: the URL, interpolated (it may hold secrets: never shown whole).
        method: GET, POST, ...
        shown: how messages name the endpoint: `GET /api/communities` (no host, no query).
        headers, params: request headers and query parameters.
        body: the request body (bytes), None for none.
        follow_redirects: follow 3xx answers (default true).
        verify: verify TLS (true), not (false), or a CA bundle path.
        client_cert, client_key: a client certificate (PEM), and its key when not in the same file.
        auth: basic auth (user, password).
        status: expected statuses: (low, high) ranges; `status_text` says them as written.
        max_time: the longest the exchange may take, in seconds.
        json: JMESPath expressions as written, and as compiled (`json_compiled`).
        contains, not_contains: substrings the body must (not) hold.
        body_pattern: a regex the body must match.
        response_headers: headers the response must carry.
        content_type: the media type the response must have.
        cert_min_days: days the server certificate must still be valid.
        redirect_to: where a redirect must lead (a path or a URL).
        retries, retry_delay: attempts after the first, for connection errors and 5xx, and the
            pause between them.
    """

    url: str
    method: str
    shown: str
    headers: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    follow_redirects: bool = True
    verify: bool | str = True
    client_cert: str | None = None
    client_key: str | None = None
    auth: tuple[str, str] | None = None
    status: tuple[tuple[int, int], ...] = ((200, 200),)
    status_text: str = "200"
    max_time: float | None = None
    json: tuple[str, ...] = ()
    json_compiled: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    body_pattern: str | None = None
    response_headers: tuple[HeaderRule, ...] = ()
    content_type: str | None = None
    cert_min_days: int | None = None
    redirect_to: str | None = None
    retries: int = 0
    retry_delay: float = 1.0

    def expects(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.status)

    @property
    def reads_body(self) -> bool:
        """Whether an assertion needs the body whole."""
        return bool(self.json or self.contains or self.not_contains or self.body_pattern)


@dataclass
class Exchange:
    """What one request brought back (the last attempt's, after retries).

    Attributes:
        status: the HTTP status, or None when no answer came (then `error` says why).
        error: why there is no answer: connection refused, a TLS failure, a timeout.
        seconds: how long the exchange took, request sent to body read (redirects included).
        body: the body, up to MAX_BODY bytes; `size` is its length in bytes, `cut` when longer.
        headers: the final response's headers.
        url: the final URL (after redirects).
        redirects: the URLs the redirects went through, in order.
        location: the final response's Location header (a redirect not followed).
        cert_expires: when the server certificate expires (https), or `cert_error` why unknown.
        attempts: how many requests were sent.
    """

    status: int | None = None
    error: str | None = None
    seconds: float = 0.0
    body: bytes = b""
    size: int = 0
    cut: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    url: str = ""
    redirects: list[str] = field(default_factory=list)
    location: str | None = None
    cert_expires: datetime | None = None
    cert_error: str | None = None
    attempts: int = 1
    retryable: bool = False
    charset: str | None = None

    @property
    def ms(self) -> int:
        return round(self.seconds * 1000)

    def text(self) -> str:
        return self.body.decode(self.charset or "utf-8", errors="replace")


class EndpointCheck(CheckKind[EndpointOptions, None]):
    """`[[endpoint]]`: one item per endpoint; its request is fetched ahead (see `fetch`)."""

    name = "endpoint"
    summary = BUILTIN["endpoint"].summary
    fixtures = ("deploygate_http",)

    # -- config ----------------------------------------------------------------------------
    def parse(self, reader: EntryReader) -> EndpointOptions:
        url = reader.required_string("url").strip()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not one
        except ValueError as exc:
            raise reader.error("url", f"is not a URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise reader.error("url", f'"{_safe_url(url)}" is not an http:// or https:// URL with a host')
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if SECRET_NAME.search(name):
                reader.add_secret(value)
        method = (reader.string("method", "GET") or "GET").strip().upper()
        if method not in METHODS:
            raise reader.error("method", f'"{method}" is not one of {", ".join(METHODS)}')

        headers = reader.string_table("headers")
        for name, value in headers.items():
            reader.add_secret(value)
            _check_header(reader, name, value)
        params = self._params(reader)
        body, json_body = self._body(reader, method)
        if json_body and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        follow = reader.boolean("follow_redirects", True)
        verify = self._verify(reader)
        client_cert = _path_text(reader, "client_cert")
        client_key = _path_text(reader, "client_key")
        if client_key and not client_cert:
            raise reader.error("client_key", "goes with client_cert (the certificate it is the key of)")
        auth = self._auth(reader)
        if parts.username is not None or parts.password is not None:
            if auth is not None:
                raise reader.error("auth", "the url carries a user and password already: give one of them")
            # sent as the auth it is (requests would do the same), so that it is masked as one
            auth = (unquote(parts.username or ""), unquote(parts.password or ""))
            _secret_auth(reader, *auth)
        if auth is not None and any(name.lower() == "authorization" for name in headers):
            raise reader.error("headers", "has an Authorization header, and basic auth would replace it: give one of them")

        redirect_to = reader.string("redirect_to")
        if redirect_to is not None and not redirect_to.strip():
            raise reader.error("redirect_to", 'is empty: give a path ("/login") or a URL')
        status, status_text = self._status(reader, default_redirect=bool(redirect_to) and not follow)
        if follow and all(low >= 300 and high <= 399 for low, high in status):
            raise reader.error("status", f"{status_text}: a redirect is never the answer when redirects are followed "
                                         "(set follow_redirects = false to check the redirect itself)")
        max_time = reader.duration("max_time")
        if max_time is not None and max_time <= 0:
            raise reader.error("max_time", "must be more than 0")
        expressions, compiled = self._json(reader)
        contains = reader.strings("contains")
        not_contains = reader.strings("not_contains")
        for key, values in (("contains", contains), ("not_contains", not_contains)):
            if any(value == "" for value in values):
                raise reader.error(key, "holds an empty string (every body contains it)")
        body_pattern = reader.regex("body_pattern")
        response_headers = self._response_headers(reader)
        content_type = reader.string("content_type")
        if content_type is not None and not content_type.strip():
            raise reader.error("content_type", 'is empty (give a media type such as "application/json")')
        cert_min_days = reader.integer("cert_min_days", minimum=0, maximum=100_000)
        if cert_min_days is not None and parts.scheme != "https":
            raise reader.error("cert_min_days", "needs an https:// url (a plain http server has no certificate)")
        retries = reader.integer("retries", 0, minimum=0, maximum=100)
        retry_delay = reader.duration("retry_delay", 1.0)
        if retry_delay > 600:
            raise reader.error("retry_delay", "is longer than 10m: a deploy gate should not wait that long between attempts")
        if method == "HEAD" and (expressions or contains or not_contains or body_pattern):
            raise reader.error("method", "a HEAD answer has no body: json, contains and body_pattern need another method")

        return EndpointOptions(
            url=url, method=method, shown=f"{method} {parts.path or '/'}",
            headers=tuple(headers.items()), params=params, body=body,
            follow_redirects=follow, verify=verify, client_cert=client_cert, client_key=client_key,
            auth=auth, status=status, status_text=status_text, max_time=max_time,
            json=expressions, json_compiled=compiled, contains=contains, not_contains=not_contains,
            body_pattern=body_pattern, response_headers=response_headers,
            content_type=content_type.strip().lower() if content_type else None,
            cert_min_days=cert_min_days, redirect_to=redirect_to.strip() if redirect_to else None,
            retries=retries, retry_delay=retry_delay,
        )

    @staticmethod
    def _params(reader: EntryReader) -> tuple[tuple[str, str], ...]:
        raw = reader.raw("params")
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            raise reader.error("params", f"expected a table of query parameters, got {describe_value(raw)}")
        params: list[tuple[str, str]] = []
        for name, value in raw.items():
            values = value if isinstance(value, list) else [value]
            for one in values:
                if isinstance(one, bool) or not isinstance(one, str | int | float):
                    raise reader.error(f"params.{name}", f"expected a string or a number, got {describe_value(one)}")
                text = reader.interpolate_text(f"params.{name}", one) if isinstance(one, str) else str(one)
                if SECRET_NAME.search(name):
                    reader.add_secret(text)
                params.append((name, text))
        return tuple(params)

    @staticmethod
    def _body(reader: EntryReader, method: str) -> tuple[bytes | None, bool]:
        raw = reader.raw("body")
        if raw is None:
            return None, False
        if method in ("GET", "HEAD"):
            raise reader.error("body", f"a {method} request sends no body (use method = \"POST\")")
        if isinstance(raw, str):
            return reader.interpolate_text("body", raw).encode("utf-8"), False
        if isinstance(raw, dict | list):
            # a table or an array is sent as JSON; strings in it are interpolated
            return jsonlib.dumps(_interpolated(reader, "body", raw)).encode("utf-8"), True
        raise reader.error("body", f"expected a string, or a table or array sent as JSON, got {describe_value(raw)}")

    @staticmethod
    def _verify(reader: EntryReader) -> bool | str:
        raw = reader.raw("verify")
        if raw is None or raw is True:
            return True
        if raw is False:
            return False
        if isinstance(raw, str) and raw.strip():
            return _path_text(reader, "verify") or raw
        raise reader.error("verify", f"expected true, false or a CA bundle path, got {describe_value(raw)}")

    @staticmethod
    def _auth(reader: EntryReader) -> tuple[str, str] | None:
        table = reader.table("auth")
        if table is None:
            return None
        username = table.required_string("username")
        password = table.required_string("password")
        table.unknown_keys()
        _secret_auth(reader, username, password)
        return username, password

    @staticmethod
    def _status(reader: EntryReader, *, default_redirect: bool) -> tuple[tuple[tuple[int, int], ...], str]:
        raw = reader.raw("status")
        if raw is None:
            return (((300, 399),), "3xx") if default_redirect else (((200, 200),), "200")
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise reader.error("status", "is an empty list (leave it out for 200)")
        ranges: list[tuple[int, int]] = []
        texts: list[str] = []
        for value in values:
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                ranges.append((value, value))
                texts.append(str(value))
            elif isinstance(value, str) and _STATUS_CLASS.match(value.strip()):
                low = int(value.strip()[0]) * 100
                ranges.append((low, low + 99))
                texts.append(value.strip().lower())
            else:
                raise reader.error("status", f'{describe_value(value)} is not a status (100 to 599, or a class such as "2xx")')
        return tuple(ranges), " or ".join(texts)

    @staticmethod
    def _json(reader: EntryReader) -> tuple[tuple[str, ...], tuple[str, ...]]:
        expressions = reader.strings("json")
        compiled = []
        for position, expression in enumerate(expressions, start=1):
            try:
                compiled.append(compile_jmespath(expression))
            except ValueError as exc:
                key = "json" if len(expressions) == 1 else f"json[{position}]"
                raise reader.error(key, f"{expression!r} is not a JMESPath expression: {exc}") from None
        return expressions, tuple(compiled)

    @staticmethod
    def _response_headers(reader: EntryReader) -> tuple[HeaderRule, ...]:
        table = reader.raw("response_headers")
        if table is None:
            return ()
        if not isinstance(table, dict):
            raise reader.error("response_headers", f"expected a table of header names, got {describe_value(table)}")
        rules = []
        for name, value in table.items():
            key = f"response_headers.{name}"
            if isinstance(value, str):
                rules.append(HeaderRule(name, reader.interpolate_text(key, value)))
            elif isinstance(value, dict) and set(value) == {"pattern"} and isinstance(value["pattern"], str):
                reader.check_regex(key, value["pattern"])
                rules.append(HeaderRule(name, value["pattern"], regex=True))
            else:
                raise reader.error(key, 'expected the exact value (a string) or { pattern = "regex" }, '
                                        f"got {describe_value(value)}")
        return tuple(rules)

    def default_name(self, options: EndpointOptions, entry_index: int, database: str | None) -> str:
        """The URL's path (`/api/health`), the method before it when not GET (`POST/api/login`);
        never the host or the query string, which may hold secrets."""
        path = urlsplit(options.url).path
        if path in ("", "/"):
            return f"endpoint{entry_index}"
        return id_part(path if options.method == "GET" else f"{options.method}{path}")

    def expand(self, entry: Entry[EndpointOptions]) -> list[Target[EndpointOptions, None]]:
        return [Target.at(entry, payload=None, subject=entry.options.shown)]

    # -- fetching --------------------------------------------------------------------------
    def fetch_bound(self, target: Target[EndpointOptions, None]) -> float:
        options = target.entry.options
        attempts = options.retries + 1
        return attempts * (target.entry.timeout + GRACE) + options.retries * options.retry_delay + 1.0

    def fetch(self, target: Target[EndpointOptions, None], ctx: RunContext) -> Exchange:
        options = target.entry.options
        session = ctx.fixtures.get("deploygate_http")
        if session is None:  # a kind run outside pytest (tests, scripts): a session of its own
            import requests

            session = requests.Session()
        attempts = 0
        while True:
            attempts += 1
            exchange = _bounded(session, options, target.entry.timeout)
            exchange.attempts = attempts
            if not exchange.retryable or attempts > options.retries:
                return exchange
            time.sleep(options.retry_delay)

    # -- judging ---------------------------------------------------------------------------
    def run(self, target: Target[EndpointOptions, None], ctx: RunContext) -> Result:
        options = target.entry.options
        try:
            exchange: Exchange = ctx.fetched(self, target)
        except FetchTimeout as exc:  # the backstop: each attempt is bounded on its own
            raise CheckError(f"{options.shown}: {exc}") from None
        tries = f" (after {plural(exchange.attempts, 'attempt')})" if exchange.attempts > 1 else ""
        figures: dict[str, int | float] = {"attempts": exchange.attempts}
        if exchange.status is None:
            raise CheckError(f"{options.shown}: {exchange.error}{tries}")
        figures.update(status=exchange.status, latency_ms=exchange.ms, bytes=exchange.size)
        if exchange.cert_expires is not None:
            # whole days, towards zero: expired 2 days and 1 hour ago is -2, as the message says
            figures["cert_days"] = int((exchange.cert_expires - datetime.now(UTC)).total_seconds() / 86400)
        body_lines = _body_lines(exchange, ctx.samples)
        if not options.expects(exchange.status):
            verdict = f"{options.shown}: {exchange.status} (expected {options.status_text}) in {count(exchange.ms)}ms{tries}"
            redirects = [f"redirected from {_place(url, options.url)}" for url in exchange.redirects]
            return Result.fail(verdict, redirects + body_lines, **figures)
        answered = f"{options.shown}: {exchange.status} in {count(exchange.ms)}ms{tries}"
        if options.reads_body and exchange.cut:
            raise CheckError(f"{answered}, but the body is larger than {MAX_BODY // (1024 * 1024)} MiB: "
                             "too large to check json, contains or body_pattern")
        problems = self._problems(options, exchange)
        if not problems:
            return Result.ok(answered, **figures)
        verdict = f"{answered}, but {problems[0]}"
        if len(problems) > 1:
            verdict += f" (and {plural(len(problems) - 1, 'more problem')})"
        return Result.fail(verdict, [f"also: {problem}" for problem in problems[1:]] + body_lines, **figures)

    def _problems(self, options: EndpointOptions, exchange: Exchange) -> list[str]:
        problems: list[str] = []
        if options.max_time is not None and exchange.seconds > options.max_time:
            problems.append(f"it took longer than max_time {format_duration(options.max_time)}")
        if options.cert_min_days is not None:
            problems += _cert_problems(options.cert_min_days, exchange)
        if options.redirect_to is not None:
            problems += _redirect_problems(options, exchange)
        if options.content_type is not None:
            found = exchange.headers.get("content-type", "")
            media = found.split(";")[0].strip().lower()
            if media != options.content_type.split(";")[0].strip():
                problems.append(f"content type is {_quote(found) if found else 'not given'} (expected {options.content_type})")
        for rule in options.response_headers:
            problems += _header_problems(rule, exchange.headers)
        if options.reads_body:
            problems += _body_problems(options, exchange)
        return problems


# -- the request ---------------------------------------------------------------------------------


def _request(session: requests.Session, options: EndpointOptions, timeout: float) -> Exchange:
    import requests

    started = time.monotonic()
    deadline = started + timeout
    exchange = Exchange()
    cert: str | tuple[str, str] | None = options.client_cert
    if options.client_cert and options.client_key:
        cert = (options.client_cert, options.client_key)
    # an explicit auth, or one that adds nothing: never credentials from ~/.netrc, which no
    # config names and the redactor does not know
    auth: Any = options.auth or _NO_AUTH
    try:
        response = session.request(
            options.method, options.url, params=list(options.params) or None, headers=dict(options.headers),
            data=options.body, auth=auth, verify=options.verify,
            cert=cert,
            timeout=timeout, allow_redirects=options.follow_redirects, stream=True,
        )
    except requests.exceptions.SSLError as exc:
        return _failed(exchange, f"TLS failed: {_reason(exc)}{_where(exc, options)}", started, retryable=False)
    except requests.exceptions.Timeout as exc:
        return _failed(exchange, f"no answer within {format_duration(timeout)}{_where(exc, options)}", started,
                       retryable=True)
    except requests.exceptions.ConnectionError as exc:
        return _failed(exchange, f"connection failed: {_reason(exc)}{_where(exc, options)}", started, retryable=True)
    except requests.exceptions.TooManyRedirects:
        return _failed(exchange, "more than 30 redirects", started, retryable=False)
    except Warning as exc:  # pytest -W error: urllib3's InsecureRequestWarning for verify = false
        return _failed(exchange, f"a warning was raised as an error: {type(exc).__name__} "
                                 "(with verify = false, allow it: -W ignore::urllib3.exceptions.InsecureRequestWarning)",
                       started, retryable=False)
    except (requests.exceptions.RequestException, OSError, ValueError) as exc:
        # a CA bundle or client certificate that cannot be read, a redirect to another scheme
        return _failed(exchange, f"request failed: {_reason(exc)}{_where(exc, options)}", started, retryable=False)
    with response:
        exchange.status = response.status_code
        exchange.headers = {name.lower(): value for name, value in response.headers.items()}
        exchange.url = response.url
        exchange.redirects = [r.url for r in response.history]
        exchange.location = response.headers.get("location")
        exchange.charset = _charset(exchange.headers.get("content-type", ""))
        if options.cert_min_days is not None:
            exchange.cert_expires, exchange.cert_error = _peer_certificate_expiry(response)
        try:
            _read_body(response, exchange, deadline, timeout)
        except _Slow as exc:
            return _failed(exchange, str(exc), started, retryable=True)
        except (requests.exceptions.RequestException, OSError) as exc:
            return _failed(exchange, f"the body was cut short: {_reason(exc)}", started, retryable=True)
    exchange.seconds = time.monotonic() - started
    exchange.retryable = exchange.status >= 500 and not options.expects(exchange.status)
    return exchange


class _NoAuth:
    """requests' auth hook that adds nothing (and so keeps requests from reading ~/.netrc)."""

    def __call__(self, request: Any) -> Any:
        return request


_NO_AUTH = _NoAuth()


def _bounded(session: requests.Session, options: EndpointOptions, timeout: float) -> Exchange:
    """One attempt, given up `timeout` (and a little) after it starts, whatever the server does:
    requests bounds each read, not the whole answer (headers sent a line at a time would go on)."""
    started = time.monotonic()
    done: list[Exchange] = []
    attempt = threading.Thread(target=lambda: done.append(_request(session, options, timeout)), daemon=True,
                               name="deploygate-request")
    attempt.start()
    attempt.join(timeout + GRACE)
    if done:
        return done[0]
    return _failed(Exchange(), f"no complete answer within {format_duration(timeout)}", started, retryable=True)


def _where(exc: BaseException, options: EndpointOptions) -> str:
    """Where a request failed, when it was not at the URL asked (after a redirect)."""
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if not isinstance(url, str) or urlsplit(url)._replace(query="") == urlsplit(options.url)._replace(query=""):
        return ""
    return f" (at the redirect to {_place(url, options.url)})"


def _failed(exchange: Exchange, error: str, started: float, *, retryable: bool) -> Exchange:
    exchange.status = None
    exchange.error = error
    exchange.retryable = retryable
    exchange.seconds = time.monotonic() - started
    return exchange


def _read_body(response: requests.Response, exchange: Exchange, deadline: float, timeout: float) -> None:
    chunks: list[bytes] = []
    kept = 0
    for chunk in response.iter_content(64 * 1024):
        exchange.size += len(chunk)
        if kept < MAX_BODY:
            chunks.append(chunk[: MAX_BODY - kept])
            kept += len(chunks[-1])
        if exchange.size > MAX_BODY:
            exchange.cut = True
            break  # the rest is not read: closing the response drops the connection
        if time.monotonic() > deadline:
            raise _Slow(f"no complete answer within {format_duration(timeout)}")
    exchange.body = b"".join(chunks)


class _Slow(Exception):
    """A body still arriving when the attempt's time is up."""


def _charset(content_type: str) -> str | None:
    match = re.search(r"charset=\"?([\w.:-]+)", content_type, re.IGNORECASE)
    if match is None:
        return None
    try:
        return codecs.lookup(match.group(1)).name
    except LookupError:  # a charset Python does not know: read as UTF-8
        return None


def _reason(exc: BaseException) -> str:
    """The root cause of a requests error, in words, without the URL it names (it may hold a
    query string)."""
    import http.client

    seen: set[int] = set()
    current: BaseException | None = exc
    best: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError) and current.verify_message:
            return f"certificate verify failed: {current.verify_message}"
        if isinstance(current, http.client.RemoteDisconnected):
            return "the server closed the connection without answering"
        if isinstance(current, http.client.IncompleteRead):
            expected = f" of {count(len(current.partial) + current.expected)}" if current.expected is not None else ""
            return f"the body ended early ({plural(len(current.partial), 'byte')}{expected})"
        if isinstance(current, http.client.BadStatusLine):
            return "the answer is not HTTP"
        if isinstance(current, http.client.HTTPException) and str(current):
            return str(current)
        if isinstance(current, OSError) and current.strerror:
            best = current.strerror
        following = getattr(current, "reason", None)
        if not isinstance(following, BaseException):
            following = next((arg for arg in current.args if isinstance(arg, BaseException)), None)
        current = following or current.__cause__ or current.__context__
    if best is not None:
        return best[0].lower() + best[1:]
    text = str(exc.args[0] if exc.args else exc)
    text = re.sub(r"(?i)\b[a-z][a-z0-9+.-]*://\S+", "<url>", text)  # a URL of any scheme, with its query
    text = re.sub(r"(?i)\b(url|host):\s*\S+", "", text)
    return printable(text.strip(" :'\"")) or type(exc).__name__


# -- TLS -----------------------------------------------------------------------------------------


def _peer_certificate_expiry(response: requests.Response) -> tuple[datetime | None, str | None]:
    """When the certificate the server presented expires (read before the body, while the
    response still holds its connection)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if not isinstance(sock, ssl.SSLSocket):
        return None, "the connection's certificate could not be read"
    der = sock.getpeercert(binary_form=True)
    if not der:
        return None, "the server presented no certificate"
    try:
        return certificate_not_after(der), None
    except (ValueError, IndexError):
        return None, "the server's certificate could not be parsed"


def _der_item(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `pos`."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[pos:pos + size], "big")
        pos += size
    if pos + length > len(data):
        raise ValueError("truncated certificate")
    return tag, pos, pos + length


def certificate_not_after(der: bytes) -> datetime:
    """The notAfter time of an X.509 certificate in DER (RFC 5280 section 4.1), in UTC.

    Read by hand (a few DER elements) so that the check needs no cryptography library and also
    works with `verify = false`, where Python's `getpeercert()` returns nothing parsed.
    """
    _, certificate, _ = _der_item(der, 0)  # Certificate ::= SEQUENCE
    _, pos, _ = _der_item(der, certificate)  # tbsCertificate ::= SEQUENCE
    tag, _, end = _der_item(der, pos)
    if tag == 0xA0:  # [0] version
        pos = end
        tag, _, end = _der_item(der, pos)
    for _ in range(3):  # serialNumber, signature, issuer
        pos = end
        tag, _, end = _der_item(der, pos)
    # now at validity ::= SEQUENCE { notBefore Time, notAfter Time }
    _, validity, _ = _der_item(der, pos)
    _, _, before_end = _der_item(der, validity)
    tag, start, stop = _der_item(der, before_end)
    text = der[start:stop].decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950 to 2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        raise ValueError("not a certificate time")
    return datetime.strptime(text.rstrip("Z")[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _cert_problems(min_days: int, exchange: Exchange) -> list[str]:
    if exchange.cert_expires is None:
        return [f"its certificate could not be checked: {exchange.cert_error}"]
    left = exchange.cert_expires - datetime.now(UTC)
    day = exchange.cert_expires.strftime("%Y-%m-%d")
    host = urlsplit(exchange.url).hostname or "the server"
    if left.total_seconds() <= 0:
        ago = int(-left.total_seconds() // 86400)
        return [f"the certificate of {host} expired {plural(ago, 'day')} ago ({day})" if ago
                else f"the certificate of {host} has expired ({day})"]
    if left.days < min_days:
        return [f"the certificate of {host} expires in {plural(left.days, 'day')} ({day}; cert_min_days {min_days})"]
    return []


# -- assertions ----------------------------------------------------------------------------------


def _redirect_problems(options: EndpointOptions, exchange: Exchange) -> list[str]:
    expected = options.redirect_to or ""
    if options.follow_redirects:
        if not exchange.redirects:
            return [f"it did not redirect (expected to {expected})"]
        landed = exchange.url
    else:
        if exchange.location is None:
            return [f"it did not redirect (expected to {expected})"]
        landed = urljoin(options.url, exchange.location)
    if _same_place(landed, expected, options.url):
        return []
    return [f"it redirected to {_place(landed, options.url, query='?' in expected)} (expected {expected})"]


def _same_place(landed: str, expected: str, base: str) -> bool:
    target = urlsplit(urljoin(base, expected))
    found = urlsplit(landed)
    if target.path != (found.path or "/") and not (target.path == "" and found.path == "/"):
        return False
    if "?" in expected and target.query != found.query:
        return False
    if expected.startswith("/"):
        return True  # a path: any host (the gate's own, or where a proxy sent it)
    return (target.scheme, _netloc(target)) == (found.scheme, _netloc(found))


def _netloc(parts: Any) -> str:
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = parts.port if parts.port not in (None, default) else None
    return f"{(parts.hostname or '').lower()}{f':{port}' if port else ''}"


def _place(url: str, base: str, *, query: bool = False) -> str:
    """A URL the server sent the gate to, as messages show it: its path when it is on the
    endpoint's own host, else without user and password; the query string only when asked for
    (`redirect_to` names one), with the values of secret-looking parameters masked."""
    parts, home = urlsplit(url), urlsplit(base)
    shown = parts.path or "/"
    if (parts.scheme, parts.netloc.rpartition("@")[2]) != (home.scheme, home.netloc.rpartition("@")[2]):
        shown = _safe_url(url)
    if query and parts.query:
        shown += "?" + "&".join(f"{name}={'***' if SECRET_NAME.search(name) else value}"
                                for name, value in parse_qsl(parts.query, keep_blank_values=True))
    return printable(shown)


def _header_problems(rule: HeaderRule, headers: dict[str, str]) -> list[str]:
    found = headers.get(rule.name.lower())
    if found is None:
        return [f"header {rule.name} is missing"]
    shown = "(value not shown)" if SECRET_HEADERS.search(rule.name) else _quote(found)
    if rule.regex:
        if re.search(rule.value, found) is None:
            return [f"header {rule.name} {shown} does not match {_quote(rule.value)}"]
    elif found != rule.value:
        return [f"header {rule.name} is {shown} (expected {_quote(rule.value)})"]
    return []


def _body_problems(options: EndpointOptions, exchange: Exchange) -> list[str]:
    problems: list[str] = []
    text = exchange.text()
    for needle in options.contains:
        if needle not in text:
            problems.append(f"the body does not contain {_quote(needle)}")
    for needle in options.not_contains:
        position = text.find(needle)
        if position >= 0:
            problems.append(f"the body contains {_quote(needle)} (line {text.count(chr(10), 0, position) + 1})")
    if options.body_pattern is not None and re.search(options.body_pattern, text) is None:
        problems.append(f"the body does not match {_quote(options.body_pattern)}")
    if options.json:
        problems += _json_problems(options, text)
    return problems


def _json_problems(options: EndpointOptions, text: str) -> list[str]:
    import jmespath
    import jmespath.exceptions

    try:
        document = jsonlib.loads(text.removeprefix("\ufeff"))  # a byte-order mark is not JSON's, but common
    except ValueError as exc:
        return [f"the body is not JSON ({exc})"]
    except RecursionError:
        return ["the body is not JSON the gate can read (nested too deep)"]
    problems = []
    for written, expression in zip(options.json, options.json_compiled, strict=True):
        try:
            value = jmespath.search(expression, document)
        except jmespath.exceptions.JMESPathError as exc:
            problems.append(f"json {written} could not be evaluated: {' '.join(str(exc).split())}")
            continue
        except (TypeError, ValueError, RecursionError) as exc:  # jmespath comparing a number with a string
            problems.append(f"json {written} could not be evaluated: {type(exc).__name__}: {exc}")
            continue
        if not _truthy(value):
            problems.append(f"json {written} is {_json_text(value)}")
    return problems


def _truthy(value: Any) -> bool:
    """JMESPath's truth: false, null and empty strings, arrays and objects are false; numbers,
    0 included, are true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def _json_text(value: Any) -> str:
    text = jsonlib.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


def compile_jmespath(expression: str) -> str:
    """The expression as JMESPath reads it: as written when it parses, else with the plain
    numbers a person writes (`length(items) > 0`) put in the backticks JMESPath wants
    (`length(items) > `0``). Numbers in an index or slice (`items[0]`, `[1:3]`) stay as they are.

    Raises:
        ValueError: not JMESPath even so (the message is jmespath's, about the text as written).
    """
    import jmespath
    import jmespath.exceptions

    if not expression.strip():
        raise ValueError("it is empty")
    rewritten = _bare_literals(expression)
    try:
        jmespath.compile(rewritten)
        return rewritten
    except jmespath.exceptions.JMESPathError as first:
        numbers = _backtick_numbers(rewritten)
        if numbers != rewritten:
            try:
                jmespath.compile(numbers)
                return numbers
            except jmespath.exceptions.JMESPathError:
                pass
        raise ValueError(_parse_error(first)) from None


def _parse_error(exc: Exception) -> str:
    """jmespath's message without the expression and caret it draws under it."""
    message = getattr(exc, "msg", None)
    column = getattr(exc, "lex_position", None)
    if isinstance(message, str) and isinstance(column, int):
        return f"{message} at column {column + 1}"
    return str(exc).splitlines()[0]


_BARE = re.compile(r"(?P<before>(?:==|!=|<=|>=|<|>)\s*)(?P<word>true|false|null)\b(?!\s*[.(\[])"
                   r"|\b(?P<word2>true|false|null)(?P<after>\s*(?:==|!=|<=|>=|<|>))")


def _bare_literals(expression: str) -> str:
    """`ok == true` as JMESPath reads it would compare with a field named `true`: next to a
    comparison, bare true, false and null are the literals a person means. Quoted text is kept."""
    out: list[str] = []
    for piece, quoted in _split_quoted(expression):
        if quoted:
            out.append(piece)
        else:
            out.append(_BARE.sub(lambda m: (f"{m.group('before')}`{m.group('word')}`" if m.group("word")
                                            else f"`{m.group('word2')}`{m.group('after')}"), piece))
    return "".join(out)


def _split_quoted(expression: str) -> list[tuple[str, bool]]:
    """The expression in pieces: (text, whether it is a quoted string, identifier or literal)."""
    pieces: list[tuple[str, bool]] = []
    start = i = 0
    while i < len(expression):
        char = expression[i]
        if char in "'\"`":
            end = i + 1
            while end < len(expression) and expression[end] != char:
                end += 2 if expression[end] == "\\" else 1
            pieces += [(expression[start:i], False), (expression[i:end + 1], True)]
            start = i = end + 1
            continue
        i += 1
    pieces.append((expression[start:], False))
    return [piece for piece in pieces if piece[0]]


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _backtick_numbers(expression: str) -> str:
    out: list[str] = []
    brackets: list[str] = []  # "index" for [0] and [1:3], "filter" for [?...]
    i = 0
    while i < len(expression):
        char = expression[i]
        if char in "'\"`":  # a raw string, an identifier or a literal: copied whole
            end = i + 1
            while end < len(expression) and expression[end] != char:
                end += 2 if expression[end] == "\\" else 1
            out.append(expression[i:end + 1])
            i = end + 1
            continue
        if char == "[":
            brackets.append("filter" if expression[i + 1:].lstrip().startswith("?") else "index")
        elif char == "]" and brackets:
            brackets.pop()
        match = _NUMBER.match(expression, i)
        previous = expression[i - 1] if i else " "
        if (match and not (previous.isalnum() or previous in "_.")
                and (not brackets or brackets[-1] == "filter")
                and not expression[match.end():match.end() + 1].isalnum()):
            out.append(f"`{match.group()}`")
            i = match.end()
            continue
        out.append(char)
        i += 1
    return "".join(out)


# -- words ---------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    """A value in quotes, as written (a regex keeps its single backslashes), cut at 100."""
    text = printable(text, keep="\n\t")
    return f"'{text if len(text) <= 100 else text[:99] + '…'}'"


def _body_lines(exchange: Exchange, samples: int) -> list[str]:
    """The start of the body, as a failure shows it."""
    if samples <= 0 or not exchange.size:
        return []
    if b"\x00" in exchange.body[:1024]:
        return [f"body: {plural(exchange.size, 'byte')} of binary content"]
    text = exchange.text()
    cut = len(text) > BODY_SHOWN or exchange.cut
    # every cut is marked `…`: the redactor masks a secret's start left before one
    start = text[:BODY_SHOWN] + ("…" if cut else "")
    lines = [printable(line) for line in start.splitlines() if line.strip()][: max(samples, 3)]
    head = f"body ({plural(exchange.size, 'byte')}{', start shown' if cut else ''}):"
    return [head, *(f"  {line if len(line) <= 200 else line[:199] + '…'}" for line in lines)]


def _safe_url(url: str) -> str:
    """A URL without its user, password and query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _secret_auth(reader: EntryReader, username: str, password: str) -> None:
    """A basic-auth password is a secret, and so is the Authorization header it makes (should a
    server echo it back)."""
    reader.add_secret(password)
    reader.add_secret(base64.b64encode(f"{username}:{password}".encode("latin-1", "replace")).decode())


def _check_header(reader: EntryReader, name: str, value: str) -> None:
    """A header value HTTP can carry: no line break (a secret file's trailing newline), latin-1."""
    if any(ch in value for ch in "\r\n\x00"):
        raise reader.error(f"headers.{name}", "the value has a line break (a trailing newline from a secret file?): "
                                              "HTTP headers cannot carry one")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise reader.error(f"headers.{name}", "the value has characters HTTP headers cannot carry "
                                              "(only latin-1: percent-encode or base64 it)") from None


def _path_text(reader: EntryReader, key: str) -> str | None:
    path = reader.path(key)
    return str(path) if path is not None else None


def _interpolated(reader: EntryReader, key: str, value: Any) -> Any:
    if isinstance(value, date | dt_time):  # TOML dates and times travel as ISO 8601 text
        return value.isoformat()
    if isinstance(value, str):
        return reader.interpolate_text(key, value)
    if isinstance(value, dict):
        return {k: _interpolated(reader, f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolated(reader, key, v) for v in value]
    return value
