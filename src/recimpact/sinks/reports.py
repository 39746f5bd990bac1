"""Report rows, as the S3 report, ``recimpact metrics`` and the HTTP read API all show them (SPEC §4).

``METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP``: names upper-cased, VALUE a float
written with a decimal point (``12.0``), MATH_FUNCTION ``samplecount`` or ``sum``, the source as resolved, and
TIMESTAMP the window start in epoch seconds, newest window first.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from recimpact.store.events import SeriesPoint

REPORT_COLUMNS = (
    "METRIC_NAME",
    "EVENT_TYPE",
    "VALUE",
    "MATH_FUNCTION",
    "EVENT_ATTRIBUTION_SOURCE",
    "TIMESTAMP",
)


def report_file_name(mode: str, moment: float) -> str:
    """``AggregatedAttributionMetrics - INCREMENTAL - 20261123T081723Z.csv`` (UTC)."""
    stamp = dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"AggregatedAttributionMetrics - {mode} - {stamp}.csv"


def report_row(point: SeriesPoint) -> dict[str, Any]:
    key = point.key
    return {
        "METRIC_NAME": key.metric_name,
        "EVENT_TYPE": key.event_type,
        "VALUE": float(point.value),
        "MATH_FUNCTION": key.function,
        "EVENT_ATTRIBUTION_SOURCE": key.source,
        "TIMESTAMP": int(key.window_start),
    }


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
