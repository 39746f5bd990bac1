"""The write turn (one writer at a time across threads and processes, released when its holder dies, a doorbell
rung on release). The group commit on an event loop that waits for it: ``test_store_commit.py``."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from pathlib import Path

from recimpact.store.turns import WriteTurn


def rung(turn: WriteTurn) -> bool:
    return bool(select.select([turn.doorbell], [], [], 0)[0])


def test_one_holder_at_a_time_and_release_rings_the_others(tmp_path: Path) -> None:
    path = str(tmp_path / "events.sqlite3")
    one, two = WriteTurn(path), WriteTurn(path)
    try:
        two.answer()
        one.acquire()
        assert not two.try_acquire()
        assert not rung(two)
        one.release()
        assert rung(two)
        two.answer()
        assert not rung(two)
        assert two.try_acquire()
        assert not one.try_acquire()
        two.release()
    finally:
        one.close()
        two.close()


def test_a_holder_killed_with_sigkill_leaves_the_turn_free(tmp_path: Path) -> None:
    path = str(tmp_path / "events.sqlite3")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from recimpact.store.turns import WriteTurn; t = WriteTurn(sys.argv[1]); "
            "t.acquire(); print('held', flush=True); time.sleep(60)",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    turn = WriteTurn(path)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert not turn.try_acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert turn.try_acquire()
        turn.release()
    finally:
        holder.kill()
        turn.close()
