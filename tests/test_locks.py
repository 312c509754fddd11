"""hwq.locks: one holder at a time across real processes; the lock dies with its holder."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from hwq.locks import file_lock

#: holds a file lock until its stdin closes (the tests decide when it lets go)
HOLDER = ("import sys; from hwq.locks import file_lock\n"
          "with file_lock(sys.argv[1]):\n print('held', flush=True); sys.stdin.read()")


def hold(lock: Path) -> subprocess.Popen:
    """A real second process holding ``lock``; close its stdin to release it."""
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def release(p: subprocess.Popen) -> None:
    p.stdin.close()
    p.wait(timeout=60)
    p.stdout.close()


def wait_for_line(stream, text: str, timeout: float = 300.0) -> str:
    """Read ``stream`` (in a thread) until a line containing ``text``; fails on EOF or timeout."""
    found: queue.Queue[str | None] = queue.Queue()

    def reader() -> None:
        for line in stream:
            if text in line:
                found.put(line)
                return
        found.put(None)

    threading.Thread(target=reader, daemon=True).start()
    try:
        line = found.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line with {text!r} within {timeout} s") from None
    assert line is not None, f"the stream ended without a line with {text!r}"
    return line

_HOLD = """
import sys, time
from hwq.locks import {fn}
with {fn}(sys.argv[1]):
    t0 = time.time()
    print("in", flush=True)
    time.sleep(float(sys.argv[2]))
    t1 = time.time()
print(t0, t1)
"""


def _two_holders(target: Path, fn: str) -> list[tuple[float, float]]:
    code = _HOLD.format(fn=fn)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target), "1.0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    spans = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        t0, t1 = map(float, out.split()[-2:])
        spans.append((t0, t1))
    return sorted(spans)


def test_file_lock_serialises_two_processes(tmp_path) -> None:
    (_, a1), (b0, _) = _two_holders(tmp_path / "x" / "entry.lock", "file_lock")
    assert a1 <= b0, "two processes held the lock at once"


def test_folder_lock_serialises_two_processes(tmp_path) -> None:
    (_, a1), (b0, _) = _two_holders(tmp_path, "folder_lock")
    assert a1 <= b0, "two processes held the lock at once"
    assert list(tmp_path.iterdir()) == []  # no lock file left in a user's folder


def test_lock_is_released_when_the_holder_is_killed(tmp_path) -> None:
    lock = tmp_path / "k.lock"
    p = subprocess.Popen([sys.executable, "-c", _HOLD.format(fn="file_lock"), str(lock), "600"],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "in"
    p.kill()
    p.wait(timeout=30)
    p.stdout.close()
    t0 = time.monotonic()
    with file_lock(lock):
        assert time.monotonic() - t0 < 5
