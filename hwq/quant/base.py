"""The quantizer interface every method of the zoo implements (SPEC sections 1, 3 and 5).

Every method is a :class:`Quantizer`: ``fit(calib)`` (optional calibration, e.g. an activation
covariance), ``encode(a, matrix_id)`` -> :class:`Encoded` (what would be stored), ``decode(enc)`` ->
the reconstructed matrix, and ``estimate_product(ea, eb)`` -> an estimate of ``A^T B``. Matrices are
``n x cols`` with the reduction along the rows (a weight matrix W is K x M, columns are output units).

Rates are bits per matrix entry *including side information* (norms, scales, centroids):

* ``Encoded.rate``: the rate the method is designed for -- entropy-coded where the method entropy
  codes (nested lattice ladder index as in the paper, dithered uniform scalar, WaterSIC, Kashin cluster
  indices), fixed-width otherwise (absmax INT-k, Hadamard INT-k, NestQuant's 2-bit beta index);
* ``Encoded.rate_packed()``: the bits actually held in ``Encoded.payload`` (fixed-width packed arrays)
  per entry, i.e. ``8 * sum(nbytes) / (n * cols)``; always >= ``rate`` up to entropy-coding slack.

The registry :data:`hwq.quant.registry.METHODS` maps a family name to a factory ``at_rate(rate, **options)``
that returns a quantizer aiming at a target rate (bits/entry before side information);
:func:`hwq.quant.registry.make` is the entry point.

Lattice families wrap the foundation (:func:`hwq.matmul.encode_matrix`, :class:`hwq.container.EncodedMatrix`);
the nesting ratio q and the first ladder rung beta0 for a target rate come from
:func:`hwq.quant.nested.lattice_for_rate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwq.errors import HwqError
from hwq.packing import pack_bits

__all__ = ["MAX_RATE", "SIDE_BITS", "Encoded", "Quantizer", "check_rate", "index_entropy"]

#: Largest target rate any factory accepts (bits/entry).
MAX_RATE = 16.0
SIDE_BITS = 32  # one float32 per column (norm or scale) unless a method says otherwise


def check_rate(rate: float, lo: float, hi: float, method: str) -> float:
    """Validate a target rate; raise :class:`HwqError` naming the allowed range."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) \
            or not math.isfinite(float(rate)):
        raise HwqError(f"{method}: rate must be a finite number of bits per entry, got {rate!r}")
    if not lo <= float(rate) <= hi:
        raise HwqError(f"{method}: rate {rate} bits/entry is out of range; this method accepts "
                       f"{lo:g} <= rate <= {hi:g}")
    return float(rate)


def index_entropy(idx: np.ndarray, axis: int | None = None) -> float:
    """Empirical entropy (bits per symbol) of integer indices: pooled (``axis=None``) or averaged over
    the slices along ``axis`` (one adaptive code per row)."""
    idx = np.asarray(idx)
    if axis is None:
        _, counts = np.unique(idx, return_counts=True)
        p = counts / idx.size
        return float(-(p * np.log2(p)).sum())
    moved = np.moveaxis(idx, axis, 0)
    return float(np.mean([index_entropy(r) for r in moved]))


def _offset_pack(idx: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Pack signed per-column indices (n, cols) as unsigned offsets from the column minimum."""
    lo = idx.min(axis=0)
    u = (idx - lo).astype(np.int64)
    width = max(1, int(u.max()).bit_length()) if u.size else 1
    return pack_bits(u.T, width), width, lo.astype(np.int32)


@dataclass(eq=False)
class Encoded:
    """A quantized matrix as one method stores it.

    Attributes
    ----------
    quantizer : Quantizer
        The method (and its parameters) that produced it; ``decode`` goes through it.
    n, cols : int
        Shape of the original matrix.
    slug : str
        Deterministic identifier of the configuration (report rows).
    payload : dict of str -> ndarray
        The arrays a file/kernel would hold (packed codes, scales, norms, centroids).
    rate : float
        Bits per entry as the method accounts it (see module docstring), side information included.
    data : dict
        Decoder state that is regenerated, not stored (e.g. unpacked codes for speed), and metadata.
    """

    quantizer: "Quantizer"
    n: int
    cols: int
    slug: str
    payload: dict[str, np.ndarray]
    rate: float
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def entries(self) -> int:
        return self.n * self.cols

    def nbytes(self) -> int:
        """Bytes of the stored payload."""
        return int(sum(a.nbytes for a in self.payload.values()))

    def rate_packed(self) -> float:
        """Bits actually stored per entry (fixed-width payload)."""
        return 8.0 * self.nbytes() / self.entries

    def decode(self) -> np.ndarray:
        """Reconstruction, float64 (n, cols)."""
        return self.quantizer.decode(self)


class Quantizer:
    """Base class of every method (see module docstring)."""

    family: str = "base"

    @property
    def slug(self) -> str:
        """Deterministic identifier ``[a-z][a-z0-9_]*`` of the method and its parameters."""
        raise NotImplementedError

    def fit(self, calib: np.ndarray | None = None) -> "Quantizer":
        """Calibrate (default: nothing to fit). Returns self."""
        return self

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        raise NotImplementedError

    def decode(self, enc: Encoded) -> np.ndarray:
        raise NotImplementedError

    def estimate_product(self, ea: Encoded, eb: Encoded) -> np.ndarray:
        """Estimate of ``A^T B`` from two encodings (default: product of the reconstructions)."""
        if ea.n != eb.n:
            raise HwqError(f"A has {ea.n} rows but B has {eb.n}; A^T B needs equal row counts")
        return ea.decode().T @ eb.decode()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.slug}>"


def _check_matrix(a: np.ndarray, name: str = "A") -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or 0 in a.shape:
        raise HwqError(f"{name} must be a non-empty 2-D matrix (n x cols), got shape {a.shape}")
    if a.dtype.kind not in "fiu":
        raise HwqError(f"{name} must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise HwqError(f"{name} contains NaN or Inf")
    return a


def _fmt(x: float) -> str:
    return f"{x:g}".replace(".", "p").replace("-", "m")

