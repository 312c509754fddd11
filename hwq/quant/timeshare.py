"""Time-sharing below the phase transition R* (SPEC section 1).

Below R* = 0.906 bits/entry the optimal distortion Gamma(R) is the straight line between (0, 1) and
(R*, f(R*)): quantize a fraction p = R / R* of the coordinates at rate R* and send nothing for the rest
(a sketch; dimensionality reduction is necessary there). Both A and B are rotated by the same seeded
Hadamard, so every rotated coordinate carries the same share of the energy of an iid column and the
kept set can be fixed in advance; the product estimate sums over kept coordinates only, giving

    D = (1 - p) + p * D_base      (iid Gaussian A, B)

Practical nested codes need q >= 3, i.e. more than R* bits, so the base quantizer runs at its own
rate R_base (default: E8, q = 3, no dither, about 1.9 bits/entry) and p = R / R_base; the achieved
curve is then the line from (0, 1) to (R_base, D_base), parallel in spirit to Gamma's linear segment.
The kept set is the first k rotated coordinates of every Hadamard segment of length h, k = round(p h)
(adjusted so that the kept count is a multiple of the block size).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwq.errors import HwqError
from hwq.hadamard import rotate, unrotate
from hwq.quant.base import SIDE_BITS, Encoded, Quantizer, _check_matrix, _fmt, check_rate
from hwq.quant.nested import NestedLattice
from hwq.quant.scalar import pow2_segment
from hwq.tuning import ladder_stats

__all__ = ["TimeShare", "kept_rows"]


def kept_rows(n: int, fraction: float, block: int, max_hadamard: int = 2048) -> np.ndarray:
    """Indices of the kept rotated coordinates: the first k of each Hadamard segment.

    Raises
    ------
    HwqError
        If the fraction is not in (0, 1] or no non-empty kept set is a multiple of ``block``.
    """
    if not 0 < fraction <= 1:
        raise HwqError(f"time-sharing fraction must be in (0, 1], got {fraction}")
    h = min(pow2_segment(n), max_hadamard)
    segs = n // h
    k = max(1, int(round(fraction * h)))
    for kk in sorted(range(1, h + 1), key=lambda v: (abs(v - k), v)):
        if (segs * kk) % block == 0:
            return (np.arange(segs)[:, None] * h + np.arange(kk)[None, :]).ravel()
    raise HwqError(f"no kept set of n = {n} rows is a multiple of the block size {block}; pad the rows")


class TimeShare(Quantizer):
    """Quantize a fraction of the rotated coordinates with ``base`` and drop the rest.

    Parameters
    ----------
    fraction : float
        Share p of the coordinates kept, in (0, 1].
    base : NestedLattice, optional
        Quantizer of the kept coordinates (default E8, q = 3, no dither).
    sign_seed : int
        Seed of the shared Hadamard signs.
    """

    family = "timeshare"

    def __init__(self, fraction: float, base: NestedLattice | None = None, sign_seed: int = 11,
                 target: float | None = None, max_hadamard: int = 2048):
        if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise HwqError(f"time-sharing fraction must be in (0, 1], got {fraction!r}")
        self.fraction, self.sign_seed, self.target = float(fraction), sign_seed, target
        self.base = base if base is not None else default_base()
        self.max_hadamard = max_hadamard

    @property
    def slug(self) -> str:
        return f"ts_p{_fmt(round(self.fraction, 4))}_{self.base.slug}"

    @staticmethod
    def base_rate(base: NestedLattice) -> float:
        """Monte Carlo payload rate log2 q + H(T)/d of the base code (side information excluded)."""
        cfg = base.config_for(base._dim_multiple())
        return ladder_stats(cfg.lattice, cfg.q, cfg.beta0, cfg.dither, cfg.ladder_len)["rate"]

    @classmethod
    def at_rate(cls, rate: float, base: NestedLattice | None = None, **kw: Any) -> "TimeShare":
        """Time-sharing at ``rate`` bits/entry (side information excluded): p = rate / R_base."""
        base = base if base is not None else default_base()
        rb = cls.base_rate(base)
        rate = check_rate(rate, 0.01, rb, f"timeshare (base {base.slug} at {rb:.3f} bits)")
        return cls(rate / rb, base=base, target=rate, **kw)

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        n, cols = a.shape
        h = min(pow2_segment(n), self.max_hadamard)
        rows = kept_rows(n, self.fraction, self.base._dim_multiple() // 8, self.max_hadamard)
        x = rotate(a, h, self.sign_seed)[rows]
        sub = self.base.encode(x, matrix_id)
        m = len(rows)
        rate = sub.rate * m / n  # side bits of the base (per column) spread over n rows
        return Encoded(self, n, cols, self.slug, dict(sub.payload), rate,
                       {"sub": sub, "rows": rows, "h": h, "kept": m / n, "side_bits": SIDE_BITS})

    def decode(self, enc: Encoded) -> np.ndarray:
        xr = np.zeros((enc.n, enc.cols))
        xr[enc.data["rows"]] = enc.data["sub"].decode()
        return unrotate(xr, enc.data["h"], self.sign_seed)

    def estimate_product(self, ea: Encoded, eb: Encoded) -> np.ndarray:
        if ea.n != eb.n:
            raise HwqError(f"A has {ea.n} rows but B has {eb.n}; A^T B needs equal row counts")
        return self.base.estimate_product(ea.data["sub"], eb.data["sub"])


def default_base() -> NestedLattice:
    """E8, q = 3, no dither, tuned beta0: the best slope (1 - D)/R among the q = 3 codes measured."""
    return NestedLattice(lattice="E8", q=3, beta0=None, dither=False, ladder_len=16)
