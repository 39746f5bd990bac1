"""Report rows, as the S3 report, ``recimpact metrics`` and the HTTP read API all show them (SPEC §4).

``METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP``: names upper-cased, VALUE a float
written with a decimal point (``12.0``), MATH_FUNCTION ``samplecount`` or ``sum`` (and, for recimpact's extensions,
``impressioncount`` or ``ratio``), the source as resolved, and
TIMESTAMP the window start in epoch seconds, newest window first.

The one writer of a report file, ``write_report`` (an import job's, a backfill's), names it (``report_file_name``)
and writes it to the attribution's destination.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Iterable, Sequence
from typing import Any

from recimpact.domain.attribution import RATIO_DENOMINATOR, RATIO_NUMERATOR
from recimpact.domain.resources import MetricAttribution
from recimpact.engine.plan import AttributionQuery
from recimpact.sinks import destinations
from recimpact.sinks.destinations import S3Config
from recimpact.store.series import SeriesPoint

REPORT_COLUMNS = (
    "METRIC_NAME",
    "EVENT_TYPE",
    "VALUE",
    "MATH_FUNCTION",
    "EVENT_ATTRIBUTION_SOURCE",
    "TIMESTAMP",
)


REPORT_PREFIX = "AggregatedAttributionMetrics - "  # every report file's name starts so


def report_file_name(mode: str, moment: float) -> str:
    """``AggregatedAttributionMetrics - INCREMENTAL - 20261123T081723Z.csv`` (UTC)."""
    stamp = dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{REPORT_PREFIX}{mode} - {stamp}.csv"


def report_row(
    metric_name: str, event_type: str, function: str, source: str, window: int, value: float
) -> dict[str, Any]:
    """The one builder of a report row (SPEC §4 columns), from the live series or from a bulk job's results."""
    return {
        "METRIC_NAME": metric_name,
        "EVENT_TYPE": event_type,
        "VALUE": float(value),
        "MATH_FUNCTION": function,
        "EVENT_ATTRIBUTION_SOURCE": source,
        "TIMESTAMP": int(window),
    }


def series_report_rows(points: Iterable[SeriesPoint]) -> list[dict[str, Any]]:
    """Report rows of series points, in their order (RATIO parts combined)."""
    return combine_ratios(
        report_row(k.metric_name, k.event_type, k.function, k.source, k.window_start, p.value)
        for p in points
        for k in (p.key,)
    )


def job_report_rows(
    query: AttributionQuery, results: Sequence[tuple[int, str, int, float]]
) -> list[dict[str, Any]]:
    """A bulk job's results (metric index, source, window, value) as report rows, newest window first, then metric
    name and source (RATIO parts not yet combined: ``combine_ratios``)."""
    ordered = sorted(
        (
            (int(window), query.metrics[int(idx)], source, float(value), int(idx))
            for idx, source, window, value in results
        ),
        key=lambda r: (-r[0], r[1].metric_name, r[2], r[4]),
    )
    return [
        report_row(metric.metric_name, metric.event_type, query.label(idx), source, window, value)
        for window, metric, source, value, idx in ordered
    ]


def combine_ratios(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A RATIO metric's two stored parts (MATH_FUNCTION ``ratio_numerator`` / ``ratio_denominator``) become one row,
    where the first part was, with MATH_FUNCTION ``ratio`` and VALUE numerator / denominator; no row where the
    denominator is 0 (the ratio is undefined there). Every other row passes unchanged."""
    out: list[dict[str, Any]] = []
    parts: dict[tuple[Any, ...], dict[str, float]] = {}
    for row in rows:
        function = row["MATH_FUNCTION"]
        if function not in (RATIO_NUMERATOR, RATIO_DENOMINATOR):
            out.append(row)
            continue
        ident = (row["METRIC_NAME"], row["EVENT_TYPE"], row["EVENT_ATTRIBUTION_SOURCE"], row["TIMESTAMP"])
        if ident not in parts:
            parts[ident] = {}
            out.append({**row, "MATH_FUNCTION": "ratio", "_parts": parts[ident]})
        parts[ident][function] = parts[ident].get(function, 0.0) + float(row["VALUE"])
    combined = []
    for row in out:
        found = row.pop("_parts", None)
        if found is None:
            combined.append(row)
        elif found.get(RATIO_DENOMINATOR):
            combined.append({**row, "VALUE": found.get(RATIO_NUMERATOR, 0.0) / found[RATIO_DENOMINATOR]})
    return combined


def format_value(value: float) -> str:
    """``12.0``, ``2.5``: never an exponent, so every CSV reader sees a plain decimal."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{value:.6f}".rstrip("0")
        text = text + "0" if text.endswith(".") else text
    return text


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for row in rows:
        writer.writerow([format_value(row[c]) if c == "VALUE" else row[c] for c in REPORT_COLUMNS])
    return out.getvalue()


def write_report(attribution: MetricAttribution, mode: str, body: str, s3: S3Config) -> str:
    """One new file per publishing job: ``AggregatedAttributionMetrics - <MODE> - <timestamp>.csv``. A name already
    taken (two jobs in the same second) moves the timestamp on by a second, so no report is ever overwritten."""
    destination = attribution.metrics_output_config.get("s3DataDestination") or {}
    location = destinations.parse_location(destination["path"])
    moment = time.time()
    name = report_file_name(mode, moment)
    while destinations.exists(location, name, s3):
        moment += 1
        name = report_file_name(mode, moment)
    return destinations.write_file(location, name, body.encode(), s3, destination.get("kmsKeyArn"))
