"""Background work: import jobs (and, on a runner of their own, training runs) go one at a time on a worker thread,
so the server keeps answering while a large job runs (the engine itself uses every core). Work left pending or in
progress by a stopped or crashed server is resumed when it starts again: its inputs are still where they were, and
nothing of it was committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from recimpact.domain import resources
from recimpact.domain.resources import Resource
from recimpact.store.catalog import Catalog

log = logging.getLogger("recimpact.jobs")

_STOP = ""


class JobRunner:
    """Runs one kind of background work in this process, oldest first. With several server processes
    (``--workers``) only the primary has runners: a job created by a request another process answered is found in
    the shared catalog, which the idle runner looks at whenever it has changed (every ``poll`` seconds at most)."""

    def __init__(
        self,
        catalog: Catalog,
        run: Callable[[str], None],
        kinds: tuple[type[Resource], ...],
        name: str,
        poll: float = 0.25,
    ) -> None:
        self._catalog = catalog
        self._run = run
        self._kinds = kinds
        self._poll = poll
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._taken: set[str] = set()  # queued, running or run by this runner: never queued twice
        self._seen_generation = -1
        self._thread = threading.Thread(target=self._loop, name=f"recimpact-{name}", daemon=True)

    def start(self) -> None:
        """Queue what a stopped or crashed server left unfinished, then start."""
        self._find_unfinished()
        self._thread.start()

    def _find_unfinished(self) -> None:
        generation = self._catalog.generation
        if generation == self._seen_generation:
            return
        self._seen_generation = generation
        with self._catalog.transaction() as tx:
            records = [record for kind in self._kinds for record in tx.every(kind)]
        # Oldest first, as they were created.
        for record in sorted(records, key=lambda r: r.creation_date_time):
            if getattr(record, "status", None) in resources.CREATING:
                self.submit(record.arn)

    def submit(self, arn: str) -> None:
        with self._lock:
            if arn in self._taken:
                return
            self._taken.add(arn)
        self._queue.put(arn)

    def _loop(self) -> None:
        while True:
            try:
                arn = self._queue.get(timeout=self._poll)
            except queue.Empty:
                try:
                    self._find_unfinished()
                except Exception:  # a catalog hiccup must not end the runner
                    log.exception("looking for new work failed")
                continue
            if arn == _STOP:
                return
            try:
                self._run(arn)
            except Exception:  # the work never raises; this guards the thread itself
                log.exception("job %s crashed", arn)

    def close(self) -> None:
        """Stop after the job in progress (a job cut short by shutdown resumes at the next start)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()


class RunElsewhere:
    """The job queue of a secondary server process: the primary's runners find the work in the catalog."""

    def submit(self, arn: str) -> None:
        pass
