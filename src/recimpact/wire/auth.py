"""Who is calling: SigV4 verification against configured access keys, and the caller's account and region.

Without a credentials file every caller acts in the server's default account (the server then binds to loopback
only), and the region comes from the SigV4 credential scope as AWS derives it. With one, every request must be
signed (Signature Version 4, service ``personalize`` for all three APIs) by one of its keys, and the key's account
is the tenant the request acts in. The checks and their errors follow AWS: a missing Authorization header is
``MissingAuthenticationToken``, a malformed one ``IncompleteSignature``, an unknown key or an unexpected session
token ``InvalidClientTokenId``, a date more than 15 minutes off ``RequestExpired``, a wrong scope, body hash or
signature ``InvalidSignatureException``.

Verification sits on the PutEvents hot path: the derived signing key is cached per (secret, date, region,
service), so a request costs two SHA-256 passes (body, canonical request) and one HMAC.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import email.utils
import functools
import hashlib
import hmac
import io
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers

from recimpact.domain.arns import Scope
from recimpact.domain.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    InvalidSignatureException,
    MissingAuthenticationToken,
    RequestExpired,
)

ALGORITHM = "AWS4-HMAC-SHA256"
SIGNING_SERVICE = "personalize"  # botocore signs personalize, personalize-events and personalize-runtime so
TERMINATOR = "aws4_request"
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# Where the caller's account is noted in the ASGI scope, for the access log.
ACCOUNT_KEY = "recimpact.account"

# ``re``, not ``regex``: ``regex`` lets go of the GIL while it matches, and this runs on every request of the event
# loop, which would then wait for a busy thread (an import job, the checkpointer) to give the GIL back.
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/[a-z0-9-]+/aws4_request")
_ACCESS_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_ACCOUNT_ID = re.compile(r"\d{12}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_REGION = re.compile(r"[a-z0-9-]{1,50}")

BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."


def caller_scope(headers: Mapping[str, str], default_account: str, default_region: str) -> Scope:
    """The scope of an unauthenticated server: the default account, the region of the credential scope."""
    match = _SCOPE.search(headers.get("authorization", ""))
    return Scope(account=default_account, region=match.group(1) if match else default_region)


# -- the credentials file -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    account_id: str
    # Temporary credentials: requests must then carry exactly this X-Amz-Security-Token.
    session_token: str | None = field(default=None, repr=False)


class CredentialsFileError(ValueError):
    """A credentials file that cannot be used, with the reason (and line) in the message."""


REQUIRED_COLUMNS = ("access_key_id", "secret_access_key", "account_id")


def load_credentials(path: Path) -> dict[str, AccessKey]:
    """Access keys by id, from a CSV with the header ``access_key_id,secret_access_key,account_id`` (and an
    optional ``session_token`` column). Any defect refuses the whole file: a server half-configured would lock
    out, or let in, the wrong callers."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsFileError(f"cannot read {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise CredentialsFileError(
            f"{path}: the header must be {','.join(REQUIRED_COLUMNS)} (missing {', '.join(missing)})"
        )
    reader.fieldnames = columns
    keys: dict[str, AccessKey] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            raise CredentialsFileError(f"{path}, line {line}: more fields than the header names")
        values = {name: (value or "").strip() for name, value in row.items() if name is not None}
        if not any(values.values()):
            continue
        key_id, secret, account = (values.get(name, "") for name in REQUIRED_COLUMNS)
        if not _ACCESS_KEY_ID.fullmatch(key_id):
            raise CredentialsFileError(
                f"{path}, line {line}: access_key_id must be 1-128 letters, digits, '_', '.' or '-'"
            )
        if not secret:
            raise CredentialsFileError(f"{path}, line {line}: secret_access_key is empty")
        if not _ACCOUNT_ID.fullmatch(account):
            raise CredentialsFileError(f"{path}, line {line}: account_id must be 12 digits, not {account!r}")
        if key_id in keys:
            raise CredentialsFileError(f"{path}, line {line}: access key {key_id} appears twice")
        keys[key_id] = AccessKey(key_id, secret, account, values.get("session_token") or None)
    if not keys:
        raise CredentialsFileError(f"{path}: no access keys")
    return keys


# -- SigV4 ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What a SigV4 signature covers, as it arrived: the path and query as sent, every header, the body."""

    method: str
    raw_path: bytes
    query_string: bytes
    headers: Headers
    body: bytes
    # The ASGI scope, where the caller's account is noted for the access log.
    scope: MutableMapping[str, Any] | None = None

    @classmethod
    def from_asgi(cls, scope: MutableMapping[str, Any], headers: Headers, body: bytes) -> HttpRequest:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        return cls(scope["method"], raw_path, scope.get("query_string", b""), headers, body, scope)


@functools.lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). It changes once a
    day per key and region, so it is derived once and cached."""
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, TERMINATOR):
        key = _hmac(key, part)
    return key


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def canonical_uri(raw_path: bytes) -> str:
    """The path as sent, dot segments removed and URI-encoded once more (every service but S3 encodes twice)."""
    path = raw_path.decode("latin-1") or "/"
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    normalized = "/" + "/".join(segments)
    if path.endswith("/") and segments:
        normalized += "/"
    return urllib.parse.quote(normalized, safe="/~")


def canonical_query(query_string: bytes) -> str:
    """Each name and value URI-encoded (RFC 3986 unreserved characters kept), sorted by name then value."""
    if not query_string:
        return ""
    pairs = []
    for part in query_string.decode("latin-1").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_encode(name), _encode(value)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _encode(component: str) -> str:
    return urllib.parse.quote(urllib.parse.unquote(component), safe="-_.~")


def canonical_request(request: HttpRequest, signed_headers: list[str], payload_hash: str) -> str:
    lines = [request.method.upper(), canonical_uri(request.raw_path), canonical_query(request.query_string)]
    for name in signed_headers:
        value = ",".join(" ".join(v.split()) for v in request.headers.getlist(name))
        lines.append(f"{name}:{value}")
    lines += ["", ";".join(signed_headers), payload_hash]
    return "\n".join(lines)


def string_to_sign(amz_date: str, credential_scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{credential_scope}\n{digest}"


def signature(secret: str, date: str, region: str, service: str, to_sign: str) -> str:
    key = signing_key(secret, date, region, service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: list[str]
    signature: str


def _parse_authorization(header: str, has_date: bool) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            params[name] = value
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    if not has_date:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if algorithm != ALGORITHM:
        problems.insert(0, f"Unsupported AWS 'algorithm': '{algorithm[:40]}'; expected '{ALGORITHM}'.")
    if problems:
        raise IncompleteSignature(" ".join(problems) + f" Authorization={header[:120]}")
    credential = params["Credential"].split("/")
    if len(credential) != 5 or not all(credential):
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{params['Credential'][:160]}'"
        )
    key_id, date, region, service, terminator = credential
    return _Authorization(
        key_id,
        date,
        region,
        service,
        terminator,
        params["SignedHeaders"].lower().split(";"),
        params["Signature"],
    )


def _request_time(headers: Headers) -> tuple[str, dt.datetime]:
    """(the timestamp as signed, as a datetime): X-Amz-Date in ISO 8601 basic format, else the HTTP Date."""
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        if _AMZ_DATE.fullmatch(amz_date):
            d = amz_date  # by slices: strptime would be a third of the verification's cost
            with contextlib.suppress(ValueError):
                year, month, day = int(d[0:4]), int(d[4:6]), int(d[6:8])
                when = dt.datetime(
                    year, month, day, int(d[9:11]), int(d[11:13]), int(d[13:15]), tzinfo=dt.UTC
                )
                return amz_date, when
        raise IncompleteSignature(
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date[:40]}'. See "
            "http://en.wikipedia.org/wiki/ISO_8601"
        )
    try:
        when = email.utils.parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError):
        raise IncompleteSignature("The Date header is not an HTTP date.") from None
    when = when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when.strftime(AMZ_DATE_FORMAT), when


class Authenticator:
    """Resolves a request to the Scope (account, region) it acts in, or raises the AWS error that refuses it.

    ``keys`` is None for a server without a credentials file (any caller, default account). ``cookie_caller``
    (the dashboard's sessions) is asked when a request carries no Authorization header."""

    def __init__(
        self,
        keys: Mapping[str, AccessKey] | None,
        default_account: str,
        default_region: str,
        cookie_caller: Callable[[HttpRequest], Scope | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.default_account = default_account
        self.default_region = default_region
        self.cookie_caller = cookie_caller
        self.clock = clock

    @property
    def required(self) -> bool:
        return self.keys is not None

    def caller(self, request: HttpRequest) -> Scope:
        if self.keys is None:
            scope = caller_scope(request.headers, self.default_account, self.default_region)
        else:
            authorization = request.headers.get("authorization")
            if authorization is not None:
                key, region = self.verify(request, authorization)
                scope = Scope(key.account_id, region)
            else:
                from_cookie = self.cookie_caller(request) if self.cookie_caller is not None else None
                if from_cookie is None:
                    raise MissingAuthenticationToken("Missing Authentication Token")
                scope = from_cookie
        if request.scope is not None:
            request.scope[ACCOUNT_KEY] = scope.account
        return scope

    def key(self, access_key_id: str) -> AccessKey | None:
        return self.keys.get(access_key_id) if self.keys is not None else None

    def verify(self, request: HttpRequest, authorization: str) -> tuple[AccessKey, str]:
        """The access key that signed ``request`` and the region it signed for."""
        headers = request.headers
        auth = _parse_authorization(authorization, "x-amz-date" in headers or "date" in headers)
        amz_date, when = _request_time(headers)
        key = self.key(auth.access_key_id)
        if key is None:
            raise InvalidClientTokenId(INVALID_TOKEN)
        if not _token_accepted(headers.get("x-amz-security-token"), key.session_token):
            raise InvalidClientTokenId(INVALID_TOKEN)
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        if when < now - MAX_CLOCK_SKEW:
            raise RequestExpired(
                f"Signature expired: {amz_date} is now earlier than {_basic(now - MAX_CLOCK_SKEW)} "
                f"({_basic(now)} - 15 min.)"
            )
        if when > now + MAX_CLOCK_SKEW:
            raise RequestExpired(
                f"Signature not yet current: {amz_date} is still later than {_basic(now + MAX_CLOCK_SKEW)} "
                f"({_basic(now)} + 15 min.)"
            )
        if auth.date != amz_date[:8]:
            raise InvalidSignatureException(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{auth.date[:16]}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        if auth.service != SIGNING_SERVICE:
            raise InvalidSignatureException(
                f"Credential should be scoped to correct service: '{SIGNING_SERVICE}'. "
            )
        if auth.terminator != TERMINATOR:
            raise InvalidSignatureException(
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{auth.terminator[:40]}'."
            )
        if not _REGION.fullmatch(auth.region):
            raise InvalidSignatureException(
                f"Credential should be scoped to a valid region, not '{auth.region[:50]}'. "
            )
        if "host" not in auth.signed_headers:
            raise InvalidSignatureException(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )
        payload_hash = hashlib.sha256(request.body).hexdigest()
        claimed = headers.get("x-amz-content-sha256")
        if claimed is not None and claimed != payload_hash:
            raise InvalidSignatureException(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        canonical = canonical_request(request, auth.signed_headers, payload_hash)
        credential_scope = f"{auth.date}/{auth.region}/{auth.service}/{TERMINATOR}"
        expected = signature(
            key.secret_access_key,
            auth.date,
            auth.region,
            auth.service,
            string_to_sign(amz_date, credential_scope, canonical),
        )
        if not equal_secrets(expected, auth.signature):
            raise InvalidSignatureException(BAD_SIGNATURE)
        return key, auth.region


def equal_secrets(a: str, b: str) -> bool:
    """Constant-time comparison; header values may hold any byte, which ``compare_digest`` on str refuses."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def _token_accepted(sent: str | None, configured: str | None) -> bool:
    """Long-term keys take no session token; temporary ones need exactly theirs."""
    if sent is None or configured is None:
        return sent is None and configured is None
    return equal_secrets(sent, configured)


def _basic(when: dt.datetime) -> str:
    return when.strftime(AMZ_DATE_FORMAT)
