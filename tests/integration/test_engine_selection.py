"""``--engine`` is accepted and stored; an engine this version cannot run fails the job, it never hangs it."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import Group
from tests.server import ServerProcess


def test_an_unavailable_engine_fails_the_job_with_its_reason(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    items.write_text("ITEM_ID,PRICE,CATEGORY_L1,CATEGORY_L2,MARGIN\ni1,10,a,b,2.5\n")
    with ServerProcess(tmp_path / "data", "--engine", "spark") as server:
        personalize = server.client("personalize")
        group = Group(personalize)
        assert group.items_dataset is not None
        arn = personalize.create_dataset_import_job(
            jobName="spark-job", datasetArn=group.items_dataset, dataSource={"dataLocation": items.as_uri()}
        )["datasetImportJobArn"]
        deadline = time.monotonic() + 30
        job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
        while job["status"] not in ("ACTIVE", "CREATE FAILED") and time.monotonic() < deadline:
            time.sleep(0.1)
            job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    assert job["status"] == "CREATE FAILED"
    assert "spark engine is not available" in job["failureReason"]
