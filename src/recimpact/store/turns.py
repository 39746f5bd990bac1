"""The write turn on one event store file, shared by every writer of every process that opens it.

SQLite lets one writer at a time in and makes the others sleep and poll (its busy handler). The writers of an
event store (a writer thread, a group commit on each event loop, the checkpointer, in every server process) take
turns through an exclusive ``flock`` on ``<store>.lock`` instead: the kernel queues blocked waiters and wakes the
next as soon as the lock is free, and releases it if its holder dies (``kill -9``).

An event loop must not block in ``flock``: it tries the lock without waiting, and otherwise waits for the
doorbell, a FIFO (``<store>.turn``) that every holder rings when it lets go. A ring wakes every waiting loop, and
each one tries the lock again; a waiter also retries on a short timer, in case the holder died without ringing.
The doorbell only wakes; the lock alone decides who writes. On a filesystem without FIFOs the timer alone wakes
waiters (a millisecond or two later).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator

log = logging.getLogger("recimpact.store")


class WriteTurn:
    """One writer's handle on the turn. Each writer needs its own: ``flock`` belongs to an open file, so two
    handles exclude each other even within one process."""

    def __init__(self, store_path: str) -> None:
        self._lock = os.open(store_path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        self.doorbell: int | None = _open_doorbell(store_path + ".turn")

    def acquire(self) -> None:
        """Wait for the turn (blocking: for a thread, never for an event loop)."""
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        """Let go and ring the doorbell. A full FIFO (nobody has waited for a long time) needs no more rings."""
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        if self.doorbell is not None:
            with contextlib.suppress(BlockingIOError):
                os.write(self.doorbell, b"\x01")

    def answer(self) -> None:
        """Empty the doorbell after a ring, so that a ring that woke nobody does not wake a later waiter."""
        if self.doorbell is None:
            return
        with contextlib.suppress(BlockingIOError):
            while len(os.read(self.doorbell, 4096)) == 4096:
                pass

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        os.close(self._lock)
        if self.doorbell is not None:
            os.close(self.doorbell)


def _open_doorbell(path: str) -> int | None:
    """The FIFO, created by whichever writer comes first; None where the filesystem has no FIFOs."""
    try:
        with contextlib.suppress(FileExistsError):
            os.mkfifo(path, 0o600)
        # Read-write, so that opening never waits for a peer and the FIFO always has a reader to ring to.
        return os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError as error:
        if path not in _WARNED:  # said once per store and process, not for each of its writers
            _WARNED.add(path)
            log.warning(
                "no doorbell for the write turn (%s): waiting writers retry on a timer instead", error
            )
        return None


_WARNED: set[str] = set()
