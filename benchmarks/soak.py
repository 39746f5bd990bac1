"""Soak: a bounded PutEvents load with bad requests mixed in, for minutes, against ``recimpact serve``.

    .venv/bin/python benchmarks/soak.py [--duration 300] [--rate 10000] [--bad 0.01] [--signed]

A server is started on loopback in a temporary directory; an open-loop generator sends PutEvents (10 events per
call) at ``--rate`` events/s over ``--connections`` keep-alive connections, and replaces a ``--bad`` share of the
requests with bad ones (malformed JSON, wrong types, an unknown tracking id, an oversized body, an unknown path,
a tampered signature with ``--signed``). It stops by itself after ``--duration`` seconds and reports:

- events acknowledged (200) vs events counted by the server's live series: they must be equal;
- answers to bad requests: each must be a 4xx (or a clean close after a 413), never a 5xx;
- p50/p99 latency of good requests, measured from each request's *scheduled* send time (no coordinated omission);
- the server's resident memory over time: after the first fifth of the run (warm-up) it must stay flat: the last
  fifth's median within 10% of the second fifth's, plus what the event store's SQLite page cache (bounded at
  128 MiB) can have taken of the database's growth meanwhile.

The default rate, 10,000 events/s, is what the ingest benchmark (benchmarks/ingest.py) measures at 8 connections
on a 2-core machine, about three quarters of its peak; ``--signed`` runs the server with ``--credentials`` and
signs every request with botocore's SigV4 signer (which costs the generator some CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENTS_PER_CALL = 10
DEFAULT_RATE = 10_000  # events/s
MEMORY_GROWTH_SHARE = 0.10
# The event store's SQLite page cache (store/events.py: PRAGMA cache_size) fills as its indexes grow on disk; memory
# that follows the database's growth up to this bound is that cache warming, not a leak.
STORE_PAGE_CACHE = 128 * 1024 * 1024
KEY = ("AKIDSOAK", "soak-secret", "123456789012")
VIEWS = {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"}
SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
    "version": "1.0",
}
BAD_KINDS = ("malformed", "wrong-type", "unknown-tracker", "oversized", "unknown-path", "bad-signature")


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a server: the process and its children (``--workers``), from /proc (Linux)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        if status.parent.name == str(pid) or fields.get("PPid", "").strip() == str(pid):
            total += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    return total or None


@contextlib.contextmanager
def server(
    data_dir: Path, credentials: Path | None, workers: int = 1
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    args = [sys.executable, "-m", "recimpact", "serve", "--host", "127.0.0.1", "--port", "0"]
    args += ["--data-dir", str(data_dir), "--workers", str(workers)]
    if credentials is not None:
        args += ["--credentials", str(credentials)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        if not url:
            raise RuntimeError("the server did not start")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def set_up(url: str) -> tuple[str, str]:
    """A dataset group with Interactions, a tracker and a countViews attribution: (tracking id, attribution ARN)."""
    import boto3

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1")

    personalize = client("personalize")
    name = f"soak-{uuid.uuid4().hex[:8]}"
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    schema = personalize.create_schema(name=name, schema=json.dumps(SCHEMA))["schemaArn"]
    personalize.create_dataset(name=name, datasetGroupArn=group, datasetType="Interactions", schemaArn=schema)
    attribution = personalize.create_metric_attribution(
        name=name,
        datasetGroupArn=group,
        metrics=[VIEWS],
        metricsOutputConfig={
            "roleArn": f"arn:aws:iam::{KEY[2]}:role/soak",
            "s3DataDestination": {"path": (Path(tempfile.gettempdir()) / name / "reports").as_uri() + "/"},
        },
    )["metricAttributionArn"]
    tracking_id = personalize.create_event_tracker(name=name, datasetGroupArn=group)["trackingId"]
    return tracking_id, attribution


class Requests:
    """Builds each request's bytes: a good PutEvents with distinct events, or one of the bad kinds."""

    def __init__(self, host: str, port: int, tracking_id: str, signed: bool) -> None:
        self.authority = f"{host}:{port}"
        self.tracking_id = tracking_id
        self.signed = signed
        self.nonce = uuid.uuid4().hex[:8]
        self.counter = 0
        self.kinds = [kind for kind in BAD_KINDS if signed or kind != "bad-signature"]

    def good(self) -> bytes:
        self.counter += 1
        now = round(time.time(), 3)
        events = [
            {
                "eventId": f"{self.nonce}-{self.counter}-{i}",
                "eventType": "View",
                "itemId": f"item-{i}",
                "sentAt": now,
            }
            for i in range(EVENTS_PER_CALL)
        ]
        body = {
            "trackingId": self.tracking_id,
            "userId": "u",
            "sessionId": f"s{self.counter}",
            "eventList": events,
        }
        return self.encode("/events", json.dumps(body, separators=(",", ":")).encode())

    def bad(self, rng: random.Random) -> tuple[str, bytes]:
        kind = rng.choice(self.kinds)
        good = {
            "trackingId": self.tracking_id,
            "sessionId": "s",
            "eventList": [{"eventType": "View", "sentAt": 1}],
        }
        if kind == "malformed":
            return kind, self.encode(
                "/events", b'{"trackingId": "' + self.tracking_id.encode() + b'", "eventList": ['
            )
        if kind == "wrong-type":
            return kind, self.encode("/events", json.dumps({**good, "eventList": {"eventType": 5}}).encode())
        if kind == "unknown-tracker":
            return kind, self.encode(
                "/events", json.dumps({**good, "trackingId": str(uuid.uuid4())}).encode()
            )
        if kind == "oversized":
            return kind, self.encode("/events", b'{"pad": "' + b"x" * 300_000 + b'"}')
        if kind == "unknown-path":
            return kind, self.encode("/no-such-operation", b"{}")
        return kind, self.encode("/events", json.dumps(good).encode(), tamper=True)

    def encode(self, path: str, body: bytes, tamper: bool = False) -> bytes:
        headers = {"Host": self.authority, "Content-Type": "application/json"}
        if self.signed:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials

            request = AWSRequest(
                method="POST", url=f"http://{self.authority}{path}", data=body, headers=headers
            )
            SigV4Auth(Credentials(KEY[0], KEY[1]), "personalize", "us-east-1").add_auth(request)
            headers = dict(request.headers.items())
            if tamper:
                body = body.replace(b'"s"', b'"t"')
        head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@dataclass
class Tally:
    acked_events: int = 0
    good_sent: int = 0
    good_failed: list[str] = field(default_factory=list)
    bad_answers: Counter[str] = field(default_factory=Counter)
    fivexx: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    memory: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds, RSS, event store bytes)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0][9:12]), headers, body


def store_bytes(data_dir: Path) -> int:
    return sum(path.stat().st_size for path in data_dir.glob("events.sqlite3*") if path.is_file())


async def soak(
    args: argparse.Namespace, host: str, port: int, pid: int, tracking_id: str, data_dir: Path
) -> Tally:
    tally = Tally()
    requests = Requests(host, port, tracking_id, args.signed)
    rng = random.Random(args.seed)
    interval = args.connections * EVENTS_PER_CALL / args.rate  # seconds between one connection's requests
    start = time.perf_counter() + 0.5
    end = start + args.duration

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        scheduled = start + index * interval / args.connections
        try:
            while scheduled < end:
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                bad = rng.random() < args.bad
                kind, payload = requests.bad(rng) if bad else ("good", requests.good())
                writer.write(payload)
                try:
                    status, headers, body = await read_answer(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    status, headers, body = 0, {"connection": "close"}, b""
                done = time.perf_counter()
                if status >= 500:
                    tally.fivexx.append(f"{kind}: {status} {body[:200]!r}")
                if bad:
                    tally.bad_answers[f"{kind} → {status or 'closed'}"] += 1
                else:
                    tally.good_sent += 1
                    if status == 200:
                        tally.acked_events += EVENTS_PER_CALL
                        tally.latencies.append(done - scheduled)
                    else:
                        tally.good_failed.append(f"{status} {body[:200]!r}")
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                scheduled += interval
        finally:
            writer.close()

    async def sample_memory() -> None:
        while time.perf_counter() < end:
            rss = rss_bytes(pid)
            if rss is not None:
                tally.memory.append((time.perf_counter() - start, rss, store_bytes(data_dir)))
            await asyncio.sleep(args.memory_interval)

    sampler = asyncio.create_task(sample_memory())
    await asyncio.gather(*(connection(i) for i in range(args.connections)))
    await sampler
    return tally


def counted_events(url: str, attribution: str) -> float:
    from recimpact.cli.client import get_series

    rows = get_series(url, attribution, "-2d", None)["rows"]
    return float(sum(row["VALUE"] for row in rows if row["METRIC_NAME"] == "COUNTVIEWS"))


def memory_verdict(
    samples: list[tuple[float, int, int]], duration: float
) -> tuple[float, float, float, bool]:
    """(MB in the second fifth, MB in the last fifth, MB of it the store's page cache may explain, flat?). The first
    fifth is warm-up. Flat: the growth is within 10% plus what the page cache could have taken of the database's
    growth meanwhile (up to its bound)."""
    second = [(rss, db) for t, rss, db in samples if duration * 0.2 <= t < duration * 0.4]
    last = [(rss, db) for t, rss, db in samples if t >= duration * 0.8]
    if not second or not last:
        return float("nan"), float("nan"), float("nan"), False
    early, late = statistics.median(r for r, _ in second), statistics.median(r for r, _ in last)
    db_early, db_late = statistics.median(d for _, d in second), statistics.median(d for _, d in last)
    cache = max(0.0, min(db_late - db_early, STORE_PAGE_CACHE - min(db_early, STORE_PAGE_CACHE)))
    flat = late - early <= MEMORY_GROWTH_SHARE * early + cache
    return early / 2**20, late / 2**20, cache / 2**20, flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="events/s (default %(default)s)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--bad", type=float, default=0.01, help="share of bad requests (default 0.01)")
    parser.add_argument(
        "--signed", action="store_true", help="--credentials on the server; SigV4 on every request"
    )
    parser.add_argument("--memory-interval", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="recimpact serve --workers (default 1)")
    args = parser.parse_args()
    if args.duration <= 0 or args.rate <= 0 or args.connections <= 0 or not 0 <= args.bad < 1:
        parser.error("--duration, --rate and --connections must be positive, --bad in [0, 1)")

    os.environ.update(AWS_ACCESS_KEY_ID=KEY[0], AWS_SECRET_ACCESS_KEY=KEY[1], AWS_DEFAULT_REGION="us-east-1")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    with tempfile.TemporaryDirectory(prefix="recimpact-soak-") as tmp:
        credentials = None
        if args.signed:
            credentials = Path(tmp) / "credentials.csv"
            credentials.write_text("access_key_id,secret_access_key,account_id\n" + ",".join(KEY) + "\n")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        with server(Path(tmp) / "data", credentials, args.workers) as (proc, url):
            tracking_id, attribution = set_up(url)
            host, port = url.removeprefix("http://").rsplit(":", 1)
            print(
                f"soak: {args.rate:,.0f} events/s for {args.duration:g} s over {args.connections} connections, "
                f"{args.bad:.1%} bad requests{', signed' if args.signed else ''} → {url}",
                flush=True,
            )
            tally = asyncio.run(soak(args, host, int(port), proc.pid, tracking_id, Path(tmp) / "data"))
            counted = counted_events(url, attribution)
            alive = proc.poll() is None
        print(f"load average after:  {os.getloadavg()[0]:.2f}")

    latencies = sorted(tally.latencies)

    def percentile(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")
        )

    early_mb, late_mb, cache_mb, flat = memory_verdict(tally.memory, args.duration)
    equal = counted == tally.acked_events
    rows = [
        ("good requests sent / failed", f"{tally.good_sent:,} / {len(tally.good_failed):,}"),
        ("events acknowledged (200)", f"{tally.acked_events:,}"),
        (
            "events counted (live series)",
            f"{counted:,.0f}  {'= acknowledged' if equal else '≠ ACKNOWLEDGED'}",
        ),
        ("achieved rate", f"{tally.acked_events / args.duration:,.0f} events/s"),
        ("latency p50 / p99", f"{percentile(0.5):.1f} ms / {percentile(0.99):.1f} ms"),
        ("bad requests", f"{sum(tally.bad_answers.values()):,}"),
        *((f"  {kind}", f"{count:,}") for kind, count in sorted(tally.bad_answers.items())),
        ("5xx answers", f"{len(tally.fivexx)}"),
        (
            "server RSS 2nd fifth → last fifth",
            f"{early_mb:.1f} MB → {late_mb:.1f} MB  {'flat' if flat else 'GROWING'}",
        ),
        (
            "  page cache may explain",
            f"{cache_mb:.1f} MB (the event store's SQLite cache following its index)",
        ),
        ("server still running", "yes" if alive else "NO"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    for line in (tally.fivexx + tally.good_failed)[:5]:
        print("  e.g.", line)
    ok = equal and not tally.fivexx and not tally.good_failed and flat and alive
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
