"""``recimpact serve --credentials``: a bad file is a clear CLI error; and the dashboard's session cookies:
genuine, unexpired, same-origin, with the CSRF token on state-changing requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.datastructures import Headers
from typer.testing import CliRunner

from recimpact.cli.main import app
from recimpact.domain.errors import AccessDeniedException
from recimpact.wire.auth import AccessKey, HttpRequest
from recimpact.wire.sessions import CSRF_HEADER, SESSION_COOKIE, SESSION_SECONDS, Sessions, cookies

runner = CliRunner()
KEYS = {"AKIDONE": AccessKey("AKIDONE", "one-secret", "111111111111")}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("key,secret\nA,s\n", "the header must be access_key_id,secret_access_key,account_id"),
        ("access_key_id,secret_access_key,account_id\nA,s,12\n", "line 2: account_id must be 12 digits"),
    ],
)
def test_a_bad_credentials_file_is_a_clear_cli_error(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "credentials.csv"
    path.write_text(text)
    result = runner.invoke(
        app, ["serve", "--port", "0", "--data-dir", str(tmp_path), "--credentials", str(path)]
    )
    assert result.exit_code == 2
    assert reason in result.output
    assert "Traceback" not in result.output


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def request(cookie: str, method: str = "GET", **headers: str) -> HttpRequest:
    raw = [(b"host", b"127.0.0.1:8787"), (b"cookie", cookie.encode())]
    raw += [(name.lower().replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return HttpRequest(method, b"/", b"", Headers(raw=raw), b"")


def test_login_needs_the_right_secret_of_a_configured_key() -> None:
    sessions = Sessions(KEYS, "us-east-1")
    assert sessions.login("AKIDONE", "one-secret") == KEYS["AKIDONE"]
    assert sessions.login("AKIDONE", "one-secreT") is None
    assert sessions.login("AKIDNONE", "one-secret") is None


def test_a_session_acts_in_its_keys_account_until_it_expires() -> None:
    clock = Clock()
    sessions = Sessions(KEYS, "us-east-1", clock=clock)
    value, _ = sessions.issue(KEYS["AKIDONE"], "eu-west-1")
    scope = sessions.caller(request(f"{SESSION_COOKIE}={value}"))
    assert scope is not None
    assert (scope.account, scope.region) == ("111111111111", "eu-west-1")
    clock.now += SESSION_SECONDS + 1
    assert sessions.caller(request(f"{SESSION_COOKIE}={value}")) is None


def test_a_session_from_another_server_key_or_a_changed_payload_is_none() -> None:
    value, _ = Sessions(KEYS, "us-east-1").issue(KEYS["AKIDONE"], "us-east-1")
    assert Sessions(KEYS, "us-east-1").caller(request(f"{SESSION_COOKIE}={value}")) is None
    assert Sessions(KEYS, "us-east-1").session("garbage.") is None
    assert Sessions(KEYS, "us-east-1").session("") is None


def test_state_changing_requests_need_the_sessions_csrf_token_and_same_origin() -> None:
    sessions = Sessions(KEYS, "us-east-1")
    value, csrf = sessions.issue(KEYS["AKIDONE"], "us-east-1")
    cookie = f"{SESSION_COOKIE}={value}"
    with pytest.raises(AccessDeniedException):
        sessions.caller(request(cookie, "POST"))
    with pytest.raises(AccessDeniedException):
        sessions.caller(request(cookie, "POST", **{CSRF_HEADER: csrf[:-1] + "x"}))
    other_value, other_csrf = sessions.issue(KEYS["AKIDONE"], "us-east-1")
    with pytest.raises(AccessDeniedException):  # another session's token
        sessions.caller(request(cookie, "POST", **{CSRF_HEADER: other_csrf}))
    assert sessions.caller(request(cookie, "POST", **{CSRF_HEADER: csrf})) is not None
    with pytest.raises(AccessDeniedException):
        sessions.caller(request(cookie, "GET", origin="http://evil.example"))
    with pytest.raises(AccessDeniedException):
        sessions.caller(request(cookie, "GET", sec_fetch_site="cross-site"))
    assert sessions.caller(request(cookie, "GET", origin="http://127.0.0.1:8787")) is not None
    assert other_value != value


def test_cookie_headers_parse_leniently() -> None:
    assert cookies('a=1; b="2"; junk; =; c=3=4') == {"a": "1", "b": "2", "": "", "c": "3=4"}
