"""The SigV4 verifier against botocore's own signer: what botocore signs passes, any change to what was signed (or
the wrong secret, key, scope, date or token) is refused with the error AWS gives. Also the credentials file."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from recimpact.domain.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    InvalidSignatureException,
    MissingAuthenticationToken,
    RequestExpired,
    ServiceError,
)
from recimpact.wire.auth import (
    AccessKey,
    Authenticator,
    CredentialsFileError,
    HttpRequest,
    load_credentials,
    signing_key,
)
from tests.hypothesis_profiles import examples

NOW = dt.datetime(2026, 3, 14, 15, 9, 26, tzinfo=dt.UTC)
KEYS = {
    "AKIDALPHA": AccessKey("AKIDALPHA", "alpha/secret+Key", "111111111111"),
    "AKIDTEMP": AccessKey("AKIDTEMP", "temp-secret", "222222222222", session_token="the-session-token"),
}


def authenticator(now: dt.datetime = NOW) -> Authenticator:
    return Authenticator(KEYS, "000000000000", "us-east-1", clock=now.timestamp)


@pytest.fixture(autouse=True)
def frozen_signer_clock() -> Iterator[None]:
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        yield


def signed(
    url: str = "http://127.0.0.1:8787/",
    body: bytes = b'{"maxResults": 10}',
    headers: dict[str, str] | None = None,
    key: str = "AKIDALPHA",
    secret: str = "alpha/secret+Key",
    token: str | None = None,
    region: str = "eu-west-1",
    service: str = "personalize",
    method: str = "POST",
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    return request


def as_received(request: AWSRequest, **changes: Any) -> HttpRequest:
    """The request as the server sees it: the path and query as sent, headers (with the Host the HTTP client
    adds), the body."""
    parts = urllib.parse.urlsplit(request.url)
    raw = [(b"host", parts.netloc.encode())]
    raw += [(name.lower().encode(), str(value).encode()) for name, value in request.headers.items()]
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    fields: dict[str, Any] = {
        "method": request.method,
        "raw_path": parts.path.encode() or b"/",
        "query_string": parts.query.encode(),
        "headers": Headers(raw=raw),
        "body": body,
    }
    fields.update(changes)
    return HttpRequest(**fields)


def replace_header(request: AWSRequest, name: str, value: str) -> None:
    del request.headers[name]  # botocore's headers are a multi-map: assignment alone would add a second value
    request.headers[name] = value


def refused(request: HttpRequest, auth: Authenticator | None = None) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        (auth or authenticator()).caller(request)
    return info.value


def test_botocore_signed_request_passes_and_names_the_keys_account_and_the_signed_region() -> None:
    scope = authenticator().caller(as_received(signed()))
    assert (scope.account, scope.region) == ("111111111111", "eu-west-1")


def test_wrong_secret_is_an_invalid_signature() -> None:
    error = refused(as_received(signed(secret="not-the-secret")))
    assert isinstance(error, InvalidSignatureException)
    assert error.message.startswith("The request signature we calculated does not match")


def test_tampered_body_is_an_invalid_signature() -> None:
    error = refused(as_received(signed(), body=b'{"maxResults": 11}'))
    assert isinstance(error, InvalidSignatureException)


def test_body_hash_header_must_match_the_body() -> None:
    request = signed(headers={"X-Amz-Content-SHA256": "0" * 64})
    assert isinstance(refused(as_received(request)), InvalidSignatureException)


def test_unknown_access_key_is_an_invalid_client_token_id() -> None:
    error = refused(as_received(signed(key="AKIDNOBODY")))
    assert isinstance(error, InvalidClientTokenId)
    assert error.status == 403


def test_no_authorization_header_is_a_missing_authentication_token() -> None:
    error = refused(as_received(AWSRequest(method="POST", url="http://127.0.0.1:8787/", data=b"{}")))
    assert isinstance(error, MissingAuthenticationToken)
    assert (error.status, error.message) == (403, "Missing Authentication Token")


@pytest.mark.parametrize("skew", [dt.timedelta(minutes=16), dt.timedelta(minutes=-16), dt.timedelta(days=2)])
def test_a_date_more_than_15_minutes_off_is_request_expired(skew: dt.timedelta) -> None:
    error = refused(as_received(signed()), authenticator(NOW + skew))
    assert isinstance(error, RequestExpired)
    assert error.message.startswith(
        "Signature expired" if skew > dt.timedelta(0) else "Signature not yet current"
    )


@pytest.mark.parametrize("skew", [dt.timedelta(minutes=14), dt.timedelta(minutes=-14)])
def test_a_date_within_15_minutes_passes(skew: dt.timedelta) -> None:
    assert authenticator(NOW + skew).caller(as_received(signed())).account == "111111111111"


def test_the_credential_scope_must_name_personalize() -> None:
    error = refused(as_received(signed(service="s3")))
    assert isinstance(error, InvalidSignatureException)
    assert "personalize" in error.message


def test_the_scope_date_must_be_the_request_date() -> None:
    request = signed()
    replace_header(
        request, "Authorization", request.headers["Authorization"].replace("/20260314/", "/20260313/")
    )
    assert isinstance(refused(as_received(request)), InvalidSignatureException)


@pytest.mark.parametrize(
    "authorization",
    [
        "garbage",
        "AWS4-HMAC-SHA256 Credential=AKIDALPHA/20260314/us-east-1/personalize/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKIDALPHA/20260314, SignedHeaders=host, Signature=00",
        "AWS AKIDALPHA:c2lnbmF0dXJl",
    ],
)
def test_malformed_authorization_is_an_incomplete_signature(authorization: str) -> None:
    request = signed()
    replace_header(request, "Authorization", authorization)
    error = refused(as_received(request))
    assert isinstance(error, IncompleteSignature)
    assert error.status == 400


def test_malformed_date_is_an_incomplete_signature() -> None:
    request = signed()
    replace_header(request, "X-Amz-Date", "yesterday")
    assert isinstance(refused(as_received(request)), IncompleteSignature)


def test_session_token_refused_unless_configured_for_the_key() -> None:
    assert isinstance(refused(as_received(signed(token="made-up"))), InvalidClientTokenId)
    temp = {"key": "AKIDTEMP", "secret": "temp-secret"}
    assert (
        authenticator().caller(as_received(signed(token="the-session-token", **temp))).account
        == "222222222222"
    )
    assert isinstance(refused(as_received(signed(token="other-token", **temp))), InvalidClientTokenId)
    assert isinstance(refused(as_received(signed(**temp))), InvalidClientTokenId)


def test_a_signed_header_changed_in_transit_is_refused() -> None:
    request = signed(headers={"X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"})
    received = as_received(request)
    raw = [
        (name, b"AmazonPersonalize.DeleteDatasetGroup" if name == b"x-amz-target" else value)
        for name, value in received.headers.raw
    ]
    assert isinstance(refused(as_received(request, headers=Headers(raw=raw))), InvalidSignatureException)


def test_without_a_credentials_file_every_caller_is_the_default_account() -> None:
    open_server = Authenticator(None, "000000000000", "us-east-1")
    scope = open_server.caller(as_received(signed(secret="anything", key="anyone")))
    assert (scope.account, scope.region) == ("000000000000", "eu-west-1")
    unsigned = as_received(AWSRequest(method="POST", url="http://127.0.0.1:8787/", data=b"{}"))
    assert open_server.caller(unsigned).region == "us-east-1"


def test_the_signing_key_is_derived_once_per_day_region_and_service() -> None:
    signing_key.cache_clear()
    for _ in range(5):
        authenticator().caller(as_received(signed()))
    info = signing_key.cache_info()
    assert (info.misses, info.hits) == (1, 4)


# Query strings and paths as botocore encodes them (the read API's GETs): spaces, reserved characters, unicode,
# repeated names.
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(
    max_examples=examples(1.5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.lists(st.text("abcXYZ019-_.~ :@!$'()*+,;=%é", min_size=1, max_size=8), max_size=3),
    query=st.lists(st.tuples(_text, _text), max_size=4),
    body=st.binary(max_size=64),
    header=st.text("ab c\t,;=xyz", max_size=20),
)
def test_any_request_botocore_signs_verifies_and_any_tampering_is_refused(
    path: list[str], query: list[tuple[str, str]], body: bytes, header: str
) -> None:
    encoded_path = "/" + "/".join(urllib.parse.quote(segment, safe="") for segment in path)
    encoded_query = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    url = f"http://127.0.0.1:8787{encoded_path}" + (f"?{encoded_query}" if encoded_query else "")
    request = signed(
        url=url, body=body, headers={"X-Custom": header or "-"}, method="GET" if not body else "POST"
    )
    received = as_received(request)
    assert authenticator().caller(received).account == "111111111111"
    assert isinstance(refused(as_received(request, body=body + b" ")), InvalidSignatureException)
    assert isinstance(
        refused(as_received(request, raw_path=received.raw_path + b"x")), InvalidSignatureException
    )
    tampered_query = received.query_string + (b"&" if received.query_string else b"") + b"extra=1"
    assert isinstance(refused(as_received(request, query_string=tampered_query)), InvalidSignatureException)


# -- the credentials file -------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "credentials.csv"
    path.write_text(text)
    return path


def test_credentials_file_loads_keys_with_their_accounts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "access_key_id,secret_access_key,account_id\nAKIDONE,s1,111111111111\n\n AKIDTWO , s2 ,222222222222\n",
    )
    keys = load_credentials(path)
    assert {k: (v.secret_access_key, v.account_id) for k, v in keys.items()} == {
        "AKIDONE": ("s1", "111111111111"),
        "AKIDTWO": ("s2", "222222222222"),
    }
    assert "s1" not in repr(keys["AKIDONE"])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("key,secret,account\nA,s,111111111111\n", "the header must be"),
        ("access_key_id,secret_access_key,account_id\n", "no access keys"),
        ("access_key_id,secret_access_key,account_id\nA,s,1234\n", "account_id must be 12 digits"),
        ("access_key_id,secret_access_key,account_id\nA,,111111111111\n", "secret_access_key is empty"),
        ("access_key_id,secret_access_key,account_id\nA/B,s,111111111111\n", "access_key_id must be"),
        ("access_key_id,secret_access_key,account_id\nA,s,111111111111\nA,t,222222222222\n", "appears twice"),
        ("access_key_id,secret_access_key,account_id\nA,s,111111111111,extra\n", "more fields"),
    ],
)
def test_a_bad_credentials_file_is_refused_with_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(CredentialsFileError, match=reason):
        load_credentials(write(tmp_path, text))


@settings(
    max_examples=examples(3),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    authorization=st.one_of(
        st.text(max_size=300),
        st.lists(
            st.sampled_from(
                [
                    "AWS4-HMAC-SHA256 ",
                    "Credential=",
                    "/",
                    ",",
                    "=",
                    "SignedHeaders=",
                    "Signature=",
                    "AKIDALPHA",
                    "20260314",
                    "host;x-amz-date",
                    "personalize",
                    "aws4_request",
                    " ",
                    "\u00e9",
                    "\x00",
                ]
            ),
            max_size=30,
        ).map("".join),
    ),
    amz_date=st.one_of(st.none(), st.text(max_size=20), st.just("20260314T150926Z")),
    token=st.one_of(st.none(), st.text(max_size=10)),
)
def test_any_authorization_header_is_either_verified_or_refused_with_an_aws_error(
    authorization: str, amz_date: str | None, token: str | None
) -> None:
    raw = [(b"host", b"127.0.0.1:8787"), (b"authorization", authorization.encode("utf-8", "surrogatepass"))]
    if amz_date is not None:
        raw.append((b"x-amz-date", amz_date.encode("utf-8", "surrogatepass")))
    if token is not None:
        raw.append((b"x-amz-security-token", token.encode("utf-8", "surrogatepass")))
    request = HttpRequest("POST", b"/", b"", Headers(raw=raw), b"{}")
    with pytest.raises(ServiceError) as info:
        authenticator().caller(request)
    assert info.value.status in (400, 403)
