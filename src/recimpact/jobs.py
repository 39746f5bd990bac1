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
    def __init__(
        self, catalog: Catalog, run: Callable[[str], None], kinds: tuple[type[Resource], ...], name: str
    ) -> None:
        self._catalog = catalog
        self._run = run
        self._kinds = kinds
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"recimpact-{name}", daemon=True)

    def start(self) -> None:
        with self._catalog.transaction() as tx:
            records = [record for kind in self._kinds for record in tx.every(kind)]
        unfinished = [
            record.arn
            for record in sorted(records, key=lambda r: r.creation_date_time)
            if getattr(record, "status", None) in (resources.CREATE_PENDING, resources.CREATE_IN_PROGRESS)
        ]
        for arn in unfinished:  # oldest first, as they were created
            self._queue.put(arn)
        self._thread.start()

    def submit(self, arn: str) -> None:
        self._queue.put(arn)

    def _loop(self) -> None:
        while True:
            arn = self._queue.get()
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
