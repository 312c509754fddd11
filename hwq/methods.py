"""The quantizer zoo behind one interface (SPEC sections 1, 3 and 5).

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

The registry :data:`METHODS` maps a family name to a factory ``at_rate(rate, **options)`` that returns a
quantizer aiming at a target rate (bits/entry before side information); :func:`make` is the entry point.

Lattice families wrap the foundation (:func:`hwq.matmul.encode_matrix`, :class:`hwq.container.EncodedMatrix`);
the nesting ratio q and the first ladder rung beta0 for a target rate come from :func:`lattice_for_rate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Callable

import numpy as np

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.hadamard import rotate, unrotate
from hwq.matmul import decode_matrix, encode_matrix
from hwq.matmul import estimate_product as _lattice_product
from hwq.nested import decode_blocks, quantize_blocks
from hwq.packing import pack_bits
from hwq.scalar import (absmax_dequantize, absmax_quantize, dithered_dequantize, dithered_quantize,
                        dithered_step_for_rate, pow2_segment)
from hwq.tuning import beta0_for_rate, ladder_stats

__all__ = ["Encoded", "Quantizer", "NestedLattice", "NestQuant", "Absmax", "DitheredScalar", "HadamardInt",
           "METHODS", "make", "method_names", "lattice_for_rate", "check_rate", "index_entropy",
           "MAX_RATE"]

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


# ----------------------------------------------------------------------------------------------------
# nested lattice (the foundation's matrix-product quantizer)
# ----------------------------------------------------------------------------------------------------

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
                       f"log2(3) = 1.585 bits plus the ladder entropy); use the time-sharing method below that")
    return best[1], best[2]


class NestedLattice(Quantizer):
    """Nested-lattice (Voronoi code) matrix quantizer of SPEC section 3, wrapping
    :func:`hwq.matmul.encode_matrix`. The Hadamard segment is the largest power of two dividing n
    (at most ``max_hadamard``)."""

    family = "lattice"

    def __init__(self, lattice: str = "D3", q: int = 6, beta0: float | None = None, dither: bool = True,
                 ladder_len: int = 16, max_hadamard: int = 2048, target: float | None = None):
        self.lattice, self.q, self.beta0, self.dither = lattice, int(q), beta0, bool(dither)
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
                         ladder_len=self.ladder_len, hadamard=h, max_k=max(n, lat.dim, h), decoder="auto")

    @property
    def slug(self) -> str:
        c = self.config_for(self._dim_multiple())
        return f"{self.lattice.lower()}q{self.q}_{'dith' if self.dither else 'nd'}_b{_fmt(c.beta0)}"

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


# ----------------------------------------------------------------------------------------------------
# scalar baselines
# ----------------------------------------------------------------------------------------------------

class Absmax(Quantizer):
    """absmax INT-k per column (``group=None``) or per group of g rows (:mod:`hwq.scalar`)."""

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
        return dithered_dequantize(enc.data["idx"], enc.data["rho"], self.step, self.seed, enc.data["matrix_id"])


# ----------------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------------

def _lattice_factory(name: str, dither: bool) -> Callable[..., Quantizer]:
    def f(rate: float, **kw: Any) -> Quantizer:
        return NestedLattice.at_rate(rate, lattice=name, dither=kw.pop("dither", dither), **kw)
    return f


def _lazy(module: str, cls: str) -> Callable[..., Quantizer]:
    def f(rate: float, **kw: Any) -> Quantizer:
        import importlib
        return getattr(importlib.import_module(module), cls).at_rate(rate, **kw)
    return f


#: family name -> factory ``(rate, **options) -> Quantizer``
METHODS: dict[str, Callable[..., Quantizer]] = {
    "z": _lattice_factory("Z", True),
    "d3": _lattice_factory("D3", True),
    "d4": _lattice_factory("D4", True),
    "e8": _lattice_factory("E8", True),
    "nestquant": lambda rate=4.057, **kw: NestQuant.at_rate(rate, **kw),
    "timeshare": _lazy("hwq.timeshare", "TimeShare"),
    "absmax": lambda rate, **kw: Absmax.at_rate(rate, **kw),
    "absmax_g64": lambda rate, **kw: Absmax.at_rate(rate, group=kw.pop("group", 64), **kw),
    "dithered": lambda rate, **kw: DitheredScalar.at_rate(rate, **kw),
    "hadamard_int": lambda rate, **kw: HadamardInt.at_rate(rate, **kw),
    "watersic": _lazy("hwq.watersic", "WaterSIC"),
    "kashin": _lazy("hwq.kashin", "Kashin"),
}


def method_names() -> list[str]:
    return list(METHODS)


def make(name: str, rate: float, **options: Any) -> Quantizer:
    """A quantizer of family ``name`` aiming at ``rate`` bits/entry (side information excluded).

    Raises
    ------
    HwqError
        Unknown family (the message lists them) or a rate out of the family's range.
    """
    key = str(name).lower()
    if key not in METHODS:
        raise HwqError(f"unknown quantizer {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[key](rate, **options)
