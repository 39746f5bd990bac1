"""What both engines are asked to do, and what they must answer.

``attribute`` drives the Engine API in the order an import job does (load, the recommendation ids, sources,
aggregate, report rows). ``reference_rows`` computes the report from the typed rows, written from SPEC §3 rather
than from the engines' SQL: exact duplicates once, the source explicit (exactly as written; an empty cell is none), else
the issuer of the recommendation id, else SOURCE_NAME_UNDEFINED; event types matched case-insensitively; SUM over a missing value
adds nothing; 900-second windows aligned to the epoch.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recimpact.domain.attribution import SOURCE_NAME_UNDEFINED, CompiledMetric
from recimpact.domain.expressions import parse_expression
from recimpact.domain.schema import DatasetSchema, parse_schema
from recimpact.engine.base import Engine, InputFile
from recimpact.engine.plan import AttributionQuery
from recimpact.sinks.reports import job_report_rows

INTERACTIONS: DatasetSchema = parse_schema(
    '{"type": "record", "name": "Interactions", "fields": ['
    '{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},'
    '{"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},'
    '{"name": "EVENT_VALUE", "type": ["null", "float"]},'
    '{"name": "RECOMMENDATION_ID", "type": ["null", "string"]},'
    '{"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]}]}'
)
COLUMNS = tuple(c.name for c in INTERACTIONS.columns)
RECOMMENDER = "arn:aws:personalize:us-east-1:000000000000:recommender/"


def metric(name: str, event_type: str, expression: str) -> CompiledMetric:
    return CompiledMetric(name.upper(), event_type.upper(), parse_expression(expression), counting_since=0.0)


METRICS = (
    metric("countViews", "View", "SAMPLECOUNT()"),
    metric("sumMargin", "Purchase", "SUM(ITEMS.MARGIN)"),
    metric("clickValue", "click", "SUM(INTERACTIONS.EVENT_VALUE)"),
    metric("Clicks", "CLICK", "samplecount()"),
)

Row = dict[str, Any]  # typed values by column; None is no value


@dataclass(frozen=True)
class Case:
    """One generated input: interaction files (each a header and its lines of cells, as written), the items
    as stored, and the recommendation ids an earlier call issued."""

    files: tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], ...]
    rows: tuple[Row, ...]  # the typed rows of every file, duplicates included
    items: Mapping[str, float | None]  # ITEM_ID -> MARGIN
    issued: Mapping[str, str]  # RECOMMENDATION_ID -> issuer ARN
    metrics: tuple[CompiledMetric, ...] = METRICS


def write_csv(path: Path, header: Sequence[str], lines: Iterable[Sequence[str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def input_file(path: Path, schema: DatasetSchema = INTERACTIONS) -> InputFile:
    """The file as an import job hands it to an engine: header names mapped onto schema columns."""
    with open(path, "rb") as handle:
        header = next(csv.reader([handle.readline().decode("utf-8-sig")]))
    columns = []
    for name in header:
        column = schema.column(name.strip())
        assert column is not None, name
        columns.append(column)
    return InputFile(path=path, name=path.as_uri(), columns=tuple(columns))


def attribute(engine: Engine, case: Case, work: Path) -> list[dict[str, object]]:
    """The report rows an import job of ``case`` publishes, computed by ``engine``."""
    work.mkdir(parents=True, exist_ok=True)
    files = [
        input_file(write_csv(work / f"part-{n}.csv", header, lines))
        for n, (header, lines) in enumerate(case.files)
    ]
    part = work / f"{engine.name}.parquet"
    loaded = engine.load(files, INTERACTIONS.columns, part, dataset_type="INTERACTIONS")
    recommendations = None
    if "RECOMMENDATION_ID" in loaded.columns:
        ids = engine.distinct([part], "RECOMMENDATION_ID")
        issued = sorted((i, case.issued[i]) for i in ids if i in case.issued)
        recommendations = write_csv(work / "recommendations.csv", ["RECOMMENDATION_ID", "SOURCE"], issued)
    items = write_csv(
        work / "items.csv",
        ["ITEM_ID", "MARGIN"],
        [(i, "" if m is None else repr(m)) for i, m in sorted(case.items.items())],
    )
    query = AttributionQuery(case.metrics, loaded.columns)
    sources = engine.sources(AttributionQuery((), loaded.columns), [part], recommendations)
    assert sorted(sources) == sorted(reference_sources(case)), (sources, reference_sources(case))
    return job_report_rows(query, engine.aggregate(query, [part], items, recommendations))


def _source(row: Row, issued: Mapping[str, str]) -> str:
    explicit = row.get("EVENT_ATTRIBUTION_SOURCE")
    if explicit:  # kept as sent, as PutEvents keeps it
        return str(explicit)
    rec = row.get("RECOMMENDATION_ID")
    return issued.get(rec, SOURCE_NAME_UNDEFINED) if rec else SOURCE_NAME_UNDEFINED


def _distinct(rows: Iterable[Row]) -> list[Row]:
    seen = {tuple(row.get(c) for c in COLUMNS) for row in rows}
    return [dict(zip(COLUMNS, values, strict=True)) for values in seen]


def reference_sources(case: Case) -> set[str]:
    return {_source(row, case.issued) for row in _distinct(case.rows)}


def reference_rows(case: Case) -> list[dict[str, object]]:
    totals: dict[tuple[int, str, int], float] = defaultdict(float)
    for row in _distinct(case.rows):
        for idx, m in enumerate(case.metrics):
            if row["EVENT_TYPE"].upper() != m.event_type:
                continue
            value: float | None = 1.0
            if m.expression.function == "sum" and m.expression.dataset == "ITEMS":
                value = case.items.get(row["ITEM_ID"])
            elif m.expression.function == "sum":
                value = row.get(str(m.expression.column))
            if value is None:
                continue
            totals[(idx, _source(row, case.issued), row["TIMESTAMP"] // 900 * 900)] += float(value)
    query = AttributionQuery(case.metrics, frozenset(COLUMNS))
    return job_report_rows(query, [(i, s, w, v) for (i, s, w), v in totals.items()])
