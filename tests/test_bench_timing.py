"""``hwq.codegen.bench_timing``: interleaved rounds keep what they say, cold copies exceed twice the LLC."""

from __future__ import annotations

import time

from hwq.codegen.bench_backends import Case
from hwq.codegen.bench_timing import MAX_COPIES, cold_copies, interleaved, l3_bytes, rotor, timed


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
    # per round: 1 untimed + 2 kept calls of each kernel in turn; E8 one kept call in its first 2 rounds
    assert [w for w, _ in times["hwq_exact"]] == [2, 3, 5, 6, 8, 9]
    assert [w for w, _ in times["e8_exact"]] == [1, 2]
    assert [n for n, _ in log[:7]] == ["hwq_exact"] * 3 + ["e8_exact"] + ["ort_q4"] * 3
    assert [n for n, _ in log[7:14]] == ["hwq_exact"] * 3 + ["e8_exact"] + ["ort_q4"] * 3
    assert [n for n, _ in log[14:]] == ["hwq_exact"] * 3 + ["ort_q4"] * 3
    assert after == [0, 1, 2]


def test_cold_copies_exceed_twice_the_llc_up_to_the_limit() -> None:
    llc = l3_bytes()
    n, cold = cold_copies(llc // 3)
    assert cold and n * (llc // 3) > 2 * llc and (n - 1) * (llc // 3) <= 2 * llc
    assert cold_copies(4 * llc) == (1, True)
    assert cold_copies(1024) == (MAX_COPIES, MAX_COPIES * 1024 > 2 * llc)
    assert cold_copies(llc // 100, limit=4) == (4, False)
    assert cold_copies(llc // 2, limit=3) == (3, False)  # 1.5x the LLC is not cold


def test_rotor_cycles_and_timed_measures() -> None:
    nxt = rotor(["a", "b", "c"])
    assert [nxt() for _ in range(5)] == ["b", "c", "a", "b", "c"]
    wall, cpu = timed(lambda: time.sleep(0.02))
    assert wall >= 0.02 and 0 <= cpu < wall
