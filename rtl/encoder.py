"""Activation lattice encoder (both-quantized mode): one block per cycle, all ladder rungs in parallel.

For rung t (``inv_t = cfg.inv_beta_mults[t]``, F = frac_bits, G = enc_frac_bits)::

    em_t = (em * inv_t) >> F
    lam  = Q(x * em_t / 2**G)                exact closest point (power-of-two denominator), SPEC tie rules
    k    = (G^-1 lam) mod q                  integer inverse, long-division remainder (no multiplier)
    row  = sum_j k_j q**(d-1-j);  c = codeword(row)   ROM or arithmetic decoder
    ok_t = (c == lam)

The output is the first rung with ok_t (ladder = t); when none, ladder = ladder_len - 1 and overload = 1:
one block of :func:`hwq.datapath.encode_activations` bit for bit.
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwq.config import HwqConfig

from .adders import tree_sum
from .arith import divmod_small, mul_const
from .closest import closest_rational
from .decoder import decode_digits, decoder_rom, ladder_shape
from .pipe import Pipe
from .probe import discard, probe_module

__all__ = ["ActEncoder", "em_bits"]


def em_bits(cfg: HwqConfig) -> int:
    """Unsigned bits of the largest enc_mult (an all-but-one-zero vector: ||x_rot|| = 1)."""
    return int(math.floor((1 << cfg.enc_frac_bits) * math.sqrt(cfg.max_k) / cfg.beta0 + 0.5)).bit_length()


def _index(pipe: Pipe, lam: list[Value], cfg: HwqConfig, tag: str) -> tuple[list[Value], int]:
    """k = (M lam mod q*den) / den, lam in scaled coordinates."""
    mat, den = cfg.lat.inverse_int
    q, d = cfg.q, cfg.dim
    v = []
    for i in range(d):
        terms = [mul_const(lam[j], int(mat[i, j])) for j in range(d) if mat[i, j] != 0]
        v.append(tree_sum(terms))
    v = pipe.regs(v, f"{tag}v")
    mod = q * den
    ks, stages = [], 1
    w = max(vi.shape().width for vi in v)  # one width for all: equal stage counts
    off = mod * -(-(1 << (w - 1)) // mod)
    for i in range(d):
        u = (v[i] + off).as_unsigned()
        _, rem, st = divmod_small(u, mod, (off + (1 << (w - 1))).bit_length(), pipe=pipe)
        ks.append((rem >> (den.bit_length() - 1))[:max(1, (q - 1).bit_length())])
        s_div = st
    ks = pipe.regs(ks, f"{tag}k")
    return ks, stages + s_div + 1


def _rung(m: Module, pipe: Pipe, x: list[Value], emt: Value, cfg: HwqConfig, rom, t: int
          ) -> tuple[Value, Value, int]:
    tag = f"t{t}"
    num = pipe.regs([xi * emt for xi in x], f"{tag}n")
    lam, s1 = closest_rational(m, pipe, cfg.lattice, num, 1 << cfg.enc_frac_bits, 0, 0, tag=tag)
    k, s2 = _index(pipe, lam, cfg, tag)
    row = k[0]
    for j in range(1, cfg.dim):
        row = mul_const(row, cfg.q) + k[j]
    row = pipe.reg(row[:cfg.code_bits], f"{tag}row")
    if cfg.decoder_kind == "rom":
        rp = rom.read_port()
        m.d.comb += [rp.addr.eq(row), rp.en.eq(pipe.en)]
        w = cfg.coord_bits
        c = [rp.data[j * w:(j + 1) * w].as_signed() for j in range(cfg.dim)]
        s3 = 1
        rowd = pipe.reg(row, f"{tag}rd")
    else:
        kd = pipe.delay(Cat(*k), 1, f"{tag}kd")  # row register stage
        kb = max(1, (cfg.q - 1).bit_length())
        c, s3 = decode_digits(m, pipe, [kd[j * kb:(j + 1) * kb] for j in range(cfg.dim)], cfg, tag=f"{tag}a")
        rowd = pipe.delay(row, s3, f"{tag}rd")
    lamd = [pipe.delay(v, s2 + 1 + s3, f"{tag}ld") for v in lam]
    ok = pipe.reg(Cat(*[a == b for a, b in zip(c, lamd)]).all(), f"{tag}ok")
    return pipe.reg(rowd, f"{tag}r2"), ok, 1 + s1 + s2 + 1 + s3 + 1


def _build(m: Module, pipe: Pipe, x: list[Value], em: Value, cfg: HwqConfig, rom):
    emt = [pipe.reg(mul_const(em, inv) >> cfg.frac_bits, f"em{t}_") for t,
           inv in enumerate(cfg.inv_beta_mults)]
    xd = [pipe.reg(v, "x") for v in x]
    res = [_rung(m, pipe, xd, emt[t], cfg, rom, t) for t in range(cfg.ladder_len)]
    st = max(r[2] for r in res)  # rungs differ in width, hence in division stages: align them
    rows = [pipe.delay(r, st - s, f"ra{t}_") for t, (r, _, s) in enumerate(res)]
    oks = [pipe.delay(ok, st - s, f"oa{t}_") for t, (_, ok, s) in enumerate(res)]
    code = rows[-1]
    lad: Value = Const(cfg.ladder_len - 1, ladder_shape(cfg))
    for t in range(cfg.ladder_len - 2, -1, -1):
        code = Mux(oks[t], rows[t], code)
        lad = Mux(oks[t], t, lad)
    over = ~Cat(*oks).any()
    return pipe.reg(code, "code"), pipe.reg(lad, "lad", ladder_shape(cfg)), pipe.reg(over, "ovl"), 1 + st + 1


class ActEncoder(wiring.Component):
    """Streaming activation encoder (see module docstring), II = 1."""

    def __init__(self, cfg: HwqConfig):
        self.cfg = cfg
        self.em_bits = em_bits(cfg)
        self.in_layout = data.StructLayout({"x": data.ArrayLayout(signed(cfg.act_rot_bits), cfg.dim),
                                            "em": unsigned(self.em_bits)})
        self.out_layout = data.StructLayout({"code": unsigned(cfg.code_bits), "ladder": ladder_shape(cfg),
                                             "overload": unsigned(1)})
        super().__init__({"i": In(stream.Signature(self.in_layout)),
                          "o": Out(stream.Signature(self.out_layout))})
        m = probe_module()
        rom = None
        if cfg.decoder_kind == "rom":
            rom = discard(decoder_rom(cfg))
        *_, self.latency = _build(m, Pipe(m, Const(1), "probe"), [Signal(signed(cfg.act_rot_bits))
                                                                  for _ in range(cfg.dim)],
                                  Signal(self.em_bits), cfg, rom)
        self.ii = 1

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        pipe = Pipe(m, en, "enc")
        rom = None
        if cfg.decoder_kind == "rom":
            rom = m.submodules.rom = decoder_rom(cfg)
        p = self.i.payload
        code, lad, over, st = _build(m, pipe, [p.x[i] for i in range(cfg.dim)], p.em, cfg, rom)
        vld = pipe.valid_chain(self.i.valid, st)
        m.d.comb += [self.o.valid.eq(vld[-1]), self.o.payload.code.eq(code), self.o.payload.ladder.eq(lad),
                     self.o.payload.overload.eq(over)]
        return m
