"""Bit-exact amaranth.sim tests of the hwq RTL units against the reference model (fast, unmarked)."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import signed, unsigned
import pytest

from hwq.config import HwqConfig
from hwq.datapath import encode_activations, prepare_activations
from hwq.errors import HwqError
from hwq.hadamard import rotate_int
from hwq.rtl import cycles
from hwq.rtl.build import check_buildable
from hwq.rtl.decoder import CodebookDecoder
from hwq.rtl.encoder import ActEncoder
from hwq.rtl.hadamard import Hadamard
from hwq.rtl.int4 import Int4Mac
from hwq.rtl.lut import LutMac
from hwq.rtl.mac import DequantMac
from hwq.rtl.simutil import pack, run_stream, unpack
from hwq.rtl.vectors import lut_beats, mac_beats
from hwq.stimulus import gemv_case
from hwq.voronoi import codeword_of, row_to_digits

BP = [1, 1, 0, 1]  # output backpressure pattern


@pytest.mark.parametrize("cfg",
                         [HwqConfig(), HwqConfig(decoder="arith"),
                          HwqConfig(lattice="Z", q=8, decoder="arith"),
                                 HwqConfig(lattice="D4", q=4, decoder="arith"), HwqConfig(lattice="E8", q=7)],
                         ids=["d3rom", "d3arith", "zarith", "d4arith", "e8arith"])
def test_decoder(cfg):
    dut = CodebookDecoder(cfg)
    rows = np.random.default_rng(0).integers(0, cfg.num_codewords, 40)
    out, _ = run_stream(dut, [pack(dut.in_layout, {"code": int(r), "ladder": 1}) for r in rows], len(rows),
                        ready=BP)
    got = np.array([unpack(dut.out_layout, o)["cw"] for o in out]).reshape(len(rows), -1)
    assert np.array_equal(got, codeword_of(cfg.lat, cfg.q, row_to_digits(rows, cfg.q, cfg.dim)))


@pytest.mark.parametrize("cfg",
                         [HwqConfig(hadamard=8, lanes=4), HwqConfig(lattice="E8", q=7, hadamard=8, lanes=2),
                                 HwqConfig(lattice="Z", q=8, hadamard=8, lanes=3)], ids=["d3", "e8", "z"])
def test_mac_equals_weight_only_acc(cfg):
    case = gemv_case(cfg, 7)
    ref = case.ref[0]
    dut = DequantMac(cfg)
    beats = [pack(dut.in_layout, b) for b in mac_beats(cfg, case)]
    out, cyc = run_stream(dut, beats, -(-7 // cfg.lanes), ready=BP)
    got = np.concatenate([np.atleast_1d(unpack(dut.out_layout, o)["acc"]) for o in out])[:7]
    assert np.any(ref != 0) and np.array_equal(got, ref)
    bad = ref.copy()
    bad[0] += 1
    assert not np.array_equal(got, bad)


@pytest.mark.parametrize("cfg",
                         [HwqConfig(hadamard=8, lanes=4), HwqConfig(lattice="E8", q=7, hadamard=8, lanes=2)],
                         ids=["d3", "e8"])
def test_mac_stall_copies_follow_full(cfg):
    """Under heavy backpressure every copy of the stall register equals ``full`` on every cycle (a copy
    that differed would let one lane's pipeline slip against the others), ``full`` is really asserted,
    and the results stay exact."""
    case = gemv_case(cfg, 24)
    ref = case.ref[0]
    dut = DequantMac(cfg)
    seen = {"full": 0, "cycles": 0, "bad": []}

    def watch(ctx):
        f = ctx.get(dut.stall)
        seen["full"] += f
        seen["cycles"] += 1
        seen["bad"] += [i for i, c in enumerate(dut.stall_copies) if ctx.get(c) != f]

    beats = [pack(dut.in_layout, b) for b in mac_beats(cfg, case)]
    out, _ = run_stream(dut, beats, -(-24 // cfg.lanes), ready=[0] * 12 + [1], watch=watch)
    got = np.concatenate([np.atleast_1d(unpack(dut.out_layout, o)["acc"]) for o in out])[:24]
    assert len(dut.stall_copies) > cfg.lanes and not seen["bad"]
    assert 0 < seen["full"] < seen["cycles"] and np.array_equal(got, ref)


def test_mac_cycle_model():
    cfg = HwqConfig(hadamard=8, lanes=4)
    case = gemv_case(cfg, 8)
    dut = DequantMac(cfg)
    out, cyc = run_stream(dut, [pack(dut.in_layout, b) for b in mac_beats(cfg, case)], 2)
    assert cyc[-1] + 1 == cycles.gemv_cycles(cfg, 8, 24)
    assert cyc[0] == 8 - 1 + dut.latency


@pytest.mark.parametrize("cfg",
                         [HwqConfig(hadamard=8, lanes=4), HwqConfig(lattice="Z", q=8, hadamard=8, lanes=3)],
                         ids=["d3", "z"])
def test_lut_equals_lut_acc(cfg):
    case = gemv_case(cfg, 7, kind="lut")
    ref = case.ref[0]
    dut = LutMac(cfg)
    beats = lut_beats(cfg, case)
    out, _ = run_stream(dut, [pack(dut.in_layout, b) for b in beats], -(-7 // cfg.lanes), ready=BP)
    got = np.concatenate([unpack(dut.out_layout, o)["acc"] for o in out])[:7]
    assert np.any(ref != 0) and np.array_equal(got, ref)


def test_int4_baseline():
    cfg = HwqConfig(hadamard=8, lanes=4)
    rng = np.random.default_rng(0)
    dut = Int4Mac(cfg)
    w, x = rng.integers(-8, 8, (4, 24)), rng.integers(-1000, 1000, 24)
    beats = [pack(dut.in_layout,
                  {"w": w[:, 3 * b:3 * b + 3].reshape(-1).tolist(), "x": x[3 * b:3 * b + 3].tolist(),
                                  "last": int(b == 7)}) for b in range(8)]
    out, _ = run_stream(dut, beats, 1, ready=BP)
    assert np.array_equal(unpack(dut.out_layout, out[0])["acc"], w @ x)


@pytest.mark.parametrize("impl,h", [("pipelined", 16), ("folded", 16), ("pipelined", 64)])
def test_hadamard(impl, h):
    cfg = HwqConfig(hadamard=h, max_k=4 * h, hadamard_impl=impl)
    x = np.random.default_rng(1).integers(-127, 128, (2, 3 * h))
    dut = Hadamard(cfg)
    beats = [pack(dut.in_layout, {"x": x[v, s * h:(s + 1) * h].tolist(), "last": int(s == 2)})
             for v in range(2) for s in range(3)]
    out, cyc = run_stream(dut, beats, 6, ready=BP if impl == "pipelined" else None)
    got = np.array([unpack(dut.out_layout, o)["y"] for o in out]).reshape(2, -1)
    assert np.array_equal(got, rotate_int(x.T, h, cfg.sign_seed).T)
    if impl == "folded":
        assert cyc[1] - cyc[0] == cycles.ii(cfg, "had")


@pytest.mark.parametrize("cfg", [HwqConfig(hadamard=8), HwqConfig(lattice="Z", q=8, hadamard=8),
                                 HwqConfig(lattice="D4", q=4, hadamard=8)], ids=["d3", "z", "d4"])
def test_encoder(cfg):
    rng = np.random.default_rng(3)
    k = 48
    xs = rng.standard_normal((k, 2))
    xs[:8, 1] *= 20  # forces higher rungs and overloads
    act = prepare_activations(xs, cfg)
    codes = encode_activations(act.x_rot, cfg)
    dut = ActEncoder(cfg)
    d, nb = cfg.dim, k // cfg.dim
    idx = [(j, b) for j in range(2) for b in range(nb)]
    beats = [pack(dut.in_layout, {"x": act.x_rot[d * b:d * b + d, j].tolist(), "em": int(codes.enc_mult[j])})
             for j, b in idx]
    out, _ = run_stream(dut, beats, len(beats), ready=BP)
    got = [unpack(dut.out_layout, o) for o in out]
    assert codes.ladder.max() > 0
    for g, (j, b) in zip(got, idx):
        want = (codes.rows[j, b], codes.ladder[j, b], codes.overload[j, b])
        assert (g["code"], g["ladder"], g["overload"]) == want


@pytest.mark.parametrize("change,needle", [({"lattice": "Z", "q": 100}, "q <= 64"),
                                           ({"hadamard": 1024}, "Hadamard limit 256"),
                                           ({"lattice": "E8", "q": 9, "max_k": 4096}, "24 bits"),
                                           ({"lanes": 256, "lattice": "D4", "q": 8, "decoder": "rom"},
                                            "BRAM")])
def test_limits(change, needle):
    with pytest.raises(HwqError, match=needle):
        check_buildable(HwqConfig().replace(**change))


@pytest.mark.parametrize("shape", [signed(4), signed(5), unsigned(4), signed(1)],
                         ids=["s4", "s5", "u4", "s1"])
def test_partial_products_exact(shape):
    """sum(booth_pps(c, (x, -x, 3x))) == c * x for every c of the shape and extreme/random x."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    from hwq.rtl.booth import booth_pps

    m = Module()
    c, x = Signal(shape), Signal(signed(14))
    out = Signal(signed(24))
    m.d.comb += out.eq(sum(booth_pps(c, (x, -x, (x << 1) + x))))
    lo, hi = (-(1 << (shape.width - 1)), 1 << (shape.width - 1)) if shape.signed else (0, 1 << shape.width)
    xs = [-8191, 8191, 0, 1, -1, 4097, -3000]
    bad = []

    async def bench(ctx):
        for cv in range(lo, hi):
            for xv in xs:
                ctx.set(c, cv)
                ctx.set(x, xv)
                if ctx.get(out) != cv * xv:
                    bad.append((cv, xv, ctx.get(out)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not bad


@pytest.mark.parametrize("impl", ["pipelined", "folded"])
def test_hadamard_banked_sign_rom(impl):
    """A vector of 66 segments reads the second 64-word sign-ROM bank (and wraps back to bank 0 after)."""
    h, nseg = 4, 66
    cfg = HwqConfig(lattice="Z", q=8, hadamard=h, max_k=h * 70, hadamard_impl=impl)
    x = np.random.default_rng(2).integers(-127, 128, (2, nseg * h))
    dut = Hadamard(cfg)
    beats = [pack(dut.in_layout, {"x": x[v, s * h:(s + 1) * h].tolist(), "last": int(s == nseg - 1)})
             for v in range(2) for s in range(nseg)]
    out, _ = run_stream(dut, beats, len(beats), ready=BP if impl == "pipelined" else None)
    got = np.array([unpack(dut.out_layout, o)["y"] for o in out]).reshape(2, -1)
    assert np.array_equal(got, rotate_int(x.T, h, cfg.sign_seed).T)


def test_stall_copies_split_enables():
    """A Pipe on StallCopies takes a fresh copy of the stall register once ``budget`` register bits are
    behind the one in use (a register wider than the budget gets a copy of its own), and stalls exactly
    like a single-enable pipe when every copy follows ``full``."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    from hwq.rtl.pipe import Pipe, StallCopies

    with pytest.raises(ValueError, match="budget"):
        StallCopies("f", 0)
    m = Module()
    copies = StallCopies("full", 10)
    pipe = Pipe(m, copies, "p")
    x = Signal(4)
    a = pipe.reg(x)            # copy 0: 4 bits
    b = pipe.reg(a)            # copy 0: 8 bits
    c = pipe.reg(b)            # 12 > 10: copy 1
    wide = pipe.reg(c, shape=unsigned(12))   # 4 + 12 > 10: copy 2 (alone, over budget)
    v = pipe.valid_chain(Signal(), 1)        # 12 + 1 > 10: copy 3
    assert len(copies.signals) == 4 and len(v) == 1
    full = Signal()
    m.d.comb += [s.eq(full) for s in copies.signals]
    seen = []

    async def bench(ctx):
        for cyc in range(12):
            ctx.set(x, cyc + 1)
            ctx.set(full, cyc in (3, 4, 8))
            await ctx.tick()
            seen.append(ctx.get(wide))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    model, regs = [], [0, 0, 0, 0]
    for cyc in range(12):
        if cyc not in (3, 4, 8):
            regs = [cyc + 1] + regs[:3]
        model.append(regs[3])
    assert seen == model and len(set(model)) > 3


def test_lut_cycle_model():
    """LutMac's latency (its own answer, :func:`hwq.rtl.lut.lut_latency`) is the one the simulation shows."""
    cfg = HwqConfig(hadamard=8, lanes=4)
    dut = LutMac(cfg)
    beats = lut_beats(cfg, gemv_case(cfg, 8, kind="lut"))
    _, cyc = run_stream(dut, [pack(dut.in_layout, b) for b in beats], 2)
    assert cyc[0] == 8 - 1 + dut.latency == 8 - 1 + cycles.latency(cfg, "lut")
    assert cyc[-1] + 1 == cycles.gemv_cycles(cfg, 8, 24, unit="lut")


def test_registry_latency_is_the_units_own():
    """The registry's cheap latency probes agree with the built units."""
    from hwq.rtl.probe import discard
    from hwq.rtl.units import UNITS

    cfg = HwqConfig(hadamard=8, lanes=2, max_k=64)
    for name in ("mac", "int4", "lut", "had"):
        assert UNITS[name].latency(cfg) == discard(UNITS[name].make(cfg)).latency, name


def test_pack_checks_instead_of_masking():
    from hwq.rtl.mac import mac_in_layout

    lay = mac_in_layout(HwqConfig())
    word = pack(lay, {"x": [-3, 0, 5], "last": 1})
    assert unpack(lay, word)["x"] == [-3, 0, 5]
    with pytest.raises(HwqError, match="does not fit field 'x'"):
        pack(lay, {"x": [1 << 20, 0, 0]})
