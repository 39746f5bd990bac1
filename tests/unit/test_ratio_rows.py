"""How a RATIO metric's two stored parts are shown: one report row (their quotient) where the first part was, no row
where the denominator is 0, and two CloudWatch metrics that metric math can divide."""

from __future__ import annotations

from typing import Any

from recimpact.domain.attribution import RATIO_DENOMINATOR, RATIO_NUMERATOR
from recimpact.sinks.cloudwatch import datum
from recimpact.sinks.reports import combine_ratios, series_report_rows
from recimpact.store.series import SeriesKey, SeriesPoint


def row(metric: str, function: str, value: float, source: str = "s", window: int = 900) -> dict[str, Any]:
    return {
        "METRIC_NAME": metric,
        "EVENT_TYPE": "CLICK",
        "VALUE": value,
        "MATH_FUNCTION": function,
        "EVENT_ATTRIBUTION_SOURCE": source,
        "TIMESTAMP": window,
    }


def test_parts_become_one_row_in_place() -> None:
    rows = [
        row("CLICKS", "samplecount", 3),
        row("CTR", RATIO_DENOMINATOR, 8),
        row("VIEWS", "samplecount", 5),
        row("CTR", RATIO_NUMERATOR, 2),
    ]
    assert combine_ratios(rows) == [
        row("CLICKS", "samplecount", 3),
        row("CTR", "ratio", 0.25),
        row("VIEWS", "samplecount", 5),
    ]


def test_no_row_without_a_denominator_and_zero_without_a_numerator() -> None:
    rows = [
        row("CTR", RATIO_NUMERATOR, 2, source="a"),  # clicks, nothing shown: undefined
        row("CTR", RATIO_DENOMINATOR, 4, source="b"),  # shown, nothing clicked: 0
    ]
    assert combine_ratios(rows) == [row("CTR", "ratio", 0.0, source="b")]


def test_parts_of_different_windows_and_sources_stay_apart() -> None:
    rows = [
        row("CTR", RATIO_NUMERATOR, 1, window=0),
        row("CTR", RATIO_DENOMINATOR, 2, window=0),
        row("CTR", RATIO_NUMERATOR, 3, window=900),
        row("CTR", RATIO_DENOMINATOR, 4, window=900),
        row("CTR", RATIO_DENOMINATOR, 10, source="t", window=900),
    ]
    got = {(r["EVENT_ATTRIBUTION_SOURCE"], r["TIMESTAMP"]): r["VALUE"] for r in combine_ratios(rows)}
    assert got == {("s", 0): 0.5, ("s", 900): 0.75, ("t", 900): 0.0}


def test_series_points_and_cloudwatch_names() -> None:
    numerator = SeriesPoint(SeriesKey("id", "CTR", "CLICK", RATIO_NUMERATOR, "s", 900), 3.0, 1.0)
    denominator = SeriesPoint(SeriesKey("id", "CTR", "CLICK", RATIO_DENOMINATOR, "s", 900), 12.0, 0.0)
    assert series_report_rows([numerator, denominator]) == [row("CTR", "ratio", 0.25)]
    assert datum(numerator, "arn:group")["MetricName"] == "CTR_NUMERATOR"
    assert datum(numerator, "arn:group")["Value"] == 2.0  # what was not yet published
    assert datum(denominator, "arn:group")["MetricName"] == "CTR_DENOMINATOR"
    plain = SeriesPoint(SeriesKey("id", "CLICKS", "CLICK", "samplecount", "s", 900), 3.0, 0.0)
    assert datum(plain, "arn:group")["MetricName"] == "CLICKS"
