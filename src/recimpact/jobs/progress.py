"""Import jobs' progress across the server's processes.

Jobs run in the primary process, which knows their progress in memory (``JobProgress``). With ``--workers`` a
progress request may reach another process, so the primary also writes every job's snapshot to
``<data dir>/import-progress.json`` while any job is running (twice a second, replaced atomically), and the other
processes answer from that file.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from recimpact.jobs.imports import JobProgress

log = logging.getLogger("recimpact.progress")

FILE_NAME = "import-progress.json"


class HasSnapshot(Protocol):
    def snapshot(self) -> dict[str, Any]: ...


class ProgressWriter:
    """The primary's side: a thread that writes the snapshots whenever they changed."""

    def __init__(self, jobs: Mapping[str, JobProgress], data_dir: Path, interval: float = 0.5) -> None:
        self._jobs = jobs
        self._path = data_dir / FILE_NAME
        self._interval = interval
        self._stop = threading.Event()
        self._written = ""
        self._thread = threading.Thread(target=self._loop, name="recimpact-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.write()
            except Exception:  # a full disk must not end the thread; the next round tries again
                log.exception("writing %s failed", self._path)

    def write(self) -> None:
        text = json.dumps({arn: progress.snapshot() for arn, progress in list(self._jobs.items())})
        if text == self._written:
            return
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(text)
        os.replace(temporary, self._path)
        self._written = text

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()


class _Snapshot:
    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def snapshot(self) -> dict[str, Any]:
        return self._values


class ProgressReader(Mapping[str, HasSnapshot]):
    """The other processes' side: the primary's snapshots, re-read when the file changed."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / FILE_NAME
        self._stamp: tuple[int, int] | None = None
        self._snapshots: dict[str, dict[str, Any]] = {}

    def _current(self) -> dict[str, dict[str, Any]]:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if stamp != self._stamp:
            try:
                self._snapshots = json.loads(self._path.read_text())
            except (OSError, ValueError):  # replaced between stat and read: the next call sees the new one
                return self._snapshots
            self._stamp = stamp
        return self._snapshots

    def __getitem__(self, arn: str) -> HasSnapshot:
        return _Snapshot(self._current()[arn])

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())
