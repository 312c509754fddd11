"""Shared building blocks of the hwq RTL: a stall-all pipeline helper, constant arithmetic without DSPs,
exact division by small constants and the closest-point logic of SPEC section 2 as Amaranth expressions.

Every helper returns plain Amaranth values; pipeline registers are created through :class:`Pipe`, whose
registers all advance on one enable (``en``), so a unit stalls as a whole when its output is blocked.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned

__all__ = [
    "Pipe", "StallCopies", "signed_bits", "mul_const", "floordiv_const", "closest_rational", "tree_sum",
    "divmod_small", "layout_fields", "pipe_tree_sum", "booth_multiples", "booth_pps", "csd_terms", "LadderScaler",
    "floordiv_pipe",
]


def signed_bits(bound: int) -> int:
    """Bits of a two's complement integer holding every value in [-bound, bound]."""
    return int(bound).bit_length() + 1


class StallCopies:
    """Copies of a unit's stall register ``full`` (equal values, distinct flip-flops) handed out to a
    :class:`Pipe`, which takes a fresh copy every ``budget`` register bits: no enable net then drives more
    than about ``budget`` flip-flops, and each copy drives a run of consecutive pipeline registers, which
    nextpnr places together. The unit that owns ``full`` must drive every one of :attr:`signals` (see
    :func:`hwq.rtl.mac.out_buffer`'s ``full_copies``). In the 8-lane E8 MAC one copy per lane (about 3k
    flip-flops each) was a 5.4 ns route, 143.6 MHz.
    """

    def __init__(self, prefix: str, budget: int):
        if budget < 1:
            raise ValueError(f"StallCopies budget must be >= 1 register bit, got {budget}")
        self.prefix = prefix
        self.budget = budget
        self.signals: list[Signal] = []

    def enable(self) -> Value:
        """A new copy of ``full``, as the enable ``~full``."""
        s = Signal(name=f"{self.prefix}{len(self.signals)}")
        self.signals.append(s)
        return ~s


class Pipe:
    """Registers that advance together on ``en`` (a stall-all pipeline).

    Parameters
    ----------
    m : Module
        Module the registers are added to.
    en : Value or StallCopies
        Pipeline enable; registers hold their value while it is low. With a :class:`StallCopies` the
        registers take their enables from copies of the stall register, a fresh one every
        ``budget`` bits (``en`` is then the copy in use).
    prefix : str
        Name prefix of the created signals.
    """

    def __init__(self, m: Module, en, prefix: str = "p"):
        self.m = m
        self.prefix = prefix
        self._n = 0
        self._copies = en if isinstance(en, StallCopies) else None
        self._bits = 0
        self.en = self._copies.enable() if self._copies else en

    def _take(self, bits: int):
        """Account ``bits`` new register bits against the enable in use (fresh copy when over budget)."""
        c = self._copies
        if c is not None and self._bits and self._bits + bits > c.budget:
            self.en = c.enable()
            self._bits = 0
        self._bits += bits

    def reg(self, value, name: str | None = None, shape=None) -> Signal:
        """One register stage of ``value`` (reset-less data register)."""
        value = Value.cast(value)
        self._n += 1
        sig = Signal(shape if shape is not None else value.shape(),
                     name=f"{self.prefix}_{name or 'r'}_{self._n}", reset_less=True)
        self._take(len(sig))
        with self.m.If(self.en):
            self.m.d.sync += sig.eq(value)
        return sig

    def regs(self, values: Sequence, name: str = "v") -> list[Signal]:
        return [self.reg(v, f"{name}{i}") for i, v in enumerate(values)]

    def delay(self, value, n: int, name: str = "d") -> Value:
        """``value`` delayed by n stages."""
        v = Value.cast(value)
        for _ in range(n):
            v = self.reg(v, name)
        return v

    def valid_chain(self, valid_in: Value, n: int, name: str = "vld") -> list[Signal]:
        """Valid bits of n stages (with reset)."""
        out = []
        v = valid_in
        for i in range(n):
            s = Signal(name=f"{self.prefix}_{name}{i}")
            self._take(1)
            with self.m.If(self.en):
                self.m.d.sync += s.eq(v)
            out.append(s)
            v = s
        return out


def mul_const(v: Value, c: int) -> Value:
    """``v * c`` for a constant integer c as shifts and adds (canonical signed digits): no DSP block."""
    v = Value.cast(v)
    c = int(c)
    if c == 0:
        return Const(0, signed(2))
    neg = c < 0
    c = abs(c)
    terms: list[tuple[int, int]] = []  # (sign, shift)
    shift = 0
    while c:
        if c & 1:
            if c & 3 == 3 and c != 3 and c != 1:
                terms.append((-1, shift))
                c += 1
            else:
                terms.append((1, shift))
                c -= 1
        c >>= 1
        shift += 1
    vs = v.as_signed() if v.shape().signed else v
    acc = None
    for sgn, sh in terms:
        t = vs << sh if sh else vs
        if acc is None:
            acc = t if sgn > 0 else -t
        else:
            acc = acc + t if sgn > 0 else acc - t
    return -acc if neg else acc


def divmod_small(v: Value, q: int, width: int, chunk: int = 3, pipe: Pipe | None = None,
                 chunks_per_stage: int = 2) -> tuple[Value, Value, int]:
    """Unsigned ``divmod(v, q)`` for a small constant q by chunked long division (no multiplier).

    Each step combines the running remainder with ``chunk`` new bits (a function of about six inputs);
    with ``pipe`` a register stage is inserted every ``chunks_per_stage`` steps.

    Returns
    -------
    (quotient, remainder, stages)
    """
    rb = max(1, (q - 1).bit_length())
    nchunks = -(-width // chunk)
    v = Value.cast(v)
    bits = Cat(v, Const(0, nchunks * chunk - width)) if nchunks * chunk > width else v[:width]
    rem: Value = Const(0, rb)
    qparts: list[Value] = []
    stages = 0
    pending = bits
    # one long-division step as two constant tables over the (remainder, chunk) bits: a LUT6 per output bit
    # (Yosys maps `//` and `%` by a constant to generic divider arithmetic: 92.7 MHz measured)
    tq = [Const((v // q) & ((1 << chunk) - 1), chunk) for v in range(1 << (chunk + rb))]
    tr = [Const((v % q) & ((1 << rb) - 1), rb) for v in range(1 << (chunk + rb))]
    for i in range(nchunks - 1, -1, -1):
        if i == nchunks - 1:
            # first step: the remainder is 0, so index by the chunk bits alone (a zero-padded index left
            # Verilog `casez` statements with unreachable items that Verilator -Wall reports as latches)
            nb = width - i * chunk   # real (not padding) bits of the top chunk
            cur = pending[i * chunk:i * chunk + nb]
            qparts.append(Array(tq[:1 << nb])[cur])
            rem = Array(tr[:1 << nb])[cur]
        else:
            cur = Cat(pending[i * chunk:(i + 1) * chunk], rem)
            qparts.append(Array(tq)[cur])
            rem = Array(tr)[cur]
        done = nchunks - i
        if pipe is not None and done % chunks_per_stage == 0 and i > 0:
            rem = pipe.reg(rem, "dmr")
            qparts = [pipe.reg(Cat(*reversed(qparts)), "dmq")]
            pending = pipe.reg(pending, "dmp")
            stages += 1
    quot = Cat(*reversed(qparts))
    return quot, rem, stages


def floordiv_const(v: Value, d: int, lo: int, hi: int) -> Value:
    """``floor(v / d)`` for a constant d > 0 and v known to lie in [lo, hi], exact, as a reciprocal
    multiply by a constant (shift-add) that is verified over the whole range at build time."""
    if d <= 0:
        raise ValueError("divisor must be positive")
    v = Value.cast(v)
    if d & (d - 1) == 0:
        return v >> (d.bit_length() - 1)
    off = -(-max(0, -lo) // d)
    n_hi = hi + off * d
    nv = np.arange(0, n_hi + 1, dtype=np.int64)
    s = max(1, n_hi.bit_length())
    while True:
        mult = -(-(1 << s) // d)
        if n_hi * mult < 2**62 and np.array_equal((nv * mult) >> s, nv // d):
            break
        s += 1
        if s > 60:
            raise ValueError(f"no exact reciprocal for division by {d} over [{lo}, {hi}]")
    n = (v + off * d) if off else v
    nn = n.as_unsigned()[:max(1, n_hi.bit_length())]
    quot = mul_const(nn, mult) >> s
    return quot - off if off else quot


def csd_terms(c: int) -> list[tuple[int, int]]:
    """Canonical signed digits of a positive integer: ``c == sum(sign << shift)`` over the returned
    ``(sign, shift)`` pairs (no two adjacent non-zero digits, so at most bits/2 + 1 terms)."""
    terms: list[tuple[int, int]] = []
    shift = 0
    c = int(c)
    while c:
        if c & 1:
            if c & 3 == 3 and c != 3 and c != 1:
                terms.append((-1, shift))
                c += 1
            else:
                terms.append((1, shift))
                c -= 1
        c >>= 1
        shift += 1
    return terms


def pipe_tree_sum(pipe: Pipe, values: Sequence[Value], levels_per_stage: int = 1, first: int | None = None,
                  name: str = "ts") -> tuple[Value, int]:
    """Balanced adder tree with a register stage every ``levels_per_stage`` adder levels (``first`` levels
    in the first stage, e.g. 1 when the inputs come from a multiplexer). The result is always registered.

    Returns
    -------
    (sum, stages)
    """
    vals = list(values)
    stages, lvl = 0, 0
    budget = levels_per_stage if first is None else first
    if len(vals) == 1:
        v = vals[0]
        return pipe.reg(-v.value if isinstance(v, Neg) else v, name), 1
    while len(vals) > 1:
        if any(isinstance(v, Neg) for v in vals):
            nxt = _first_level(vals)
        else:
            nxt = [vals[i] + vals[i + 1] for i in range(0, len(vals) - 1, 2)]
            if len(vals) % 2:
                nxt.append(vals[-1])
        vals = nxt
        lvl += 1
        if lvl == budget or len(vals) == 1:
            vals = pipe.regs(vals, f"{name}{stages}_")
            stages, lvl, budget = stages + 1, 0, levels_per_stage
    return vals[0], stages


def booth_multiples(pipe: Pipe, x: Value, name: str = "bm") -> tuple[Value, Value, Value]:
    """Registered ``(x, -x, 3x)`` of a signed value: the shared operands of :func:`booth_pps` (one stage;
    computed once per activation element and shared by every lane)."""
    x = Value.cast(x)
    return pipe.reg(x, f"{name}p"), pipe.reg(-x, f"{name}n"), pipe.reg((x << 1) + x, f"{name}t")


def booth_pps(c: Value, xm: tuple[Value, Value, Value]) -> list[Value]:
    """Partial products of ``c * x`` for a small multiplier c (signed or unsigned) from the shared
    ``(x, -x, 3x)`` of :func:`booth_multiples`: c is cut into 2-bit digits, unsigned ones select
    ``{0, x, 2x, 3x}`` and the signed top digit ``{0, x, -2x, -x}`` (a 1-bit signed top digit ``{0, -x}``),
    each a 4-way multiplexer (one LUT5 per bit on ECP5) shifted by 2k; ``sum(booth_pps(c, xm)) == c * x``.
    No DSP block and no adder before the adder tree."""
    c = Value.cast(c)
    xp, xn, x3 = xm
    w = c.shape().width
    sg = c.shape().signed
    zero = Const(0, signed(2))
    out = []
    for k in range(0, w, 2):
        dig = c[k:k + 2]
        top = k + 2 >= w
        if top and sg and len(dig) == 1:
            pp = Mux(dig[0], xn, zero)
        elif top and sg:
            pp = Array([zero, xp, xn << 1, xn])[dig]
        elif len(dig) == 1:
            pp = Mux(dig[0], xp, zero)
        else:
            pp = Array([zero, xp, xp << 1, x3])[dig]
        out.append(pp << k if k else pp)
    return out


class LadderScaler:
    """``dot * m_T`` for a ladder index T and the config's fixed-point multipliers ``m_t`` without a DSP block.

    Every multiplier is ``m_t = b_t << s_t`` with an odd base b_t; the few distinct bases are constant
    shift-add products of ``dot`` (a pipelined adder tree), then ``(dot * b_T) << s_T`` is selected by T.
    """

    def __init__(self, mults: Sequence[int], levels_per_stage: int = 1):
        self.mults = [int(v) for v in mults]
        self.levels_per_stage = levels_per_stage
        self.shifts = [(v & -v).bit_length() - 1 if v else 0 for v in self.mults]
        self.bases = sorted({v >> s for v, s in zip(self.mults, self.shifts) if v})

    def _tree_stages(self, n: int) -> int:
        if n <= 1:
            return 0
        levels = (n - 1).bit_length()
        return -(-levels // self.levels_per_stage)

    @property
    def stages(self) -> int:
        """Register stages from ``dot`` to the selected, registered term."""
        return max([self._tree_stages(len(csd_terms(b))) for b in self.bases] + [0]) + 1

    def build(self, pipe: Pipe, dot: Value, t: Value, name: str = "ls") -> Value:
        """``dot * mults[t]`` registered ``stages`` cycles after ``dot``/``t`` (t must be delayed alongside)."""
        dot = Value.cast(dot)
        st = self.stages - 1
        prods = {}
        for b in self.bases:
            terms = _scaled_terms(dot, b)
            if len(terms) == 1 and not isinstance(terms[0], Neg):
                v, s = terms[0], 0
            else:
                v, s = pipe_tree_sum(pipe, terms, self.levels_per_stage, name=f"{name}b{b}_")
            prods[b] = pipe.delay(v, st - s, f"{name}a{b}_")
        td = pipe.delay(t, st, f"{name}t")
        zero = Const(0, signed(2))
        cands = [(prods[v >> s] << s if s else prods[v >> s]) if v else zero
                 for v, s in zip(self.mults, self.shifts)]
        n = 1 << max(1, Value.cast(t).shape().width)
        cands += [zero] * (n - len(cands))
        return pipe.reg(Array(cands)[td], f"{name}term")


def tree_sum(values: Sequence[Value]) -> Value:
    """Balanced adder tree."""
    vals = list(values)
    if any(isinstance(v, Neg) for v in vals):
        vals = _first_level(vals) if len(vals) > 1 else [-vals[0].value]
    while len(vals) > 1:
        nxt = [vals[i] + vals[i + 1] for i in range(0, len(vals) - 1, 2)]
        if len(vals) % 2:
            nxt.append(vals[-1])
        vals = nxt
    return vals[0]


def _recip(d: int, n_hi: int) -> tuple[int, int]:
    """(mult, s) with ``(n * mult) >> s == n // d`` for every integer n in [0, n_hi] (checked exhaustively)."""
    nv = np.arange(0, n_hi + 1, dtype=np.int64)
    s = max(1, n_hi.bit_length())
    while True:
        mult = -(-(1 << s) // d)
        if n_hi * mult < 2**62 and np.array_equal((nv * mult) >> s, nv // d):
            return mult, s
        s += 1
        if s > 60:
            raise ValueError(f"no exact reciprocal for division by {d} over [0, {n_hi}]")


class Neg:
    """A term to subtract in :func:`tree_sum` / :func:`pipe_tree_sum` (paired with a positive term as
    ``a - b`` in the first adder level instead of costing a negation level of its own)."""

    def __init__(self, value):
        self.value = Value.cast(value)


def _first_level(terms: Sequence) -> list[Value]:
    """Combine the terms pairwise (positive with negative where possible): one adder level."""
    pos = [t for t in terms if not isinstance(t, Neg)]
    neg = [t.value for t in terms if isinstance(t, Neg)]
    out = [a - b for a, b in zip(pos, neg)]
    pos, neg = pos[len(out):], neg[len(out):]
    out += [pos[i] + pos[i + 1] for i in range(0, len(pos) - 1, 2)] + ([pos[-1]] if len(pos) % 2 else [])
    out += [-(neg[i] + neg[i + 1]) for i in range(0, len(neg) - 1, 2)] + ([-neg[-1]] if len(neg) % 2 else [])
    return out


def _scaled_terms(v: Value, c: int) -> list:
    """Shifted copies of v (``Neg`` for the subtracted ones) whose sum is ``c * v`` (signed digits of c)."""
    if c == 0:
        return []
    sgn = -1 if c < 0 else 1
    out = []
    for sg, sh in csd_terms(abs(c)):
        t = v << sh if sh else v
        out.append(t if sg * sgn > 0 else Neg(t))
    return out


def floordiv_pipe(pipe: Pipe, num: Value, a: int, b: int, d: int, lo: int, hi: int, name: str = "fd"
                  ) -> tuple[Value, int]:
    """Registered ``floor((a * num + b) / d)`` for constants a, b, d > 0 and num known to lie in [lo, hi],
    exact, as a reciprocal multiply (shift-add terms in a pipelined adder tree, 2 levels per stage) that is
    verified over the whole range at build time. Returns (quotient, stages >= 1)."""
    num = Value.cast(num)
    vlo, vhi = a * lo + b, a * hi + b
    if d & (d - 1) == 0:
        terms = _scaled_terms(num, a) + ([Const(b)] if b else [])
        v, st = pipe_tree_sum(pipe, terms, name=name)
        return v >> (d.bit_length() - 1), st
    off = -(-max(0, -vlo) // d)
    mult, s = _recip(d, vhi + off * d)
    # floor(mult (v + off d) / 2^s) - off = (mult a num + mult (b + off d) - off 2^s) >> s
    const = mult * (b + off * d) - (off << s)
    terms = _scaled_terms(num, mult * a) + ([Const(const)] if const else [])
    v, st = pipe_tree_sum(pipe, terms, name=name)
    return v >> s, st


def _rnd_pipe(pipe: Pipe, num: Value, a: int, b: int, den: int, lo: int, hi: int, name: str
              ) -> tuple[Value, int]:
    """Registered rnd((a num + b) / den) = floor((2 (a num + b) + den) / (2 den)) for num in [lo, hi]."""
    return floordiv_pipe(pipe, num, 2 * a, 2 * b + den, 2 * den, lo, hi, name)


def _closest_d(m: Module, pipe: Pipe, num: list[Value], a: int, b: int, den: int, lo: int, hi: int, tag: str
               ) -> tuple[list[Value], int]:
    """D_n closest point to (a num + b) / den (SPEC tie rule), pipelined with at most two adder levels (or
    one comparator level) per stage: round, residual, magnitudes + parity, tournament, parity fix."""
    fs = [_rnd_pipe(pipe, x, a, b, den, lo, hi, f"{tag}f{i}_") for i, x in enumerate(num)]
    st = max(s for _, s in fs)
    f = [pipe.delay(v, st - s, f"{tag}fa") for v, s in fs]
    numd = [pipe.delay(x, st, f"{tag}nd") for x in num]
    # residual den * (x - f), x = (a num + b) / den
    rs = [pipe_tree_sum(pipe, _scaled_terms(x, a) + ([Const(b)] if b else []) + _scaled_terms(fi, -den),
                        name=f"{tag}r{i}_") for i, (x, fi) in enumerate(zip(numd, f))]
    s_r = max(sr for _, sr in rs)
    r = [pipe.delay(v, s_r - sr, f"{tag}ra") for v, sr in rs]
    f = [pipe.delay(v, s_r, f"{tag}f") for v in f]
    st += s_r - 1
    mags = pipe.regs([Mux(ri < 0, -ri, ri) for ri in r], f"{tag}m")
    pos = pipe.regs([ri >= 0 for ri in r], f"{tag}p")
    parity = pipe.reg(Cat(*[fi[0] for fi in f]).xor(), f"{tag}par")
    f = pipe.regs(f, f"{tag}f")
    st += 2
    # tournament (lower index wins ties), one comparator level per stage
    cand = [(Const(i, 4), mags[i]) for i in range(len(mags))]
    extra = [parity] + f + pos
    while len(cand) > 1:
        nxt = []
        for i in range(0, len(cand) - 1, 2):
            (ia, ma), (ib, mb) = cand[i], cand[i + 1]
            take_b = mb > ma
            nxt.append((Mux(take_b, ib, ia), Mux(take_b, mb, ma)))
        if len(cand) % 2:
            nxt.append(cand[-1])
        cand = [(pipe.reg(i, f"{tag}ti"), pipe.reg(mg, f"{tag}tm")) for i, mg in nxt]
        extra = pipe.regs(extra, f"{tag}x")
        st += 1
    best = cand[0][0]
    parity, f, pos = extra[0], extra[1:1 + len(num)], extra[1 + len(num):]
    out = []
    for i, (fi, pi) in enumerate(zip(f, pos)):
        step = Mux(pi, 1, -1)
        out.append(Mux(parity & (best == i), fi + step, fi))
    return pipe.regs(out, f"{tag}y"), st + 1


def closest_rational(m: Module, pipe: Pipe, lattice: str, num: list[Value], den: int, lo: int, hi: int,
                     tag: str = "cp") -> tuple[list[Value], int]:
    """Pipelined exact closest point to ``num / den`` (``coord_scale`` times the point), SPEC tie rules.

    Parameters
    ----------
    num : list of Value
        Numerators, each known to lie in [lo, hi].
    den : int
        Positive constant denominator.

    Returns
    -------
    (point, stages) : the scaled closest point (valid ``stages`` cycles after ``num``).
    """
    if lattice == "Z":
        v, st = _rnd_pipe(pipe, num[0], 1, 0, den, lo, hi, f"{tag}z")
        return [v], st
    if lattice in ("D3", "D4"):
        return _closest_d(m, pipe, num, 1, 0, den, lo, hi, tag)
    if lattice != "E8":
        raise ValueError(f"no RTL closest point for lattice {lattice}")
    f0, s0 = _closest_d(m, pipe, num, 1, 0, den, lo, hi, tag + "a")
    f1, s1 = _closest_d(m, pipe, num, 2, -den, 2 * den, lo, hi, tag + "b")  # (2x - den) / (2 den)
    st = max(s0, s1)
    f0 = [pipe.delay(v, st - s0, f"{tag}a0") for v in f0]
    f1 = [pipe.delay(v, st - s1, f"{tag}a1") for v in f1]
    numd = [pipe.delay(x, st, f"{tag}n") for x in num]
    y0 = [fi << 1 for fi in f0]
    y1 = [(fi << 1) + 1 for fi in f1]
    # distance comparison sum_i (y0 - y1) (4 x - (y0 + y1) den) < 0  <=>  y1 is closer (ties keep y0);
    # (y0 - y1) is odd and in [-3, 3]: a multiplexed shift-add, no multiplier
    dif = pipe.regs([a_ - b_ for a_, b_ in zip(y0, y1)], f"{tag}df")
    sm = pipe.regs([a_ + b_ for a_, b_ in zip(y0, y1)], f"{tag}sm")
    x4 = pipe.regs([x << 2 for x in numd], f"{tag}x4")
    y0d, y1d = pipe.regs(y0, f"{tag}y0"), pipe.regs(y1, f"{tag}y1")
    ps = [pipe_tree_sum(pipe, [x] + _scaled_terms(u, -den), name=f"{tag}pp{i}_") for i, (x, u) in enumerate(zip(x4, sm))]
    s_p = max(sp for _, sp in ps)
    p = [pipe.delay(v, s_p - sp, f"{tag}pa") for v, sp in ps]
    dif = [pipe.delay(v, s_p, f"{tag}df") for v in dif]
    y0d = [pipe.delay(v, s_p, f"{tag}y0") for v in y0d]
    y1d = [pipe.delay(v, s_p, f"{tag}y1") for v in y1d]
    terms = pipe.regs([_small_times(a_, b_) for a_, b_ in zip(dif, p)], f"{tag}t")
    y0d, y1d = pipe.regs(y0d, f"{tag}y0"), pipe.regs(y1d, f"{tag}y1")
    diff, s_t = pipe_tree_sum(pipe, terms, name=f"{tag}ds")
    y0d = [pipe.delay(v, s_t, f"{tag}y0") for v in y0d]
    y1d = [pipe.delay(v, s_t, f"{tag}y1") for v in y1d]
    take1 = diff < 0
    out = pipe.regs([Mux(take1, b_, a_) for a_, b_ in zip(y0d, y1d)], f"{tag}e")
    return out, st + 2 + s_p + s_t + 1


def _small_times(a: Value, b: Value) -> Value:
    """a * b where a = y0 - y1 (scaled E8 candidates) is odd and in [-3, 3]: a case mux of shifts."""
    return Mux(a == 1, b, Mux(a == -1, -b, Mux(a == 3, (b << 1) + b, Mux(a == -3, -((b << 1) + b), 0))))


def layout_fields(layout) -> list[list]:
    """``[name, offset, width, count, signed]`` per field of a StructLayout (arrays flattened by count)."""
    from amaranth.lib import data

    out = []
    for name, fld in layout:
        shape = fld.shape
        if isinstance(shape, data.ArrayLayout):
            elem = shape.elem_shape
            w = data.Layout.cast(elem).size if isinstance(elem, data.Layout) else Value.cast(
                Const(0, elem)).shape().width
            sg = (not isinstance(elem, data.Layout)) and elem.signed
            out.append([name, fld.offset, w, shape.length, bool(sg)])
        else:
            s = shape if not isinstance(shape, data.Layout) else unsigned(shape.size)
            out.append([name, fld.offset, s.width, 1, bool(s.signed)])
    return out
