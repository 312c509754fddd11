"""Closest-point logic of the hwq RTL (SPEC section 2 tie rules): pipelined exact closest point of Z, D_n
and E8 to a rational ``num / den``, as Amaranth expressions over constant arithmetic (:mod:`.arith`)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Value

from .adders import pipe_tree_sum
from .arith import floordiv_pipe, scaled_terms
from .pipe import Pipe

__all__ = ["closest_rational"]


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
    rs = [pipe_tree_sum(pipe, scaled_terms(x, a) + ([Const(b)] if b else []) + scaled_terms(fi, -den),
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
    ps = [pipe_tree_sum(pipe, [x] + scaled_terms(u, -den), name=f"{tag}pp{i}_") for i,
          (x, u) in enumerate(zip(x4, sm))]
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

