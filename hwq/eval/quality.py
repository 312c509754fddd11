"""Matrix-product quality of one design point, whatever quantizes it: an :class:`hwq.HwqConfig` (the
nested-lattice code in its packed hardware format, :func:`hwq.matmul.encode_matrix`) or any method of
the zoo (a registry name and rate, or a :class:`hwq.quant.base.Quantizer`: MXFP4, NVFP4, INT-k g128, ...).

A and B are n x cols with iid N(0, 1) entries (A then B from ``numpy.random.default_rng(seed)``, as in
``hwq eval rd``); both are encoded by the same point (matrix ids 0 and 1), A^T B is estimated from the two
encodings and

    D = ||est - A^T B||_F^2 / (n cols^2)      (SPEC section 1, per product entry, normalised by n)

is set against the lower bound Gamma(R) at the *packed* rate R (every stored bit: codes, ladder indices,
scales, norms), and at the rate the method accounts (entropy-coded for the lattice codes). The defaults
(n = 768, cols = 64, seed 0) are those of ``hwq eval rd``, so a point's D matches its row there.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.theory import gamma

__all__ = ["Quality", "product_quality"]


@dataclass(frozen=True)
class Quality:
    """Result of :func:`product_quality`.

    Attributes
    ----------
    point : str
        Config slug or quantizer slug.
    n, cols, seed : int
        Gaussian test matrices (n may be rounded up to the config's K granularity, see ``product_quality``).
    rate : float
        Bits/entry as the method accounts them (entropy-coded ladder for lattice codes), side info included.
    rate_packed : float
        Bits/entry actually stored.
    distortion : float
        D of the module docstring.
    gamma_packed, ratio_packed : float
        Gamma(rate_packed) and D / Gamma(rate_packed).
    gamma_rate, ratio_rate : float
        The same at ``rate``.
    weight_mse : float
        Mean squared error of A's reconstruction per entry (A has unit variance).
    overload_blocks : int
        Blocks of A and B that overloaded the top ladder rung and were clipped (lattice configs; 0 otherwise).
        Counted here instead of raising :class:`hwq.nested.OverloadWarning` once per encode.
    seconds : float
        Wall time of the encodes, decode and product.
    """

    point: str
    n: int
    cols: int
    seed: int
    rate: float
    rate_packed: float
    distortion: float
    gamma_packed: float
    ratio_packed: float
    gamma_rate: float
    ratio_rate: float
    weight_mse: float
    overload_blocks: int
    seconds: float


def _gaussian(n: int, cols: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, cols))
    return a, rng.standard_normal((n, cols))


def product_quality(point: HwqConfig | object | str, rate: float | None = None, n: int = 768,
                    cols: int = 64, seed: int = 0) -> Quality:
    """Matrix-product distortion of one point on iid Gaussian A, B (module docstring).

    Parameters
    ----------
    point : HwqConfig, Quantizer or str
        A config (encoded by :func:`hwq.matmul.encode_matrix`, including its ``ladder_select``), a
        quantizer, or a registry name (:func:`hwq.quant.registry.make` with ``rate``).
    rate : float, optional
        Target rate for a registry name; the fixed-rate formats take their nominal bits when omitted.
    n, cols : int
        Matrix shape; for a config n is rounded up to a multiple of ``cfg.k_step`` (lcm of block size and
        Hadamard size; 768 already is for every default Hadamard size up to 256).
    seed : int

    Returns
    -------
    Quality

    Raises
    ------
    HwqError
        Bad shape or seed, unknown method or rate (from the registry), or input the method refuses.

    Examples
    --------
    >>> q = product_quality("int4_g128", 4, n=256, cols=16)
    >>> round(q.rate_packed, 3)
    4.125
    """
    for name, v, lo in (("n", n, 8), ("cols", cols, 1), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise HwqError(f"{name} must be an integer >= {lo}, got {v!r}")
    t0 = time.perf_counter()
    if isinstance(point, HwqConfig):
        from hwq.matmul import decode_matrix, encode_matrix, estimate_product

        cfg = point
        n = cfg.padded_k(n)
        if n > cfg.max_k:
            raise HwqError(f"n = {n} exceeds the config's max_k = {cfg.max_k}; use a smaller n")
        from hwq.nested import OverloadWarning

        a, b = _gaussian(n, cols, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OverloadWarning)
            ea, eb = encode_matrix(a, cfg, 0), encode_matrix(b, cfg, 1)
        overloads = ea.overloads + eb.overloads
        est = estimate_product(ea, eb)
        a_hat = decode_matrix(ea)
        slug, r, rp = cfg.slug, ea.rate_entropy(), ea.rate_packed()
    else:
        from hwq.quant.base import Quantizer

        if isinstance(point, str):
            from hwq.quant.registry import make

            qz = make(point, rate)
        elif isinstance(point, Quantizer):
            qz = point
        else:
            raise HwqError(f"a point is an HwqConfig, a quantizer or a registry name, got "
                           f"{type(point).__name__}")
        a, b = _gaussian(n, cols, seed)
        ea, eb = qz.encode(a, 0), qz.encode(b, 1)
        overloads = 0
        est = qz.estimate_product(ea, eb)
        a_hat = ea.decode()
        slug, r, rp = ea.slug, float(ea.rate), ea.rate_packed()
    exact = a.T @ b
    dist = float(np.sum((est - exact) ** 2) / (n * cols * cols))
    g_p, g_r = float(gamma(rp)), float(gamma(r))
    return Quality(point=slug, n=n, cols=cols, seed=seed, rate=float(r), rate_packed=float(rp),
                   distortion=dist, gamma_packed=g_p, ratio_packed=dist / g_p, gamma_rate=g_r,
                   ratio_rate=dist / g_r, weight_mse=float(np.mean((a_hat - a) ** 2)),
                   overload_blocks=int(overloads), seconds=time.perf_counter() - t0)
