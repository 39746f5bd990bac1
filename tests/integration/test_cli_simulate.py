"""`recimpact simulate` as a subprocess: CSV files for bulk import (deterministic under a seed, with the truth it
reports matching the files), and clear one-line errors for every wrong combination of flags."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.server import ServerProcess


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recimpact", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_csv_files_match_the_reported_truth_and_the_seed(tmp_path: Path) -> None:
    flags = ["--sessions", "200", "--users", "80", "--items", "60", "--seed", "3", "--format", "json"]
    done = simulate("--out", str(tmp_path / "a"), *flags)
    assert done.returncode == 0, done.stderr
    truth = {row["source"]: row for row in json.loads(done.stdout)}
    with open(tmp_path / "a" / "interactions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    counted = Counter((r["EVENT_ATTRIBUTION_SOURCE"], r["EVENT_TYPE"]) for r in rows)
    for source, row in truth.items():
        for event_type in ("View", "AddToCart", "Purchase"):
            assert counted[(source, event_type)] == row[event_type]
    with open(tmp_path / "a" / "items.csv", newline="") as handle:
        items = list(csv.DictReader(handle))
    assert len(items) == 60
    assert set(items[0]) == {"ITEM_ID", "PRICE", "CATEGORY_L1", "CATEGORY_L2", "MARGIN"}
    again = simulate("--out", str(tmp_path / "b"), *flags)
    assert (tmp_path / "a" / "items.csv").read_bytes() == (tmp_path / "b" / "items.csv").read_bytes()
    assert json.loads(again.stdout) == json.loads(done.stdout)


def test_wrong_flags_are_one_line_errors(tmp_path: Path, server: ServerProcess) -> None:
    cases = [
        ([], "choose one"),
        (["--out", str(tmp_path), "--tracking-id", "t"], "choose one"),
        (["--out", str(tmp_path), "--recommender", "arn:aws:personalize:us-east-1:0:recommender/x"], "live"),
        (["--tracking-id", "t", "--endpoint-url", server.url], "at least one"),
        (["--tracking-id", "t", "--endpoint-url", server.url, "--third-party", "p", "--lift", "q=1.2"], "q"),
        (
            ["--tracking-id", "t", "--endpoint-url", server.url, "--third-party", "p", "--lift", "p=-1"],
            "positive",
        ),
        (
            ["--tracking-id", "no-such-tracker", "--endpoint-url", server.url, "--third-party", "p"],
            "ResourceNotFound",
        ),
    ]
    for args, expected in cases:
        done = simulate(*args, "--sessions", "5")
        assert done.returncode != 0, args
        assert expected in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
