"""The extension aggregates on both engines: IMPRESSIONCOUNT() counts the items of each impression list once per
source, user and list (in the window the list first appears), and a RATIO is its two parts, computed apart."""

from __future__ import annotations

from pathlib import Path

from recimpact.domain.attribution import metric_parts
from recimpact.domain.schema import parse_schema
from recimpact.engine.base import Engine
from recimpact.engine.plan import AttributionQuery
from recimpact.sinks.reports import job_report_rows
from tests.conformance.generate import BASE
from tests.conformance.pipeline import input_file, metric, write_csv

SCHEMA = parse_schema(
    '{"type": "record", "name": "Interactions", "fields": ['
    '{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},'
    '{"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},'
    '{"name": "IMPRESSION", "type": ["null", "string"]},'
    '{"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]}]}'
)
LINES = [
    ("u1", "i1", BASE + 1, "Click", "a|b|c", "s1"),
    ("u1", "i2", BASE + 2, "View", "a|b|c", "s1"),  # the same list again: counted once
    ("u1", "i2", BASE + 3, "View", "a|b|c", "s2"),  # another source: counted for it
    ("u2", "i1", BASE + 900, "click", "a|b", "s1"),
    ("u2", "i1", BASE + 901, "View", "", "s1"),
    ("u3", "i3", BASE + 1800, "View", "ü", None),
    ("u4", "i3", BASE + 1801, "View", " ", None),  # one item, a space: kept as sent, as PutEvents keeps it
]


def test_impression_counts_and_ratio_parts_are_identical(engines: dict[str, Engine], tmp_path: Path) -> None:
    header = [c.name for c in SCHEMA.columns]
    path = write_csv(tmp_path / "impressions.csv", header, [[str(v or "") for v in line] for line in LINES])
    metrics, labels = metric_parts(
        [
            metric("shown", "View", "IMPRESSIONCOUNT()"),
            metric("ctr", "Click", "RATIO(SAMPLECOUNT(), IMPRESSIONCOUNT())"),
        ]
    )
    reports = {}
    for name, engine in engines.items():
        part = tmp_path / f"{name}.parquet"
        loaded = engine.load([input_file(path, SCHEMA)], SCHEMA.columns, part)
        query = AttributionQuery(metrics, loaded.columns, labels=labels)
        reports[name] = job_report_rows(query, engine.aggregate(query, [part], None, None))
    assert reports["duckdb"] == reports["spark"]
    shown = {
        (r["EVENT_ATTRIBUTION_SOURCE"], r["TIMESTAMP"]): r["VALUE"]
        for r in reports["spark"]
        if r["METRIC_NAME"] == "SHOWN"
    }
    assert shown == {
        ("s1", BASE): 3.0,
        ("s2", BASE): 3.0,
        ("s1", BASE + 900): 2.0,
        ("SOURCE_NAME_UNDEFINED", BASE + 1800): 2.0,
    }
    clicks = sorted((r["TIMESTAMP"], r["VALUE"]) for r in reports["spark"] if r["MATH_FUNCTION"] == labels[1])
    assert clicks == [(BASE, 1.0), (BASE + 900, 1.0)]
