"""recimpact's own read API (``/api/v1/...``, ``wire/read_api.py``) fuzzed over HTTP: query strings of real ARNs,
metric names and sources mixed with malformed, huge, tiny, non-finite and non-Unicode values. No answer may be a
5xx; every error is in the AWS format the CLI and the dashboard parse; every success is strict JSON (no NaN or
Infinity tokens, which a browser's ``JSON.parse`` refuses) or the CSV asked for."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import AWS_TEST_ENV
from tests.fuzz_targets import METRICS, SOURCES, Target
from tests.fuzz_wire import Answer, Wire
from tests.server import ServerProcess

TIMES = ["-2h", "-14d", "0", "1700000000", "2026-11-23T10:00:00Z", "nan", "inf", "-inf", "1e999", "5e-324"]
ODD = [
    "",
    " ",
    "x",
    "\udcff",
    "é" * 300,
    "9" * 5000,
    "-99999999999999999999w",
    "arn:aws:personalize:::",
    "../x",
]
ALPHAS = ["0.05", "1e-20", "5e-324", "0.9999999999999999", "0", "1", "-1", "nan", "inf", "1e999"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("read-api-fuzz"), env=AWS_TEST_ENV) as server:
        yield server


def endpoints(target: Target) -> dict[tuple[str, str], dict[str, list[str]]]:
    """(method, path) → each query parameter's meaningful values."""
    attribution = {"metricAttributionArn": [target.attribution, target.group]}
    window = {"start": TIMES, "end": TIMES}
    return {
        ("GET", "/api/v1/series"): {**attribution, **window, "format": ["json", "csv", "xml"]},
        ("GET", "/api/v1/reports"): attribution,
        ("GET", "/api/v1/reports/file"): {**attribution, "name": ["x.csv", "../../etc/passwd", "/"]},
        ("GET", "/api/v1/import-jobs/progress"): {"datasetImportJobArn": [target.import_job, target.group]},
        ("GET", "/api/v1/import-jobs"): {"datasetGroupArn": [target.group, target.attribution]},
        ("GET", "/api/v1/totals"): {**attribution, **window},
        ("GET", "/api/v1/numeric-columns"): {"datasetGroupArn": [target.group, target.attribution]},
        ("GET", "/api/v1/compare"): {
            **attribution,
            **window,
            "metric": [m["metricName"] for m in METRICS],
            "per": [m["metricName"] for m in METRICS],
            "sourceA": list(SOURCES),
            "sourceB": list(SOURCES),
            "alpha": ALPHAS,
        },
        ("POST", "/api/v1/backfill"): {
            **attribution,
            "since": TIMES,
            "publish": ["true", "false", "yes"],
            "report": ["false", "TRUE", ""],
        },
    }


def query_strategy(params: dict[str, list[str]]) -> st.SearchStrategy[dict[str, str]]:
    value = lambda known: st.one_of(st.sampled_from(known), st.sampled_from(ODD), st.text(max_size=20))  # noqa: E731
    return st.fixed_dictionaries({}, optional={name: value(known) for name, known in params.items()})


def encode(query: dict[str, str]) -> str:
    """The query string, lone surrogates written as the UTF-8 bytes they would be (not valid UTF-8)."""
    return "&".join(
        f"{urllib.parse.quote(k)}={urllib.parse.quote(v, safe='', errors='surrogatepass')}"
        for k, v in query.items()
    )


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def read_api_problems(answer: Answer) -> list[str]:
    if answer.status >= 500:
        return [f"{answer.status}: {answer.body[:300]!r}"]
    content_type = answer.headers.get("content-type", "")
    if answer.status == 200:
        if content_type.startswith("application/json"):
            try:
                json.loads(answer.body, parse_constant=_refuse_constant)
            except ValueError as exc:
                return [f"success is not strict JSON: {exc}"]
        return []
    code = answer.headers.get("x-amzn-errortype")
    try:
        body = json.loads(answer.body)
    except ValueError:
        return [f"error body is not JSON: {answer.body[:200]!r}"]
    if not isinstance(body, dict) or body.get("__type") != code or not isinstance(body.get("message"), str):
        return [f"error is not in the AWS format: header {code!r}, body {body!r}"]
    return []


def test_read_api_survives_fuzzing(live: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> None:
    target = Target(live, tmp_path_factory.mktemp("read-api-target"))
    routes = endpoints(target)
    wire = Wire(live)
    output_before = len(live.output)

    requests = st.sampled_from(sorted(routes)).flatmap(
        lambda route: st.tuples(st.just(route), query_strategy(routes[route]))
    )

    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(request=requests)
    # Found by this fuzz: "nan" is a float to ``parse_time``, and the answer echoed it as a bare NaN token.
    @example((("GET", "/api/v1/totals"), {"metricAttributionArn": target.attribution, "end": "nan"}))
    @example((("POST", "/api/v1/backfill"), {"metricAttributionArn": target.attribution, "since": "inf"}))
    # An alpha so small that 1 − α/2 is 1 (StatisticsError in compare, found by the unit tests' new property).
    @example(
        (
            ("GET", "/api/v1/compare"),
            {"metricAttributionArn": target.attribution, "metric": "clickValue", "per": "countViews"}
            | {"sourceA": SOURCES[0], "sourceB": SOURCES[1], "alpha": "1e-20"},
        )
    )
    def fuzz(request: tuple[tuple[str, str], dict[str, str]]) -> None:
        (method, path), query = request
        answer = wire.send(method, f"{path}?{encode(query)}", {}, b"" if method == "POST" else None)
        problems = read_api_problems(answer)
        assert not problems, (problems, method, path, query)

    try:
        fuzz()
    finally:
        wire.close()
    output = "".join(live.output[output_before:])
    assert "Traceback" not in output, output[-3000:]
