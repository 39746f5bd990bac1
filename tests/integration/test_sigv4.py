"""A server with ``--credentials``: boto3 (botocore's SigV4 signer) with the right key gets in; a wrong secret, an
unknown key, an expired date, a tampered body or no signature at all gets AWS's error, on all three services, the
read API and the dashboard's session login."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from recimpact.cli.client import ApiError, get_series
from tests.conftest import AWS_TEST_ENV, INTERACTIONS_SCHEMA, unique
from tests.server import ServerProcess, write_credentials

ALPHA = ("AKIDALPHA", "alpha-secret", "111111111111")
BETA = ("AKIDBETA", "beta-secret", "222222222222")


def start_secured(data_dir: Path, *extra: str) -> ServerProcess:
    creds = write_credentials(
        data_dir.parent / f"{data_dir.name}-credentials.csv",
        {key: (secret, account) for key, secret, account in (ALPHA, BETA)},
    )
    return ServerProcess(data_dir, "--credentials", str(creds), *extra, env=AWS_TEST_ENV).start()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_secured(tmp_path_factory.mktemp("secured"))
    try:
        yield server
    finally:
        server.stop()


def client(
    server: ServerProcess, service: str, key: tuple[str, str, str] = ALPHA, secret: str | None = None
) -> Any:
    return server.client(service, access_key=key[0], secret_key=secret or key[1])


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def raw_post(
    server: ServerProcess, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    parts = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            json.loads(response.read() or b"{}"),
        )
    finally:
        conn.close()


@pytest.fixture(scope="module")
def tracked(secured: ServerProcess) -> dict[str, str]:
    """ALPHA's dataset group with an Interactions dataset and an event tracker."""
    personalize = client(secured, "personalize")
    group = personalize.create_dataset_group(name=unique("dg"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(INTERACTIONS_SCHEMA))["schemaArn"]
    personalize.create_dataset(
        name=unique("d"), datasetGroupArn=group, datasetType="Interactions", schemaArn=schema
    )
    tracker = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    return {"group": group, "tracking_id": tracker["trackingId"]}


def put_events(events: Any, tracking_id: str) -> Any:
    return events.put_events(
        trackingId=tracking_id,
        userId="u1",
        sessionId="s1",
        eventList=[{"eventType": "View", "itemId": "i1", "sentAt": dt.datetime.now(dt.UTC)}],
    )


def test_the_right_key_works_on_every_service_and_acts_in_its_account(
    secured: ServerProcess, tracked: dict[str, str]
) -> None:
    assert ":111111111111:dataset-group/" in tracked["group"]
    groups = client(secured, "personalize").list_dataset_groups()["datasetGroups"]
    assert tracked["group"] in [g["datasetGroupArn"] for g in groups]
    assert (
        put_events(client(secured, "personalize-events"), tracked["tracking_id"])["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 200
    )


@pytest.mark.parametrize("service", ["personalize", "personalize-events", "personalize-runtime"])
def test_a_wrong_secret_is_invalid_signature_on_every_service(secured: ServerProcess, service: str) -> None:
    wrong = client(secured, service, secret="not-the-secret")
    call = {
        "personalize": lambda: wrong.list_dataset_groups(),
        "personalize-events": lambda: put_events(wrong, "any-tracker"),
        "personalize-runtime": lambda: wrong.get_recommendations(
            campaignArn="arn:aws:personalize:us-east-1:1:campaign/c"
        ),
    }[service]
    code, status, message = error_of(call)
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith(
        "The request signature we calculated does not match the signature you provided."
    )


def test_an_unknown_key_is_invalid_client_token_id(secured: ServerProcess) -> None:
    stranger = secured.client("personalize", access_key="AKIDSTRANGER", secret_key="alpha-secret")
    assert error_of(stranger.list_dataset_groups) == (
        "InvalidClientTokenId",
        403,
        "The security token included in the request is invalid.",
    )


def test_a_session_token_the_server_does_not_know_is_refused(secured: ServerProcess) -> None:
    import boto3

    with_token = boto3.client(
        "personalize",
        endpoint_url=secured.url,
        region_name="us-east-1",
        aws_access_key_id=ALPHA[0],
        aws_secret_access_key=ALPHA[1],
        aws_session_token="FwoGZXIvYXdzEXAMPLE",
    )
    assert error_of(with_token.list_dataset_groups)[:2] == ("InvalidClientTokenId", 403)


@pytest.mark.parametrize("minutes", [-20, 20])
def test_a_date_more_than_15_minutes_off_is_request_expired(secured: ServerProcess, minutes: int) -> None:
    personalize = client(secured, "personalize")
    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    with mock.patch("botocore.auth.get_current_datetime", return_value=skewed):
        code, status, message = error_of(personalize.list_dataset_groups)
    assert (code, status) == ("RequestExpired", 400)
    assert message.startswith("Signature expired" if minutes < 0 else "Signature not yet current")


def test_a_body_tampered_after_signing_is_refused_and_not_applied(
    secured: ServerProcess, tracked: dict[str, str]
) -> None:
    personalize = client(secured, "personalize")
    name = unique("dg")

    forged = name[:-1] + ("0" if name[-1] != "0" else "1")  # same length: Content-Length still holds

    def tamper(request: Any, **_: Any) -> None:
        request.body = request.body.replace(name.encode(), forged.encode())

    personalize.meta.events.register("before-send.personalize.CreateDatasetGroup", tamper)
    assert error_of(personalize.create_dataset_group, name=name)[:2] == ("InvalidSignatureException", 400)
    names = [g["name"] for g in client(secured, "personalize").list_dataset_groups()["datasetGroups"]]
    assert name not in names
    assert forged not in names


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (
            "/",
            {
                "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups",
                "Content-Type": "application/x-amz-json-1.1",
            },
        ),
        ("/events", {"Content-Type": "application/json"}),
        ("/recommendations", {"Content-Type": "application/json"}),
    ],
)
def test_an_unsigned_request_is_missing_authentication_token(
    secured: ServerProcess, path: str, headers: dict[str, str]
) -> None:
    status, response_headers, body = raw_post(secured, path, b"{}", headers)
    assert status == 403
    assert response_headers["x-amzn-errortype"] == "MissingAuthenticationToken"
    assert body == {"__type": "MissingAuthenticationToken", "message": "Missing Authentication Token"}


def test_the_read_api_requires_a_signature_and_the_cli_client_signs(
    secured: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    personalize = client(secured, "personalize")
    group = personalize.create_dataset_group(name=unique("dg"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(INTERACTIONS_SCHEMA))["schemaArn"]
    personalize.create_dataset(
        name=unique("d"), datasetGroupArn=group, datasetType="Interactions", schemaArn=schema
    )
    arn = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group,
        metrics=[{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"}],
        metricsOutputConfig={
            "roleArn": "arn:aws:iam::111111111111:role/r",
            "s3DataDestination": {"path": "s3://bucket/m/"},
        },
    )["metricAttributionArn"]
    parts = urllib.parse.urlsplit(secured.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/api/v1/series?" + urllib.parse.urlencode({"metricAttributionArn": arn}))
    response = conn.getresponse()
    assert (response.status, response.getheader("x-amzn-ErrorType")) == (403, "MissingAuthenticationToken")
    conn.close()

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ALPHA[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ALPHA[1])
    assert get_series(secured.url, arn, "-1d", None)["rows"] == []
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", BETA[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", BETA[1])
    with pytest.raises(ApiError, match="ResourceNotFoundException"):
        get_series(secured.url, arn, "-1d", None)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(ApiError, match="InvalidSignatureException"):
        get_series(secured.url, arn, "-1d", None)


# -- the dashboard's sign-in ----------------------------------------------------------------------------------


class Browser:
    """Enough of a browser for the session flow: a cookie jar, same-origin headers, no redirects followed."""

    def __init__(self, server: ServerProcess) -> None:
        parts = urllib.parse.urlsplit(server.url)
        self.host, self.port = parts.hostname or "", parts.port or 80
        self.origin = f"http://{parts.netloc}"
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes, list[str]]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        sent = {"Origin": self.origin, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body, sent)
        response = conn.getresponse()
        set_cookies = response.msg.get_all("set-cookie") or []
        for line in set_cookies:
            name, _, value = line.split(";")[0].partition("=")
            self.cookies[name] = value.strip('"')
        result = (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
            set_cookies,
        )
        conn.close()
        return result

    def login(self, key: str, secret: str) -> tuple[int, dict[str, str], bytes, list[str]]:
        form = urllib.parse.urlencode(
            {"access_key_id": key, "secret_access_key": secret, "next": "/"}
        ).encode()
        return self.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})

    def aws(
        self, operation: str, params: dict[str, Any], csrf: bool = True, **headers: str
    ) -> tuple[int, Any]:
        sent = {
            "X-Amz-Target": f"AmazonPersonalize.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        }
        if csrf:
            sent["X-Recimpact-Csrf"] = self.cookies.get("recimpact_csrf", "")
        status, _, body, _ = self.request("POST", "/", json.dumps(params).encode(), {**sent, **headers})
        return status, json.loads(body)


def test_login_page_issues_a_strict_http_only_session_that_acts_in_the_keys_account(
    secured: ServerProcess, tracked: dict[str, str]
) -> None:
    browser = Browser(secured)
    status, _, page, _ = browser.request("GET", "/login")
    assert status == 200
    assert b'name="secret_access_key"' in page

    status, _, _, set_cookies = browser.login(ALPHA[0], "wrong")
    assert status == 401
    assert not set_cookies
    assert browser.aws("ListDatasetGroups", {})[1]["__type"] == "MissingAuthenticationToken"

    status, headers, _, set_cookies = browser.login(ALPHA[0], ALPHA[1])
    assert (status, headers["location"]) == (303, "/")
    session = next(c for c in set_cookies if c.startswith("recimpact_session="))
    assert "HttpOnly" in session
    assert "SameSite=strict" in session
    assert "Max-Age=" in session

    status, body = browser.aws("ListDatasetGroups", {})
    assert status == 200
    assert tracked["group"] in [g["datasetGroupArn"] for g in body["datasetGroups"]]
    # Another key's session sees none of ALPHA's groups.
    other = Browser(secured)
    other.login(BETA[0], BETA[1])
    assert tracked["group"] not in [
        g["datasetGroupArn"] for g in other.aws("ListDatasetGroups", {})[1]["datasetGroups"]
    ]


def test_a_session_needs_the_csrf_header_and_same_origin_to_change_anything(secured: ServerProcess) -> None:
    browser = Browser(secured)
    browser.login(ALPHA[0], ALPHA[1])
    name = unique("dg")
    status, body = browser.aws("CreateDatasetGroup", {"name": name}, csrf=False)
    assert (status, body["__type"]) == (400, "AccessDeniedException")
    status, body = browser.aws("CreateDatasetGroup", {"name": name}, Origin="http://evil.example")
    assert (status, body["__type"]) == (400, "AccessDeniedException")
    status, body = browser.aws("CreateDatasetGroup", {"name": name})
    assert status == 200
    assert ":111111111111:" in body["datasetGroupArn"]


def test_a_forged_or_logged_out_session_is_no_session(secured: ServerProcess) -> None:
    browser = Browser(secured)
    browser.login(BETA[0], BETA[1])
    value = browser.cookies["recimpact_session"]
    payload, _, mac = value.partition(".")
    browser.cookies["recimpact_session"] = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    assert browser.aws("ListDatasetGroups", {})[1]["__type"] == "MissingAuthenticationToken"
    browser.cookies["recimpact_session"] = value
    assert browser.aws("ListDatasetGroups", {})[0] == 200
    status, _, _, set_cookies = browser.request("POST", "/logout")
    assert status == 303
    assert any(c.startswith("recimpact_session=") for c in set_cookies)
    assert browser.aws("ListDatasetGroups", {})[1]["__type"] == "MissingAuthenticationToken"


def test_with_credentials_the_server_may_bind_beyond_loopback(tmp_path: Path) -> None:
    server = start_secured(tmp_path / "data", "--host", "0.0.0.0")
    try:
        port = urllib.parse.urlsplit(server.url).port
        server.url = f"http://127.0.0.1:{port}"
        assert client(server, "personalize").list_dataset_groups()["datasetGroups"] == []
    finally:
        server.stop()


def test_the_dashboard_in_a_browser_signs_in_and_then_reads_and_writes_as_its_account(
    secured: ServerProcess, tracked: dict[str, str]
) -> None:
    """Debian's Chromium: the dashboard, refused without a session, goes to /login; after signing in it lists the
    key's dataset groups, and its fetch helper's control-plane POSTs carry the CSRF token."""
    from playwright.sync_api import sync_playwright  # the dev extra: missing, the test fails

    chromium = Path(os.environ.get("RECIMPACT_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists():
        pytest.fail(f"{chromium} is missing: `make venv` installs Debian's chromium")
    group_name = tracked["group"].rsplit("/", 1)[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.goto(secured.url + "/")
            page.wait_for_url("**/login?next=*")
            page.fill("input[name=access_key_id]", ALPHA[0])
            page.fill("input[name=secret_access_key]", ALPHA[1])
            page.click("button")
            page.wait_for_url(secured.url + "/")
            page.wait_for_selector(f"text={group_name}")
            created = page.evaluate(
                """async (name) => {
                    const api = await import("/static/js/api.js");
                    return (await api.aws("CreateDatasetGroup", { name })).datasetGroupArn;
                }""",
                unique("dg"),
            )
            assert f":{ALPHA[2]}:" in created
        finally:
            browser.close()
