"""End-to-end check of the generated C library against the reference model (bit-exact).

:func:`check_c` renders and compiles the library of a config, builds golden-style vectors with the
reference model (:mod:`hwq.matmul`, :mod:`hwq.datapath`), runs every kernel on every instruction set
the CPU offers, from the container arrays and from the kernel layout (:meth:`CKernels.pack`), and
compares integers with ``np.array_equal`` (and the exact-mode float epilogue
bit for bit); the fast mode and the dequantizer are checked against float64 with a tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.matmul import decode_matrix, encode_matrix, pad_rows
from hwq import datapath as dp

from hwq.codegen.build import CKernels, compile_c

__all__ = ["check_c", "pad_rows", "golden_case", "FAST_RTOL"]

#: fast-mode tolerance: relative error (2-norm) against the float64 product of the dequantized weights
FAST_RTOL = 1e-3


def golden_case(cfg: HwqConfig, k: int, m: int, b: int, seed: int = 0) -> tuple[EncodedMatrix, np.ndarray]:
    """A random weight matrix (K, M) encoded with ``cfg`` and float activations (K, B).

    Activations get a few exact extremes (+-max) so the quantizer's clip and rounding are exercised.
    """
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((k, m))
    x = rng.standard_normal((k, b)) * rng.uniform(0.5, 3.0, size=b)
    x[0, :] = np.abs(x).max(axis=0)
    return encode_matrix(w, cfg), x


def check_c(cfg: HwqConfig, work_dir: str | Path, k: int | None = None, m: int = 53, batches=(1, 3, 17),
            nthreads: int = 2, sanitize: bool = False, seed: int = 0) -> dict[str, Any]:
    """Compile the C library of ``cfg`` and check it against the reference model.

    Parameters
    ----------
    cfg : HwqConfig
    work_dir : path
        Build folder (rendered sources and the shared library).
    k : int, optional
        Reduction length; default 2 * lcm(d, hadamard) plus one more segment for a ragged tile.
    m : int
        Output columns (odd, so thread splits and tails are exercised).
    batches : sequence of int
        Batch sizes checked.
    nthreads : int
    sanitize : bool
        Build with AddressSanitizer/UBSan (the process must preload libasan; see the tests).
    seed : int

    Returns
    -------
    dict
        ``{"slug", "isas", "table_path", "k", "m", "cases": [...], "ok": bool}``; every case records
        the kernel, ISA, batch and whether it matched (``exact`` cases use ``np.array_equal``).

    Raises
    ------
    HwqError
        The library does not build.
    """
    lib = CKernels(cfg, compile_c(cfg, work_dir, sanitize=sanitize), nthreads=nthreads)
    if k is None:
        k = 3 * cfg.k_step
    enc, x_all = golden_case(cfg, k, m, max(batches), seed)
    w_hat = decode_matrix(enc)
    packed = lib.pack(enc)  # kernel layout (table path) or the container itself (direct path)
    cases: list[dict[str, Any]] = []
    for isa in lib.available_isas():
        lib.set_isa(isa)
        for b in batches:
            x = x_all[:, :b]
            act = dp.prepare_activations(x, cfg)
            ref_acc = dp.weight_only_acc(enc, act.x_rot)
            xi, sx = lib.quantize(x)
            cases.append({"kernel": "quantize", "isa": isa, "batch": b,
                          "ok": bool(np.array_equal(xi, act.x_int) and np.array_equal(sx, act.scale))})
            cases.append({"kernel": "rotate", "isa": isa, "batch": b,
                          "ok": bool(np.array_equal(lib.rotate(act.x_int), act.x_rot))})
            acc = lib.wo_acc(enc, act.x_rot)
            cases.append({"kernel": "weight_only_acc", "isa": isa, "batch": b,
                          "ok": bool(np.array_equal(acc, ref_acc) and np.any(acc != 0))})
            y_ref = dp.weight_only_output(ref_acc, dp.weight_scale(enc), act.scale, cfg)
            codes = dp.encode_activations(act.x_rot, cfg)
            ref_lacc = dp.lut_acc(enc, codes)
            xf = x.astype(np.float32)
            yf_ref = w_hat.T @ xf.astype(np.float64)
            for w, sfx in ((enc, ""), (packed, "_packed")):
                if sfx:
                    acc = lib.wo_acc(w, act.x_rot)
                    cases.append({"kernel": "weight_only_acc_packed", "isa": isa, "batch": b,
                                  "ok": bool(np.array_equal(acc, ref_acc) and np.any(acc != 0))})
                y, acc2 = lib.gemv_exact(w, x)
                cases.append({"kernel": "gemv_exact" + sfx, "isa": isa, "batch": b,
                              "ok": bool(np.array_equal(acc2, ref_acc) and np.array_equal(y, y_ref)
                                         and np.any(y != 0))})
                lacc = lib.lut_acc(w, codes)
                cases.append({"kernel": "lut_acc" + sfx, "isa": isa, "batch": b,
                              "ok": bool(np.array_equal(lacc, ref_lacc) and np.any(lacc != 0))})
                yf = lib.gemv_fast(w, xf).astype(np.float64)
                err = float(np.linalg.norm(yf - yf_ref) / np.linalg.norm(yf_ref))
                cases.append({"kernel": "gemv_fast" + sfx, "isa": isa, "batch": b, "rel_err": err,
                              "ok": bool(err <= FAST_RTOL)})
        deq = lib.dequantize(enc).astype(np.float64)
        derr = float(np.max(np.abs(deq - w_hat)) / np.max(np.abs(w_hat)))
        cases.append({"kernel": "dequantize", "isa": isa, "batch": 0, "rel_err": derr,
                      "ok": bool(derr <= 1e-6)})
    lib.set_isa("auto")
    return {"slug": cfg.slug, "isas": lib.available_isas(), "table_path": lib.table_path(), "k": k, "m": m,
            "cases": cases, "ok": all(c["ok"] for c in cases)}
