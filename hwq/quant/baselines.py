"""Scalar baselines of the zoo: absmax INT-k (per column or per group), Hadamard-rotated INT-k and the
entropy-coded dithered uniform scalar quantizer, behind the :class:`hwq.quant.base.Quantizer` interface
(the arithmetic is in :mod:`hwq.quant.scalar`)."""

from __future__ import annotations

import math

import numpy as np

from hwq.errors import HwqError
from hwq.hadamard import rotate, unrotate
from hwq.packing import pack_bits
from hwq.quant.base import (
    MAX_RATE,
    SIDE_BITS,
    Encoded,
    Quantizer,
    _check_matrix,
    _fmt,
    _offset_pack,
    check_rate,
    index_entropy,
)
from hwq.quant.scalar import (
    absmax_dequantize,
    absmax_quantize,
    dithered_dequantize,
    dithered_quantize,
    dithered_step_for_rate,
    pow2_segment,
)

__all__ = ["Absmax", "DitheredScalar", "HadamardInt"]


class Absmax(Quantizer):
    """absmax INT-k per column (``group=None``) or per group of g rows (:mod:`hwq.quant.scalar`)."""

    family = "absmax"

    def __init__(self, bits: int = 3, group: int | None = None, midrise: bool = True):
        if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
            raise HwqError(f"absmax: bits must be an integer in [1, 16], got {bits!r}")
        if group is not None and (not isinstance(group, (int, np.integer)) or group < 1):
            raise HwqError(f"absmax: group must be a positive integer or None, got {group!r}")
        self.bits, self.group, self.midrise = int(bits), group, midrise

    @property
    def slug(self) -> str:
        g = "col" if self.group is None else f"g{self.group}"
        return f"absmax_int{self.bits}_{g}_{'mr' if self.midrise else 'mt'}"

    @classmethod
    def at_rate(cls, rate: float, group: int | None = None, midrise: bool = True) -> "Absmax":
        rate = check_rate(rate, 1, 16, "absmax")
        return cls(bits=max(2 if not midrise else 1, int(round(rate))), group=group, midrise=midrise)

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        codes, scales = absmax_quantize(a, self.bits, self.group, self.midrise)
        off = 2 ** (self.bits - 1)
        payload = {"codes": pack_bits((codes.astype(np.int64) + off).T, self.bits), "scales": scales}
        g = a.shape[0] if self.group is None else self.group
        return Encoded(self, a.shape[0], a.shape[1], self.slug, payload, self.bits + SIDE_BITS / g,
                       {"codes": codes, "scales": scales})

    def decode(self, enc: Encoded) -> np.ndarray:
        return absmax_dequantize(enc.data["codes"], enc.data["scales"], self.midrise)


class HadamardInt(Quantizer):
    """Hadamard-rotated INT-k (the FPMM/INTMM baselines): rotate columns with the seeded Hadamard
    (segment = largest power of two dividing n), then symmetric absmax INT-k (mid-tread) per column or
    group; the rotation cancels in ``A^T B``."""

    family = "hadamard_int"

    def __init__(self, bits: int = 8, group: int | None = None, max_hadamard: int = 2048, sign_seed: int = 2):
        if not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
            raise HwqError(f"hadamard_int: bits must be an integer in [2, 16], got {bits!r}")
        self.inner = Absmax(bits, group, midrise=False)
        self.bits, self.group, self.max_hadamard, self.sign_seed = int(bits), group, max_hadamard, sign_seed

    @property
    def slug(self) -> str:
        return f"had_int{self.bits}_{'col' if self.group is None else f'g{self.group}'}"

    @classmethod
    def at_rate(cls, rate: float, group: int | None = None) -> "HadamardInt":
        rate = check_rate(rate, 2, 16, "hadamard_int")
        return cls(bits=int(round(rate)), group=group)

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        h = min(pow2_segment(a.shape[0]), self.max_hadamard)
        inner = self.inner.encode(rotate(a, h, self.sign_seed), matrix_id)
        inner.quantizer, inner.slug = self, self.slug
        inner.data["h"] = h
        return inner

    def decode(self, enc: Encoded) -> np.ndarray:
        xr = absmax_dequantize(enc.data["codes"], enc.data["scales"], midrise=False)
        return unrotate(xr, enc.data["h"], self.sign_seed)


class DitheredScalar(Quantizer):
    """Entropy-coded subtractive-dither uniform scalar quantizer (ECDQ) per column: x = sqrt(n) a / rho,
    i = rnd(x / step + u), xhat = (i - u) step, u ~ U[-1/2, 1/2) from a seeded PRNG shared with the
    decoder. Rate = empirical entropy of i (one code per matrix) + 32/n for rho."""

    family = "dithered"

    def __init__(self, step: float = 0.5, seed: int = 7, target: float | None = None):
        if not isinstance(step, (int, float)) or not math.isfinite(step) or step <= 0:
            raise HwqError(f"dithered: step must be a finite number > 0, got {step!r}")
        self.step, self.seed, self.target = float(step), int(seed), target

    @property
    def slug(self) -> str:
        return f"ecdq_s{_fmt(round(self.step, 4))}"

    @classmethod
    def at_rate(cls, rate: float, seed: int = 7) -> "DitheredScalar":
        rate = check_rate(rate, 0.05, MAX_RATE, "dithered")
        return cls(step=dithered_step_for_rate(rate), seed=seed, target=rate)

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        n = a.shape[0]
        idx, rho = dithered_quantize(a, self.step, self.seed, matrix_id)
        packed, width, lo = _offset_pack(idx)
        payload = {"codes": packed, "offsets": lo, "norms": rho}
        rate = index_entropy(idx) + SIDE_BITS / n
        return Encoded(self, n, a.shape[1], self.slug, payload, rate,
                       {"idx": idx, "rho": rho, "matrix_id": matrix_id, "width": width})

    def decode(self, enc: Encoded) -> np.ndarray:
        return dithered_dequantize(enc.data["idx"], enc.data["rho"], self.step, self.seed,
                                   enc.data["matrix_id"])

