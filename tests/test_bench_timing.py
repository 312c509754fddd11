"""``hwq.codegen.bench_timing``: interleaved rounds keep what they say, cold copies exceed twice the LLC."""

from __future__ import annotations

import time

from hwq.codegen.bench_backends import Case
from hwq.codegen.bench_timing import (COPY_BUDGET, MAX_COPIES, _cache_bytes, cold_copies, interleaved, rotor,
                                      timed)


def _case(log: list[tuple[str, int]]) -> Case:
    """A Case whose calls record (kernel, call number) and return that number as their wall time."""
    cs = Case(64, 64)
    count: dict[str, int] = {}

    def call(name: str):
        def run(b: int, nt: int) -> tuple[float, float]:
            count[name] = count.get(name, 0) + 1
            log.append((name, count[name]))
            return float(count[name]), 0.0

        return run

    for name in ("hwq_exact", "e8_exact", "ort_q4"):
        cs.calls[name] = call(name)
    return cs


def test_interleaved_rounds_drop_the_wake_up_call_and_limit_e8() -> None:
    log: list[tuple[str, int]] = []
    after: list[int] = []
    times = interleaved(_case(log), ("hwq_exact", "e8_exact", "ort_q4", "numpy_fp32"), 1, 1, rounds=3,
                        e8_rounds=2, burst=2, between=after.append)
    assert set(times) == {"hwq_exact", "e8_exact", "ort_q4"}  # a kernel without a call is left out
    # per round: 1 untimed + 2 kept calls of each kernel in turn; E8 only in its first 2 rounds
    assert [w for w, _ in times["hwq_exact"]] == [2, 3, 5, 6, 8, 9]
    assert [w for w, _ in times["e8_exact"]] == [2, 3, 5, 6]
    assert [n for n, _ in log[:9]] == ["hwq_exact"] * 3 + ["e8_exact"] * 3 + ["ort_q4"] * 3
    assert [n for n, _ in log[9:18]] == ["hwq_exact"] * 3 + ["e8_exact"] * 3 + ["ort_q4"] * 3
    assert [n for n, _ in log[18:]] == ["hwq_exact"] * 3 + ["ort_q4"] * 3
    assert after == [0, 1, 2]


def test_cold_copies_exceed_twice_the_llc_up_to_the_limit() -> None:
    llc = 32 << 20
    part = llc // 3 + 4096  # not a divisor of twice the LLC
    n, cold = cold_copies(part, llc=llc)
    assert cold and n * part > 2 * llc and (n - 1) * part <= 2 * llc
    assert cold_copies(llc // 2, llc=llc) == (4, False)  # exactly twice the LLC is not "more than"
    assert cold_copies(4 * llc, llc=llc) == (1, True)
    assert cold_copies(1024, llc=llc) == (MAX_COPIES, False)
    assert cold_copies(llc // 100, limit=4, llc=llc) == (4, False)
    assert cold_copies(llc // 2, limit=3, llc=llc) == (3, False)  # 1.5x the LLC is not cold


def test_cold_copies_stay_within_the_memory_budget() -> None:
    """A huge reported LLC (this VM: 480 MiB) must not make a run allocate gigabytes per kernel (it was
    OOM-killed at 13.8 GB): the copies stop at the budget and say they are not cold."""
    llc = 480 << 20
    assert cold_copies(25 << 20, llc=llc) == (COPY_BUDGET // (25 << 20), False)
    assert cold_copies(25 << 20, llc=llc, budget=2 << 30) == (39, True)
    assert cold_copies(4 << 30, llc=llc) == (1, True)  # one copy is always made, and it is cold
    assert cold_copies(1 << 20, llc=32 << 20) == (64, False)  # MAX_COPIES binds before the budget


def test_rotor_cycles_and_timed_measures() -> None:
    nxt = rotor(["a", "b", "c"])
    assert [nxt() for _ in range(5)] == ["b", "c", "a", "b", "c"]
    wall, cpu = timed(lambda: time.sleep(0.02))
    assert wall >= 0.02 and 0 <= cpu < wall


def test_cache_sizes_come_from_sysfs(tmp_path) -> None:
    """The LLC that decides "cold" is the one Linux reports (this VM: 480 MiB, which Python's sysconf cannot
    name), not a silent 32 MiB default."""
    caches = [(1, "Data", "48K"), (1, "Instruction", "64K"), (2, "Unified", "2048K"),
              (3, "Unified", "491520K")]
    for i, (level, kind, size) in enumerate(caches):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    assert _cache_bytes(3, 1, tmp_path) == 480 << 20
    assert _cache_bytes(2, 1, tmp_path) == 2 << 20
    assert _cache_bytes(1, 1, tmp_path) == 48 << 10  # the instruction cache is not the data cache
    assert _cache_bytes(4, 7, tmp_path / "missing") == 7  # no such cache anywhere: the default


def test_settle_idles_only_after_multithreaded_bursts(monkeypatch) -> None:
    from hwq.codegen import bench_timing

    slept: list[float] = []
    monkeypatch.setattr(bench_timing.time, "sleep", slept.append)
    log: list[tuple[str, int]] = []
    interleaved(_case(log), ("hwq_exact", "ort_q4"), 1, 1, rounds=2, e8_rounds=0, burst=1)
    assert slept == []
    interleaved(_case(log), ("hwq_exact", "ort_q4"), 1, 2, rounds=2, e8_rounds=0, burst=1)
    assert slept == [bench_timing.SETTLE] * 4  # after each kernel's burst, every round
