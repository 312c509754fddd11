"""The paper's matrix-product quantizer (SPEC section 3).

Per column a of A (n x cols): rho = ||a||_2; x = sqrt(n) a / rho; rotate x with the seeded
Hadamard (segments of ``config.hadamard``); cut into n/d blocks; quantize each block with the nested
code and the ladder (dither optional). The least-squares factor alpha = <x, xhat>/||xhat||^2 is folded
into the stored norm (``config.mmse``). The product estimate is computed in the rotated domain:

    A^T B  ~=  (rho'_A rho'_B^T / n)  (.)  (Xhat_A^T Xhat_B)

Columns are processed in chunks so that memory stays bounded for n = 6144 x 6144 matrices.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.errors import HwqError
from hwq.hadamard import check_segment, rotate, unrotate
from hwq.nested import OverloadWarning, decode_blocks, quantize_blocks
from hwq.packing import pack_bits
from hwq.prng import dither_for

__all__ = [
    "check_matrix",
    "column_norms",
    "decode_matrix",
    "decode_rotated",
    "encode_matrix",
    "estimate_product",
    "pad_rows",
    "product_distortion",
]

_CHUNK_ENTRIES = 1 << 20


def check_matrix(a: np.ndarray, cfg: HwqConfig, name: str = "A") -> np.ndarray:
    """Validate a matrix for column-wise encoding; returns it as float64.

    Raises
    ------
    HwqError
        Not 2-D, non-numeric dtype, NaN/Inf, or a row count that is not a multiple of the block size
        and of the Hadamard segment.
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise HwqError(f"{name} must be a 2-D matrix (n x cols), got shape {a.shape}")
    if a.dtype.kind not in "fiu":
        raise HwqError(f"{name} must have a real numeric dtype, got {a.dtype}")
    n = a.shape[0]
    if n == 0 or a.shape[1] == 0:
        raise HwqError(f"{name} is empty (shape {a.shape})")
    if n % cfg.dim:
        raise HwqError(f"{name} has {n} rows, not a multiple of the {cfg.lattice} block size {cfg.dim}; "
                       f"pad the rows with zeros (hwq.matmul.pad_rows) to a multiple of {cfg.dim}")
    check_segment(n, cfg.hadamard)
    a = a.astype(np.float64, copy=False)
    if not np.all(np.isfinite(a)):
        raise HwqError(f"{name} contains NaN or Inf; quantization needs finite values")
    return a


def pad_rows(a: np.ndarray, cfg: HwqConfig) -> np.ndarray:
    """Zero-pad the rows of ``a`` to a multiple of lcm(block size, Hadamard size).

    Zero rows change neither norms nor inner products, so A^T B is unchanged; pad the activations the
    same way (e.g. K = 4096 with D3 and hadamard 64 becomes 4224).
    """
    a = np.asarray(a)
    if a.ndim not in (1, 2):
        raise HwqError(f"pad_rows expects a vector or a matrix, got shape {a.shape}")
    extra = -a.shape[0] % cfg.k_step
    if not extra:
        return a
    return np.concatenate([a, np.zeros((extra,) + a.shape[1:], dtype=a.dtype)], axis=0)


def _check_enc(enc: object, name: str) -> None:
    if not isinstance(enc, EncodedMatrix):
        raise HwqError(f"{name} must be an EncodedMatrix (from encode_matrix or load_encoded), "
                       f"got {type(enc).__name__}")


def _chunks(cols: int, n: int) -> list[tuple[int, int]]:
    step = max(1, _CHUNK_ENTRIES // n)
    return [(s, min(cols, s + step)) for s in range(0, cols, step)]


def _blocks(x: np.ndarray, d: int) -> np.ndarray:
    # (n, c) column-major blocks -> (c * n/d, d); block b of column m is row m*nb + b
    n, c = x.shape
    return np.ascontiguousarray(x.T).reshape(c * (n // d), d)


def _dither(cfg: HwqConfig, matrix_id: int, c0: int, c1: int, nb: int) -> np.ndarray | None:
    if not cfg.dither:
        return None
    cols = np.repeat(np.arange(c0, c1, dtype=np.int64), nb)
    blocks = np.tile(np.arange(nb, dtype=np.int64), c1 - c0)
    return dither_for(cfg.lat, cfg.dither_seed, matrix_id, cols, blocks)


def _workers(workers: int | None, nchunks: int) -> int:
    if workers is None:
        workers = os.cpu_count() or 1
    if not isinstance(workers, int) or workers < 1:
        raise HwqError(f"workers must be a positive integer, got {workers!r}")
    return max(1, min(workers, nchunks))


def column_norms(a: np.ndarray) -> np.ndarray:
    """Column 2-norms without overflow or underflow in the squares (scaled by the column's max |entry|)."""
    out = np.empty(a.shape[1])
    for c0, c1 in _chunks(a.shape[1], a.shape[0]):  # bounded temporaries for large matrices
        blk = a[:, c0:c1]
        amax = np.max(np.abs(blk), axis=0)
        safe = np.where(amax > 0, amax, 1.0)
        out[c0:c1] = amax * np.sqrt(np.sum((blk / safe) ** 2, axis=0))
    return out


def _check_norms(rho: np.ndarray, name: str) -> None:
    """The container stores rho * alpha as float32: refuse columns whose norm leaves its normal range."""
    f32 = np.finfo(np.float32)
    big = rho > float(f32.max) / 2  # alpha (the least-squares factor) is close to 1; keep a margin of 2
    small = (rho > 0) & (rho < float(f32.tiny) * 2)
    for bad, what in ((big, "above"), (small, "below")):
        if bad.any():
            m = int(np.argmax(bad))
            raise HwqError(f"{name}: column {m} has norm {float(rho[m]):.4g}, {what} the float32 range "
                           f"[{float(f32.tiny):.3g}, {float(f32.max):.3g}] the container stores norms in "
                           f"({int(bad.sum())} column(s)); scale {name} by a power of two first and scale "
                           "the product back")


def _encode_chunk(a: np.ndarray, cfg: HwqConfig, matrix_id: int, c0: int, c1: int, rows: np.ndarray,
                  ladder: np.ndarray, norms: np.ndarray, rho_all: np.ndarray) -> tuple[int, int]:
    n = a.shape[0]
    d = cfg.dim
    nb = n // d
    lat = cfg.lat
    blk = a[:, c0:c1]
    rho = rho_all[c0:c1]
    safe = np.where(rho > 0, rho, 1.0)
    x = rotate(blk * (np.sqrt(n) / safe), cfg.hadamard, cfg.sign_seed)
    xb = _blocks(x, d)
    z = _dither(cfg, matrix_id, c0, c1, nb)
    bc = quantize_blocks(lat, cfg.q, xb, cfg.betas, z, select=cfg.ladder_select)
    rows[c0:c1] = bc.rows.reshape(c1 - c0, nb)
    ladder[c0:c1] = bc.ladder.reshape(c1 - c0, nb)
    alpha = np.ones(c1 - c0)
    if cfg.mmse:
        xh = decode_blocks(lat, cfg.q, bc.rows, bc.ladder, cfg.betas, z).reshape(c1 - c0, n)
        xt = xb.reshape(c1 - c0, n)
        den = np.sum(xh * xh, axis=1)
        alpha = np.where(den > 0, np.sum(xt * xh, axis=1) / np.where(den > 0, den, 1.0), 1.0)
    norms[c0:c1] = (rho * alpha).astype(np.float32)
    ov = bc.overload.reshape(c1 - c0, nb)
    return int(ov.sum()), int(ov.any(axis=1).sum())


def encode_matrix(a: np.ndarray, cfg: HwqConfig, matrix_id: int = 0,
                  progress: Callable[[int], None] | None = None, workers: int | None = None) -> EncodedMatrix:
    """Quantize every column of ``a`` with the nested lattice code of ``cfg``.

    Parameters
    ----------
    a : ndarray, shape (n, cols)
        Real matrix; n a multiple of the block size and of ``cfg.hadamard``.
    cfg : HwqConfig
    matrix_id : int
        Selects the dither stream (use different ids for A and B).
    progress : callable, optional
        Called with the number of columns finished after each chunk.
    workers : int, optional
        Threads encoding column chunks in parallel (default: all cores). The result does not depend on it.

    Returns
    -------
    EncodedMatrix

    Raises
    ------
    HwqError
        ``cfg`` not an HwqConfig, a bad matrix (:func:`check_matrix`), or a column whose norm leaves the
        normal float32 range (e.g. an entry of 1e39, or a matrix scaled to 1e-300): the container stores
        the norm as float32, so such input is refused rather than stored as inf or 0; scale it by a power
        of two first.

    Warns
    -----
    OverloadWarning
        When blocks overload the top ladder rung (with the counts); they are clipped to the nearest
        codeword, and ``EncodedMatrix.overloads`` records how many.

    Examples
    --------
    >>> import numpy as np
    >>> from hwq import HwqConfig
    >>> enc = encode_matrix(np.random.default_rng(0).standard_normal((128, 4)), HwqConfig())
    >>> enc.codes.shape
    (4, 43)
    """
    if not isinstance(cfg, HwqConfig):
        raise HwqError(f"encode_matrix needs an HwqConfig as cfg, got {type(cfg).__name__} "
                       "(e.g. hwq.HwqConfig() or hwq.load_config(path))")
    a = check_matrix(a, cfg)
    n, cols = a.shape
    rho_all = column_norms(a)
    _check_norms(rho_all, "A")
    nb = n // cfg.dim
    rows = np.empty((cols, nb), dtype=np.int64)
    ladder = np.empty((cols, nb), dtype=np.uint8)
    norms = np.empty(cols, dtype=np.float32)
    overloads = ov_cols = 0
    chunks = _chunks(cols, n)
    nworkers = _workers(workers, len(chunks))

    def one(span: tuple[int, int]) -> tuple[int, int]:
        c0, c1 = span
        return _encode_chunk(a, cfg, matrix_id, c0, c1, rows, ladder, norms, rho_all)

    if nworkers == 1:
        for span in chunks:
            ov, oc = one(span)
            overloads, ov_cols = overloads + ov, ov_cols + oc
            if progress is not None:
                progress(span[1])
    else:  # numpy releases the GIL in the heavy loops: threads scale across cores
        with ThreadPoolExecutor(max_workers=nworkers) as pool:
            for span, (ov, oc) in zip(chunks, pool.map(one, chunks)):
                overloads, ov_cols = overloads + ov, ov_cols + oc
                if progress is not None:
                    progress(span[1])
    if overloads:
        warnings.warn(OverloadWarning(
            f"{overloads} of {cols * nb} blocks ({100 * overloads / (cols * nb):.3g}%) in {ov_cols} of "
            f"{cols} columns overloaded the top ladder rung (beta = {cfg.betas[-1]:.4g}) and were clipped to "
            f"the nearest codeword; if this is frequent raise beta0, ladder_len or ladder_step ({cfg.slug})"),
            stacklevel=2)
    return EncodedMatrix(config=cfg, n=n, cols=cols, matrix_id=matrix_id,
                         codes=pack_bits(rows, cfg.code_bits), ladder=pack_bits(ladder, cfg.ladder_bits),
                         norms=norms, overloads=overloads)


def decode_rotated(enc: EncodedMatrix, c0: int = 0, c1: int | None = None) -> np.ndarray:
    """Decoded unit-scale columns xhat in the rotated domain, float64 (n, c1 - c0)."""
    _check_enc(enc, "enc")
    cfg = enc.config
    c1 = enc.cols if c1 is None else c1
    nb = enc.blocks_per_col
    rows = enc.rows()[c0:c1].reshape(-1)
    lad = enc.ladder_index()[c0:c1].reshape(-1)
    z = _dither(cfg, enc.matrix_id, c0, c1, nb)
    xh = decode_blocks(cfg.lat, cfg.q, rows, lad, cfg.betas, z)
    return xh.reshape(c1 - c0, enc.n).T


def decode_matrix(enc: EncodedMatrix) -> np.ndarray:
    """Reconstruction of the original matrix: unrotate(xhat) * rho' / sqrt(n), float64 (n, cols)."""
    _check_enc(enc, "enc")
    xh = decode_rotated(enc)
    return unrotate(xh, enc.config.hadamard, enc.config.sign_seed) * (
        enc.norms.astype(np.float64) / np.sqrt(enc.n))


def estimate_product(ea: EncodedMatrix, eb: EncodedMatrix, dtype=np.float64) -> np.ndarray:
    """Estimate of A^T B from two containers, computed in the rotated domain.

    Raises
    ------
    HwqError
        If the containers have different n or different rotations (sign seed / Hadamard size).
    """
    _check_enc(ea, "ea")
    _check_enc(eb, "eb")
    if ea.n != eb.n:
        raise HwqError(f"A has {ea.n} rows but B has {eb.n}; A^T B needs equal row counts")
    if (ea.config.hadamard, ea.config.sign_seed) != (eb.config.hadamard, eb.config.sign_seed):
        raise HwqError("A and B were rotated differently (hadamard/sign_seed differ); the rotation must be "
                       "shared so that it cancels in the product")
    xa = decode_rotated(ea).astype(dtype)
    xb = decode_rotated(eb).astype(dtype)
    g = xa.T @ xb
    return g * (np.outer(ea.norms.astype(np.float64), eb.norms.astype(np.float64)) / ea.n)


def product_distortion(est: np.ndarray, exact: np.ndarray, n: int) -> float:
    """SPEC distortion ||est - exact||_F^2 / (n * a * b) (= 1/n^3 ||.||^2 for n x n matrices)."""
    e = np.asarray(est, dtype=np.float64) - np.asarray(exact, dtype=np.float64)
    return float(np.sum(e * e) / (n * e.shape[0] * e.shape[1]))
