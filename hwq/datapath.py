"""The integer datapath of SPEC section 6: the bit-exact boundary shared by the reference model, the RTL,
the C and the CUDA kernels.

Notation: W (K x M) is a weight matrix encoded column by column (:func:`hwq.matmul.encode_matrix`,
dither off), X (K x B) holds B activation vectors, y = W^T X (M x B). d is the block size,
nb = K / d, h = ``cfg.hadamard``, F = ``cfg.frac_bits``, G = ``cfg.enc_frac_bits``,
m_t = ``cfg.beta_mults[t]`` and cs = ``cfg.coord_scale``.

Activation front end (both modes), per column j of X -- float, defined here, not in hardware:

    s_x[j]  = max_k |X[k, j]| / act_max            (1.0 if the column is all zero)
    x_int   = clip(rnd(X / s_x), -act_max, act_max)  int, act_bits wide            <- boundary
    x_rot   = H diag(signs) x_int  (segments of h)   int, act_rot_bits wide        <- boundary

Weight-only mode (integers are the contract):

    dot[m, b, j] = sum_i cw[m, b, i] * x_rot[d*b + i, j]     cw = cs * codeword (int, coord_bits)
    acc[m, j]    = sum_b m_{T[m, b]} * dot[m, b, j]           (acc_bits, cannot overflow for K <= max_k)
    y[m, j]      = (double(acc) * wscale[m]) * s_x[j] * rot_gain        (float64, this order)
    wscale[m]    = double(norm[m]) * (beta0 / (2**F * cs * sqrt(K)))      rot_gain = 1 / sqrt(h)

Both-quantized mode (activations nested-coded on the fly, integer encoder):

    ss[j]       = sum_k x_rot[k, j]**2  (exact int);  enc_mult[j] = rnd(2**G sqrt(K) / (sqrt(ss) beta0))
    em_t[j]     = (enc_mult[j] * inv_m_t) >> F          inv_m_t = cfg.inv_beta_mults[t]
    lam         = Q(x_rot_block * em_t / 2**G)          exact rational closest point, first t without
                                                        overload (T_x); codes rx = row(k(lam))
    acc2[m, j]  = sum_b m_{Tw[m,b]} * m_{Tx[j,b]} * LUT[rw[m,b], rx[j,b]]     LUT = <c_r, c_s> (integers)
    y[m, j]     = (double(acc2) * wscale2[m]) * xscale2[j]
    wscale2[m]  = double(norm[m]) * (beta0 / (2**F * sqrt(K)))
    xscale2[j]  = s_x[j] * rot_gain * 2**(G - F) / enc_mult[j]

The float epilogue is applied after the integer result, in exactly the order written above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.errors import HwqError
from hwq.hadamard import check_segment, rotate_int
from hwq.nested import codewords_for_rows
from hwq.voronoi import MAX_LUT_ROWS, digits_to_row, index_of, pair_lut
from hwq.voronoi import codeword_of

__all__ = [
    "ActInt", "quantize_activations", "rotate_activations", "prepare_activations",
    "weight_codewords", "weight_only_acc", "weight_scale", "weight_only_output", "weight_only_gemv",
    "ActCodes", "encode_activations", "lut_acc", "lut_scales", "both_quantized_gemv", "block_dot",
]


def _rnd(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


@dataclass(frozen=True)
class ActInt:
    """Integer activations: ``x_int`` (K, B), ``x_rot`` (K, B) int64 and ``scale`` s_x (B,) float64."""

    x_int: np.ndarray
    x_rot: np.ndarray
    scale: np.ndarray


def _check_acts(x: np.ndarray, cfg: HwqConfig, k: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise HwqError(f"activations must be a vector (K,) or matrix (K, B), got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise HwqError(f"activations must be real numbers, got dtype {x.dtype}")
    if k is not None and x.shape[0] != k:
        raise HwqError(f"activations have {x.shape[0]} rows but the weights have K = {k}")
    if not np.all(np.isfinite(x)):
        raise HwqError("activations contain NaN or Inf")
    return x.astype(np.float64)


def quantize_activations(x: np.ndarray, cfg: HwqConfig) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric absmax integer activations per column: returns (x_int int64 (K, B), s_x float64 (B,))."""
    x = _check_acts(x, cfg)
    amax = np.max(np.abs(x), axis=0)
    s = np.where(amax > 0, amax / cfg.act_max, 1.0)
    xi = np.clip(_rnd(x / s), -cfg.act_max, cfg.act_max).astype(np.int64)
    return xi, s


def rotate_activations(x_int: np.ndarray, cfg: HwqConfig) -> np.ndarray:
    """x_rot = H diag(signs) x_int on segments of cfg.hadamard (exact, int64)."""
    x_int = np.asarray(x_int)
    if x_int.ndim == 1:
        x_int = x_int[:, None]
    if x_int.dtype.kind not in "iu" or (x_int.size and int(np.max(np.abs(x_int))) > cfg.act_max):
        raise HwqError(f"x_int must be integers in [-{cfg.act_max}, {cfg.act_max}]")
    check_segment(x_int.shape[0], cfg.hadamard)
    return rotate_int(x_int, cfg.hadamard, cfg.sign_seed)


def prepare_activations(x: np.ndarray, cfg: HwqConfig) -> ActInt:
    """Float activations -> :class:`ActInt` (quantize, then rotate)."""
    xi, s = quantize_activations(x, cfg)
    return ActInt(x_int=xi, x_rot=rotate_activations(xi, cfg), scale=s)


def _check_type(enc: object) -> None:
    if not isinstance(enc, EncodedMatrix):
        raise HwqError(f"the weights must be an EncodedMatrix (from encode_matrix or load_encoded), got "
                       f"{type(enc).__name__}")


def _check_weights(enc: EncodedMatrix) -> HwqConfig:
    _check_type(enc)
    cfg = enc.config
    if cfg.dither:
        raise HwqError("the integer datapath needs weights encoded without dither (set dither = false); a "
                       "fresh dither per block adds cross terms the integer/LUT path cannot absorb")
    if enc.n > cfg.max_k:
        raise HwqError(f"K = {enc.n} exceeds the config's max_k = {cfg.max_k}; the accumulator width is "
                       "sized for max_k: raise max_k")
    return cfg


def weight_codewords(enc: EncodedMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Scaled codewords cw (M, nb, d) int64 and ladder indices T (M, nb) of an encoded weight matrix."""
    _check_type(enc)
    cfg = enc.config
    rows = enc.rows()
    cw = codewords_for_rows(cfg.lat, cfg.q, rows.reshape(-1)).reshape(enc.cols, enc.blocks_per_col, cfg.dim)
    return cw, enc.ladder_index()


def block_dot(cw: np.ndarray, x_rot_blocks: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """One block operation of the MAC lane: ``mult * <cw, x>`` (int64), vectorised over leading axes."""
    return mult.astype(np.int64) * np.sum(cw.astype(np.int64) * x_rot_blocks.astype(np.int64), axis=-1)


def weight_only_acc(enc: EncodedMatrix, x_rot: np.ndarray) -> np.ndarray:
    """Integer accumulators acc (M, B) int64 of the weight-only mode."""
    cfg = _check_weights(enc)
    x_rot = np.asarray(x_rot)
    if x_rot.ndim == 1:
        x_rot = x_rot[:, None]
    if x_rot.shape[0] != enc.n:
        raise HwqError(f"x_rot has {x_rot.shape[0]} rows but the weights have K = {enc.n}")
    if x_rot.dtype.kind not in "iu" or (x_rot.size and int(np.max(np.abs(x_rot))) > cfg.act_rot_bound):
        raise HwqError(f"x_rot must be integers within +-{cfg.act_rot_bound} (act_rot_bits = "
                       f"{cfg.act_rot_bits})")
    cw, lad = weight_codewords(enc)
    mult = np.asarray(cfg.beta_mults, dtype=np.int64)[lad]  # (M, nb)
    xb = x_rot.astype(np.int64).reshape(enc.blocks_per_col, cfg.dim, -1)  # (nb, d, B)
    dots = np.einsum("mbi,bij->mbj", cw, xb)  # (M, nb, B) int64
    acc = np.einsum("mb,mbj->mj", mult, dots)
    lim = 1 << (cfg.acc_bits - 1)
    if acc.size and int(np.max(np.abs(acc))) >= lim:  # impossible by construction; guards the derivation
        raise AssertionError("weight-only accumulator exceeded its derived width")
    return acc


def weight_scale(enc: EncodedMatrix, lut: bool = False) -> np.ndarray:
    """Per-column float64 scales wscale (weight-only) or wscale2 (``lut=True``), see module docstring."""
    _check_type(enc)
    cfg = enc.config
    cs = 1 if lut else cfg.coord_scale
    const = cfg.beta0 / ((1 << cfg.frac_bits) * cs * math.sqrt(enc.n))
    return enc.norms.astype(np.float64) * const


def weight_only_output(acc: np.ndarray, wscale: np.ndarray, s_x: np.ndarray, cfg: HwqConfig) -> np.ndarray:
    """Float epilogue y = (acc * wscale[m]) * s_x[j] * rot_gain, in this order (float64)."""
    rot_gain = 1.0 / math.sqrt(cfg.hadamard)
    return ((acc.astype(np.float64) * wscale[:, None]) * s_x[None, :]) * rot_gain


def weight_only_gemv(enc: EncodedMatrix, x: np.ndarray) -> np.ndarray:
    """y = W^T x through the integer weight-only datapath (float activations in, float64 out)."""
    _check_weights(enc)
    act = prepare_activations(_check_acts(x, enc.config, enc.n), enc.config)
    acc = weight_only_acc(enc, act.x_rot)
    return weight_only_output(acc, weight_scale(enc), act.scale, enc.config)


# ----------------------------------------------------------------------------------------------------
# both-quantized mode
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ActCodes:
    """Activations coded by the integer encoder: rows (B, nb) int64, ladder (B, nb) uint8,
    enc_mult (B,) int64, overload (B, nb) bool."""

    rows: np.ndarray
    ladder: np.ndarray
    enc_mult: np.ndarray
    overload: np.ndarray


def enc_multiplier(x_rot: np.ndarray, cfg: HwqConfig) -> np.ndarray:
    """enc_mult[j] = rnd(2**G sqrt(K) / (sqrt(sum x_rot[:, j]**2) beta0)); 0 for an all-zero column."""
    k = x_rot.shape[0]
    ss = np.sum(x_rot.astype(np.int64) ** 2, axis=0)
    norm = np.sqrt(ss.astype(np.float64))
    with np.errstate(divide="ignore"):
        m = np.where(ss > 0, _rnd((1 << cfg.enc_frac_bits) * math.sqrt(k) / (np.where(ss > 0, norm, 1.0)
                                                                               * cfg.beta0)), 0.0)
    return m.astype(np.int64)


def encode_activations(x_rot: np.ndarray, cfg: HwqConfig, enc_mult: np.ndarray | None = None) -> ActCodes:
    """Integer nested-lattice encoder of rotated activations (both-quantized mode).

    Parameters
    ----------
    x_rot : ndarray of int, shape (K, B)
    cfg : HwqConfig
    enc_mult : ndarray of int, shape (B,), optional
        Per-vector scale multiplier; computed by :func:`enc_multiplier` when omitted.

    Returns
    -------
    ActCodes
    """
    x_rot = np.asarray(x_rot)
    if x_rot.ndim == 1:
        x_rot = x_rot[:, None]
    if x_rot.dtype.kind not in "iu":
        raise HwqError(f"x_rot must be an integer array, got {x_rot.dtype}")
    k, b = x_rot.shape
    d = cfg.dim
    if k % d:
        raise HwqError(f"K = {k} is not a multiple of the block size {d}")
    lat = cfg.lat
    em = enc_multiplier(x_rot, cfg) if enc_mult is None else np.asarray(enc_mult, dtype=np.int64)
    nb = k // d
    xb = x_rot.astype(np.int64).T.reshape(b, nb, d)
    rows = np.zeros((b, nb), dtype=np.int64)
    ladder = np.zeros((b, nb), dtype=np.uint8)
    over = np.zeros((b, nb), dtype=bool)
    pending = np.ones((b, nb), dtype=bool)
    den = 1 << cfg.enc_frac_bits
    last = cfg.ladder_len - 1
    for t, inv in enumerate(cfg.inv_beta_mults):
        if not pending.any():
            break
        emt = (em * inv) >> cfg.frac_bits  # (B,)
        jj, bb = np.nonzero(pending)
        num = xb[jj, bb] * emt[jj][:, None]
        lam = lat.closest_rational(num, den)
        kk = index_of(lat, cfg.q, lam)
        c = codeword_of(lat, cfg.q, kk)
        ok = np.all(c == lam, axis=1)
        if t == last:
            over[jj[~ok], bb[~ok]] = True
            ok[:] = True
        r = digits_to_row(kk, cfg.q)
        rows[jj[ok], bb[ok]] = r[ok]
        ladder[jj[ok], bb[ok]] = t
        pending[jj[ok], bb[ok]] = False
    return ActCodes(rows=rows, ladder=ladder, enc_mult=em, overload=over)


def lut_acc(enc: EncodedMatrix, acts: ActCodes) -> np.ndarray:
    """acc2[m, j] = sum_b m_Tw m_Tx <c_rw, c_rx> (int64, (M, B)); pairwise LUT when it fits, else
    the same integers from the codewords."""
    cfg = _check_weights(enc)
    rw = enc.rows()  # (M, nb)
    tw = enc.ladder_index()
    mults = np.asarray(cfg.beta_mults, dtype=np.int64)
    mw = mults[tw]
    mx = mults[acts.ladder]  # (B, nb)
    if acts.rows.shape[1] != enc.blocks_per_col:
        raise HwqError(f"activation codes have {acts.rows.shape[1]} blocks, the weights {enc.blocks_per_col}")
    if cfg.num_codewords <= MAX_LUT_ROWS:
        lut = pair_lut(cfg.lattice, cfg.q).astype(np.int64)
        ip = lut[rw[:, None, :], acts.rows[None, :, :]]  # (M, B, nb)
    else:
        cs2 = cfg.coord_scale ** 2
        cwv = codewords_for_rows(cfg.lat, cfg.q, rw.reshape(-1)).reshape(rw.shape + (cfg.dim,))
        cxv = codewords_for_rows(cfg.lat, cfg.q, acts.rows.reshape(-1)).reshape(acts.rows.shape + (cfg.dim,))
        ip = np.einsum("mbi,jbi->mjb", cwv, cxv) // cs2
    acc = np.einsum("mjb,mb,jb->mj", ip, mw, mx)
    if acc.size and int(np.max(np.abs(acc))) >= 1 << (cfg.lut_acc_bits - 1):
        raise AssertionError("LUT accumulator exceeded its derived width")
    return acc


def lut_scales(enc: EncodedMatrix, acts: ActCodes, s_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(wscale2 (M,), xscale2 (B,)) float64 of the both-quantized epilogue."""
    cfg = enc.config
    rot_gain = 1.0 / math.sqrt(cfg.hadamard)
    em = acts.enc_mult.astype(np.float64)
    xs = np.where(em > 0,
                  s_x * rot_gain * (2.0 ** (cfg.enc_frac_bits - cfg.frac_bits)) / np.where(em > 0, em, 1.0),
                  0.0)
    return weight_scale(enc, lut=True), xs


def both_quantized_gemv(enc: EncodedMatrix, x: np.ndarray) -> np.ndarray:
    """y = W^T x with weights and activations nested-coded (LUT inner products), float64 (M, B)."""
    _check_weights(enc)
    act = prepare_activations(_check_acts(x, enc.config, enc.n), enc.config)
    codes = encode_activations(act.x_rot, enc.config)
    acc = lut_acc(enc, codes)
    ws, xs = lut_scales(enc, codes, act.scale)
    return (acc.astype(np.float64) * ws[:, None]) * xs[None, :]
