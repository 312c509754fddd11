"""Nested-lattice quantizers of the zoo: the foundation's matrix-product quantizer (:class:`NestedLattice`,
wrapping :func:`hwq.matmul.encode_matrix`) and the NestQuant setting (:class:`NestQuant`). The nesting
ratio q and the first ladder rung beta0 for a target rate come from :func:`lattice_for_rate`."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.hadamard import rotate, unrotate
from hwq.matmul import decode_matrix, encode_matrix
from hwq.matmul import estimate_product as _lattice_product
from hwq.nested import decode_blocks, quantize_blocks
from hwq.packing import pack_bits
from hwq.quant.base import MAX_RATE, SIDE_BITS, Encoded, Quantizer, _check_matrix, _fmt, check_rate
from hwq.quant.scalar import pow2_segment
from hwq.tuning import beta0_for_rate, ladder_stats

__all__ = ["NestQuant", "NestedLattice", "lattice_for_rate"]


@cache
def lattice_for_rate(lattice: str, rate: float, dither: bool, ladder_len: int = 16,
                     n_blocks: int = 4096) -> tuple[int, float]:
    """(q, beta0) of the entropy-coded nested code at ``rate`` bits/entry (side information excluded).

    Candidates q = floor(2**(rate - g)) for g in {0.15, 0.3, 0.45, 0.6} (q >= 3: q = 2 Voronoi codes are
    asymmetric); for each, beta0 is set by :func:`hwq.tuning.beta0_for_rate` and the candidate with the
    smallest Monte Carlo MSE wins.

    Raises
    ------
    HwqError
        If no candidate reaches the rate (below about log2(3) + ladder entropy, i.e. ~1.7 bits).
    """
    best: tuple[float, int, float] | None = None
    qs = sorted({int(2 ** (rate - g)) for g in (0.15, 0.3, 0.45, 0.6)} - {0, 1, 2})
    for q in qs:
        from hwq.lattice import get_lattice
        if ((q ** get_lattice(lattice).dim) - 1).bit_length() > 62:
            continue
        try:
            b0 = beta0_for_rate(lattice, q, dither, rate, ladder_len, n_blocks=n_blocks)
        except HwqError:
            continue
        mse = ladder_stats(lattice, q, b0, dither, ladder_len, n_blocks=n_blocks)["mse"]
        if best is None or mse < best[0]:
            best = (mse, q, b0)
    if best is None:
        raise HwqError(f"nested {lattice}: rate {rate} bits/entry is out of reach (q >= 3 needs more than "
                       "log2(3) = 1.585 bits plus the ladder entropy); use the time-sharing method below "
                       "that")
    return best[1], best[2]


class NestedLattice(Quantizer):
    """Nested-lattice (Voronoi code) matrix quantizer of SPEC section 3, wrapping
    :func:`hwq.matmul.encode_matrix`. The Hadamard segment is the largest power of two dividing n
    (at most ``max_hadamard``)."""

    family = "lattice"

    def __init__(self, lattice: str = "D3", q: int = 6, beta0: float | None = None, dither: bool = True,
                 ladder_len: int = 16, max_hadamard: int = 2048, target: float | None = None,
                 ladder_select: str = "first"):
        self.lattice, self.q, self.beta0, self.dither = lattice, int(q), beta0, bool(dither)
        self.ladder_select = ladder_select
        self.ladder_len, self.max_hadamard, self.target = int(ladder_len), int(max_hadamard), target
        self.config_for(self._dim_multiple())  # validate now

    def _dim_multiple(self) -> int:
        from hwq.lattice import get_lattice
        return get_lattice(self.lattice).dim * 8

    def config_for(self, n: int) -> HwqConfig:
        """The :class:`HwqConfig` used for length-n columns."""
        from hwq.lattice import get_lattice
        lat = get_lattice(self.lattice)
        h = min(pow2_segment(n), self.max_hadamard)
        return HwqConfig(lattice=self.lattice, q=self.q, beta0=self.beta0, dither=self.dither,
                         ladder_len=self.ladder_len, hadamard=h, max_k=max(n, lat.dim, h), decoder="auto",
                         ladder_select=self.ladder_select)

    @property
    def slug(self) -> str:
        c = self.config_for(self._dim_multiple())
        best = "_best" if self.ladder_select == "best" else ""
        return f"{self.lattice.lower()}q{self.q}_{'dith' if self.dither else 'nd'}_b{_fmt(c.beta0)}{best}"

    @classmethod
    def at_rate(cls, rate: float, lattice: str = "D3", dither: bool = True, **kw: Any) -> "NestedLattice":
        rate = check_rate(rate, 1.6, MAX_RATE, f"nested {lattice}")
        q, b0 = lattice_for_rate(lattice, rate, dither)
        return cls(lattice=lattice, q=q, beta0=b0, dither=dither, target=rate, **kw)

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        cfg = self.config_for(a.shape[0])
        em = encode_matrix(a, cfg, matrix_id)
        return Encoded(self, em.n, em.cols, cfg.slug,
                       {"codes": em.codes, "ladder": em.ladder, "norms": em.norms}, em.rate_entropy(),
                       {"em": em, "overload": em.overloads / (em.cols * em.blocks_per_col)})

    def decode(self, enc: Encoded) -> np.ndarray:
        return decode_matrix(enc.data["em"])

    def estimate_product(self, ea: Encoded, eb: Encoded) -> np.ndarray:
        return _lattice_product(ea.data["em"], eb.data["em"])


class NestQuant(Quantizer):
    """NestQuant setting (SPEC section 5): E8, q = 14, beta in {4, 5.5, 7, 18}/q, 2-bit beta index per
    block: log2(14) + 2/8 = 4.057 bits/entry plus the column norm. Encoding picks the first beta without
    overload (the last one keeps its wrapped code). Rotation and normalisation as SPEC section 3."""

    family = "nestquant"
    BETAS = (4.0, 5.5, 7.0, 18.0)

    def __init__(self, q: int = 14, betas: tuple[float, ...] = BETAS, max_hadamard: int = 2048,
                 sign_seed: int = 2):
        if len(betas) != 4:
            raise HwqError(f"NestQuant uses 4 betas (a 2-bit index), got {len(betas)}")
        self.q, self.betas = int(q), tuple(float(b) / q for b in betas)
        self.max_hadamard, self.sign_seed = max_hadamard, sign_seed
        from hwq.lattice import get_lattice
        self.lat = get_lattice("E8")

    @property
    def slug(self) -> str:
        return f"nestquant_e8q{self.q}"

    @classmethod
    def at_rate(cls, rate: float = 4.057, **kw: Any) -> "NestQuant":
        check_rate(rate, 4.0, 4.1, "nestquant (fixed at 4.057 bits/entry)")
        return cls(**kw)

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        n, cols = a.shape
        if n % 8:
            raise HwqError(f"NestQuant needs n a multiple of 8 (E8 blocks), got n = {n}; pad the rows")
        h = min(pow2_segment(n), self.max_hadamard)
        rho = np.sqrt((a * a).sum(axis=0))
        x = rotate(a * (np.sqrt(n) / np.where(rho > 0, rho, 1.0)), h, self.sign_seed)
        xb = np.ascontiguousarray(x.T).reshape(-1, 8)
        bc = quantize_blocks(self.lat, self.q, xb, list(self.betas))
        code_bits = (self.q ** 8 - 1).bit_length()
        payload = {"codes": pack_bits(bc.rows.reshape(cols, -1), code_bits),
                   "ladder": pack_bits(bc.ladder.reshape(cols, -1).astype(np.int64), 2),
                   "norms": rho.astype(np.float32)}
        rate = math.log2(self.q) + 2 / 8 + SIDE_BITS / n
        return Encoded(self, n, cols, self.slug, payload, rate,
                       {"rows": bc.rows, "ladder": bc.ladder, "h": h, "overload": float(bc.overload.mean()),
                        "ladder_hist": np.bincount(bc.ladder, minlength=4).tolist()})

    def _rotated(self, enc: Encoded) -> np.ndarray:
        xh = decode_blocks(self.lat, self.q, enc.data["rows"], enc.data["ladder"], list(self.betas))
        return xh.reshape(enc.cols, enc.n).T

    def decode(self, enc: Encoded) -> np.ndarray:
        xh = self._rotated(enc)
        # least-squares gain is not stored: plain rho / sqrt(n) scaling
        return unrotate(xh, enc.data["h"], self.sign_seed) * (enc.payload["norms"].astype(np.float64)
                                                               / np.sqrt(enc.n))

