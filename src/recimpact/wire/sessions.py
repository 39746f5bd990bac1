"""Browser sessions for the dashboard on a server with a credentials file.

A browser cannot sign requests with SigV4, so ``/login`` takes an access key id and its secret once and answers
with a session cookie: HMAC-signed with a key drawn at server start (a restart signs everyone out), HttpOnly (no
script reads it), SameSite=Strict (no other site's page sends it), expiring after ``SESSION_SECONDS``. A request
without an Authorization header but with a valid cookie acts in the key's account. Requests that change state
(``POST /``) must also carry ``X-Recimpact-Csrf`` equal to the session's CSRF token, which the page reads from the
``recimpact_csrf`` cookie: a custom header no cross-origin page can set without a CORS grant this server never
gives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from recimpact.domain.arns import DEFAULT_REGION, Scope
from recimpact.domain.errors import AccessDeniedException
from recimpact.settings import Settings
from recimpact.wire.auth import AccessKey, Authenticator, HttpRequest, equal_secrets, load_credentials

SESSION_COOKIE = "recimpact_session"
CSRF_COOKIE = "recimpact_csrf"
CSRF_HEADER = "x-recimpact-csrf"
SESSION_SECONDS = 12 * 3600
MAX_LOGIN_BODY = 8 * 1024
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cookies(header: str) -> dict[str, str]:
    """``name=value`` pairs of a Cookie header; malformed pieces are skipped, never an error."""
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name not in found:
            found[name] = value.strip().strip('"')
    return found


class Sessions:
    """Issues and checks session cookies for the configured access keys."""

    def __init__(
        self,
        keys: Mapping[str, AccessKey],
        default_region: str,
        clock: Callable[[], float] = time.time,
        secret: bytes | None = None,
    ) -> None:
        self.keys = keys
        self.default_region = default_region
        self.clock = clock
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, purpose: str, text: str) -> str:
        return _b64(hmac.new(self._secret, f"{purpose}:{text}".encode(), hashlib.sha256).digest())

    def login(self, access_key_id: str, secret_access_key: str) -> AccessKey | None:
        key = self.keys.get(access_key_id)
        # Compare against a dummy when the key is unknown, so timing does not reveal which key ids exist.
        expected = key.secret_access_key if key is not None else "\0" * 40
        matches = equal_secrets(secret_access_key, expected)
        return key if key is not None and matches and key.session_token is None else None

    def issue(self, key: AccessKey, region: str) -> tuple[str, str]:
        """(session cookie value, CSRF token) for a signed-in key."""
        nonce = secrets.token_urlsafe(16)
        payload = {"k": key.access_key_id, "r": region, "e": int(self.clock()) + SESSION_SECONDS, "n": nonce}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac('session', body)}", self._mac("csrf", nonce)

    def session(self, value: str) -> dict[str, Any] | None:
        """The payload of a genuine, unexpired session cookie whose key is still configured; else None."""
        body, _, mac = value.partition(".")
        if not body or not equal_secrets(mac, self._mac("session", body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("e"), int)
            or payload["e"] < self.clock()
        ):
            return None
        return payload if payload.get("k") in self.keys else None

    def caller(self, request: HttpRequest) -> Scope | None:
        """The scope of a request signed in by cookie, None without a valid session. A state-changing request
        without the session's CSRF token, or from another origin, is refused."""
        jar = cookies(request.headers.get("cookie", ""))
        payload = self.session(jar.get(SESSION_COOKIE, ""))
        if payload is None:
            return None
        if not same_origin(request.headers):
            raise AccessDeniedException("Cross-origin requests may not use the dashboard session.")
        if request.method.upper() not in _SAFE_METHODS:
            token = request.headers.get(CSRF_HEADER, "")
            if not token or not equal_secrets(token, self._mac("csrf", str(payload.get("n")))):
                raise AccessDeniedException(
                    f"A dashboard request that changes state needs the {CSRF_HEADER} header."
                )
        return Scope(self.keys[payload["k"]].account_id, str(payload.get("r") or self.default_region))


def same_origin(headers: Mapping[str, str]) -> bool:
    """False when the browser says the request comes from another site or origin (Sec-Fetch-Site, Origin)."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urllib.parse.urlsplit(origin).netloc == headers.get("host", "")


# -- the login page -------------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign in · recimpact</title>
<style>
body{{font:15px/1.4 system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0;background:#f6f7f9}}
form{{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;display:grid;gap:.6rem;width:20rem}}
input{{font:inherit;padding:.4rem}} button{{font:inherit;padding:.5rem}} .error{{color:#b00020}}
</style></head><body>
<form method="post" action="/login">
<h1>recimpact</h1>
<p>Sign in with an access key from the server's credentials file.</p>
{error}
<label>Access key id <input name="access_key_id" autocomplete="username" required autofocus></label>
<label>Secret access key <input name="secret_access_key" type="password" autocomplete="current-password"
 required></label>
<label>Region <input name="region" value="{region}" pattern="[a-z0-9-]{{1,50}}"></label>
<input type="hidden" name="next" value="{next}">
<button>Sign in</button>
</form></body></html>
"""


def _next(value: str | None) -> str:
    """Where to go after signing in: a path on this server only (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _page(request: Request, status: int, error: str = "", next_path: str = "/") -> Response:
    sessions: Sessions | None = request.app.state.sessions
    region = sessions.default_region if sessions is not None else DEFAULT_REGION
    error_html = f'<p class="error">{html.escape(error)}</p>' if error else ""
    body = _PAGE.format(error=error_html, region=html.escape(region), next=html.escape(next_path, quote=True))
    return HTMLResponse(body, status, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


async def login_page(request: Request) -> Response:
    if request.app.state.sessions is None:  # no credentials file: nothing to sign in to
        return RedirectResponse(_next(request.query_params.get("next")), 303)
    return _page(request, 200, next_path=_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    sessions: Sessions | None = request.app.state.sessions
    if sessions is None:
        return RedirectResponse("/", 303)
    if not same_origin(request.headers):
        return _page(request, 403, "Sign in from this server's own page.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BODY:
            return _page(request, 413, "The form is too large.")
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    field = {name: values[0] for name, values in form.items() if values}
    next_path = _next(field.get("next"))
    key = sessions.login(field.get("access_key_id", ""), field.get("secret_access_key", ""))
    if key is None:
        return _page(request, 401, "Unknown access key id, or a wrong secret.", next_path)
    region = field.get("region") or sessions.default_region
    if not all(c.islower() or c.isdigit() or c == "-" for c in region) or len(region) > 50:
        return _page(request, 400, "The region has letters, digits and dashes only.", next_path)
    session, csrf = sessions.issue(key, region)
    response = RedirectResponse(next_path, 303)
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(
        SESSION_COOKIE, session, SESSION_SECONDS, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, SESSION_SECONDS, httponly=False, samesite="strict", secure=secure, path="/"
    )
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", 303)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict")
    return response


def routes() -> list[Route]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def authentication(settings: Settings) -> tuple[Authenticator, Sessions | None]:
    """The server's authenticator and, with a credentials file, its dashboard sessions. Raises
    CredentialsFileError for a file that cannot be used."""
    keys = load_credentials(settings.credentials) if settings.credentials is not None else None
    sessions = Sessions(keys, settings.region, secret=settings.session_secret) if keys is not None else None
    cookie_caller = sessions.caller if sessions is not None else None
    return Authenticator(keys, settings.account_id, settings.region, cookie_caller), sessions
