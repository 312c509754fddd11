"""Deployed low-bit weight formats as baselines of the zoo: the block floating-point formats GPUs decode in
hardware (MXFP4, NVFP4; the "FPMM" side of the high-rate paper) and absmax INT-k with group 128.

Every format groups ``block`` consecutive rows of a column (the reduction axis K of a weight matrix
W, K x M), stores each entry in a fixed number of bits and one scale per block, and counts every stored bit
in :meth:`hwq.quant.base.Encoded.rate_packed` (``rate`` = ``rate_packed`` here: nothing is entropy coded).

Element and scale encodings (values, rounding, saturation), with their references:

* **FP4 E2M1** (OCP Microscaling Formats (MX) Specification v1.0, 2023, section 5.3.3): sign, 2 exponent
  bits (bias 1), 1 mantissa bit; magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6} for codes 0..7, bit 3 the sign;
  no Inf or NaN. :func:`e2m1_encode` rounds to nearest, ties to even (the code with mantissa bit 0) and
  saturates to +-6 ("clamping normal numbers", MX v1.0 section 6.3; the ``cvt.rn.satfinite.e2m1x2.f32``
  conversion of PTX ISA 8.7 does the same). -0 keeps its sign bit, as ``ml_dtypes.float4_e2m1fn`` does.
* **E8M0** scale (MX v1.0 section 5.4.1): 8 exponent bits, bias 127, value 2**(code - 127) for codes
  0..254; code 255 is NaN and is never written.
* **FP8 E4M3** scale (OCP 8-bit Floating Point Specification (OFP8) rev 1.0, 2023, "E4M3"; the
  ``float8_e4m3fn`` of ml_dtypes/PyTorch): bias 7, 3 mantissa bits, subnormals down to 2**-9, max 448, no
  Inf, S.1111.111 = NaN. :func:`e4m3_encode` takes non-negative values only (scales), rounds to nearest
  even and saturates at 448 (OFP8 "saturating" conversion mode).

The formats:

* **MXFP4** (MX v1.0 section 6.3, Algorithm 1): blocks of 32; shared_exp = floor(log2(max |V_i|)) -
  emax_elem with emax_elem = 2 for E2M1, clamped below at -127 (an all-zero block takes -127, as the
  reference library microxcaling does); X = 2**shared_exp is stored as E8M0 and P_i = E2M1(V_i / X) with
  saturation (so |V_i| / X in [6, 8) becomes 6). 4 + 8/32 = 4.25 bits/entry.
* **NVFP4** (NVIDIA, "Introducing NVFP4 for Efficient and Accurate Low-Precision Inference", 2025; the
  weight recipe of TensorRT Model Optimizer ``NVFP4QTensor``): one float32 tensor scale
  s = fp32(max |A| / (6 * 448)) per matrix; blocks of 16 with an E4M3 scale S_b = E4M3(max_b |a| / (6 s));
  elements P_i = E2M1(a_i / (S_b s)) (a block whose S_b rounds to 0 stores zeros). Decode P_i * S_b * s.
  4 + 8/16 = 4.5 bits/entry plus 32 bits per matrix.
* **INT-k g128** (k = 2, 3, 4; the group-128 weight format of GPTQ's symmetric mode as the Marlin and
  ExLlama kernels read it): per group of 128 rows delta = fp16(2 max_g |a| / (2**k - 1)), stored as
  float16; codes q = clip(rnd(a / delta), -2**(k-1), 2**(k-1) - 1) with rnd = round half up (SPEC
  section 2), stored unsigned as q + 2**(k-1) (the implicit zero point); decode q * delta. Every one of
  the 2**k codes is used (the largest positive entry lands on (2**(k-1) - 1) delta, the most negative on
  -2**(k-1) delta), so INT2 keeps four levels. k + 16/128 bits/entry. A group whose scale leaves the
  float16 range is refused.

NaN and Inf inputs are refused (:class:`hwq.HwqError`), as are columns whose length is not a multiple of
the block (pad the rows with zeros: zero rows change no inner product).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from hwq.errors import HwqError
from hwq.packing import pack_bits, unpack_bits
from hwq.quant.base import Encoded, Quantizer, _check_matrix, check_rate

__all__ = ["E2M1_VALUES", "E4M3_MAX", "IntGroup", "MXFP4", "NVFP4", "e2m1_decode", "e2m1_encode",
           "e4m3_decode", "e4m3_encode", "e8m0_decode"]

#: magnitudes of the E2M1 codes 0..7 (code | 8 is the negative)
E2M1_VALUES = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
E2M1_MAX = 6.0
E2M1_EMAX = 2  # exponent of the largest normal (6 = 1.5 * 2**2)
E4M3_MAX = 448.0
E8M0_MIN_EXP, E8M0_MAX_EXP = -127, 127


# ----------------------------------------------------------------------------------------------------
# element and scale encodings
# ----------------------------------------------------------------------------------------------------

def e2m1_encode(v: np.ndarray) -> np.ndarray:
    """FP4 E2M1 codes (uint8 in [0, 16)) of finite values: nearest, ties to even, saturating at +-6.

    Raises
    ------
    HwqError
        NaN or Inf (E2M1 has neither).
    """
    v = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise HwqError("E2M1 has no NaN or Inf: the values to encode must be finite")
    mag = np.minimum(np.abs(v), E2M1_MAX)
    mids = (E2M1_VALUES[1:] + E2M1_VALUES[:-1]) / 2
    code = np.searchsorted(mids, mag, side="left")  # ties go to the lower code ...
    tie = (code < len(mids)) & (mag == mids[np.minimum(code, len(mids) - 1)])
    code = code + (tie & (code % 2 == 1))  # ... unless it is odd: ties to the even mantissa
    return (code + 8 * np.signbit(v)).astype(np.uint8)


def e2m1_decode(code: np.ndarray) -> np.ndarray:
    """Values (float64) of E2M1 codes."""
    code = np.asarray(code).astype(np.int64)
    if code.size and (code.min() < 0 or code.max() > 15):
        raise HwqError(f"E2M1 codes are 4-bit, got {int(code.max()) if code.max() > 15 else int(code.min())}")
    return np.where(code & 8, -1.0, 1.0) * E2M1_VALUES[code & 7]


@cache
def _e4m3_table() -> np.ndarray:
    """Values of the non-negative finite E4M3 codes 0..126 (ascending)."""
    c = np.arange(127)
    e, m = c >> 3, c & 7
    return np.where(e == 0, m / 8 * 2.0 ** -6, (1 + m / 8) * 2.0 ** (e - 7))


def e4m3_encode(v: np.ndarray) -> np.ndarray:
    """FP8 E4M3 codes (uint8 in [0, 127)) of non-negative finite values: nearest even, saturating at 448."""
    v = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(v)) or (v.size and v.min() < 0):
        raise HwqError("E4M3 scales must be finite and >= 0")
    v = np.minimum(v, E4M3_MAX)
    _, e = np.frexp(v)  # v = f * 2**e, f in [0.5, 1): floor(log2 v) = e - 1
    quantum = np.exp2(np.maximum(e - 1, -6) - 3)  # 3 mantissa bits; subnormal quantum 2**-9
    r = np.minimum(np.rint(v / quantum) * quantum, E4M3_MAX)  # rint: ties to even; /quantum is exact
    return np.searchsorted(_e4m3_table(), r).astype(np.uint8)


def e4m3_decode(code: np.ndarray) -> np.ndarray:
    """Values (float64) of non-negative E4M3 codes 0..126."""
    code = np.asarray(code).astype(np.int64)
    if code.size and (code.min() < 0 or code.max() > 126):
        raise HwqError("E4M3 scale codes must be in [0, 126] (non-negative, finite)")
    return _e4m3_table()[code]


def e8m0_decode(code: np.ndarray) -> np.ndarray:
    """Values 2**(code - 127) (float64) of E8M0 codes 0..254."""
    code = np.asarray(code).astype(np.int64)
    if code.size and (code.min() < 0 or code.max() > 254):
        raise HwqError("E8M0 codes must be in [0, 254] (255 is NaN)")
    return np.exp2(code - 127.0)


# ----------------------------------------------------------------------------------------------------
# the formats
# ----------------------------------------------------------------------------------------------------

def _blocks(a: np.ndarray, block: int, name: str) -> np.ndarray:
    """(n, cols) -> (n // block, block, cols), refusing a length that is not a multiple of the block."""
    n, cols = a.shape
    if n % block:
        raise HwqError(f"{name} quantizes blocks of {block} rows: the column length {n} is not a multiple of "
                       f"{block}; pad the rows with zeros to {-(-n // block) * block}")
    return a.reshape(n // block, block, cols)


def _fixed_rate(rate: float | None, nominal: int, stored: float, name: str) -> None:
    if rate is not None:
        check_rate(rate, nominal, stored,
                   f"{name} (a fixed {nominal}-bit format, {stored:g} bits/entry stored)")


def _pack4(codes: np.ndarray) -> np.ndarray:
    return pack_bits(np.ascontiguousarray(codes.T).astype(np.int64), 4)


class MXFP4(Quantizer):
    """OCP MXFP4: E2M1 elements with one E8M0 power-of-two scale per 32 rows (see module docstring)."""

    family = "mxfp4"
    block = 32

    @property
    def slug(self) -> str:
        return "mxfp4_b32"

    @classmethod
    def at_rate(cls, rate: float | None = 4.0) -> MXFP4:
        _fixed_rate(rate, 4, 4.25, "mxfp4")
        return cls()

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        n, cols = a.shape
        x = _blocks(a, self.block, "mxfp4")
        amax = np.max(np.abs(x), axis=1)  # (nblk, cols)
        _, e = np.frexp(amax)
        shared = np.where(amax > 0, e - 1 - E2M1_EMAX, E8M0_MIN_EXP)
        if shared.max() > E8M0_MAX_EXP:
            raise HwqError(f"mxfp4: an entry of magnitude {float(amax.max()):.4g} needs a shared scale "
                           "beyond E8M0's 2**127; scale the matrix down by a power of two first")
        shared = np.maximum(shared, E8M0_MIN_EXP)
        scale_code = (shared + 127).astype(np.uint8)
        codes = e2m1_encode(x / np.exp2(shared.astype(np.float64))[:, None, :]).reshape(n, cols)
        payload = {"codes": _pack4(codes), "scales": np.ascontiguousarray(scale_code.T)}
        enc = Encoded(self, n, cols, self.slug, payload, 0.0, {"codes": codes})
        enc.rate = enc.rate_packed()
        return enc

    def decode(self, enc: Encoded) -> np.ndarray:
        codes = unpack_bits(enc.payload["codes"], 4, enc.n).T
        scale = e8m0_decode(enc.payload["scales"].T)  # (nblk, cols)
        x = e2m1_decode(codes).reshape(enc.n // self.block, self.block, enc.cols) * scale[:, None, :]
        return x.reshape(enc.n, enc.cols)


class NVFP4(Quantizer):
    """NVIDIA NVFP4: E2M1 elements, an E4M3 scale per 16 rows and one float32 tensor scale (see module
    docstring)."""

    family = "nvfp4"
    block = 16

    @property
    def slug(self) -> str:
        return "nvfp4_b16"

    @classmethod
    def at_rate(cls, rate: float | None = 4.0) -> NVFP4:
        _fixed_rate(rate, 4, 4.5, "nvfp4")
        return cls()

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        n, cols = a.shape
        x = _blocks(a, self.block, "nvfp4")
        gmax = float(np.max(np.abs(a)))
        with np.errstate(over="ignore", under="ignore"):
            t = np.float32(gmax / (E2M1_MAX * E4M3_MAX)) if gmax > 0 else np.float32(1.0)
        if not np.isfinite(t) or t < np.finfo(np.float32).tiny:
            raise HwqError(f"nvfp4: the tensor scale max|A| / 2688 = {gmax / 2688:.4g} leaves the normal "
                           "float32 range; scale the matrix by a power of two first")
        ts = float(t)
        amax = np.max(np.abs(x), axis=1)
        scale_code = e4m3_encode(amax / (E2M1_MAX * ts))
        s = e4m3_decode(scale_code) * ts  # (nblk, cols)
        safe = np.where(s > 0, s, 1.0)
        codes = e2m1_encode(np.where(s[:, None, :] > 0, x / safe[:, None, :], 0.0)).reshape(n, cols)
        payload = {"codes": _pack4(codes), "scales": np.ascontiguousarray(scale_code.T),
                   "tensor_scale": np.array([t], dtype=np.float32)}
        enc = Encoded(self, n, cols, self.slug, payload, 0.0, {"codes": codes})
        enc.rate = enc.rate_packed()
        return enc

    def decode(self, enc: Encoded) -> np.ndarray:
        codes = unpack_bits(enc.payload["codes"], 4, enc.n).T
        s = e4m3_decode(enc.payload["scales"].T) * float(enc.payload["tensor_scale"][0])
        x = e2m1_decode(codes).reshape(enc.n // self.block, self.block, enc.cols) * s[:, None, :]
        return x.reshape(enc.n, enc.cols)


class IntGroup(Quantizer):
    """Absmax INT-k (GPTQ symmetric grid) with a float16 scale per group of ``group`` rows (see module
    docstring)."""

    family = "int_group"

    def __init__(self, bits: int = 4, group: int = 128):
        if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or not 2 <= bits <= 8:
            raise HwqError(f"int_group: bits must be an integer in [2, 8], got {bits!r}")
        if not isinstance(group, (int, np.integer)) or isinstance(group, bool) or group < 1:
            raise HwqError(f"int_group: group must be a positive integer, got {group!r}")
        self.bits, self.group = int(bits), int(group)

    @property
    def slug(self) -> str:
        return f"int{self.bits}_g{self.group}"

    @classmethod
    def at_rate(cls, rate: float | None = None, bits: int = 4, group: int = 128) -> IntGroup:
        _fixed_rate(bits if rate is None else rate, bits, bits + 16 / group, f"int{bits}_g{group}")
        return cls(bits, group)

    def encode(self, a: np.ndarray, matrix_id: int = 0) -> Encoded:
        a = _check_matrix(a)
        n, cols = a.shape
        x = _blocks(a, self.group, self.slug)
        half = 2 ** (self.bits - 1)
        amax = np.max(np.abs(x), axis=1)
        with np.errstate(over="ignore"):
            delta = (2.0 * amax / (2 * half - 1)).astype(np.float16)
        if not np.all(np.isfinite(delta)) or np.any((amax > 0) & (delta == 0)):
            tiny = float(np.finfo(np.float16).smallest_subnormal)
            raise HwqError(f"{self.slug}: a group's scale 2 max|a| / {2 * half - 1} leaves the float16 "
                           f"range [{tiny:.3g}, 65504]; scale the matrix by a power of two first")
        d = delta.astype(np.float64)
        safe = np.where(d > 0, d, 1.0)
        q = np.clip(np.floor(x / safe[:, None, :] + 0.5), -half, half - 1).astype(np.int64).reshape(n, cols)
        payload = {"codes": pack_bits(np.ascontiguousarray(q.T) + half, self.bits),
                   "scales": np.ascontiguousarray(delta.T)}
        enc = Encoded(self, n, cols, self.slug, payload, 0.0, {"codes": q})
        enc.rate = enc.rate_packed()
        return enc

    def decode(self, enc: Encoded) -> np.ndarray:
        q = unpack_bits(enc.payload["codes"], self.bits, enc.n).T - 2 ** (self.bits - 1)
        d = enc.payload["scales"].T.astype(np.float64)
        x = q.astype(np.float64).reshape(enc.n // self.group, self.group, enc.cols) * d[:, None, :]
        return x.reshape(enc.n, enc.cols)
