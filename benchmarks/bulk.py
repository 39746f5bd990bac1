"""Bulk import + report time and memory of recimpact, beside a hand-written pandas solution and DuckDB floor.

    .venv/bin/python benchmarks/bulk.py [--rows 10000000] [--engine duckdb|spark|both] [--spark-master URL]
                                        [--quick] [--scale] [--repeat N] [--profile]

One run, on one generated file (deterministic: every value is a hash of the row number; timestamps count back from
the current hour):

- interactions CSV: USER_ID (1M users), ITEM_ID (50k items, skewed, 1% unknown to the catalog), TIMESTAMP (the last
  10 days), EVENT_TYPE (View/Click/AddToCart/Purchase), EVENT_VALUE (most Clicks, AddToCarts and Purchases),
  EVENT_ATTRIBUTION_SOURCE (40% recommended_for_you, 25% viewed_x_also_viewed, 10% two third parties, 25% empty,
  i.e. SOURCE_NAME_UNDEFINED); 1% of the rows are exact duplicates of the row before, which every solution drops;
- items CSV: 50k items with PRICE, CATEGORY_L1, CATEGORY_L2, MARGIN.

(a) recimpact  ``recimpact serve`` in a subprocess (loopback, temporary data dir): dataset group, schemas,
               datasets, a 3-metric attribution (SAMPLECOUNT() of View, SUM(ITEMS.MARGIN) of Purchase,
               SUM(INTERACTIONS.EVENT_VALUE) of Click) with a file:// destination, an items import (FULL); then the
               timed interactions import (FULL, publishAttributionMetricsToS3): CreateDatasetImportJob until
               DescribeDatasetImportJob says ACTIVE (polled every 0.05 s), i.e. validate + dedupe + persist +
               report. Peak RSS is the server's, during the job (VmHWM, reset before the job).
(b) pandas     the baseline a user would write: read_csv, drop_duplicates, merge items, sources, windows, groupby
               per metric, to_csv; in its own process. It matches event types exactly and does not trim sources
               (this file needs neither), so it does a little less than the other two.
(c) floor      one hand-written DuckDB query over the same CSV producing the same report (DISTINCT included); in
               its own process.

``--engine spark`` runs (a) on a server started with ``--engine spark`` (``--spark-master``, default ``local[*]``:
Spark on this machine's cores); ``--engine both`` runs a DuckDB server and a Spark server side by side, interleaved.
Spark's session starts with the server's first job (the items import), so the timed job finds it warm; that first
job's time is shown apart ("first job"), as the price of the JVM. For a Spark server, peak RSS and CPU cover the
server's process tree (the driver JVM is its child): peak RSS is the sum of each process's own peak.

The three reports must hold the same rows (values within float tolerance). Times are wall-clock; CPU seconds are
shown beside them, as they vary less on a shared machine. ``--repeat N`` runs the three N times, interleaved, and
keeps each one's best time. ``--scale`` repeats (a) and (c) at 2× and 4× the rows to show whether memory stays
flat; ``--profile`` then runs the engine's calls in-process on the same data, timing every statement it makes, and
splits the load into CSV parsing, dedupe (DISTINCT or the window plan) and Parquet writing. Everything runs in a
temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from recimpact.simulate import (
    EVENT_ATTRIBUTION_SOURCE_FIELD,
    EVENT_VALUE_FIELD,
    ITEMS_SCHEMA,
    interactions_schema,
)

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
SERVER_COMMAND = [
    sys.executable,
    "-m",
    "recimpact",
]  # how (a) starts recimpact (a profiling harness may wrap it)

USERS = 1_000_000
ITEMS = 50_000
UNKNOWN_ITEMS = ITEMS // 100  # interactions also name items the catalog lacks: SUM(ITEMS.MARGIN) skips them
DAYS = 10
DUPLICATE_EVERY = 100  # row r with r % 100 == 99 repeats row r - 1 exactly
WINDOW = 900
UNDEFINED = "SOURCE_NAME_UNDEFINED"
GIB = 1 << 30

# The targets.
TARGET_VS_FLOOR = 1.5  # recimpact time at most 1.5× the floor's
TARGET_VS_PANDAS = 2.0  # recimpact at least 2× faster than pandas
TARGET_PEAK_RSS = 1 * GIB
TARGET_FLAT = 1.25  # peak RSS at 4× the rows at most 1.25× the peak at 1× ("flat")

INTERACTIONS_SCHEMA = interactions_schema(EVENT_VALUE_FIELD, EVENT_ATTRIBUTION_SOURCE_FIELD)
METRICS = [
    {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
    {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"},
    {"eventType": "Click", "expression": "SUM(INTERACTIONS.EVENT_VALUE)", "metricName": "sumClickValue"},
]
REPORT_COLUMNS = [
    "METRIC_NAME",
    "EVENT_TYPE",
    "VALUE",
    "MATH_FUNCTION",
    "EVENT_ATTRIBUTION_SOURCE",
    "TIMESTAMP",
]
CSV_COLUMNS = {  # how the hand-written solutions read the interactions CSV
    "USER_ID": "VARCHAR",
    "ITEM_ID": "VARCHAR",
    "TIMESTAMP": "BIGINT",
    "EVENT_TYPE": "VARCHAR",
    "EVENT_VALUE": "DOUBLE",
    "EVENT_ATTRIBUTION_SOURCE": "VARCHAR",
}


def duckdb_columns(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


def peak_rss_self() -> int:
    """This process's peak RSS in bytes (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------------------------------------------
# The data (its own process: DuckDB writes the CSVs)
# ---------------------------------------------------------------------------------------------------------------


def generate(rows: int, folder: Path, now: int) -> None:
    import duckdb

    conn = duckdb.connect()
    interactions = folder / "interactions.csv"
    items = folder / "items.csv"
    # A uniform value in [0, 1) per row and purpose: hash(row, salt) is deterministic (the rows do not depend on
    # thread scheduling or a random seed) and independent across salts.
    u = "(hash(b, {salt}) % 1000000) / 1000000.0"
    conn.execute(
        f"""
        COPY (
          WITH base AS (
            SELECT CASE WHEN r % {DUPLICATE_EVERY} = {DUPLICATE_EVERY - 1} THEN r - 1 ELSE r END AS b
            FROM range({rows}) t(r)
          ), draws AS (
            SELECT {u.format(salt=1)} AS u_user, {u.format(salt=2)} AS u_item, {u.format(salt=3)} AS u_time,
                   {u.format(salt=4)} AS u_type, {u.format(salt=5)} AS u_source, {u.format(salt=6)} AS u_value
            FROM base
          ), events AS (
            SELECT *, CASE WHEN u_type < 0.70 THEN 'View' WHEN u_type < 0.85 THEN 'Click'
                           WHEN u_type < 0.94 THEN 'AddToCart' ELSE 'Purchase' END AS event_type
            FROM draws
          )
          SELECT
            'u' || CAST(floor(u_user * {USERS}) AS BIGINT) AS USER_ID,
            'i' || CAST(floor(pow(u_item, 2) * {ITEMS + UNKNOWN_ITEMS}) AS BIGINT) AS ITEM_ID,
            {now} - CAST(floor(u_time * {DAYS * 86400}) AS BIGINT) AS TIMESTAMP,
            event_type AS EVENT_TYPE,
            CASE
              WHEN event_type = 'Click' AND u_value < 0.8 THEN round(u_value * 25, 2)
              WHEN event_type = 'AddToCart' THEN CAST(1 + floor(u_value * 3) AS DOUBLE)
              WHEN event_type = 'Purchase' THEN round(5 + u_value * 200, 2)
            END AS EVENT_VALUE,
            CASE WHEN u_source < 0.40 THEN 'recommended_for_you' WHEN u_source < 0.65 THEN 'viewed_x_also_viewed'
                 WHEN u_source < 0.70 THEN 'partner_newsletter' WHEN u_source < 0.75 THEN 'partner_ads'
            END AS EVENT_ATTRIBUTION_SOURCE
          FROM events
        ) TO '{interactions}' (HEADER, DELIMITER ',')
        """
    )
    conn.execute(
        f"""
        COPY (
          SELECT 'i' || k AS ITEM_ID, round(5 + (hash(k, 7) % 20000) / 100.0, 2) AS PRICE,
                 'c' || (hash(k, 8) % 20) AS CATEGORY_L1, 'c' || (hash(k, 8) % 20) || '-' || (hash(k, 9) % 10)
                 AS CATEGORY_L2, round((5 + (hash(k, 7) % 20000) / 100.0) * (0.05 + (hash(k, 10) % 30) / 100.0), 2)
                 AS MARGIN
          FROM range({ITEMS}) t(k)
        ) TO '{items}' (HEADER, DELIMITER ',')
        """
    )
    conn.close()


# ---------------------------------------------------------------------------------------------------------------
# (b) pandas and (c) the DuckDB floor (each its own process)
# ---------------------------------------------------------------------------------------------------------------


def run_pandas(interactions: Path, items: Path, out: Path) -> None:
    """What a user writes: read everything, drop exact duplicates, then one groupby per metric."""
    import pandas as pd

    strings = {"USER_ID": str, "ITEM_ID": str, "EVENT_TYPE": str, "EVENT_ATTRIBUTION_SOURCE": str}
    df = pd.read_csv(interactions, dtype=strings)
    df = df.drop_duplicates()
    catalog = pd.read_csv(items, usecols=["ITEM_ID", "MARGIN"], dtype={"ITEM_ID": str})
    df["SOURCE"] = df["EVENT_ATTRIBUTION_SOURCE"].fillna(UNDEFINED)
    df["WINDOW"] = df["TIMESTAMP"] // WINDOW * WINDOW
    keys = ["SOURCE", "WINDOW"]

    views = df[df["EVENT_TYPE"] == "View"].groupby(keys).size().astype(float).rename("VALUE").reset_index()
    views = views.assign(METRIC_NAME="COUNTVIEWS", EVENT_TYPE="VIEW", MATH_FUNCTION="samplecount")
    purchases = df[df["EVENT_TYPE"] == "Purchase"].merge(catalog, on="ITEM_ID").dropna(subset=["MARGIN"])
    margin = purchases.groupby(keys)["MARGIN"].sum().rename("VALUE").reset_index()
    margin = margin.assign(METRIC_NAME="SUMMARGIN", EVENT_TYPE="PURCHASE", MATH_FUNCTION="sum")
    clicks = df[(df["EVENT_TYPE"] == "Click") & df["EVENT_VALUE"].notna()]
    value = clicks.groupby(keys)["EVENT_VALUE"].sum().rename("VALUE").reset_index()
    value = value.assign(METRIC_NAME="SUMCLICKVALUE", EVENT_TYPE="CLICK", MATH_FUNCTION="sum")

    report = pd.concat([views, margin, value]).rename(
        columns={"SOURCE": "EVENT_ATTRIBUTION_SOURCE", "WINDOW": "TIMESTAMP"}
    )
    report = report.sort_values(
        ["TIMESTAMP", "METRIC_NAME", "EVENT_ATTRIBUTION_SOURCE"], ascending=[False, True, True]
    )
    report[REPORT_COLUMNS].to_csv(out, index=False)


def floor_sql(interactions: Path, items: Path, out: Path) -> str:
    """One query: DISTINCT rows, one aggregate per (event type, source, window), one output row per metric."""
    return f"""
    COPY (
      WITH rows AS (
        SELECT DISTINCT * FROM read_csv('{interactions}', header=true, auto_detect=false,
                                         columns={duckdb_columns(CSV_COLUMNS)})
      ), catalog AS (
        SELECT ITEM_ID, MARGIN FROM read_csv('{items}', header=true, auto_detect=false,
          columns={
        duckdb_columns(
            {
                "ITEM_ID": "VARCHAR",
                "PRICE": "DOUBLE",
                "CATEGORY_L1": "VARCHAR",
                "CATEGORY_L2": "VARCHAR",
                "MARGIN": "DOUBLE",
            }
        )
    })
      ), agg AS MATERIALIZED (
        SELECT upper(r.EVENT_TYPE) AS et,
               coalesce(nullif(trim(r.EVENT_ATTRIBUTION_SOURCE), ''), '{UNDEFINED}') AS src,
               r.TIMESTAMP // {WINDOW} * {WINDOW} AS ws,
               count(*) AS n, sum(c.MARGIN) AS margin, sum(r.EVENT_VALUE) AS value
        FROM rows r LEFT JOIN catalog c ON r.ITEM_ID = c.ITEM_ID
        WHERE upper(r.EVENT_TYPE) IN ('VIEW', 'PURCHASE', 'CLICK')
        GROUP BY ALL
      )
      SELECT * FROM (
        SELECT 'COUNTVIEWS' AS METRIC_NAME, et AS EVENT_TYPE, CAST(n AS DOUBLE) AS VALUE,
               'samplecount' AS MATH_FUNCTION, src AS EVENT_ATTRIBUTION_SOURCE, ws AS TIMESTAMP
        FROM agg WHERE et = 'VIEW'
        UNION ALL
        SELECT 'SUMMARGIN', et, margin, 'sum', src, ws FROM agg WHERE et = 'PURCHASE' AND margin IS NOT NULL
        UNION ALL
        SELECT 'SUMCLICKVALUE', et, value, 'sum', src, ws FROM agg WHERE et = 'CLICK' AND value IS NOT NULL
      ) ORDER BY TIMESTAMP DESC, METRIC_NAME, EVENT_ATTRIBUTION_SOURCE
    ) TO '{out}' (HEADER, DELIMITER ',')
    """


def run_floor(interactions: Path, items: Path, out: Path) -> None:
    import duckdb

    conn = duckdb.connect()
    conn.execute(floor_sql(interactions, items, out))
    conn.close()


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_role(args: argparse.Namespace) -> None:
    """A measured subprocess: does its one thing and prints its time, CPU time and peak RSS as JSON."""
    folder = Path(args.folder)
    if args.role == "generate":
        generate(args.rows, folder, args.now)
        print(json.dumps({"peak_rss": peak_rss_self()}))
        return
    if args.role == "profile":
        print(json.dumps(profile_engine(folder, Path(args.out))))
        return
    solve: Callable[[Path, Path, Path], None] = run_pandas if args.role == "pandas" else run_floor
    if args.role == "pandas":
        import pandas  # noqa: F401  (imported before the clock starts, as duckdb is for the floor)
    else:
        import duckdb  # noqa: F401
    cpu, start = cpu_self(), time.perf_counter()
    solve(folder / "interactions.csv", folder / "items.csv", Path(args.out))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "cpu": cpu_self() - cpu, "peak_rss": peak_rss_self()}))


# ---------------------------------------------------------------------------------------------------------------
# (a) recimpact, as a server
# ---------------------------------------------------------------------------------------------------------------


class Server:
    """``recimpact serve`` on a free loopback port, until it prints ``listening on URL``; SIGTERM (then SIGKILL)
    at exit."""

    def __init__(self, data_dir: Path, engine: str, log: Path, spark_master: str = "local[*]") -> None:
        self.data_dir, self.engine, self.log, self.spark_master = data_dir, engine, log, spark_master
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    @contextlib.contextmanager
    def running(self) -> Iterator[Server]:
        command = [*SERVER_COMMAND, "serve", "--port", "0", "--host", "127.0.0.1"]
        command += ["--data-dir", str(self.data_dir), "--engine", self.engine]
        if self.engine == "spark":
            command += ["--spark-master", self.spark_master]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=out, text=True, env=env)
            try:
                assert self.proc.stdout is not None
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not self.url:
                    line = self.proc.stdout.readline()
                    if not line:
                        break
                    match = re.search(r"listening on (http://\S+)", line)
                    self.url = match.group(1) if match else ""
                if not self.url:
                    raise RuntimeError(f"recimpact serve did not start:\n{self.log.read_text()[-3000:]}")
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # keep the pipe drained
                yield self
            finally:
                if self.proc.poll() is None:
                    self.proc.send_signal(signal.SIGTERM)
                    try:
                        self.proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "personalize",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"max_attempts": 1}),
        )


class Memory:
    """A process's peak RSS: VmHWM from /proc (reset through clear_refs, so a phase is measured on its own), or,
    where /proc lacks it, the largest RSS psutil sees while polling."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sampled = 0
        self._psutil: Any = None
        if not Path(f"/proc/{pid}/status").exists():
            with contextlib.suppress(ImportError):
                import psutil

                self._psutil = psutil.Process(pid)

    def tree(self) -> list[int]:
        """The process and its descendants (a Spark server's driver JVM is its child)."""
        found, pending = [], [self.pid]
        while pending:
            pid = pending.pop()
            found.append(pid)
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    pending += [int(c) for c in children.read_text().split()]
        return found

    def _status(self, field: str) -> int | None:
        """The field summed over the process tree."""
        total = None
        for pid in self.tree():
            try:
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
            if match:
                total = (total or 0) + int(match.group(1)) * 1024
        return total

    def reset(self) -> None:
        for pid in self.tree():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text(
                    "5"
                )  # Linux: reset the peak RSS to the current RSS
        self.sampled = 0
        self.sample()

    def sample(self) -> None:
        rss = self._status("VmRSS")
        if rss is None and self._psutil is not None:
            rss = int(self._psutil.memory_info().rss)
        self.sampled = max(self.sampled, rss or 0)

    def current(self) -> int:
        return self._status("VmRSS") or self.sampled

    def peak(self) -> int:
        return max(self._status("VmHWM") or 0, self.sampled)

    def cpu(self) -> float:
        """User + system CPU seconds of the process tree so far."""
        ticks = None
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks = (ticks or 0) + int(fields[11]) + int(fields[12])
        if ticks is not None:
            return ticks / os.sysconf("SC_CLK_TCK")
        if self._psutil is not None:
            times = self._psutil.cpu_times()
            return float(times.user + times.system)
        return float("nan")


def wait_active(personalize: Any, arn: str, timeout: float, tick: Callable[[], None] | None = None) -> float:
    """Poll DescribeDatasetImportJob every 0.05 s until ACTIVE; returns the time it was seen ACTIVE."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
        seen = time.perf_counter()
        if job["status"] == "ACTIVE":
            return seen
        if job["status"] == "CREATE FAILED":
            raise RuntimeError(f"import job failed: {job.get('failureReason')}")
        if tick:
            tick()
        time.sleep(0.05)
    raise RuntimeError(f"import job {arn} not ACTIVE after {timeout:.0f} s")


class Recimpact:
    """A server with a dataset group, datasets, the attribution (file:// destination) and the items imported; each
    ``import_interactions`` is one timed FULL import that publishes its report."""

    def __init__(
        self, folder: Path, work: Path, engine: str, rows: int, spark_master: str = "local[*]"
    ) -> None:
        self.folder, self.reports = folder, work / "reports"
        self.reports.mkdir(parents=True)
        self.server = Server(work / "server", engine, work / "server.log", spark_master)
        self.timeout = 120 + rows / 20_000  # generous: 10M rows may take minutes on a slow, shared machine
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Recimpact:
        self._stack.enter_context(self.server.running())
        try:
            self._set_up()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _set_up(self) -> None:
        personalize = self.personalize = self.server.client()
        self.name = name = f"bulk-{uuid.uuid4().hex[:8]}"
        group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
        self.datasets = {}
        for kind, schema in (("Interactions", INTERACTIONS_SCHEMA), ("Items", ITEMS_SCHEMA)):
            schema_arn = personalize.create_schema(name=f"{name}-{kind}", schema=json.dumps(schema))[
                "schemaArn"
            ]
            self.datasets[kind] = personalize.create_dataset(
                name=f"{name}-{kind}", datasetGroupArn=group, datasetType=kind, schemaArn=schema_arn
            )["datasetArn"]
        personalize.create_metric_attribution(
            name=name,
            datasetGroupArn=group,
            metrics=METRICS,
            metricsOutputConfig={
                "roleArn": "arn:aws:iam::000000000000:role/bench",
                "s3DataDestination": {"path": f"file://{self.reports}/"},
            },
        )
        started = time.perf_counter()
        items_job = personalize.create_dataset_import_job(
            jobName=f"{name}-items",
            datasetArn=self.datasets["Items"],
            dataSource={"dataLocation": f"file://{self.folder / 'items.csv'}"},
            roleArn="arn:aws:iam::000000000000:role/bench",
            importMode="FULL",
        )["datasetImportJobArn"]
        self.first_job_seconds = wait_active(personalize, items_job, self.timeout) - started
        self.memory = Memory(self.server.pid)
        self.attempts = 0

    def import_interactions(self) -> dict[str, Any]:
        time.sleep(0.5)  # let the server settle (and free what a previous job held)
        memory = self.memory
        idle = memory.current()
        memory.reset()
        before = set(self.reports.glob("AggregatedAttributionMetrics*.csv"))
        self.attempts += 1
        cpu, start = memory.cpu(), time.perf_counter()
        job = self.personalize.create_dataset_import_job(
            jobName=f"{self.name}-interactions-{self.attempts}",
            datasetArn=self.datasets["Interactions"],
            dataSource={"dataLocation": f"file://{self.folder / 'interactions.csv'}"},
            roleArn="arn:aws:iam::000000000000:role/bench",
            importMode="FULL",
            publishAttributionMetricsToS3=True,
        )["datasetImportJobArn"]
        done = wait_active(self.personalize, job, self.timeout, memory.sample)
        cpu = memory.cpu() - cpu
        written = sorted(set(self.reports.glob("AggregatedAttributionMetrics*.csv")) - before)
        if len(written) != 1:
            raise RuntimeError(f"expected one new report in {self.reports}, found {written}")
        return {
            "seconds": done - start,
            "cpu": cpu,
            "peak_rss": memory.peak(),
            "idle_rss": idle,
            "report": str(written[0]),
            "first_job_seconds": self.first_job_seconds,
        }


# ---------------------------------------------------------------------------------------------------------------
# The profile: the engine's steps, in-process, on the same data
# ---------------------------------------------------------------------------------------------------------------


class _Timed:
    """A DuckDB connection (or cursor) that records how long each statement takes: wrapped around the engine's
    connection, it profiles the engine's real statements, whatever they become."""

    def __init__(self, target: Any, log: list[dict[str, Any]], memory: Memory) -> None:
        self._target, self._log, self._memory = target, log, memory

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def cursor(self) -> _Timed:
        return _Timed(self._target.cursor(), self._log, self._memory)

    def execute(self, sql: str, *args: Any) -> Any:
        self._memory.reset()
        cpu, start = cpu_self(), time.perf_counter()
        result = self._target.execute(sql, *args)
        self._log.append(
            {
                "sql": " ".join(sql.split()),
                "seconds": time.perf_counter() - start,
                "cpu": cpu_self() - cpu,
                "peak_rss": self._memory.peak(),
            }
        )
        return result


def profile_engine(folder: Path, work: Path) -> list[dict[str, Any]]:
    """The engine's calls for an interactions import, in-process, each statement timed with its CPU time and
    peak RSS; then the load's statement split into CSV parsing, dedupe and Parquet writing, and run without the
    memory limit."""
    sys.path.insert(0, str(ROOT / "src"))
    import duckdb

    from recimpact.domain.attribution import CompiledMetric
    from recimpact.domain.expressions import parse_expression
    from recimpact.domain.schema import parse_schema
    from recimpact.engine import duckdb as engine_module
    from recimpact.engine.base import InputFile
    from recimpact.engine.plan import AttributionQuery
    from recimpact.sinks.reports import job_report_rows, to_csv

    schema = parse_schema(json.dumps(INTERACTIONS_SCHEMA))
    interactions = folder / "interactions.csv"
    file = InputFile(interactions, f"file://{interactions}", schema.columns)
    memory = Memory(os.getpid())
    steps: list[dict[str, Any]] = []

    def step(name: str, action: Callable[[], Any]) -> Any:
        statements: list[dict[str, Any]] = []
        engine._conn = _Timed(raw, statements, memory)
        memory.reset()
        cpu, start = cpu_self(), time.perf_counter()
        result = action()
        steps.append(
            {
                "step": name,
                "seconds": time.perf_counter() - start,
                "cpu": cpu_self() - cpu,
                "peak_rss": max([memory.peak()] + [t["peak_rss"] for t in statements]),
                "statements": statements,
            }
        )
        return result

    engine = engine_module.DuckDBEngine(work / "tmp")
    raw = engine._conn
    part = work / "part.parquet"
    loaded = step("engine.load", lambda: engine.load([file], schema.columns, part))
    items = work / "items.csv"
    with duckdb.connect() as catalog:
        catalog.execute(f"COPY (SELECT ITEM_ID, MARGIN FROM '{folder / 'items.csv'}') TO '{items}' (HEADER)")
    metrics = tuple(
        CompiledMetric(
            m["metricName"].upper(), m["eventType"].upper(), parse_expression(m["expression"]), 0.0
        )
        for m in METRICS
    )
    bare = AttributionQuery(metrics=(), interaction_columns=loaded.columns)
    step("engine.sources", lambda: engine.sources(bare, [part], None))
    full = AttributionQuery(metrics=metrics, interaction_columns=loaded.columns)
    results = step("engine.aggregate", lambda: engine.aggregate(full, [part], items, None))
    step("report_rows + to_csv", lambda: to_csv(job_report_rows(full, results)))

    # The load's COPY, split. Its query is SELECT DISTINCT <columns> FROM <CSV> (the plan for inputs up to the
    # engine's threshold) or SELECT * FROM (SELECT <columns> FROM <CSV>) QUALIFY row_number() ... = 1 (larger ones).
    copy = next(s["sql"] for s in steps[0]["statements"] if s["sql"].startswith("COPY"))
    inner = copy[len("COPY (") : copy.rindex(") TO '")]
    if inner.startswith("SELECT DISTINCT "):
        plain = inner.replace("SELECT DISTINCT ", "SELECT ", 1)
    else:
        plain = inner[len("SELECT * FROM (") : inner.rindex(") QUALIFY ")]
    names = ", ".join(
        engine_module.quote(c.name.upper()) for c in schema.columns if c.name.upper() in loaded.columns
    )
    distinct = f"SELECT DISTINCT * FROM ({plain})"
    window = f"SELECT * FROM ({plain}) QUALIFY row_number() OVER (PARTITION BY {names}) = 1"
    variants = [
        ("  parse CSV only (max of every column)", f"SELECT max(COLUMNS(*)) FROM ({plain})"),
        ("  parse + DISTINCT, nothing written", f"SELECT count(*) FROM ({distinct})"),
        ("  parse + window dedupe, nothing written", f"SELECT count(*) FROM ({window})"),
        ("  parse + write Parquet, no dedupe", copy.replace(inner, plain, 1)),
        ("  COPY with DISTINCT (the plan up to the threshold)", copy.replace(inner, distinct, 1)),
        ("  COPY with window dedupe (the plan above it)", copy.replace(inner, window, 1)),
        (
            "  required-value check by scanning the Parquet",
            "SELECT "
            + ", ".join(
                f"count(*) FILTER (WHERE {engine_module.quote(c.name.upper())} IS NULL)"
                for c in schema.columns
                if not c.nullable
            )
            + f" FROM read_parquet('{part}')",
        ),
    ]
    for name, sql in variants:
        step(name, lambda sql=sql: engine._conn.execute(sql).fetchall())
    raw.execute("SET memory_limit = '16GB'")
    step("  COPY with DISTINCT, memory_limit 16GB", lambda: engine._conn.execute(variants[4][1]).fetchall())
    engine._conn = raw
    engine.close()
    for s in steps:  # keep the statements that took time, shortened
        s["statements"] = [
            {**t, "sql": t["sql"][:65] + ("…" if len(t["sql"]) > 65 else "")}
            for t in s["statements"]
            if t["seconds"] >= 0.05 and len(s["statements"]) > 1
        ]
    return steps


# ---------------------------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------------------------


def child(role: str, folder: Path, out: Path, timeout: float, *extra: str) -> dict[str, Any]:
    command = [sys.executable, str(HERE), "--role", role, "--folder", str(folder), "--out", str(out), *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{role} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def read_report(path: Path) -> dict[tuple[str, ...], float]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != REPORT_COLUMNS:
            raise RuntimeError(f"{path.name}: header {reader.fieldnames}, expected {REPORT_COLUMNS}")
        report: dict[tuple[str, ...], float] = {}
        for row in reader:
            key = tuple(
                str(int(float(row[c]))) if c == "TIMESTAMP" else row[c]
                for c in REPORT_COLUMNS
                if c != "VALUE"
            )
            if key in report:
                raise RuntimeError(f"{path.name}: {key} appears twice")
            report[key] = float(row["VALUE"])
    return report


def compare(reports: dict[str, Path]) -> tuple[int, float]:
    """Every report against the first: the same keys, values within 1e-9 relative. Returns (rows, worst diff)."""
    (first_name, first_path), *others = reports.items()
    first = read_report(first_path)
    worst = 0.0
    for name, path in others:
        other = read_report(path)
        if other.keys() != first.keys():
            missing, extra = sorted(first.keys() - other.keys()), sorted(other.keys() - first.keys())
            raise RuntimeError(
                f"{name} and {first_name} differ: {len(missing)} rows missing (e.g. {missing[:2]}), "
                f"{len(extra)} extra (e.g. {extra[:2]})"
            )
        for key, value in first.items():
            diff = abs(value - other[key]) / max(abs(value), 1e-12)
            if diff > 1e-9:
                raise RuntimeError(f"{name} and {first_name} differ at {key}: {other[key]} vs {value}")
            worst = max(worst, diff)
    return len(first), worst


def gib(size: float) -> str:
    return f"{size / GIB:.2f} GiB"


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run (a shared machine only ever slows a run down), with the largest peak RSS of all runs."""
    fastest = min(runs, key=lambda r: r["seconds"])
    return {
        **fastest,
        "all_seconds": [r["seconds"] for r in runs],
        "peak_rss": max(r["peak_rss"] for r in runs),
    }


def measure(rows: int, args: argparse.Namespace, tmp: Path, with_pandas: bool) -> dict[str, Any]:
    folder = tmp / f"data-{rows}"
    folder.mkdir()
    limit = 600 + rows / 5_000
    now = int(time.time()) // 3600 * 3600
    say(f"generating {rows:,} rows ...")
    started = time.perf_counter()
    child("generate", folder, folder, limit, "--rows", str(rows), "--now", str(now))
    size = (folder / "interactions.csv").stat().st_size
    say(f"  {size / 1e6:,.0f} MB in {time.perf_counter() - started:.1f} s")

    result: dict[str, Any] = {
        "rows": rows,
        "csv_bytes": size,
        "distinct": rows - rows // DUPLICATE_EVERY,
        "load_average": os.getloadavg()[0],
    }
    engines = engines_of(args)
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "pandas": [], **{e: [] for e in engines}}

    def report(name: str, run: dict[str, Any]) -> None:
        runs[name].append(run)
        label = f"recimpact ({name})" if name in engines else name
        say(f"  {label}: {run['seconds']:.2f} s, CPU {run['cpu']:.1f} s, peak RSS {gib(run['peak_rss'])}")

    with contextlib.ExitStack() as stack:
        servers = {
            engine: stack.enter_context(
                Recimpact(folder, tmp / f"recimpact-{engine}-{rows}", engine, rows, args.spark_master)
            )
            for engine in engines
        }
        for attempt in range(args.repeat):  # interleaved, so a noisy neighbour slows all of them alike
            say(f"run {attempt + 1} of {args.repeat} ...")
            report("floor", child("floor", folder, folder / f"floor-{attempt}.csv", limit))
            for engine, server in servers.items():
                report(engine, server.import_interactions())
            if with_pandas:
                report("pandas", child("pandas", folder, folder / f"pandas-{attempt}.csv", limit))
    reports = {f"recimpact ({e})": Path(runs[e][0]["report"]) for e in engines}
    reports["floor"] = folder / "floor-0.csv"
    if with_pandas:
        reports["pandas"] = folder / "pandas-0.csv"
    result["report_rows"], result["worst_diff"] = compare(reports)
    result.update({name: best(r) for name, r in runs.items() if r})
    result["recimpact"] = result[engines[0]]
    if args.profile and rows == args.rows:
        say("profiling the engine's statements in-process ...")
        work = tmp / f"profile-{rows}"
        work.mkdir()
        result["profile"] = child("profile", folder, work, limit * 3)
        shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    for engine in engines:
        shutil.rmtree(tmp / f"recimpact-{engine}-{rows}", ignore_errors=True)
    return result


def engines_of(args: argparse.Namespace) -> list[str]:
    return ["duckdb", "spark"] if args.engine == "both" else [args.engine]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_results(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    base = results[0]
    rec, floor = base["recimpact"], base["floor"]
    pandas = base.get("pandas")
    print()
    print(
        f"bulk import: {base['rows']:,} interactions ({base['distinct']:,} distinct), CSV {base['csv_bytes'] / 1e6:,.0f} MB,"
        f" {ITEMS:,} items, 3 metrics; {os.cpu_count()} cores, load average {base['load_average']:.1f} at the start;"
        f" best of {args.repeat}"
    )
    print(f"{'':42}{'time':>9}{'CPU':>9}{'peak RSS':>11}{'vs floor':>10}{'vs pandas':>11}")
    engines = engines_of(args)
    lines = [("DuckDB floor (one query)", floor)]
    lines += [(f"recimpact ({e}) import+persist+report", base[e]) for e in engines]
    if pandas:
        lines.append(("pandas baseline", pandas))
    for label, r in lines:
        vs_pandas = f"{pandas['seconds'] / r['seconds']:.2f}×" if pandas else "-"
        print(
            f"{label:42}{r['seconds']:8.2f}s{r['cpu']:8.1f}s{gib(r['peak_rss']):>11}"
            f"{r['seconds'] / floor['seconds']:9.2f}×{vs_pandas:>11}"
        )
    if args.repeat > 1:
        for label, r in lines:
            print(
                f"  {label.replace(' import+persist+report', '')} runs: {', '.join(f'{s:.2f} s' for s in r['all_seconds'])}"
            )
    for e in engines:
        print(
            f"  recimpact ({e}): server RSS before the job {gib(base[e]['idle_rss'])}; its first job (the items"
            f" import{', with the JVM and Spark session start' if e == 'spark' else ''})"
            f" {base[e]['first_job_seconds']:.2f} s"
        )
    compared = ", ".join(f"recimpact ({e})" for e in engines) + ", floor" + (", pandas" if pandas else "")
    print(
        f"  reports ({compared}): {base['report_rows']:,} rows each, identical"
        f" (largest relative VALUE difference {base['worst_diff']:.1e})"
    )
    if len(results) > 1:
        print()
        print(
            f"{'rows':>14}{'CSV MB':>9}{'recimpact':>11}{'peak RSS':>11}{'floor':>9}{'peak RSS':>11}{'ratio':>8}"
        )
        for r in results:
            print(
                f"{r['rows']:>14,}{r['csv_bytes'] / 1e6:>9,.0f}{r['recimpact']['seconds']:>10.2f}s"
                f"{gib(r['recimpact']['peak_rss']):>11}{r['floor']['seconds']:>8.2f}s"
                f"{gib(r['floor']['peak_rss']):>11}{r['recimpact']['seconds'] / r['floor']['seconds']:>7.2f}×"
            )
    print()
    print(f"targets (import + persist + report, recimpact on {engines[0]})")

    def target(label: str, value: str, ok: bool | None) -> None:
        print(f"  {label:40}{value:>11}   {'' if ok is None else mark(ok)}")

    vs_floor = rec["seconds"] / floor["seconds"]
    target(f"within {TARGET_VS_FLOOR}× of the floor's time", f"{vs_floor:.2f}×", vs_floor <= TARGET_VS_FLOOR)
    if pandas:
        speedup = pandas["seconds"] / rec["seconds"]
        target(
            f"≥ {TARGET_VS_PANDAS:.0f}× faster than pandas", f"{speedup:.2f}×", speedup >= TARGET_VS_PANDAS
        )
    peak = max(r["recimpact"]["peak_rss"] for r in results)
    target("peak RSS under 1 GiB", gib(peak), peak < TARGET_PEAK_RSS)
    if len(results) > 1:
        growth = results[-1]["recimpact"]["peak_rss"] / rec["peak_rss"]
        scale = results[-1]["rows"] / base["rows"]
        target(
            f"memory flat ({scale:.0f}× rows: ≤ {TARGET_FLAT}× peak RSS)",
            f"{growth:.2f}×",
            growth <= TARGET_FLAT,
        )
    else:
        target("memory flat as rows grow", "(--scale)", None)
    if "profile" in base:
        print()
        print(
            f"engine steps in-process, same {base['rows']:,} rows (statements ≥ 0.05 s indented; peak RSS each)"
        )
        for s in base["profile"]:
            print(f"  {s['step']:72}{s['seconds']:7.2f}s{s['cpu']:7.1f}s{gib(s['peak_rss']):>10}")
            for t in s["statements"]:
                print(f"      {t['sql']:66}{t['seconds']:7.2f}s{t['cpu']:7.1f}s{gib(t['peak_rss']):>10}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="interactions to generate (default 10M)")
    parser.add_argument("--quick", action="store_true", help="1M rows, for a smoke run")
    parser.add_argument(
        "--engine",
        default="duckdb",
        choices=["duckdb", "spark", "both"],
        help="recimpact's bulk engine, or both side by side (default duckdb)",
    )
    parser.add_argument(
        "--spark-master", default="local[*]", help="the Spark master of --engine spark (default local[*])"
    )
    parser.add_argument(
        "--scale", action="store_true", help="also run recimpact and the floor at 2× and 4× rows"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each solution per size, interleaved (best time shown)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also time each step of the DuckDB engine in-process"
    )
    # The subprocess roles.
    parser.add_argument(
        "--role",
        choices=["driver", "generate", "pandas", "floor", "profile"],
        default="driver",
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--folder", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    parser.add_argument("--now", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role != "driver":
        run_role(args)
        return
    if args.quick:
        args.rows = 1_000_000
    if args.rows < 1000 or args.repeat < 1:
        parser.error("--rows must be at least 1000 and --repeat at least 1")
    sizes = [args.rows * k for k in ((1, 2, 4) if args.scale else (1,))]
    has_pandas = importlib.util.find_spec("pandas") is not None
    if not has_pandas:
        say("pandas is not installed (pip install pandas): the pandas baseline is left out")
    with tempfile.TemporaryDirectory(prefix="recimpact-bulk-") as name:
        tmp = Path(name)
        results = [measure(n, args, tmp, with_pandas=has_pandas and n == args.rows) for n in sizes]
    print_results(results, args)


if __name__ == "__main__":
    main()
