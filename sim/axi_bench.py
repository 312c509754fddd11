"""cocotb tests of the AXI4-Stream tops (units ``top_axi``, ``luttop_axi``) driven and checked with a
third-party VIP, cocotbext-axi (``AxiStreamSource`` on ``s_axis_x``/``s_axis_w``, ``AxiStreamSink`` on
``m_axis_o``, ``AxiStreamMonitor`` watching the weight stream). Runs inside the simulator, started by
:func:`hwq.sim.cocotb_run.run_cocotb` (Verilator or Icarus); the job file names the config, unit, seed and
the manifest's beat layouts, which the host packer :class:`hwq.sim.axi_frames.AxiFrames` uses.

Every GEMV result frame is compared with the reference model (:func:`hwq.datapath.weight_only_acc` /
:func:`~hwq.datapath.lut_acc` through :func:`hwq.stimulus.gemv_case`) bit for bit, and its length
checks ``m_axis_o_tlast``. GEMVs of two shapes (different M and K) alternate, so K and M are shown to be
run-time parameters carried by the framing.

* ``axi_traffic``          random idle cycles on both inputs and random backpressure on the output (the VIP's
                           ``set_pause_generator``);
* ``axi_full_rate``        no pauses: the weight beats of each GEMV are accepted on consecutive cycles (II = 1
                           through the wrapper), and the latency from the last weight beat to the last result
                           is the manifest's;
* ``axi_reset_midstream``  ``aresetn`` asserted while frames are in flight (after at least one result was
                           checked); every GEMV sent after the reset must come out exactly, nothing stale.
"""

from __future__ import annotations

import json
import random
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamMonitor, AxiStreamSink, AxiStreamSource
from hwq.sim.axi_frames import AxiFrames
from hwq.sim.tb import load_job

from hwq.config import HwqConfig
from hwq.stimulus import GemvCase, bernoulli, gemv_case

KINDS = {"top_axi": "wo", "luttop_axi": "lut"}
PERIOD_NS = 10


class AxiBench:
    """Clock, reset, the VIP instances, GEMV cases and the result checker of one AXI top."""

    def __init__(self, dut: Any, name: str) -> None:
        self.dut = dut
        self.job = job = load_job()
        self.cfg = HwqConfig.from_dict(job["config"])
        self.kind = KINDS[job["unit"]]
        self.seed = int(job["seed"])
        self.rng = random.Random(f"{self.seed}:{name}")
        dut._log.info("hwq %s.%s seed=%d simulator=%s config=%s (replay: same seed and config)", job["unit"],
                      name, self.seed, job.get("simulator"), self.cfg.slug)
        self.frames = AxiFrames(job["axi_ports"], self.cfg.lanes, self.cfg.dim, self.cfg.hadamard)
        dut.aresetn.value = 0
        cocotb.start_soon(Clock(dut.aclk, PERIOD_NS, unit="ns").start())
        kw = {"reset": dut.aresetn, "reset_active_level": False}
        self.x = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_x"), dut.aclk, **kw)
        self.w = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_w"), dut.aclk, **kw)
        self.o = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_o"), dut.aclk, **kw)
        self.wmon = AxiStreamMonitor(AxiStreamBus.from_prefix(dut, "s_axis_w"), dut.aclk, **kw)
        self.cycle = 0
        self.w_cycles: list[int] = []   # cycle of every weight beat transfer
        self.o_cycles: list[tuple[int, int]] = []  # (cycle, tlast) of every result beat transfer
        cocotb.start_soon(self._watch())
        self.checked = 0
        self.block_ops = 0
        self.gemvs = 0

    async def _watch(self) -> None:
        d = self.dut
        while True:
            await RisingEdge(d.aclk)
            self.cycle += 1
            if int(d.aresetn.value):
                if int(d.s_axis_w_tvalid.value) and int(d.s_axis_w_tready.value):
                    self.w_cycles.append(self.cycle)
                if int(d.m_axis_o_tvalid.value) and int(d.m_axis_o_tready.value):
                    self.o_cycles.append((self.cycle, int(d.m_axis_o_tlast.value)))

    def cases(self, nvec: int, salt: int) -> list[GemvCase]:
        """Two GEMV shapes: M = 2L + 1 (a padded row group), K = 2 lcm(d, h); and M = L, K = lcm(d, h)."""
        cfg = self.cfg
        step = cfg.k_step
        k2 = min(2 * step, cfg.max_k // step * step)
        return [gemv_case(cfg, 2 * cfg.lanes + 1, k2, nvec, self.seed * 100 + salt, self.kind),
                gemv_case(cfg, cfg.lanes, step, nvec, self.seed * 100 + salt + 1, self.kind)]

    async def reset(self, cycles: int = 4) -> None:
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, cycles)
        self.dut.aresetn.value = 1
        await RisingEdge(self.dut.aclk)

    def send(self, case: GemvCase, j: int) -> None:
        """Queue vector j of ``case`` and the GEMV's weights (one frame each)."""
        em = None if case.em is None else int(case.em[j])
        self.x.send_nowait(AxiStreamFrame(self.frames.x_frame(case.x_int[:, j], em)))
        self.w.send_nowait(AxiStreamFrame(self.frames.w_frame(case.rows, case.ladder)))

    async def check(self, case: GemvCase, j: int, budget_cycles: int, corrupt: bool = False) -> None:
        """Receive one result frame and compare it with the reference (``corrupt`` flips one expected bit)."""
        ref = case.ref[j].copy()
        if corrupt:
            ref[len(ref) // 2] ^= 1
        frame = await with_timeout(self.o.recv(), budget_cycles * PERIOD_NS, "ns")
        m = ref.size
        groups = -(-m // self.cfg.lanes)
        nbytes = groups * self.frames.beat_bytes["m_axis_o"]
        assert len(frame.tdata) == nbytes, \
            (f"GEMV {self.gemvs}: result frame of {len(frame.tdata)} bytes, expected {groups} beats = "
             f"{nbytes} bytes (m_axis_o_tlast misplaced)")
        got = self.frames.o_values(bytes(frame.tdata), m)
        bad = np.flatnonzero(got != ref)
        assert bad.size == 0, (f"GEMV {self.gemvs}: mismatch in {bad.size} of {m} rows, first row {bad[0]}: "
                               f"got {got[bad[0]]}, expected {ref[bad[0]]}")
        if m % self.cfg.lanes == 0:  # whole beats: the padding bits are 0 too
            assert bytes(frame.tdata) == self.frames.o_frame(ref), f"GEMV {self.gemvs}: padding bits not 0"
        self.checked += m
        self.block_ops += groups * self.cfg.lanes * case.rows.shape[1]
        self.gemvs += 1

    def budget(self, case: GemvCase, slack: float) -> int:
        k, nb = case.x_int.shape[0], case.rows.shape[1]
        groups = -(-case.rows.shape[0] // self.cfg.lanes)
        return int((2 * k + groups * nb + k // self.cfg.hadamard) * slack) + 500

    def stats(self, name: str, **extra: Any) -> dict:
        rec = {"test": name, "unit": self.job["unit"], "slug": self.cfg.slug, "seed": self.seed,
               "simulator": self.job.get("simulator"), "outputs_checked": self.checked,
               "block_ops": self.block_ops, "gemvs": self.gemvs, "cycles": self.cycle, **extra}
        path = self.job.get("stats")
        if path:
            with open(path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        return rec


@cocotb.test()
async def axi_traffic(dut: Any) -> None:
    """Random idle cycles on s_axis_x/s_axis_w (pause 30%) and backpressure on m_axis_o (pause 40%)."""
    b = AxiBench(dut, "axi_traffic")
    b.x.set_pause_generator(bernoulli(random.Random(b.rng.random()), 0.3))
    b.w.set_pause_generator(bernoulli(random.Random(b.rng.random()), 0.3))
    b.o.set_pause_generator(bernoulli(random.Random(b.rng.random()), 0.4))
    await b.reset()
    cases = b.cases(2, 1)
    order = [(c, j) for j in range(2) for c in cases]  # shapes alternate: K and M change every GEMV
    for c, j in order:
        b.send(c, j)
    for n, (c, j) in enumerate(order):
        await b.check(c, j, b.budget(c, 4.0), corrupt=bool(b.job.get("corrupt_expected")) and n == 1)
    await ClockCycles(dut.aclk, 20)
    assert b.o.empty(), "a result frame arrived that no GEMV asked for"
    frames = b.wmon.count()
    assert frames == len(order), f"the monitor saw {frames} weight frames accepted, {len(order)} were sent"
    b.stats("axi_traffic", pause_in=0.3, pause_out=0.4)


@cocotb.test()
async def axi_full_rate(dut: Any) -> None:
    """No pauses: weight beats at one per cycle through the wrapper; latency as in the manifest."""
    b = AxiBench(dut, "axi_full_rate")
    await b.reset()
    spans, lats = [], []
    for c in b.cases(2, 2):
        for j in range(2):
            n_w = -(-c.rows.shape[0] // b.cfg.lanes) * c.rows.shape[1]
            w0, o0 = len(b.w_cycles), len(b.o_cycles)
            b.send(c, j)
            await b.check(c, j, b.budget(c, 2.0))
            await ClockCycles(dut.aclk, 2)
            wc, oc = b.w_cycles[w0:], b.o_cycles[o0:]
            assert len(wc) == n_w, f"{len(wc)} weight beats transferred, {n_w} sent"
            spans.append(wc[-1] - wc[0] + 1)
            assert spans[-1] == n_w, f"{n_w} weight beats took {spans[-1]} cycles at full rate (II must be 1)"
            assert oc[-1][1] == 1 and all(t == 0 for _, t in oc[:-1]), f"m_axis_o_tlast pattern {oc}"
            lats.append(oc[-1][0] - wc[-1])
    want = int(b.job["latency"])
    assert all(lat == want for lat in lats), \
        f"last weight beat -> last result: {lats} cycles, manifest {want}"
    b.stats("axi_full_rate", w_spans=spans, latency=lats)


@cocotb.test()
async def axi_reset_midstream(dut: Any) -> None:
    """aresetn while frames are in flight; the GEMVs sent afterwards come out exactly, nothing stale."""
    b = AxiBench(dut, "axi_reset_midstream")
    for s in (b.x, b.w):
        s.set_pause_generator(bernoulli(random.Random(b.rng.random()), 0.2))
    b.o.set_pause_generator(bernoulli(random.Random(b.rng.random()), 0.3))
    await b.reset()
    first = b.cases(2, 3)
    order = [(c, j) for j in range(2) for c in first]
    for c, j in order:
        b.send(c, j)
    await b.check(*order[0], b.budget(order[0][0], 4.0))
    await ClockCycles(dut.aclk, b.rng.randint(1, 16))
    pending = b.x.count() + b.w.count() + int(not b.x.idle()) + int(not b.w.idle())
    assert pending > 0, "reset must come mid-stream: every frame was already sent"
    before = b.checked
    dut.aresetn.value = 0
    await RisingEdge(dut.aclk)
    for s in (b.x, b.w):
        s.clear()
    await ClockCycles(dut.aclk, b.rng.randint(1, 4))
    b.o.clear()
    b.wmon.clear()
    dut.aresetn.value = 1
    await RisingEdge(dut.aclk)
    second = b.cases(2, 4)
    order = [(c, j) for j in range(2) for c in second]
    for c, j in order:
        b.send(c, j)
    for c, j in order:
        await b.check(c, j, b.budget(c, 4.0))
    await ClockCycles(dut.aclk, 20)
    assert b.o.empty(), "a stale result frame came out after the reset"
    b.stats("axi_reset_midstream", checked_before_reset=before, checked_after_reset=b.checked - before,
            frames_pending_at_reset=pending)
