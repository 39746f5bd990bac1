"""`recimpact demo` end to end, as `make demo` runs it (with fewer live sessions): every step reports, the report
CSV is left behind, and the live comparison names both recommenders and the partner carousel."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    done = subprocess.run(
        [sys.executable, "-m", "recimpact", "demo", "--data-dir", str(data_dir), "--live-sessions", "300"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "metric attribution  ACTIVE" in out
    assert "import job history: ACTIVE" in out
    assert "trained 2 recommenders" in out
    assert re.search(r"sent [\d,]+ events in 300 sessions \([\d,]+ GetRecommendations\)", out)
    for source in ("recommender/recommended-for-you", "recommender/viewed-x-also-viewed", "partner_carousel"):
        assert source in out
    report = Path(re.search(r"report CSV: (.+\.csv)", out).group(1))  # type: ignore[union-attr]
    with open(report, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["METRIC_NAME"] for row in rows} == {"COUNTVIEWS", "SUMMARGIN"}
    assert re.search(r"dashboard:  http://127\.0\.0\.1:\d+/", out)
    # A second run starts from nothing, in the folder the first one made.
    again = subprocess.run(
        [sys.executable, "-m", "recimpact", "demo", "--data-dir", str(data_dir), "--live-sessions", "50"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert not report.exists()
