"""INCREMENTAL interaction imports into the event log: how long PutEvents waits while one runs, and how fast rows go in.

    .venv/bin/python benchmarks/incremental.py [--rows 1000000] [--quick] [--rate 500] [--connections 8]

An INCREMENTAL interactions import appends its rows to the SQLite event log PutEvents writes
(``jobs/import_rows.py``): from a process of its own, a batch of 10,000 rows at a time, each batch one
transaction that takes the store's write turn like a PutEvents group commit. This measures what that costs the
PutEvents callers meanwhile, and how fast the rows go in. One run, one ``recimpact serve`` (``benchmarks/bulk.py``'s
``Server`` and ``Recimpact``: dataset group, datasets, a 3-metric attribution with a file:// destination, the items
imported), on two files from ``bulk.py``'s generator (deterministic; 1% exact duplicate rows):

- file A: the N rows as ``bulk.py`` makes them (timestamps over the last 10 days);
- file B: the same N rows moved ``--shift-days`` (default 5) into the past, so every row is new to the event log;
  with the default, about a tenth of them are more than 14 days old when received: kept, left out of the series.

Timeline, with a PutEvents load running throughout (its own process: ``--connections`` keep-alive connections,
``--rate`` calls/s in all on a fixed schedule, 10 events per call: 7 View and 3 Purchase of catalog items, source
``live_load``; 50 calls per connection first, closed loop, to warm the server up):

1. a quiet period (``--quiet`` seconds: the load only);
2. FULL import of A, publishing its report: the peer baseline (validate, dedupe, Parquet, sources, report; no
   event-log writes), timed from CreateDatasetImportJob to ACTIVE;
3. INCREMENTAL import of B, publishing its report, timed the same way; the job's phases come from
   ``/api/v1/import-jobs/progress`` (polled every 0.05 s): "committing" is the event-store unit, from the moment it
   is queued for the write turn until the job is ACTIVE;
4. the same INCREMENTAL import of B again: every row a duplicate, nothing new counted;
5. the quiet period again.

Before each job the driver waits until the load is back on schedule (every call due so far answered) and then
``--gap`` seconds, so one job's backlog does not spill into the next one's figures.

Latency is measured per call from the moment the schedule meant to send it to the complete answer, so a call that
had to wait behind a stalled one on its connection counts its wait (no coordinated omission). Calls belong to the
phase in which they were due. "longest call" is the longest single send → answer among the calls in flight during
the phase, "silence" the longest time in it without any PutEvents answered at all.

The event log's rate is estimated as distinct rows / (INCREMENTAL time − FULL time): what the INCREMENTAL job does
beyond the FULL one (and also shown over the commit phase alone). Peak RSS is the server's during each job (VmHWM,
reset before it). ``--profile`` runs py-spy on the server during the INCREMENTAL job (``.venv/bin/pip install
py-spy``) and lists, for its busiest thread (the store's writer, which runs the unit), where the samples fell.

Correctness, after the run (it fails otherwise): the live series, outside the load's source, equals the INCREMENTAL
job's own report in every window wholly within 14 days of the job's creation, holds no more than it in the window
the 14-day boundary crosses, and nothing older; its COUNTVIEWS total equals the distinct View rows of B within 14
days (counted by DuckDB over the CSV); the duplicate import changed nothing; and the load's source counts exactly
7 views per acknowledged call (no event lost or doubled during the stall).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import bulk
from recimpact.domain.attribution import LIVE_MAX_AGE_SECONDS

HERE = Path(__file__).resolve()
EVENTS_PER_CALL = 10
LOAD_SOURCE = "live_load"
DAY = 86400


# ---------------------------------------------------------------------------------------------------------------
# The PutEvents load (its own process)
# ---------------------------------------------------------------------------------------------------------------

COUNTER = b"@N@"
COUNTER_WIDTH = 12


def request_parts(host: str, port: int, tracking_id: str, nonce: str, turn: int) -> list[bytes]:
    """One PutEvents request (unsigned JSON, as ``benchmarks/ingest.py`` sends), split where the per-call counter
    goes: fixed width, so Content-Length holds for every call. sentAt moves with the clock (rebuilt every 0.2 s),
    the items rotate over the catalog, so SUM(ITEMS.MARGIN) reads an item's columns."""
    now = time.time()
    events = [
        {
            "eventId": f"{nonce}-@N@-{i}",
            "eventType": "Purchase" if i % 10 in (3, 6, 9) else "View",
            "itemId": f"i{(turn * EVENTS_PER_CALL + i) * 97 % bulk.ITEMS}",
            "sentAt": round(now - 30 * i, 3),
            "metricAttribution": {"eventAttributionSource": LOAD_SOURCE},
        }
        for i in range(EVENTS_PER_CALL)
    ]
    body = json.dumps(
        {
            "trackingId": tracking_id,
            "userId": f"u-{nonce}-@N@",
            "sessionId": f"s-{nonce}",
            "eventList": events,
        },
        separators=(",", ":"),
    ).encode()
    length = len(body) + body.count(COUNTER) * (COUNTER_WIDTH - len(COUNTER))
    head = (
        f"POST /events HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    return (head + body).split(COUNTER)


async def generate_load(args: argparse.Namespace) -> dict[str, Any]:
    """Open loop: call k of connection j is due at t0 + (k·C + j) / rate. A connection sends a call when it is due,
    or at once if it is late (still waiting for the previous answer); each call is recorded as (due, sent, answered,
    200?), on the clock the driver reads too (perf_counter is CLOCK_MONOTONIC on Linux)."""
    host, port = args.host, args.port
    nonce = uuid.uuid4().hex[:8]
    template = {"parts": request_parts(host, port, args.tracking_id, nonce, 0)}
    counter = itertools.count()
    records: list[tuple[float, float, float, bool]] = []
    errors: list[str] = []
    stop_file = Path(args.stop)
    stop_at = [float("inf")]  # calls due before it are all sent, however late; none due after it
    connections = [await asyncio.open_connection(host, port) for _ in range(args.connections)]

    async def call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[float, bool]:
        request = (b"%012d" % next(counter)).join(template["parts"])
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        body = await reader.readexactly(int(match.group(1))) if match else b""
        ok = head[9:12] == b"200"
        if not ok:
            errors.append((head[:12] + b" " + body[:200]).decode(errors="replace"))
            if len(errors) > 20:
                raise RuntimeError("too many errors: " + errors[0])
        return time.perf_counter(), ok

    # Warm-up, closed loop: the server's first calls (its caches filling) must not put the schedule behind.
    warmed = [0]

    async def warm_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(args.warmup_calls):
            # Awaited apart: `warmed[0] += (await ...)[1]` would read warmed[0] before waiting, and lose counts.
            _, ok = await call(reader, writer)
            warmed[0] += ok

    await asyncio.gather(*(warm_up(r, w) for r, w in connections))
    print("ready", flush=True)
    t0 = time.perf_counter() + 0.1
    pending = [t0] * args.connections  # each connection's call in flight, or its next one: when it was due
    lag_file = Path(args.out).with_suffix(".lag")

    async def connection(j: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for k in itertools.count():
                due = pending[j] = t0 + (k * args.connections + j) / args.rate
                while due >= stop_at[0] or time.perf_counter() < due:
                    if due >= stop_at[0]:
                        return
                    await asyncio.sleep(min(0.05, max(0.0, due - time.perf_counter())))
                sent = time.perf_counter()
                answered, ok = await call(reader, writer)
                records.append((due, sent, answered, ok))
        finally:
            writer.close()

    async def refresh() -> None:
        for turn in itertools.count(1):
            await asyncio.sleep(0.2)
            template["parts"] = request_parts(host, port, args.tracking_id, nonce, turn)

    async def watch() -> None:
        """Reports how far behind schedule the load is (the driver waits for it to catch up between jobs)."""
        staged = lag_file.with_suffix(".staged")
        while not stop_file.exists():
            await asyncio.sleep(0.05)
            staged.write_text(repr(max(0.0, time.perf_counter() - min(pending))))
            staged.replace(lag_file)
        stop_at[0] = float(stop_file.read_text())

    refresher, watcher = asyncio.create_task(refresh()), asyncio.create_task(watch())
    await asyncio.gather(*(connection(j, r, w) for j, (r, w) in enumerate(connections)))
    refresher.cancel()
    watcher.cancel()
    return {"records": records, "warmup_acked": warmed[0], "errors": errors, "cpu": time.process_time()}


def run_load_role(args: argparse.Namespace) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(generate_load(args))
    Path(args.out).write_text(json.dumps(result))


class Load:
    """The load process: started, ready (its connections open), then stopped through a file; its records read."""

    def __init__(
        self, url: str, tracking_id: str, rate: float, connections: int, work: Path, timeout: float
    ) -> None:
        parsed = urlparse(url)
        self.timeout = timeout
        self.stop, self.out = work / "load.stop", work / "load.json"
        self.command = [
            sys.executable,
            str(HERE),
            "--role",
            "load",
            "--host",
            str(parsed.hostname),
            "--port",
            str(parsed.port),
            "--tracking-id",
            tracking_id,
            "--rate",
            str(rate),
            "--connections",
            str(connections),
            "--stop",
            str(self.stop),
            "--out",
            str(self.out),
        ]
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Load:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the load generator did not start")
        return self

    def caught_up(self, within: float = 0.05) -> float:
        """Waits until the load is back on schedule (every call due is answered, within ``within`` s) for 0.5 s;
        returns how long that took."""
        started = time.perf_counter()
        lag_file, steady = self.out.with_suffix(".lag"), 0
        while steady < 10:
            if time.perf_counter() - started > self.timeout:
                raise RuntimeError(f"the PutEvents load is still behind schedule after {self.timeout:.0f} s")
            time.sleep(0.05)
            with contextlib.suppress(OSError, ValueError):
                steady = steady + 1 if float(lag_file.read_text()) < within else 0
        return time.perf_counter() - started

    def stop_at(self, moment: float) -> None:
        """No call due at or after ``moment`` (perf_counter); every one due before it still goes out."""
        staged = self.stop.with_suffix(".staged")
        staged.write_text(repr(moment))
        staged.replace(self.stop)

    def finish(self, moment: float) -> dict[str, Any]:
        assert self.proc is not None
        self.stop_at(moment)
        self.proc.wait(timeout=600)
        if self.proc.returncode != 0:
            raise RuntimeError(f"the load generator failed ({self.proc.returncode})")
        result: dict[str, Any] = json.loads(self.out.read_text())
        return result

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop_at(time.perf_counter())
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------------------------------
# The jobs
# ---------------------------------------------------------------------------------------------------------------


def run_job(
    rec: bulk.Recimpact, csv_path: Path, mode: str, label: str, profile: Path | None = None
) -> dict[str, Any]:
    """One interactions import publishing its report, timed from CreateDatasetImportJob until the progress API
    says ACTIVE (polled every 0.05 s); each phase's first sighting recorded; the server's peak RSS and CPU over it."""
    from recimpact.cli.client import import_progress

    memory = rec.memory
    memory.reset()
    before = set(rec.reports.glob("AggregatedAttributionMetrics*.csv"))
    cpu, start = memory.cpu(), time.perf_counter()
    arn = rec.personalize.create_dataset_import_job(
        jobName=f"{rec.name}-{label}",
        datasetArn=rec.datasets["Interactions"],
        dataSource={"dataLocation": f"file://{csv_path}"},
        roleArn="arn:aws:iam::000000000000:role/bench",
        importMode=mode,
        publishAttributionMetricsToS3=True,
    )["datasetImportJobArn"]
    spy = start_profile(rec.server.pid, profile) if profile else None
    phases: dict[str, float] = {}
    deadline = time.monotonic() + rec.timeout
    while True:
        state = import_progress(rec.server.url, arn)
        seen = time.perf_counter()
        if state["status"] == "ACTIVE":
            break
        if state["status"] == "CREATE FAILED":
            raise RuntimeError(f"{label} import failed: {state.get('failureReason')}")
        if state.get("progress"):
            phases.setdefault(state["progress"]["phase"], seen)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{label} import not ACTIVE after {rec.timeout:.0f} s")
        memory.sample()
        time.sleep(0.05)
    cpu = memory.cpu() - cpu
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        spy.wait(timeout=60)
    job = rec.personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    written = sorted(set(rec.reports.glob("AggregatedAttributionMetrics*.csv")) - before)
    if len(written) != 1:
        raise RuntimeError(f"expected one new report in {rec.reports}, found {written}")
    return {
        "label": label,
        "mode": mode,
        "start": start,
        "end": seen,
        "seconds": seen - start,
        "cpu": cpu,
        "peak_rss": memory.peak(),
        "phases": phases,
        "committing": seen - phases["committing"] if "committing" in phases else float("nan"),
        "received_at": job["creationDateTime"].timestamp(),
        "report": written[0],
    }


PROFILE_RATE = 100  # py-spy samples per second


def start_profile(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on the server (every thread, idle frames left out, collapsed stacks) until interrupted."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        say("--profile: py-spy is not installed (.venv/bin/pip install py-spy); no profile")
        return None
    command = [py_spy, "record", "--pid", str(pid), "--rate", str(PROFILE_RATE), "--format", "raw"]
    command += ["--output", str(out), "--threads", "--function", "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(path: Path, top: int) -> dict[str, Any]:
    """From py-spy's collapsed stacks: samples per thread, and for the busiest thread (the store's writer, which
    runs the job's unit) the functions with the most samples, inclusive of their callees and on their own."""
    threads: dict[str, int] = {}
    stacks: list[tuple[str, list[str], int]] = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        thread, *frames = stack.split(";")
        if frames:
            name = thread.rpartition(": ")[2] or thread
            threads[name] = threads.get(name, 0) + int(count)
            stacks.append((name, frames, int(count)))
    if not threads:
        return {"threads": {}, "busiest": "", "functions": [], "self": []}
    busiest = max(threads, key=lambda t: threads[t])
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    for name, frames, count in stacks:
        if name != busiest:
            continue
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    total = threads[busiest]
    ranked = sorted(inclusive, key=lambda f: -inclusive[f])
    functions = [(f, inclusive[f] / total, own.get(f, 0) / total) for f in ranked if "recimpact" in f][:top]
    by_self = sorted(own, key=lambda f: -own[f])[:top]
    return {
        "threads": {t: n / PROFILE_RATE for t, n in sorted(threads.items(), key=lambda t: -t[1])},
        "busiest": busiest,
        "functions": functions,
        "self": [(f, own[f] / total) for f in by_self],
    }


# ---------------------------------------------------------------------------------------------------------------
# Latency per phase
# ---------------------------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def latency(records: list[list[Any]], start: float, end: float) -> dict[str, Any]:
    """The calls due in [start, end): latency from due time to answer (ms); the longest single send → answer of the
    calls in flight in the phase; the longest time in it without any answer; the calls answered per second."""
    calls = [r for r in records if start <= r[0] < end]
    waits = sorted((r[2] - r[0]) * 1000 for r in calls)
    answers = sorted(r[2] for r in records if start <= r[2] < end)
    edges = [start, *answers, end]
    return {
        "calls": len(calls),
        "errors": sum(1 for r in calls if not r[3]),
        "per_second": len(answers) / (end - start) if end > start else float("nan"),
        "p50": percentile(waits, 0.50),
        "p99": percentile(waits, 0.99),
        "max": waits[-1] if waits else float("nan"),
        "longest_call": max(
            ((r[2] - r[1]) * 1000 for r in records if r[1] < end and r[2] > start), default=float("nan")
        ),
        "silence": max(b - a for a, b in itertools.pairwise(edges)) * 1000,
    }


def longest_silence(records: list[list[Any]], start: float, end: float) -> tuple[float, float]:
    """(start, length in s) of the longest time in [start, end] no call was answered."""
    answers = sorted(r[2] for r in records if start <= r[2] <= end)
    edges = [start, *answers, end]
    gaps = [(b - a, a) for a, b in itertools.pairwise(edges)]
    length, at = max(gaps)
    return at, length


# ---------------------------------------------------------------------------------------------------------------
# Correctness
# ---------------------------------------------------------------------------------------------------------------


def series_rows(url: str, attribution: str) -> dict[tuple[str, ...], float]:
    from recimpact.cli.client import get_series

    rows = get_series(url, attribution, None, None)["rows"]
    series: dict[tuple[str, ...], float] = {}
    for row in rows:
        key = tuple(
            str(int(float(row[c]))) if c == "TIMESTAMP" else str(row[c])
            for c in bulk.REPORT_COLUMNS
            if c != "VALUE"
        )
        series[key] = series.get(key, 0.0) + float(row["VALUE"])
    return series


def distinct_views_within(csv_path: Path, cutoff: float) -> int:
    import duckdb

    conn = duckdb.connect()
    try:
        found = conn.execute(
            f"""SELECT count(*) FROM (SELECT DISTINCT * FROM read_csv('{csv_path}', header=true, auto_detect=false,
                columns={bulk.duckdb_columns(bulk.CSV_COLUMNS)}))
                WHERE EVENT_TYPE = 'View' AND TIMESTAMP >= ?""",
            [cutoff],
        ).fetchone()
    finally:
        conn.close()
    assert found is not None
    return int(found[0])


def check(
    after_incremental: dict[tuple[str, ...], float],
    after_duplicate: dict[tuple[str, ...], float],
    final: dict[tuple[str, ...], float],
    job: dict[str, Any],
    csv_path: Path,
    acked: int,
) -> dict[str, Any]:
    """The live series against the INCREMENTAL job's report and the CSV (module docstring); raises on a mismatch."""
    source = bulk.REPORT_COLUMNS.index("EVENT_ATTRIBUTION_SOURCE") - 1  # VALUE is not in the key
    ts = bulk.REPORT_COLUMNS.index("TIMESTAMP") - 1

    def imported(series: dict[tuple[str, ...], float]) -> dict[tuple[str, ...], float]:
        return {k: v for k, v in series.items() if k[source] != LOAD_SOURCE}

    report = bulk.read_report(job["report"])
    series = imported(after_incremental)
    cutoff = job["received_at"] - LIVE_MAX_AGE_SECONDS
    inside = {k: v for k, v in report.items() if int(k[ts]) >= cutoff}
    crossing = {k: v for k, v in report.items() if int(k[ts]) < cutoff <= int(k[ts]) + bulk.WINDOW - 1}
    problems = []
    for key, value in inside.items():
        got = series.get(key)
        if got is None or abs(got - value) > 1e-9 * max(abs(value), 1.0):
            problems.append(f"{key}: series {got}, report {value}")
    for key in series.keys() - inside.keys():
        if key not in crossing:
            problems.append(
                f"{key}: in the series ({series[key]}), not in the report's windows within 14 days"
            )
        elif series[key] > crossing[key] * (1 + 1e-9):
            problems.append(
                f"{key}: series {series[key]} > report {crossing[key]} in the window 14 days back"
            )
    views = sum(v for k, v in series.items() if k[0] == "COUNTVIEWS")
    expected_views = distinct_views_within(csv_path, cutoff)
    if views != expected_views:
        problems.append(
            f"COUNTVIEWS in the series {views:,.0f}, distinct View rows within 14 days {expected_views:,}"
        )
    if imported(after_duplicate) != series:
        changed = {
            k
            for k in series.keys() | imported(after_duplicate).keys()
            if series.get(k) != after_duplicate.get(k)
        }
        problems.append(
            f"the duplicate import changed {len(changed)} series rows, e.g. {sorted(changed)[:2]}"
        )
    if imported(final) != series:
        problems.append("the imported rows' series changed after the duplicate import")
    load_views = sum(v for k, v in final.items() if k[source] == LOAD_SOURCE and k[0] == "COUNTVIEWS")
    if load_views != 7 * acked:
        problems.append(f"the load's source counts {load_views:,.0f} views, acknowledged {7 * acked:,}")
    if problems:
        raise RuntimeError("correctness check failed:\n  " + "\n  ".join(problems[:20]))
    return {
        "windows_inside": len({k[ts] for k in inside}),
        "rows_inside": len(inside),
        "rows_crossing": len(crossing),
        "rows_older": len(report) - len(inside) - len(crossing),
        "views": views,
        "load_views": load_views,
    }


# ---------------------------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def set_up_tracker(rec: bulk.Recimpact) -> tuple[str, str]:
    """The group's event tracker and attribution (``bulk.Recimpact`` makes the group, datasets and attribution)."""
    personalize = rec.personalize
    dataset = personalize.describe_dataset(datasetArn=rec.datasets["Interactions"])["dataset"]
    group = dataset["datasetGroupArn"]
    tracking_id = personalize.create_event_tracker(name=rec.name, datasetGroupArn=group)["trackingId"]
    attributions = personalize.list_metric_attributions(datasetGroupArn=group)["metricAttributions"]
    return tracking_id, attributions[0]["metricAttributionArn"]


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rows = args.rows
    limit = 600 + rows / 5_000
    now = int(time.time()) // 3600 * 3600
    full_dir, incremental_dir = tmp / "full", tmp / "incremental"
    started = time.perf_counter()
    say(f"generating 2 × {rows:,} rows ...")
    for folder, at in ((full_dir, now), (incremental_dir, now - int(args.shift_days * DAY))):
        folder.mkdir()
        bulk.child("generate", folder, folder, limit, "--rows", str(rows), "--now", str(at))
    say(f"  {time.perf_counter() - started:.1f} s")
    result: dict[str, Any] = {
        "rows": rows,
        "distinct": rows - rows // bulk.DUPLICATE_EVERY,
        "csv_bytes": (full_dir / "interactions.csv").stat().st_size,
        "load_average": os.getloadavg(),
    }
    with bulk.Recimpact(full_dir, tmp / "recimpact", "duckdb", rows) as rec:
        tracking_id, attribution = set_up_tracker(rec)
        result["idle_rss"] = rec.memory.current()
        with Load(rec.server.url, tracking_id, args.rate, args.connections, tmp, 300 + rows / 2_000) as load:
            say(f"PutEvents load running ({args.rate:g} calls/s, {args.connections} connections)")
            catch_up: dict[str, float] = {"start": load.caught_up()}
            cpu = rec.memory.cpu()
            marks = {"quiet": time.perf_counter()}
            say(f"quiet {args.quiet:g} s")
            time.sleep(args.quiet)
            marks["quiet end"] = time.perf_counter()
            result["quiet_server_cpu"] = (rec.memory.cpu() - cpu) / (marks["quiet end"] - marks["quiet"])

            def settle(label: str) -> None:
                """Until the load is back on schedule (its backlog must not spill into the next phase), then a gap."""
                catch_up[label] = load.caught_up()
                time.sleep(args.gap)

            say("FULL import ...")
            full = run_job(rec, full_dir / "interactions.csv", "FULL", "full")
            say(f"  {full['seconds']:.2f} s")
            settle("full")
            say("INCREMENTAL import (new rows) ...")
            incremental_csv = incremental_dir / "interactions.csv"
            profile = tmp / "profile.txt" if args.profile else None
            incremental = run_job(rec, incremental_csv, "INCREMENTAL", "incremental", profile)
            say(f"  {incremental['seconds']:.2f} s (committing {incremental['committing']:.2f} s)")
            after_incremental = series_rows(rec.server.url, attribution)
            settle("incremental")
            say("INCREMENTAL import (the same file: all duplicates) ...")
            duplicate = run_job(rec, incremental_csv, "INCREMENTAL", "duplicate")
            say(f"  {duplicate['seconds']:.2f} s (committing {duplicate['committing']:.2f} s)")
            after_duplicate = series_rows(rec.server.url, attribution)
            catch_up["duplicate"] = load.caught_up()
            marks["after"] = time.perf_counter()
            time.sleep(args.quiet)
            marks["after end"] = time.perf_counter()
            loaded = load.finish(marks["after end"])
        time.sleep(0.2)
        final = series_rows(rec.server.url, attribution)
    records = loaded["records"]
    acked = sum(1 for r in records if r[3]) + loaded["warmup_acked"]
    say("checking the live series ...")
    result["check"] = check(after_incremental, after_duplicate, final, incremental, incremental_csv, acked)
    result["load_average_after"] = os.getloadavg()
    result["jobs"] = {"full": full, "incremental": incremental, "duplicate": duplicate}
    result["load"] = {"acked": acked, "errors": loaded["errors"], "cpu": loaded["cpu"], "calls": len(records)}
    phases = [
        ("quiet, before the imports", marks["quiet"], marks["quiet end"]),
        ("during the FULL import", full["start"], full["end"]),
        ("during the INCREMENTAL import", incremental["start"], incremental["end"]),
        (
            "  of which its commit",
            incremental["phases"].get("committing", incremental["end"]),
            incremental["end"],
        ),
        ("during the duplicate import", duplicate["start"], duplicate["end"]),
        ("  of which its commit", duplicate["phases"].get("committing", duplicate["end"]), duplicate["end"]),
        ("after the imports", marks["after"], marks["after end"]),
    ]
    result["latency"] = [(name, latency(records, a, b)) for name, a, b in phases]
    at, length = longest_silence(records, incremental["start"], incremental["end"] + catch_up["incremental"])
    result["catch_up"] = catch_up
    result["catch_up_rate"] = {
        name: sum(1 for r in records if job["end"] < r[2] <= job["end"] + catch_up[name]) / catch_up[name]
        for name, job in (("full", full), ("incremental", incremental), ("duplicate", duplicate))
        if catch_up[name] > 0
    }
    if args.dump:
        jobs = {name: {k: v for k, v in job.items() if k != "report"} for name, job in result["jobs"].items()}
        Path(args.dump).write_text(json.dumps({"records": records, "marks": marks, "jobs": jobs}))
    if args.profile and (tmp / "profile.txt").exists():
        result["profile"] = summarize_profile(tmp / "profile.txt", args.profile_top)
    result["silence"] = {
        "length": length,
        "after_start": at - incremental["start"],
        "phases": incremental["phases"],
    }
    return result


def ms(value: float) -> str:
    if value != value:
        return "-"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def print_results(r: dict[str, Any], args: argparse.Namespace) -> None:
    jobs = r["jobs"]
    full, incremental, duplicate = jobs["full"], jobs["incremental"], jobs["duplicate"]
    gib = bulk.gib
    print()
    la, la_after = r["load_average"], r["load_average_after"]
    print(
        f"INCREMENTAL import into the event log: {r['rows']:,} interactions ({r['distinct']:,} distinct),"
        f" CSV {r['csv_bytes'] / 1e6:,.0f} MB, 3 metrics; INCREMENTAL file {args.shift_days:g} days older"
        f" than the FULL one; {os.cpu_count()} cores, load average {la[0]:.1f} before, {la_after[0]:.1f} after"
    )
    print(
        f"PutEvents load throughout: {args.rate:g} calls/s scheduled on {args.connections} connections,"
        f" {EVENTS_PER_CALL} events per call; {r['load']['acked']:,} calls acknowledged,"
        f" {len(r['load']['errors'])} errors"
    )
    print()
    print(
        f"{'import job (publishes its report)':40}{'wall':>9}{'commit':>9}{'CPU':>9}{'peak RSS':>11}{'rows/s':>11}"
    )
    event_log = incremental["seconds"] - full["seconds"]
    rates = {
        "full": "-",
        "incremental": f"{r['distinct'] / event_log:,.0f}" if event_log > 0 else "n/a",
        "duplicate": f"{r['distinct'] / (duplicate['seconds'] - full['seconds']):,.0f}"
        if duplicate["seconds"] > full["seconds"]
        else "n/a",
    }
    labels = {
        "full": "FULL (peer baseline, no event log)",
        "incremental": "INCREMENTAL, new rows",
        "duplicate": "INCREMENTAL again, all duplicates",
    }
    for name, job in jobs.items():
        commit = f"{job['committing']:8.2f}s" if job["committing"] == job["committing"] else f"{'-':>9}"
        print(
            f"{labels[name]:40}{job['seconds']:8.2f}s{commit}{job['cpu']:8.1f}s{gib(job['peak_rss']):>11}"
            f"{rates[name]:>11}"
        )
    print(
        f"  event log: {r['distinct']:,} rows in {event_log:.2f} s beyond the FULL job"
        f" ({rates['incremental']} rows/s); over the commit phase alone"
        f" {r['distinct'] / incremental['committing']:,.0f} rows/s; server RSS before the jobs {gib(r['idle_rss'])}"
    )
    print()
    print(
        f"{'PutEvents (latency from the scheduled send)':46}{'calls':>8}{'/s':>6}{'p50':>11}{'p99':>11}{'max':>11}"
        f"{'longest call':>14}{'silence':>11}"
    )
    for name, x in r["latency"]:
        print(
            f"{name:46}{x['calls']:>8,}{x['per_second']:>6.0f}{ms(x['p50']):>11}{ms(x['p99']):>11}{ms(x['max']):>11}"
            f"{ms(x['longest_call']):>14}{ms(x['silence']):>11}"
        )
    silence = r["silence"]
    phases = ", ".join(f"{p} at {t - incremental['start']:.2f} s" for p, t in silence["phases"].items())
    print(
        f"  longest time without any PutEvents answer during the INCREMENTAL import: {silence['length']:.2f} s,"
        f" from {silence['after_start']:.2f} s after it was created (phases first seen: {phases};"
        f" ACTIVE at {incremental['seconds']:.2f} s)"
    )
    catch_up = r["catch_up"]
    rate = r["catch_up_rate"]
    print(
        "  back on schedule (every call due answered): "
        + ", ".join(
            f"{catch_up[name]:.1f} s after the {label} job was ACTIVE ({rate.get(name, 0):.0f} answers/s meanwhile)"
            for name, label in (("full", "FULL"), ("incremental", "INCREMENTAL"), ("duplicate", "duplicate"))
        )
        + f"; server CPU in the quiet period {r['quiet_server_cpu']:.0%} of a core; load generator CPU"
        f" {r['load']['cpu']:.1f} s in all"
    )
    quiet = r["latency"][0][1]
    if quiet["per_second"] < 0.9 * args.rate or quiet["p99"] > 500:
        print(
            f"  WARNING: the load fell behind its {args.rate:g} calls/s even before the imports"
            f" ({quiet['per_second']:.0f}/s, p99 {quiet['p99']:.0f} ms): a busy machine, or a rate too high;"
            " the phases' latencies then mix the stall with the backlog"
        )
    if "profile" in r:
        prof = r["profile"]
        print()
        busy = ", ".join(f"{t} {sec:.1f} s" for t, sec in prof["threads"].items())
        print(f"profile of the server during the INCREMENTAL job (py-spy, not idle): {busy}")
        print(f"  thread {prof['busiest']}: recimpact functions by inclusive share (own share beside)")
        for name, inclusive, own in prof["functions"]:
            print(f"    {inclusive:6.1%} {own:6.1%}  {name}")
        print(f"  thread {prof['busiest']}: functions by own share")
        for name, own in prof["self"]:
            print(f"    {own:6.1%}  {name}")
    c = r["check"]
    print()
    print(
        f"check: the live series equals the INCREMENTAL report in the {c['windows_inside']:,} windows within 14 days"
        f" ({c['rows_inside']:,} rows; {c['rows_crossing']} rows in the window 14 days back not above it;"
        f" {c['rows_older']:,} older rows not in the series); COUNTVIEWS {c['views']:,.0f} = distinct View rows"
        f" within 14 days; the duplicate import changed nothing; the load's {c['load_views']:,.0f} views ="
        f" 7 × acknowledged calls"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="interactions per file (default 1M)")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, a smoke run")
    parser.add_argument("--rate", type=float, default=500.0, help="PutEvents calls per second (default 500)")
    parser.add_argument("--connections", type=int, default=8, help="load connections (default 8)")
    parser.add_argument(
        "--quiet", type=float, default=5.0, help="seconds of load before the imports (default 5)"
    )
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between the jobs (default 2)")
    parser.add_argument(
        "--shift-days",
        type=float,
        default=5.0,
        help="how much older the INCREMENTAL file is (default 5 days)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the server during the INCREMENTAL job (py-spy in the venv)",
    )
    parser.add_argument(
        "--profile-top", type=int, default=25, help="functions listed by --profile (default 25)"
    )
    parser.add_argument("--dump", default="", help=argparse.SUPPRESS)  # every call's times, as JSON
    parser.add_argument("--warmup-calls", type=int, default=50, help=argparse.SUPPRESS)
    parser.add_argument("--role", choices=["driver", "load"], default="driver", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tracking-id", default="", help=argparse.SUPPRESS)
    parser.add_argument("--stop", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "load":
        run_load_role(args)
        return
    if args.quick:
        args.rows = 100_000
    if args.rows < 1000 or args.rate <= 0 or args.connections < 1:
        parser.error("--rows must be at least 1000, --rate positive and --connections at least 1")
    with tempfile.TemporaryDirectory(prefix="recimpact-incremental-") as name:
        result = measure(args, Path(name))
    print_results(result, args)


if __name__ == "__main__":
    main()
