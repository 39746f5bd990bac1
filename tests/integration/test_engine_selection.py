"""``--engine spark`` runs import jobs on Spark; a Spark that cannot start fails the job with its reason, it never
hangs it. (That Spark's results equal DuckDB's is the conformance suite's subject: tests/conformance.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import Group
from tests.server import ServerProcess

ITEMS = "ITEM_ID,PRICE,CATEGORY_L1,CATEGORY_L2,MARGIN\ni1,10,a,b,2.5\ni2,4,a,c,1\ni1,10,a,b,2.5\n"


def _items_job(server: ServerProcess, items: Path) -> dict[str, Any]:
    personalize = server.client("personalize")
    group = Group(personalize)
    assert group.items_dataset is not None
    arn = personalize.create_dataset_import_job(
        jobName="spark-job", datasetArn=group.items_dataset, dataSource={"dataLocation": items.as_uri()}
    )["datasetImportJobArn"]
    deadline = time.monotonic() + 120
    job: dict[str, Any] = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    while job["status"] not in ("ACTIVE", "CREATE FAILED") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    return job


def test_the_spark_engine_runs_import_jobs(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    items.write_text(ITEMS)
    with ServerProcess(tmp_path / "data", "--engine", "spark", "--spark-master", "local[1]") as server:
        job = _items_job(server, items)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    # Stored the Spark way: one folder of part files, holding the two distinct rows.
    (part,) = (tmp_path / "data" / "bulk").iterdir()
    assert part.is_dir()
    files = sorted(part.glob("part-*.parquet"))
    assert files
    stored = duckdb.sql(f"SELECT ITEM_ID, MARGIN FROM read_parquet({[str(f) for f in files]}) ORDER BY 1")
    assert stored.fetchall() == [("i1", 2.5), ("i2", 1.0)]


def test_a_spark_that_cannot_start_fails_the_job_with_its_reason(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    items.write_text(ITEMS)
    no_java = tmp_path / "empty-path"
    no_java.mkdir()
    env = {"PATH": str(no_java), "JAVA_HOME": ""}
    with ServerProcess(tmp_path / "data", "--engine", "spark", env=env) as server:
        job = _items_job(server, items)
    assert job["status"] == "CREATE FAILED"
    assert "spark engine is not available" in job["failureReason"]
    assert "Java" in job["failureReason"]
