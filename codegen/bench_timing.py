"""How ``hwq bench c`` times: cold weight copies, one timed call, the interleaved rounds.

A kernel reads its weights cold: it rotates over copies that together exceed twice the last-level cache
(:func:`cold_copies`). Every call is timed by wall clock and by the calling thread's CPU time
(:func:`timed`); :func:`interleaved` runs one burst of every kernel per round, so a load change on the
shared machine hits all of them alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

__all__ = ["BURST", "COPY_BUDGET", "MAX_COPIES", "cold_copies", "interleaved", "l2_bytes", "l3_bytes",
           "rotor", "timed"]

MAX_COPIES = 64
#: the most bytes one kernel's cold copies may hold (a full run keeps every kernel's copies of its case and of
#: the four cold calibration shapes at once: about 16 GB at 512 MiB with a 480 MiB LLC)
COPY_BUDGET = 256 << 20
BURST = 2  # timed calls per kernel and round, after one untimed call that wakes its threads


class Timed(Protocol):
    """What :func:`interleaved` times (:class:`hwq.codegen.bench_backends.Case`)."""

    calls: dict[str, Callable[..., Any]]

    def timed(self, name: str, b: int, nt: int, n: int = 1) -> list[tuple[float, float]]: ...


#: seconds of idle after each kernel's burst at 2 or more threads, so that whatever its threads spin on
#: has stopped before the next kernel is timed: libgomp's idle workers (the read floor, E8) spin 300000
#: pauses, 3.2 ms on this Intel VM, and held the second core through the next kernels' turns (2 threads,
#: 4096x4096, batch 1: with the workers sleeping sooner, hwq's median went 0.808 -> 0.552 ms and ORT's
#: 1.097 -> 0.804 ms); hwq's pool spins 20000 pauses
SETTLE = 0.005


def settle(nt: int) -> None:
    """After a kernel's burst at ``nt`` threads: idle :data:`SETTLE` seconds when ``nt`` > 1 (with one thread
    a spinning worker takes no core the next kernel uses)."""
    if nt > 1:
        time.sleep(SETTLE)


_SYS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")


def _cache_bytes(level: int, default: int, base: Path = _SYS_CACHE) -> int:
    """Size of the level-``level`` data/unified cache of CPU 0: Linux sysfs first (glibc's sysconf names for
    cache sizes are not exposed by every Python), then sysconf, then ``default``."""
    for idx in sorted(base.glob("index*")) if base.is_dir() else ():
        try:
            kind = (idx / "type").read_text().strip()
            if int((idx / "level").read_text()) != level or kind == "Instruction":
                continue
            text = (idx / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit() and int(digits) > 0:
            return int(digits) * scale
    try:
        v = int(os.sysconf(f"SC_LEVEL{level}_CACHE_SIZE"))
    except (ValueError, OSError, AttributeError):
        v = 0
    return v if v > 0 else default


def l3_bytes() -> int:
    """Last-level cache size (sysfs, else sysconf), 32 MiB when unknown."""
    return _cache_bytes(3, 32 << 20)


def l2_bytes() -> int:
    """Per-core L2 size (sysfs, else sysconf), 1 MiB when unknown."""
    return _cache_bytes(2, 1 << 20)


def cold_copies(nbytes: int, limit: int = MAX_COPIES, llc: int | None = None,
                budget: int = COPY_BUDGET) -> tuple[int, bool]:
    """(copies, cold): copies that together exceed twice the LLC (``llc``, default :func:`l3_bytes`), at
    most ``limit`` and at most ``budget`` bytes together (never fewer than one). ``cold`` is whether they do
    exceed twice the LLC: a machine whose reported LLC is large (a VM that sees its host's shared 480 MiB L3)
    gets rotating copies within the budget, labelled not cold."""
    llc = l3_bytes() if llc is None else llc
    want = max(1, -(-2 * llc // max(1, nbytes)))
    n = max(1, min(want, limit, budget // max(1, nbytes)))
    return n, n * nbytes > 2 * llc


def rotor(items: list[Any]) -> Callable[[], Any]:
    """A callable that returns the next of ``items`` on each call (the next cold copy)."""
    state = {"i": 0}

    def nxt() -> Any:
        state["i"] = (state["i"] + 1) % len(items)
        return items[state["i"]]

    return nxt


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall, calling-thread CPU) seconds of one call."""
    c0, t0 = time.thread_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.thread_time() - c0


def interleaved(
    cs: Timed, kernels, b: int, nt: int, rounds: int, e8_rounds: int, burst: int = BURST,
    between: Callable[[int], None] | None = None,
) -> dict[str, list[tuple[float, float]]]:
    """Per round, each kernel in turn runs ``1 + burst`` calls in a row on successive cold copies; the first
    (it wakes the kernel's thread pool, which sleeps while the other kernels run) is not kept. ``between(r)``
    runs after round ``r`` (the host calibration's round)."""
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in kernels if n in cs.calls}
    for r in range(max(1, rounds)):
        for name in times:
            if name == "e8_exact" and r >= e8_rounds:  # the slowest kernel: its first e8_rounds rounds only
                continue
            times[name] += cs.timed(name, b, nt, 1 + burst)[1:]
            settle(nt)
        if between is not None:
            between(r)
    return times
