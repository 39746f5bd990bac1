"""Running a dataset import job: fetch the files, validate and store the rows, attribute them, publish.

Order matters for "a failed job changes no data": every step that can fail on the user's data or destinations
(reading, validating, writing the S3 report) runs before anything is committed; then the event store takes the
job's items, or its sources (checked against the 100-source limit there, beside concurrent PutEvents) and, for an
INCREMENTAL import, its rows (a report written for a job that fails there is removed again);
then the catalog switches the dataset's bulk files and activates the job in another. An INCREMENTAL import's rows
go in batch by batch, from a process of their own (``import_rows``), so that PutEvents never waits for a whole
import. Should the server stop
before the job is ACTIVE, the job runs again at the next start, and its rows already in the event log count once.
"""

from __future__ import annotations

import csv
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recimpact.domain import resources
from recimpact.domain.attribution import item_columns, metric_parts
from recimpact.domain.errors import ServiceError
from recimpact.domain.resources import Dataset, DatasetGroup, DatasetImportJob, MetricAttribution, Schema
from recimpact.domain.schema import Column, DatasetSchema, parse_schema
from recimpact.engine.base import DataError, Engine, InputFile
from recimpact.engine.plan import AttributionQuery
from recimpact.ingest.events import sources_within_limit
from recimpact.ingest.targets import IngestTarget, build_target
from recimpact.jobs.import_rows import RowsNotStored, append_rows_apart
from recimpact.jobs.progress import JobProgress
from recimpact.sinks import destinations
from recimpact.sinks.destinations import DestinationError, Location, S3Config
from recimpact.sinks.reports import combine_ratios, job_report_rows, to_csv, write_report
from recimpact.store.catalog import Catalog
from recimpact.store.interfaces import EventStore, IngestTx
from recimpact.store.parts import discard_part

log = logging.getLogger("recimpact.imports")

_ID_FIELD = {"INTERACTIONS": None, "ITEMS": "ITEM_ID", "USERS": "USER_ID"}
_HEADER_LIMIT = 1 << 20


class JobFailed(Exception):
    """The job's user-facing failure reason."""


@dataclass(frozen=True)
class JobEnvironment:
    catalog: Catalog
    events: EventStore
    engine: Engine
    data_dir: Path
    s3_endpoint_url: str | None
    progress: JobProgress = field(default_factory=JobProgress)


def run_import_job(env: JobEnvironment, arn: str) -> None:
    """Take a pending job to ACTIVE or CREATE FAILED; never raises."""
    with env.catalog.transaction() as tx:
        job = tx.get(DatasetImportJob, arn)
        if job is None or job.status not in (resources.CREATE_PENDING, resources.CREATE_IN_PROGRESS):
            return
        job.status = resources.CREATE_IN_PROGRESS
        job.last_updated_date_time = time.time()
        tx.put(job)
    work_dir = env.data_dir / "tmp" / f"job-{uuid.uuid4().hex}"
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        _run(env, job, work_dir)
    except (JobFailed, DataError, DestinationError, ServiceError, RowsNotStored) as exc:
        _finish(env, arn, resources.CREATE_FAILED, failure_reason=str(exc))
    except Exception as exc:
        log.exception("import job %s failed unexpectedly", arn)
        _finish(env, arn, resources.CREATE_FAILED, failure_reason=f"internal error: {exc}")
    finally:
        env.progress.finished_at = time.time()
        shutil.rmtree(work_dir, ignore_errors=True)


def fail_job(catalog: Catalog, arn: str, reason: str) -> None:
    """Fail a job that cannot even start (its engine is unavailable)."""
    _set_status(catalog, arn, resources.CREATE_FAILED, failure_reason=reason)


def _finish(env: JobEnvironment, arn: str, status: str, **changes: Any) -> None:
    _set_status(env.catalog, arn, status, **changes)


def _set_status(catalog: Catalog, arn: str, status: str, **changes: Any) -> None:
    with catalog.transaction() as tx:
        job = tx.get(DatasetImportJob, arn)
        if job is None:
            return
        job.status = status
        job.last_updated_date_time = time.time()
        for key, value in changes.items():
            setattr(job, key, value)
        tx.put(job)


def _run(env: JobEnvironment, job: DatasetImportJob, work_dir: Path) -> None:
    with env.catalog.transaction() as tx:
        dataset = tx.get(Dataset, job.dataset_arn)
        if dataset is None:
            raise JobFailed(f"dataset {job.dataset_arn} no longer exists")
        schema_record = tx.get(Schema, dataset.schema_arn)
        group = tx.get(DatasetGroup, dataset.dataset_group_arn)
        if group is None:
            raise JobFailed(f"dataset group {dataset.dataset_group_arn} no longer exists")
        target = build_target(tx, group)
    assert schema_record is not None
    schema = parse_schema(schema_record.schema)
    s3 = S3Config(env.s3_endpoint_url, dataset.region)
    received_at = job.creation_date_time
    progress = env.progress
    progress.started_at, progress.phase, progress.engine = time.time(), "reading", env.engine

    files = _input_files(job, schema, s3, work_dir)
    progress.input_bytes = sum(f.path.stat().st_size for f in files)
    progress.estimated_rows = sum(_estimate_rows(f.path) for f in files)
    progress.phase = "loading"
    part_name = f"bulk/{uuid.uuid4().hex}.parquet"
    part = env.data_dir / part_name
    part.parent.mkdir(parents=True, exist_ok=True)
    loaded = env.engine.load(files, schema.columns, part, dataset_type=dataset.dataset_type)
    progress.phase, progress.rows = "attributing", loaded.rows
    try:
        if loaded.rows == 0:
            raise JobFailed(f"{job.data_source['dataLocation']}: no records to import")
        commit, report = _prepare(env, job, dataset, target, part, loaded.columns, received_at, s3, work_dir)
        progress.phase = "committing"
        try:
            commit()
        except BaseException:
            if report is not None:  # the job fails: its report must not say otherwise
                destinations.remove_file(destinations.parse_location(report), s3)
            raise
    except BaseException:
        discard_part(part)
        raise
    with env.catalog.transaction() as tx:
        current = tx.get(Dataset, dataset.arn)
        replaced: list[str] = []
        if current is not None:
            if job.import_mode == "FULL":
                replaced, current.bulk_parts = current.bulk_parts, [part_name]
            else:
                current.bulk_parts = [*current.bulk_parts, part_name]
            tx.put(current)
        stored = tx.get(DatasetImportJob, job.arn)
        if stored is not None:
            stored.status = resources.ACTIVE
            stored.rows = loaded.rows
            stored.report = report
            stored.last_updated_date_time = time.time()
            tx.put(stored)
    for old in replaced:
        discard_part(env.data_dir / old)
    progress.phase = "done"


def _estimate_rows(path: Path) -> int:
    """Rows in a CSV, estimated from the line length of its first megabyte (for progress only)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        sample = handle.read(1 << 20)
    lines = sample.count(b"\n")
    if not sample or lines == 0:
        return 0
    return max(int(size * lines / len(sample)) - 1, 0)


def _input_files(
    job: DatasetImportJob, schema: DatasetSchema, s3: S3Config, work_dir: Path
) -> list[InputFile]:
    location = destinations.parse_location(job.data_source["dataLocation"])
    found = destinations.list_files(location, s3)
    if not found:
        raise JobFailed(f"{location}: no files found")
    return [_with_header(loc, destinations.fetch(loc, work_dir, s3), schema) for loc in found]


def _with_header(location: Location, path: Path, schema: DatasetSchema) -> InputFile:
    """Map the CSV header onto schema columns (names match case-insensitively); every non-nullable column
    must be present."""
    name = str(location)
    with open(path, "rb") as handle:
        first = handle.readline(_HEADER_LIMIT)
    if not first.strip():
        raise JobFailed(f"{name}: the file is empty")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JobFailed(f"{name}: line 1: the file is not UTF-8 encoded") from None
    header = next(csv.reader([text.rstrip("\r\n")]))
    columns: list[Column] = []
    seen: set[str] = set()
    for position, field_name in enumerate(header, start=1):
        column = schema.column(field_name.strip())
        if column is None:
            raise JobFailed(
                f"{name}: line 1, column {position} ({field_name!r}) is not a field of the schema"
            )
        if column.name.upper() in seen:
            raise JobFailed(f"{name}: line 1: column {column.name} appears twice in the header")
        seen.add(column.name.upper())
        columns.append(column)
    missing = [c.name for c in schema.columns if not c.nullable and c.name.upper() not in seen]
    if missing:
        raise JobFailed(f"{name}: line 1: the header lacks the required column {missing[0]}")
    return InputFile(path=path, name=name, columns=tuple(columns))


def _prepare(
    env: JobEnvironment,
    job: DatasetImportJob,
    dataset: Dataset,
    target: IngestTarget,
    part: Path,
    columns: frozenset[str],
    received_at: float,
    s3: S3Config,
    work_dir: Path,
) -> tuple[Callable[[], None], str | None]:
    """Everything that can still fail on the user's data or destinations, done (the report written); returns what
    commits the job's effects to the event store, and where the report went."""
    group = dataset.dataset_group_arn
    full = job.import_mode == "FULL"
    if dataset.dataset_type in ("ITEMS", "USERS"):
        table = dataset.dataset_type.lower()
        id_field = _ID_FIELD[dataset.dataset_type]
        assert id_field is not None
        records = list(_records(env.engine, part, id_field))

        def upsert(tx: IngestTx) -> None:
            if full:
                tx.drop_bulk_records(table, group)
            tx.upsert_records(table, group, records, received_at, "bulk")

        return (lambda: env.events.submit(upsert).result()), None
    if dataset.dataset_type != "INTERACTIONS":
        return (lambda: None), None

    attribution = target.attribution
    base = AttributionQuery(metrics=(), interaction_columns=columns)
    recommendations_csv = _recommendations_csv(env, part, columns, work_dir)
    sources = sorted(env.engine.sources(base, [part], recommendations_csv))
    report: str | None = None
    if attribution is not None and job.publish_attribution_metrics_to_s3:
        metrics, labels = metric_parts(m for m in attribution.metrics if m.counting_since <= received_at)
        if metrics:
            items_csv = _items_csv(env, group, metrics, work_dir)
            query = AttributionQuery(metrics=metrics, interaction_columns=columns, labels=labels)
            results = env.engine.aggregate(query, [part], items_csv, recommendations_csv)
            rows = combine_ratios(job_report_rows(query, results))
            report = write_report(_attribution(env, attribution.arn), job.import_mode, to_csv(rows), s3)

    if full:  # a FULL import's rows replace the dataset's bulk data; the live series never counts them

        def add_sources(tx: IngestTx) -> None:
            tx.add_sources(group, sources_within_limit(tx, group, sources), received_at)

        return (lambda: env.events.submit(add_sources).result()), report

    def append() -> None:
        def progress(stored: int) -> None:
            env.progress.stored = stored

        append_rows_apart(env.events, target, part, sources, received_at, work_dir, progress)

    return append, report


def _attribution(env: JobEnvironment, arn: str) -> MetricAttribution:
    with env.catalog.transaction() as tx:
        found = tx.get(MetricAttribution, arn)
    if found is None:
        raise JobFailed(f"metric attribution {arn} no longer exists")
    return found


def _records(engine: Engine, part: Path, id_field: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for row in engine.rows(part):
        record = {k: v for k, v in row.items() if v is not None and k != id_field}
        yield str(row[id_field]), record


def _recommendations_csv(
    env: JobEnvironment, part: Path, columns: frozenset[str], work_dir: Path
) -> Path | None:
    """RECOMMENDATION_ID → issuing recommender/campaign, for the ids this job's rows carry."""
    if "RECOMMENDATION_ID" not in columns:
        return None
    ids = env.engine.distinct([part], "RECOMMENDATION_ID")
    mapping = env.events.recommendation_sources(ids)
    path = work_dir / "recommendations.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["RECOMMENDATION_ID", "SOURCE"])
        writer.writerows(sorted(mapping.items()))
    return path


def _items_csv(env: JobEnvironment, group: str, metrics: tuple[Any, ...], work_dir: Path) -> Path | None:
    """The numeric item columns the metrics read, as stored now (bulk and PutItems alike)."""
    columns = item_columns(metrics)
    if not columns:
        return None
    path = work_dir / "items.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ITEM_ID", *columns])
        for row in env.events.item_values(group, columns):
            writer.writerow([row[0], *("" if v is None or isinstance(v, bool) else v for v in row[1:])])
    return path
