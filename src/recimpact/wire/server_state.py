"""The server process's long-lived state: settings, stores, the engine and background workers, opened once and
closed on shutdown. The wire holds one per process (``wire/app.py``, and ``wire/workers.py``'s primary)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recimpact.domain.arns import Scope
from recimpact.domain.resources import TRAINABLE, DatasetImportJob
from recimpact.engine.base import Engine
from recimpact.engine.registry import create_engine
from recimpact.jobs.imports import JobEnvironment, fail_job, run_import_job
from recimpact.jobs.progress import JobProgress, ProgressReader, ProgressWriter
from recimpact.jobs.runner import JobRunner, RunElsewhere
from recimpact.jobs.training import run_training
from recimpact.services.context import HasSnapshot, JobQueue, RequestContext
from recimpact.settings import Settings
from recimpact.sinks.cloudwatch import CloudWatchPublisher
from recimpact.store.catalog import Catalog, SqliteCatalog
from recimpact.store.events import SqliteEventStore
from recimpact.store.interfaces import EventStore


class ServerState:
    """The ``primary`` process owns the background work (import jobs, training, CloudWatch publishing, WAL
    checkpoints); the other processes of a ``--workers`` server only answer requests, over the same data directory,
    and leave what they start (a job, a training run) for the primary to find in the catalog."""

    def __init__(self, settings: Settings, primary: bool = True) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog: Catalog = SqliteCatalog(self.data_dir / "catalog.sqlite3", shared=settings.workers > 1)
        self.events: EventStore = SqliteEventStore(self.data_dir / "events.sqlite3", checkpoints=primary)
        self.shared: dict[str, Any] = {}
        # Import jobs run (or queued) since this server started; other processes read them through the file.
        self._job_progress: dict[str, JobProgress] = {}
        self.progress: Mapping[str, HasSnapshot] = self._job_progress
        self.publisher: CloudWatchPublisher | None = None
        self._progress_writer: ProgressWriter | None = None
        self.jobs: JobQueue
        self.training: JobQueue
        if not primary:
            self.progress = ProgressReader(self.data_dir)
            self.jobs = self.training = RunElsewhere()
            self._runners: list[JobRunner] = []
            return
        self.jobs = JobRunner(self.catalog, self._run_job, (DatasetImportJob,), "jobs")
        # Training has a runner of its own: a recommender need not wait behind a long import.
        self.training = JobRunner(self.catalog, self._train, TRAINABLE, "training")
        self._runners = [self.jobs, self.training]
        for runner in self._runners:
            runner.start()
        if settings.workers > 1:
            self._progress_writer = ProgressWriter(self._job_progress, self.data_dir)
            self._progress_writer.start()
        if settings.publishes_to_cloudwatch:
            self.publisher = CloudWatchPublisher(
                self.events, self.catalog, self._cloudwatch_client, interval=settings.cloudwatch_interval
            )
            self.publisher.start()

    @functools.cached_property
    def engine(self) -> Engine:
        """Created on first use: a server that never imports never starts an engine (or a JVM)."""
        return create_engine(self.settings)

    def _run_job(self, arn: str) -> None:
        progress = self._job_progress.setdefault(arn, JobProgress())
        try:
            self.engine  # noqa: B018  (created here, on first use)
        except Exception as exc:
            fail_job(self.catalog, arn, f"the {self.settings.engine} engine is not available: {exc}")
            return
        env = JobEnvironment(
            self.catalog, self.events, self.engine, self.data_dir, self.settings.s3_endpoint_url, progress
        )
        run_import_job(env, arn)

    def _train(self, arn: str) -> None:
        run_training(self.catalog, self.events, self.data_dir, arn)

    def _cloudwatch_client(self, region: str) -> Any:
        """CloudWatch in the dataset group's region; credentials from boto3's usual chain (environment,
        profile, instance role), as any AWS tool finds them."""
        import boto3

        return boto3.client(
            "cloudwatch", region_name=region, endpoint_url=self.settings.cloudwatch_endpoint_url
        )

    def context(self, scope: Scope) -> RequestContext:
        return RequestContext(
            scope=scope,
            catalog=self.catalog,
            events=self.events,
            settings=self.settings,
            jobs=self.jobs,
            training=self.training,
            shared=self.shared,
        )

    def close(self) -> None:
        for runner in self._runners:
            runner.close()
        if self._progress_writer is not None:
            self._progress_writer.close()
        for model in self.shared.get("models", {}).values():
            model.close()
        if self.publisher is not None:
            self.publisher.close()
        if "engine" in self.__dict__:
            self.engine.close()
        self.events.close()
        self.catalog.close()
