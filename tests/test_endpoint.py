"""[[endpoint]]: real HTTP and HTTPS servers on loopback (certificates made here with trustme)."""

from __future__ import annotations

import json
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from pytest_deploygate.checks.endpoint import certificate_not_after, compile_jmespath

from .conftest import Gate
from .helpers import Reply, Site

UNVERIFIED_OK = "ignore::urllib3.exceptions.InsecureRequestWarning"
COMMUNITIES = {"communities": [{"id": 1, "name": "Cyclists"}, {"id": 2, "name": "Readers"}]}


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_site(ca: trustme.CA) -> Iterator[Callable[..., Site]]:
    """An HTTPS site whose certificate (for 127.0.0.1, signed by `ca`) ends at `not_after`."""
    made: list[Site] = []

    def make(not_after: datetime | None = None, client_ca: trustme.CA | None = None) -> Site:
        leaf = ca.issue_cert("127.0.0.1", not_after=not_after)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        if client_ca is not None:
            client_ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        made.append(Site(tls=context))
        return made[-1]

    yield make
    for server in made:
        server.close()


def endpoint_gate(gate: Gate, body: str, settings: str = "") -> None:
    gate.config(f"{settings}\n{body}")


def junit_properties(path: Path) -> dict[str, dict[str, str]]:
    tree = ET.parse(path)
    return {case.get("name", ""): {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
            for case in tree.iter("testcase")}


# -- the seeds' health curls ----------------------------------------------------------------------


def test_a_healthy_api_passes_with_its_figures_in_junit(gate: Gate, site: Site) -> None:
    site.routes["/api/health"] = Reply(200, {"status": "ok"})
    site.routes["/api/communities"] = Reply(200, COMMUNITIES)
    endpoint_gate(gate, f'''
        [[endpoint]]
        url = "{site.url}/api/health"
        json = ["status == 'ok'"]

        [[endpoint]]
        name = "communities-api"
        url = "{site.url}/api/communities"
        json = ["length(communities) > 0"]
        contains = ["communities"]
        content_type = "application/json"
        max_time = "5s"
    ''')
    result = gate.run("-v", "--junitxml=out.xml")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*endpoint[[]/api/health[]] PASSED*", "*endpoint[[]communities-api[]] PASSED*"])
    props = junit_properties(gate.path / "out.xml")["endpoint[communities-api]"]
    assert props["kind"] == "endpoint"
    assert props["target"] == "GET /api/communities"
    assert props["status"] == "200"
    assert props["bytes"] == str(len(json.dumps(COMMUNITIES)))
    assert 0 <= int(props["latency_ms"]) < 5000
    assert props["attempts"] == "1"


def test_communities_coming_back_empty_fails_with_the_expression_and_the_body(gate: Gate, site: Site) -> None:
    """The seeds' incident: /api/communities answered 200 with an empty list."""
    site.routes["/api/communities"] = Reply(200, {"communities": []})
    endpoint_gate(gate, f'''
        [[endpoint]]
        name = "communities-api"
        url = "{site.url}/api/communities"
        json = ["length(communities) > `0`"]
    ''')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "GET /api/communities: 200 in *ms, but json length(communities) > `0` is false",
        "  body (19 bytes):",
        '    {"communities": []}',
        "FAILED deploygate.toml::endpoint[[]communities-api[]] - GET /api/communities: 200 in *ms, but json*",
    ])


def test_a_wrong_status_is_the_verdict_with_the_body_after_it(gate: Gate, site: Site) -> None:
    site.routes["/api/communities"] = Reply(502, "<html><h1>502 Bad Gateway</h1>\n<p>nginx</p></html>")
    endpoint_gate(gate, f'[[endpoint]]\nurl = "{site.url}/api/communities"\njson = ["communities"]\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "GET /api/communities: 502 (expected 200) in *ms",
        "  body (50 bytes):",
        "    <html><h1>502 Bad Gateway</h1>",
        "    <p>nginx</p></html>",
    ])


@pytest.mark.parametrize(("status", "answer", "passes"), [
    ("204", 204, True), ('"2xx"', 201, True), ('"2xx"', 301, False), ("[200, 404]", 404, True),
    ('["2xx", "3xx"]', 500, False), ("503", 503, True),
])
def test_status_is_a_number_a_list_or_a_class(gate: Gate, site: Site, status: str, answer: int, passes: bool) -> None:
    site.routes["/s"] = Reply(answer, "x")
    endpoint_gate(gate, f'[[endpoint]]\nurl = "{site.url}/s"\nstatus = {status}\nfollow_redirects = false\n')
    result = gate.run()
    result.assert_outcomes(passed=1) if passes else result.assert_outcomes(failed=1)
    if not passes:
        expected = status.strip("[]").replace('"', "").replace(", ", " or ")
        result.stdout.fnmatch_lines([f"GET /s: {answer} (expected {expected}) in *ms"])


def test_every_body_and_header_assertion_says_what_it_found(gate: Gate, site: Site) -> None:
    site.routes["/page"] = Reply(200, "<h1>Welcome</h1>\nTraceback (most recent call last):\n",
                                 headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                                          "X-Version": "1.2.3"})
    endpoint_gate(gate, f'''
        [[endpoint]]
        url = "{site.url}/page"
        contains = ["Welcome", "Marketplace"]
        not_contains = ["Traceback"]
        body_pattern = '<title>.*</title>'
        content_type = "application/json"
        response_headers = {{ Cache-Control = "public, max-age=60", X-Version = {{ pattern = '^2\\.' }}, X-Missing = "1" }}
    ''')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "GET /page: 200 in *ms, but content type is 'text/html; charset=utf-8' (expected application/json) (and 6 more problems)",
        "  also: header Cache-Control is 'no-store' (expected 'public, max-age=60')",
        "  also: header X-Version '1.2.3' does not match '^2\\.'",
        "  also: header X-Missing is missing",
        "  also: the body does not contain 'Marketplace'",
        "  also: the body contains 'Traceback' (line 2)",
        "  also: the body does not match '<title>.*</title>'",
        "  body (*",
    ])


def test_the_same_assertions_pass_when_the_answer_is_right(gate: Gate, site: Site) -> None:
    site.routes["/page"] = Reply(200, "<title>Market</title> Welcome",
                                 headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "public, max-age=60",
                                          "X-Version": "2.0.1"})
    endpoint_gate(gate, f'''
        [[endpoint]]
        url = "{site.url}/page"
        contains = "Welcome"
        not_contains = ["Traceback"]
        body_pattern = '<title>.*</title>'
        content_type = "text/html"
        response_headers = {{ cache-control = "public, max-age=60", X-Version = {{ pattern = '^2\\.' }} }}
    ''')
    gate.run().assert_outcomes(passed=1)


def test_a_slow_answer_fails_max_time_and_says_how_slow(gate: Gate, site: Site) -> None:
    site.routes["/slow"] = Reply(200, "ok", delay=0.4)
    endpoint_gate(gate, f'[[endpoint]]\nurl = "{site.url}/slow"\nmax_time = "100ms"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["GET /slow: 200 in *ms, but it took longer than max_time 100ms"])
    ms = int(result.stdout.str().split("GET /slow: 200 in ")[1].split("ms")[0].replace(",", ""))
    assert 400 <= ms < 3000


# -- JSON ---------------------------------------------------------------------------------------------


def test_json_follows_jmespath_truth_and_names_what_it_found(gate: Gate, site: Site) -> None:
    site.routes["/j"] = Reply(200, {"count": 0, "items": [], "meta": {"total": 12}, "name": None, "ok": True})
    endpoint_gate(gate, f'''
        [[endpoint]]
        url = "{site.url}/j"
        json = ["count", "ok", "meta.total >= 10", "items", "name", "meta.version", "length(name) > 0"]
    ''')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "GET /j: 200 in *ms, but json items is [] (and 3 more problems)",
        "  also: json name is null",
        "  also: json meta.version is null",
        "  also: json length(name) > 0 could not be evaluated: In function length(), invalid type for value: None*",
    ])


def test_a_body_that_is_not_json_fails_the_json_assertions(gate: Gate, site: Site) -> None:
    site.routes["/j"] = Reply(200, "<html>maintenance</html>")
    endpoint_gate(gate, f'[[endpoint]]\nurl = "{site.url}/j"\njson = ["status"]\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["GET /j: 200 in *ms, but the body is not JSON (Expecting value: line 1 column 1 (char 0))"])


@pytest.mark.parametrize(("written", "read"), [
    ("length(communities) > `0`", "length(communities) > `0`"),
    ("length(communities) > 0", "length(communities) > `0`"),
    ("meta.total >= 10", "meta.total >= `10`"),
    ("price < -1.5", "price < `-1.5`"),
    ("items[0].id == 5", "items[0].id == `5`"),
    ("items[1:3] | length(@) == 2", "items[1:3] | length(@) == `2`"),
    ("items[?price > 10] | length(@) > 0", "items[?price > `10`] | length(@) > `0`"),
    ("status == 'v2 0'", "status == 'v2 0'"),
    ('"x1" == 2', '"x1" == `2`'),
    ("v2 == 3", "v2 == `3`"),
])
def test_plain_numbers_get_the_backticks_jmespath_wants(written: str, read: str) -> None:
    assert compile_jmespath(written) == read


def test_an_expression_that_is_not_jmespath_is_a_config_error(gate: Gate) -> None:
    gate.config('[[endpoint]]\nname = "api"\nurl = "http://127.0.0.1:9/x"\njson = ["ok", "length(items >"]\n')
    result = gate.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(['*deploygate.toml: [[][[]endpoint]] #1 "api": key "json[[]2[]]": *length(items >*is not a JMESPath expression*'])
    assert "Traceback" not in result.stdout.str()


# -- retries ----------------------------------------------------------------------------------------


def test_a_5xx_is_retried_and_the_attempts_are_told(gate: Gate, site: Site) -> None:
    site.routes["/flaky"] = [Reply(503, "starting"), Reply(502, "starting"), Reply(200, "ok")]
    endpoint_gate(gate, f'[[endpoint]]\nurl = "{site.url}/flaky"\nretries = 2\nretry_delay = "50ms"\n')
    result = gate.run("-v", "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    assert site.requests_to("/flaky") == 3
    assert junit_properties(gate.path / "out.xml")["endpoint[/flaky]"]["attempts"] == "3"


def test_retries_run_out_and_the_last_answer_is_the_verdict(gate: Gate, site: Site) -> None:
    site.routes["/down"] = Reply(503, "down")
    endpoint_gate(gate, f'[[endpoint]]\nurl = "{site.url}/down"\nretries = 2\nretry_delay = "10ms"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["GET /down: 503 (expected 200) in *ms (after 3 attempts)"])
    assert site.requests_to("/down") == 3


@pytest.mark.parametrize(("reply", "extra"), [
    (Reply(200, {"communities": []}), 'json = ["length(communities) > 0"]'),  # a 2xx that fails an assertion
    (Reply(404, "no"), ""),  # a client error: asking again will not help
    (Reply(503, "maintenance"), "status = 503"),  # the 5xx that was expected
])
def test_an_answer_that_is_not_an_outage_is_not_retried(gate: Gate, site: Site, reply: Reply, extra: str) -> None:
    site.routes["/x"] = reply
    endpoint_gate(gate, f'[[endpoint]]\nurl = "{site.url}/x"\nretries = 3\nretry_delay = "10ms"\n{extra}\n')
    gate.run()
    assert site.requests_to("/x") == 1


def test_a_refused_connection_is_retried_then_could_not_check(gate: Gate) -> None:
    endpoint_gate(gate, '[[endpoint]]\nurl = "http://127.0.0.1:9/api/health"\nretries = 1\nretry_delay = "10ms"\nseverity = "warn"\n')
    result = gate.run()
    result.assert_outcomes(failed=1)  # could not check: never softened by warn
    result.stdout.fnmatch_lines(["GET /api/health: connection failed: connection refused (after 2 attempts)"])


# -- redirects ----------------------------------------------------------------------------------------


def test_redirects_are_followed_and_redirect_to_checks_where_they_lead(gate: Gate, site: Site) -> None:
    site.routes["/old"] = Reply(301, "", headers={"Location": "/login?next=%2Fold"})
    site.routes["/login"] = Reply(200, "login")
    endpoint_gate(gate, f'''
        [[endpoint]]
        name = "lands"
        url = "{site.url}/old"
        redirect_to = "/login"

        [[endpoint]]
        name = "wrong-place"
        url = "{site.url}/old"
        redirect_to = "/dashboard"

        [[endpoint]]
        name = "no-redirect"
        url = "{site.url}/login"
        redirect_to = "/login"
    ''')
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "GET /old: 200 in *ms, but it redirected to /login (expected /dashboard)",
        "GET /login: 200 in *ms, but it did not redirect (expected to /login)",
    ])


def test_without_following_the_location_header_is_checked_and_3xx_is_expected(gate: Gate, site: Site) -> None:
    site.routes["/old"] = Reply(302, "", headers={"Location": f"{site.url}/new"})
    endpoint_gate(gate, f'''
        [[endpoint]]
        name = "moved"
        url = "{site.url}/old"
        follow_redirects = false
        redirect_to = "/new"

        [[endpoint]]
        name = "moved-elsewhere"
        url = "{site.url}/old"
        follow_redirects = false
        redirect_to = "https://example.org/new"

        [[endpoint]]
        name = "not-followed"
        url = "{site.url}/old"
        follow_redirects = false
    ''')
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "GET /old: 302 in *ms, but it redirected to /new (expected https://example.org/new)",
        "GET /old: 302 (expected 200) in *ms",
    ])
    assert site.requests_to("/new") == 0


# -- TLS --------------------------------------------------------------------------------------------


def test_a_server_signed_by_an_unknown_ca_is_refused_unless_its_bundle_is_given(
        gate: Gate, ca: trustme.CA, tls_site: Callable[..., Site]) -> None:
    server = tls_site()
    ca.cert_pem.write_to_path(str(gate.path / "ca.pem"))
    gate.config(f'''
        [[endpoint]]
        name = "system-cas"
        url = "{server.url}/"
        status = 404

        [[endpoint]]
        name = "bundle"
        url = "{server.url}/"
        status = 404
        verify = "ca.pem"

        [[endpoint]]
        name = "unverified"
        url = "{server.url}/"
        status = 404
        verify = false
    ''')
    result = gate.run("-W", UNVERIFIED_OK)  # the suite's filterwarnings = error reaches in-process runs
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["GET /: TLS failed: certificate verify failed: unable to get local issuer certificate"])


@pytest.mark.parametrize("verify", ['"ca.pem"', "false"])
def test_cert_min_days_counts_the_days_the_certificate_has_left(
        gate: Gate, ca: trustme.CA, tls_site: Callable[..., Site], verify: str) -> None:
    ends = datetime.now(UTC) + timedelta(days=3, hours=12)
    soon = tls_site(not_after=ends)
    later = tls_site(not_after=datetime.now(UTC) + timedelta(days=90))
    ca.cert_pem.write_to_path(str(gate.path / "ca.pem"))
    gate.config(f'''
        [[endpoint]]
        name = "soon"
        url = "{soon.url}/"
        status = 404
        verify = {verify}
        cert_min_days = 14

        [[endpoint]]
        name = "later"
        url = "{later.url}/"
        status = 404
        verify = {verify}
        cert_min_days = 14
    ''')
    result = gate.run("--junitxml=out.xml", "-W", UNVERIFIED_OK)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        f"GET /: 404 in *ms, but the certificate of 127.0.0.1 expires in 3 days ({ends:%Y-%m-%d}; cert_min_days 14)"])
    props = junit_properties(gate.path / "out.xml")
    assert props["endpoint[soon]"]["cert_days"] == "3"
    assert props["endpoint[later]"]["cert_days"] in ("89", "90")


def test_an_expired_certificate_is_said_to_be_expired(gate: Gate, tls_site: Callable[..., Site]) -> None:
    server = tls_site(not_after=datetime.now(UTC) - timedelta(days=2, hours=1))
    gate.config(f'[[endpoint]]\nurl = "{server.url}/"\nstatus = 404\nverify = false\ncert_min_days = 7\n')
    result = gate.run("--junitxml=out.xml", "-W", UNVERIFIED_OK)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["GET /: 404 in *ms, but the certificate of 127.0.0.1 expired 2 days ago (*)"])
    assert junit_properties(gate.path / "out.xml")["endpoint[endpoint1]"]["cert_days"] == "-2"  # as the message says


def test_a_client_certificate_is_presented_when_the_server_asks(
        gate: Gate, ca: trustme.CA, tls_site: Callable[..., Site]) -> None:
    client_ca = trustme.CA()
    server = tls_site(client_ca=client_ca)
    server.routes["/private"] = Reply(200, "hello")
    ca.cert_pem.write_to_path(str(gate.path / "ca.pem"))
    client = client_ca.issue_cert("deploy-gate@example.org")
    client.private_key_and_cert_chain_pem.write_to_path(str(gate.path / "client.pem"))
    client.cert_chain_pems[0].write_to_path(str(gate.path / "client-cert.pem"))
    client.private_key_pem.write_to_path(str(gate.path / "client-key.pem"))
    gate.config(f'''
        [[endpoint]]
        name = "one-file"
        url = "{server.url}/private"
        verify = "ca.pem"
        client_cert = "client.pem"

        [[endpoint]]
        name = "two-files"
        url = "{server.url}/private"
        verify = "ca.pem"
        client_cert = "client-cert.pem"
        client_key = "client-key.pem"

        [[endpoint]]
        name = "none"
        url = "{server.url}/private"
        verify = "ca.pem"
    ''')
    result = gate.run("-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*endpoint[[]none[]] FAILED*", "GET /private: *"])
    assert server.requests_to("/private") == 2


def test_certificate_not_after_reads_what_cryptography_reads(ca: trustme.CA) -> None:
    for not_after in (datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2051, 1, 2, 3, 4, 5, tzinfo=UTC),
                      datetime(2030, 6, 1, tzinfo=UTC)):
        pem = ca.issue_cert("example.org", not_after=not_after).cert_chain_pems[0].bytes()
        der = ssl.PEM_cert_to_DER_cert(pem.decode())
        assert certificate_not_after(der) == x509.load_der_x509_certificate(der).not_valid_after_utc == not_after


# -- secrets ----------------------------------------------------------------------------------------


def test_a_token_in_a_header_and_in_the_query_string_never_appears_anywhere(
        gate: Gate, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server echoes the request (headers, URL) back in a failing answer: still masked."""
    token = "tok_live_5d41402abc4b2a76b9719d911017c592"
    api_key = "ak_9f86d081884c7d659a2feaa0c55ad015"
    password = "pw-correct-horse-battery"
    endpoint_gate(gate, f'''
        [[endpoint]]
        name = "echo"
        url = "{site.url}/echo/me?api_key={api_key}&page=1"
        headers = {{ Authorization = "Bearer ${{API_TOKEN}}", X-Plain = "plain-header-secret-value" }}
        json = ["path == 'nope'"]

        [[endpoint]]
        name = "echo-params"
        url = "{site.url}/echo/params"
        params = {{ token = "{token}", page = 2 }}
        auth = {{ username = "gate", password = "{password}" }}
        status = 500
    ''')
    monkeypatch.setenv("API_TOKEN", token)
    result = gate.run("-v", "-rA", "--junitxml=out.xml", "--deploygate-report=report.json")
    result.assert_outcomes(failed=2)
    me, params = sorted(site.seen, key=lambda seen: seen.path)  # /echo/me, /echo/params: sent concurrently
    assert me.headers["Authorization"] == f"Bearer {token}"  # it was sent
    assert api_key in me.path
    assert token in params.path
    outputs = [result.stdout.str(), result.stderr.str(), (gate.path / "out.xml").read_text(),
               (gate.path / "report.json").read_text()]
    for text in outputs:
        for secret in (token, api_key, "plain-header-secret-value", password, params.headers["Authorization"][6:]):
            assert secret not in text
    assert "***" in result.stdout.str()  # the echo was shown, masked


# -- how it runs -------------------------------------------------------------------------------------


def test_consecutive_endpoints_are_fetched_concurrently_within_the_bound(gate: Gate, site: Site) -> None:
    for i in range(12):
        site.routes[f"/e{i}"] = Reply(200, "ok", delay=0.3)
    entries = "\n".join(f'[[endpoint]]\nurl = "{site.url}/e{i}"\n' for i in range(12))
    endpoint_gate(gate, entries, settings="[deploygate]\nhttp_concurrency = 4\n")
    started = time.monotonic()
    result = gate.run()
    took = time.monotonic() - started
    result.assert_outcomes(passed=12)
    assert site.max_in_flight == 4
    assert took < 12 * 0.3 * 0.6  # 3.6 s one after another; 0.9 s at 4 at a time


def test_only_the_selected_endpoints_are_requested(gate: Gate, site: Site) -> None:
    for i in range(6):
        site.routes[f"/e{i}"] = Reply(200, "ok")
    entries = "\n".join(f'[[endpoint]]\nname = "e{i}"\nurl = "{site.url}/e{i}"\n' for i in range(6))
    endpoint_gate(gate, entries)
    gate.run("-k", "e1 or e4").assert_outcomes(passed=2)
    assert sorted(seen.path for seen in site.seen) == ["/e1", "/e4"]
    gate.run("--collect-only")
    assert len(site.seen) == 2  # collection never touches the network


def test_under_xdist_each_endpoint_is_requested_once(gate: Gate, site: Site) -> None:
    for i in range(10):
        site.routes[f"/e{i}"] = Reply(200, "ok", delay=0.05)
    site.routes["/e7"] = Reply(500, "boom")
    entries = "\n".join(f'[[endpoint]]\nname = "e{i}"\nurl = "{site.url}/e{i}"\n' for i in range(10))
    endpoint_gate(gate, entries)
    result = gate.run_subprocess("-n", "2")
    result.assert_outcomes(passed=9, failed=1)
    result.stdout.fnmatch_lines(["*GET /e7: 500 (expected 200) in *ms*"])
    assert sorted(seen.path for seen in site.seen) == sorted(f"/e{i}" for i in range(10))


def test_a_server_that_never_answers_costs_its_timeout_and_no_more(gate: Gate, site: Site) -> None:
    site.routes["/hang"] = Reply(hang=True)
    site.routes["/drip"] = Reply(200, "x" * 100, drip=0.2)
    site.routes["/fine"] = Reply(200, "ok")
    endpoint_gate(gate, f'''
        [[endpoint]]
        url = "{site.url}/hang"
        timeout = "1s"

        [[endpoint]]
        url = "{site.url}/drip"
        timeout = "1s"

        [[endpoint]]
        url = "{site.url}/fine"
    ''')
    started = time.monotonic()
    result = gate.run()
    took = time.monotonic() - started
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["GET /hang: no answer within 1s", "GET /drip: no complete answer within 1s"])
    assert took < 6


def test_the_http_session_fixture_can_be_overridden(gate: Gate, site: Site) -> None:
    gate.pytester.makeconftest('''
        import pytest, requests

        @pytest.fixture(scope="session")
        def deploygate_http():
            with requests.Session() as session:
                session.headers["X-From-Conftest"] = "yes"
                yield session
    ''')
    site.routes["/x"] = Reply(200, "ok")
    endpoint_gate(gate, f'[[endpoint]]\nurl = "{site.url}/x"\n')
    gate.run().assert_outcomes(passed=1)
    assert site.seen[0].headers.get("X-From-Conftest") == "yes"


def test_cookies_one_endpoint_sets_are_not_sent_to_the_next(gate: Gate, site: Site) -> None:
    site.routes["/login"] = Reply(200, "ok", headers={"Set-Cookie": "session=abc123; Path=/"})
    site.routes["/after"] = Reply(200, "ok")
    endpoint_gate(gate, f'[[endpoint]]\nurl = "{site.url}/login"\n[[endpoint]]\nurl = "{site.url}/after"\n',
                  settings="[deploygate]\nhttp_concurrency = 1\n")
    gate.run().assert_outcomes(passed=2)
    assert "Cookie" not in site.seen[1].headers


def test_a_post_sends_its_body_as_json_or_text(gate: Gate, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_USER", "alice")
    endpoint_gate(gate, f'''
        [[endpoint]]
        url = "{site.url}/echo/json"
        method = "POST"
        body = {{ user = "${{DEMO_USER}}", tags = ["a", "b"], n = 1 }}
        json = ["body == '{{\\"user\\": \\"alice\\", \\"tags\\": [\\"a\\", \\"b\\"], \\"n\\": 1}}'"]

        [[endpoint]]
        url = "{site.url}/echo/text"
        method = "put"
        body = "plain text"
        headers = {{ Content-Type = "text/plain" }}
    ''')
    gate.run().assert_outcomes(passed=2)
    as_json, as_text = sorted(site.seen, key=lambda seen: seen.path)  # sent concurrently
    assert as_json.headers["Content-Type"] == "application/json"
    assert json.loads(as_json.body) == {"user": "alice", "tags": ["a", "b"], "n": 1}
    assert as_text.method == "PUT"
    assert as_text.body == b"plain text"


# -- config --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "message"), [
    ('url = "ftp://example.org/x"', 'url: "ftp://example.org/x" is not an http:// or https:// URL with a host'),
    ('url = "http://127.0.0.1:9/x"\ncert_min_days = 7', "cert_min_days: needs an https:// url*"),
    ('url = "http://127.0.0.1:9/x"\nstatus = 700', 'status: 700 is not a status (100 to 599, or a class such as "2xx")'),
    ('url = "http://127.0.0.1:9/x"\nstatus = "ok"', 'status: "ok" is not a status*'),
    ('url = "http://127.0.0.1:9/x"\nmethod = "FETCH"', 'method: "FETCH" is not one of GET, HEAD, POST*'),
    ('url = "http://127.0.0.1:9/x"\nbody = "x"', 'body: a GET request sends no body (use method = "POST")'),
    ('url = "http://127.0.0.1:9/x"\nmax_time = "fast"', 'max_time: "fast" is not a duration*'),
    ('url = "http://127.0.0.1:9/x"\nbody_pattern = "(unclosed"', "body_pattern: *"),
    ('url = "http://127.0.0.1:9/x"\nresponse_headers = { X-A = 1 }', 'response_headers.X-A: expected the exact value*'),
    ('url = "http://127.0.0.1:9/x"\ncontains = [""]', "contains: holds an empty string*"),
    ('url = "http://127.0.0.1:9/x"\nverfy = false', 'verfy: unknown key (did you mean "verify"?)'),
    ('url = "http://127.0.0.1:9/x"\nclient_key = "k.pem"', "client_key: goes with client_cert*"),
    ('url = "http://127.0.0.1:9/x"\nauth = { username = "u" }', "auth.password: is required"),
    ('url = "${NO_SUCH_API_URL}/x"', "url: environment variable NO_SUCH_API_URL is not set*"),
])
def test_bad_endpoint_config_is_one_clear_message(gate: Gate, entry: str, message: str) -> None:
    gate.config(f'[[endpoint]]\nname = "api"\n{entry}\n')
    result = gate.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f'*deploygate.toml: [[][[]endpoint]] #1 "api": key "{message.split(": ", 1)[0]}": {message.split(": ", 1)[1]}'])
    assert "Traceback" not in result.stdout.str()


def test_default_ids_are_the_path_with_the_method_when_not_get(gate: Gate) -> None:
    gate.config('''
        [[endpoint]]
        url = "http://127.0.0.1:9/api/health?token=abcdefgh12345"
        [[endpoint]]
        url = "http://127.0.0.1:9/api/login"
        method = "POST"
        [[endpoint]]
        url = "http://127.0.0.1:9"
    ''')
    result = gate.run("--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "deploygate.toml::endpoint[[]/api/health[]]",
        "deploygate.toml::endpoint[[]POST/api/login[]]",
        "deploygate.toml::endpoint[[]endpoint3[]]",
    ])
    assert "abcdefgh12345" not in result.stdout.str()


# -- found by trying to break it ------------------------------------------------------------------


def test_a_password_in_the_url_is_masked_also_as_the_basic_credentials_it_makes(
        gate: Gate, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URL_PASSWORD", "USERINFOSECRET33")
    gate.config(f'[[endpoint]]\nurl = "http://user:${{URL_PASSWORD}}@127.0.0.1:{site.port}/echo/x"\nstatus = 500\n')
    result = gate.run("--junitxml=out.xml")
    result.assert_outcomes(failed=1)
    sent = site.seen[0].headers["Authorization"]
    assert sent.startswith("Basic ")
    for text in (result.stdout.str(), (gate.path / "out.xml").read_text()):
        assert sent[6:] not in text
        assert "USERINFOSECRET33" not in text


def test_a_secret_in_the_url_path_is_masked_in_the_target_of_junit_and_the_report(
        gate: Gate, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "PATHSECRETTOKEN9")
    site.routes["/hooks/PATHSECRETTOKEN9"] = Reply(200, "ok")
    gate.config(f'[[endpoint]]\nurl = "{site.url}/hooks/${{HOOK_TOKEN}}"\n')
    result = gate.run("-v", "--junitxml=out.xml", "--deploygate-report=r.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*endpoint[[]/hooks/[*][*][*][]] PASSED*"])
    for text in (result.stdout.str(), (gate.path / "out.xml").read_text(), (gate.path / "r.json").read_text()):
        assert "PATHSECRETTOKEN9" not in text
    assert junit_properties(gate.path / "out.xml")["endpoint[/hooks/***]"]["target"] == "GET /hooks/***"


def test_a_body_cut_inside_a_secret_does_not_show_its_start(
        gate: Gate, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONG_TOKEN", "PREFIXOFTHESECRET" + "z" * 40)
    # the echoed path puts the token right across the 200-character cut of a body line
    gate.config(f'[[endpoint]]\nurl = "{site.url}/echo/x"\nparams = {{ a = "{"p" * 150}", token = "${{LONG_TOKEN}}" }}\n'
                'json = ["path == \'nope\'"]\n')
    result = gate.run()
    result.assert_outcomes(failed=1)
    assert "PREFI" not in result.stdout.str()
    assert "***…" in result.stdout.str()


def test_a_header_value_with_a_line_break_is_a_config_error_that_does_not_show_it(
        gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADER_TOKEN", "NEWLINETOKEN123\n")
    gate.config('[[endpoint]]\nname = "api"\nurl = "http://127.0.0.1:9/x"\nheaders = { Authorization = "Bearer ${HEADER_TOKEN}" }\n')
    result = gate.run()
    result.stdout.fnmatch_lines(['*"api": key "headers.Authorization": the value has a line break*'])
    assert "NEWLINETOKEN" not in result.stdout.str()


def test_where_a_redirect_leads_is_shown_without_secrets(gate: Gate, site: Site) -> None:
    site.routes["/go"] = Reply(302, "", headers={"Location": "/landing?token=LEAKEDLOCATIONTOKEN123&x=1"})
    site.routes["/landing"] = Reply(200, "ok")
    site.routes["/ftp"] = Reply(302, "", headers={"Location": "ftp://user:FTPPASS1@127.0.0.1/x?token=FTPTOK2"})
    site.routes["/esc"] = Reply(302, "", headers={"Location": "/a\x1b[31mRED"})
    gate.config(f'''
        [[endpoint]]
        name = "query"
        url = "{site.url}/go"
        redirect_to = "/landing?x=2"

        [[endpoint]]
        name = "not-followed"
        url = "{site.url}/go"
        follow_redirects = false
        redirect_to = "/elsewhere?x=2"

        [[endpoint]]
        name = "ftp"
        url = "{site.url}/ftp"

        [[endpoint]]
        name = "escape"
        url = "{site.url}/esc"
        follow_redirects = false
        redirect_to = "/b"
    ''')
    result = gate.run()
    result.assert_outcomes(failed=4)
    out = result.stdout.str()
    for secret in ("LEAKEDLOCATIONTOKEN123", "FTPPASS1", "FTPTOK2", "\x1b"):
        assert secret not in out
    result.stdout.fnmatch_lines([
        "GET /go: 200 in *ms, but it redirected to /landing?token=***&x=1 (expected /landing?x=2)",
        "GET /go: 302 in *ms, but it redirected to /landing?token=***&x=1 (expected /elsewhere?x=2)",
        "GET /ftp: request failed: *",
        "GET /esc: 302 in *ms, but it redirected to /a\\x1b[[]31mRED (expected /b)",
    ], consecutive=False)


def test_a_failure_after_a_redirect_says_where(gate: Gate, site: Site) -> None:
    site.routes["/moved"] = Reply(301, "", headers={"Location": "http://127.0.0.1:9/gone"})
    gate.config(f'[[endpoint]]\nurl = "{site.url}/moved"\n')
    result = gate.run()
    result.stdout.fnmatch_lines(["GET /moved: connection failed: connection refused (at the redirect to http://127.0.0.1:9/gone)"])


def test_skipped_entries_are_never_requested(gate: Gate, site: Site) -> None:
    for name in ("a", "b", "c"):
        site.routes[f"/{name}"] = Reply(200, "ok")
    gate.config(f'''
        [[endpoint]]
        url = "{site.url}/a"
        [[endpoint]]
        url = "{site.url}/b"
        method = "DELETE"
        skip = "the API is being migrated"
        [[endpoint]]
        url = "{site.url}/c"
    ''')
    gate.run().assert_outcomes(passed=2, skipped=1)
    assert sorted(seen.path for seen in site.seen) == ["/a", "/c"]


def test_under_worksteal_nothing_is_fetched_twice(gate: Gate, site: Site) -> None:
    """A worker that looked ahead through its queue would send requests a thief then sends again."""
    for i in range(16):
        site.routes[f"/w{i}"] = Reply(200, "ok", delay=0.4 if i < 8 else 0.01)
    gate.config("\n".join(f'[[endpoint]]\nname = "w{i}"\nurl = "{site.url}/w{i}"\nmethod = "POST"\n'
                          for i in range(16)))
    gate.run_subprocess("-n", "2", "--dist", "worksteal").assert_outcomes(passed=16)
    assert sorted(seen.path for seen in site.seen) == sorted(f"/w{i}" for i in range(16))


def test_verify_false_under_warnings_as_errors_says_how_to_allow_it(gate: Gate, tls_site: Callable[..., Site]) -> None:
    server = tls_site()
    gate.config("\n".join(f'[[endpoint]]\nname = "e{i}"\nurl = "{server.url}/"\nstatus = 404\nverify = false\n'
                          for i in range(4)))
    result = gate.run("-W", "error")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["GET /: a warning was raised as an error: InsecureRequestWarning "
                                 "(with verify = false, allow it: -W ignore::urllib3.exceptions.InsecureRequestWarning)"])
    assert "Traceback" not in result.stdout.str()
    gate.run("-W", "error", "-W", UNVERIFIED_OK).assert_outcomes(passed=4)
    # with pytest's default filters, the checks pass and pytest reports urllib3's warning
    result = gate.run_subprocess()
    result.assert_outcomes(passed=4, warnings=4)
    result.stdout.fnmatch_lines(["*InsecureRequestWarning: Unverified HTTPS request*"])


def test_bodies_jmespath_cannot_compare_or_json_cannot_read_fail_with_a_reason(gate: Gate, site: Site) -> None:
    site.routes["/mixed"] = Reply(200, {"items": [1, 2]})
    site.routes["/deep"] = Reply(200, "[" * 20000, headers={"Content-Type": "application/json"})
    site.routes["/bom"] = Reply(200, '\ufeff{"ok": true}')
    gate.config(f'''
        [[endpoint]]
        url = "{site.url}/mixed"
        json = ["items[0] > 'x'"]

        [[endpoint]]
        url = "{site.url}/deep"
        json = "a"

        [[endpoint]]
        url = "{site.url}/bom"
        json = "ok == true"
    ''')
    result = gate.run()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "GET /mixed: 200 in *ms, but json items[[]0] > 'x' could not be evaluated: TypeError: *",
        "GET /deep: 200 in *ms, but the body is not JSON the gate can read (nested too deep)",
    ], consecutive=False)
    assert "Traceback" not in result.stdout.str()


def test_each_attempt_is_bounded_even_when_the_headers_trickle(gate: Gate) -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    def trickle(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for i in range(100):
                if stop.wait(0.2):
                    return
                conn.sendall(f"X-Slow-{i}: y\r\n".encode())
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        gate.config(f'[[endpoint]]\nurl = "http://127.0.0.1:{listener.getsockname()[1]}/slow"\ntimeout = "600ms"\n'
                    'retries = 1\nretry_delay = "10ms"\n')
        started = time.monotonic()
        result = gate.run()
        took = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
        for conn in accepted:
            conn.close()
    result.stdout.fnmatch_lines(["GET /slow: no complete answer within 600ms (after 2 attempts)"])
    assert len(accepted) == 2
    assert took < 4


def test_a_body_too_large_to_check_is_could_not_check(gate: Gate, site: Site) -> None:
    site.routes["/big"] = Reply(200, b"x" * (17 * 1024 * 1024))
    gate.config(f'[[endpoint]]\nurl = "{site.url}/big"\ncontains = "y"\nseverity = "warn"\n'
                f'[[endpoint]]\nname = "no-body-check"\nurl = "{site.url}/big"\n')
    result = gate.run()
    result.assert_outcomes(passed=1, failed=1)  # could not check: never softened by warn
    result.stdout.fnmatch_lines(["GET /big: 200 in *ms, but the body is larger than 16 MiB: too large to check json, contains or body_pattern"])


def test_netrc_credentials_are_never_sent(gate: Gate, site: Site, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrcuser password NETRCPASSWORD1\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    site.routes["/x"] = Reply(200, "ok")
    gate.config(f'[[endpoint]]\nurl = "{site.url}/x"\n')
    gate.run().assert_outcomes(passed=1)
    assert "Authorization" not in site.seen[0].headers


@pytest.mark.parametrize(("entry", "message"), [
    ('url = "http://[::1/ok"', "url: is not a URL: Invalid IPv6 URL"),
    ('url = "http://127.0.0.1:99999/x"', "url: is not a URL: Port out of range*"),
    ('url = "http://127.0.0.1:9/x"\nredirect_to = ""', 'redirect_to: is empty*'),
    ('url = "http://127.0.0.1:9/x"\nmax_time = "0s"', "max_time: must be more than 0"),
    ('url = "http://127.0.0.1:9/x"\nstatus = "3xx"', "status: 3xx: a redirect is never the answer when redirects are followed*"),
    ('url = "http://127.0.0.1:9/x"\nretry_delay = "1h"', "retry_delay: is longer than 10m*"),
    ('url = "http://u:p4ss@127.0.0.1:9/x"\nauth = { username = "a", password = "b" }', "auth: the url carries a user and password already*"),
    ('url = "http://127.0.0.1:9/x"\nauth = { username = "a", password = "bbbb" }\nheaders = { Authorization = "Bearer x" }',
     "headers: has an Authorization header, and basic auth would replace it*"),
    ('url = "http://127.0.0.1:9/x"\nheaders = { X-Name = "Łukasz" }', "headers.X-Name: the value has characters HTTP headers cannot carry*"),
])
def test_more_bad_endpoint_config(gate: Gate, entry: str, message: str) -> None:
    gate.config(f'[[endpoint]]\nname = "api"\n{entry}\n')
    result = gate.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    key, text = message.split(": ", 1)
    result.stdout.fnmatch_lines([f'*deploygate.toml: [[][[]endpoint]] #1 "api": key "{key}": {text}'])
