"""Bit-exact amaranth.sim tests of the top levels (full GEMVs through Hadamard, buffers and MAC/LUT units)
against the reference model, with output backpressure and gaps on the input streams (fast, unmarked)."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.rtl.simutil import pack, run_streams, unpack
from hwq.rtl.top import DequantMacTop, LutTop
from hwq.rtl.vectors import top_case

BP = [1, 1, 0, 1, 0]      # output ready pattern
GAPS = [1, 1, 1, 0]       # input valid pattern


def _run(dut, cfg, x_beats, w_beats, m, nvec):
    groups = -(-m // cfg.lanes)
    xs = [pack(dut.x.payload.shape(), b) for b in x_beats]
    ws = [pack(dut.w.payload.shape(), b) for b in w_beats]
    out, cyc = run_streams(dut, {"x": xs, "w": ws}, nvec * groups, ready=BP, valid=GAPS, max_cycles=20000)
    acc = [np.atleast_1d(unpack(dut.o.payload.shape(), o)["acc"]) for o in out]
    return np.concatenate(acc).reshape(nvec, groups * cfg.lanes)[:, :m], cyc


@pytest.mark.parametrize("cfg,k", [(HwqConfig(lattice="D4", q=4, hadamard=8, lanes=4, max_k=64), 16),
                                   (HwqConfig(hadamard=8, lanes=4, max_k=48), 24)],
                         ids=["d4_k2seg", "d3_k3seg"])
def test_dequant_top_gemv(cfg, k):
    """M = 2 row groups, K = 2 (D4) or 3 (D3: lcm(3, 8) = 24) Hadamard segments, two vectors back to back
    (the second waits for ``done``): equals hwq.datapath.weight_only_acc bit for bit."""
    m = 2 * cfg.lanes
    x_beats, w_beats, ref = top_case(cfg, m, k, nvec=2, seed=5)
    got, _ = _run(DequantMacTop(cfg), cfg, x_beats, w_beats, m, 2)
    assert np.any(ref != 0) and np.array_equal(got, ref)


@pytest.mark.parametrize("cfg,k", [(HwqConfig(hadamard=8, lanes=4, max_k=48), 24),
                                   (HwqConfig(lattice="Z", q=8, hadamard=8, lanes=3, max_k=32), 16)],
                         ids=["d3", "z"])
def test_lut_top_gemv(cfg, k):
    """Hadamard -> ActEncoder -> LutMac for two vectors: equals hwq.datapath.lut_acc bit for bit, with
    activation codes on more than one ladder rung."""
    m = 2 * cfg.lanes
    x_beats, w_beats, ref = top_case(cfg, m, k, nvec=2, seed=7, lut=True)
    got, _ = _run(LutTop(cfg), cfg, x_beats, w_beats, m, 2)
    assert np.any(ref != 0) and np.array_equal(got, ref)


def test_lut_top_uses_higher_rungs():
    """The LUT-top vectors exercise the encoder ladder (so the test above checks rung selection)."""
    from hwq.datapath import encode_activations, prepare_activations

    cfg = HwqConfig(hadamard=8, lanes=4, max_k=48)
    rng = np.random.default_rng(7)
    xs = rng.standard_normal((24, 2)) * np.linspace(0.2, 3.0, 24)[:, None]
    xs[:6, 1] *= 12.0
    acts = encode_activations(prepare_activations(xs, cfg).x_rot, cfg)
    assert acts.ladder.max() > 0
