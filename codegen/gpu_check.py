"""The GPU script's correctness checks (:mod:`hwq.codegen.gpu_bench`): the CUDA kernels against
:mod:`hwq.datapath` on a small case (exact mode bit for bit on the table and generic paths and a misaligned
copy of the codes, fast mode and dequantization within tolerance), and a full-size spot check of sampled
columns during the benchmark.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hwq.codegen.check import FAST_RTOL
from hwq.codegen.cuda_lib import CudaLib, to_gpu

__all__ = ["check_kernels", "spot_check"]


def _misaligned(t):
    """A copy of a uint8 tensor (rows, n) whose data pointer is 1 byte past a 16-byte boundary."""
    import torch

    flat = torch.empty(t.numel() + 16, dtype=torch.uint8, device="cuda")
    view = flat[1:1 + t.numel()].view(t.shape)
    view.copy_(t)
    return view


def check_kernels(cfg, lib: CudaLib) -> dict[str, Any]:
    try:
        return _check_cases(cfg, lib)
    finally:
        lib.set_path(0)  # the benchmark runs the automatic path even if a case raised


def _check_cases(cfg, lib: CudaLib) -> dict[str, Any]:
    import torch
    from hwq.codegen.check import golden_case

    from hwq import datapath as dp
    from hwq.matmul import decode_matrix

    out: dict[str, Any] = {"cases": []}

    def case(name: str, ok: bool, **info) -> None:
        out["cases"].append({"name": name, "ok": bool(ok), **info})

    k = 3 * cfg.k_step
    m = 61
    enc, x = golden_case(cfg, k, m, 11)
    w = lib.weights(enc)
    w_mis = (_misaligned(w[0]), _misaligned(w[1]), w[2])
    act = dp.prepare_activations(x, cfg)
    ref = dp.weight_only_acc(enc, act.x_rot)
    xr_all = to_gpu(act.x_rot.T.astype(np.int32))
    for b in (1, 3, 11):
        for mode, ww, label in ((0, w, "auto"), (1, w, "generic"), (0, w_mis, "misaligned")):
            lib.set_path(mode)
            path = lib.path(ww, k, m, b)
            acc = lib.wo_acc(ww, k, m, xr_all[:b].contiguous()).cpu().numpy()
            case(f"wo_acc b={b} {label}", np.array_equal(acc, ref[:, :b]) and np.any(acc != 0), path=path)
    lib.set_path(0)
    xd = to_gpu(x.T)
    for b in (1, 11):
        y, acc2 = lib.gemv_exact(w, k, m, xd[:b].contiguous())
        act_b = dp.prepare_activations(x[:, :b], cfg)
        ref_b = dp.weight_only_acc(enc, act_b.x_rot)
        y_ref = dp.weight_only_output(ref_b, dp.weight_scale(enc), act_b.scale, cfg)
        same = np.array_equal(acc2.cpu().numpy(), ref_b) and np.array_equal(y.cpu().numpy(), y_ref)
        case(f"gemv_exact b={b}", same, path=lib.path(w, k, m, b))
    codes = dp.encode_activations(act.x_rot, cfg)
    rx = to_gpu(codes.rows.astype(np.int32))
    tx = to_gpu(codes.ladder.astype(np.uint8))
    lacc = lib.lut_acc(w, k, m, rx, tx).cpu().numpy()
    case("lut_acc b=11", np.array_equal(lacc, dp.lut_acc(enc, codes)) and np.any(lacc != 0), path="generic")
    w_hat = decode_matrix(enc)
    xh = torch.from_numpy(np.ascontiguousarray(x.T)).to(torch.float16).cuda()
    for b in (1, 11):
        for mode, label in ((0, "auto"), (1, "generic")):
            lib.set_path(mode)
            path = lib.path(w, k, m, b)
            yf = lib.gemv_fast(w, k, m, xh[:b].contiguous()).cpu().numpy().astype(np.float64)
            yf_ref = w_hat.T @ xh[:b].cpu().numpy().astype(np.float64).T
            err = float(np.linalg.norm(yf - yf_ref) / np.linalg.norm(yf_ref))
            case(f"gemv_fast b={b} {label}", err <= FAST_RTOL, path=path, rel_err=err)
    lib.set_path(0)
    deq = lib.dequantize(w, k, m).cpu().numpy().T.astype(np.float64)
    derr = float(np.max(np.abs(deq - w_hat)) / np.max(np.abs(w_hat)))
    case("dequantize_f32", derr <= 1e-5, rel_err=derr)
    torch.cuda.synchronize()
    out["exact_ok"] = all(c["ok"] for c in out["cases"] if not c["name"].startswith(("gemv_fast", "dequant")))
    out["ok"] = all(c["ok"] for c in out["cases"])
    out["table_path_checked"] = any(c.get("path") == "table" for c in out["cases"])
    return out


def spot_check(cfg, lib: CudaLib, enc, w, kp: int, b: int, seed: int = 5) -> dict[str, Any]:
    """Exact accumulators at full size (every column computed on the GPU) against hwq.datapath on 64
    sampled columns, plus the fast mode's error on the same columns."""
    import torch

    from hwq import datapath as dp
    from hwq.container import EncodedMatrix

    rng = np.random.default_rng(seed)
    m = enc.cols
    idx = np.sort(rng.choice(m, size=min(64, m), replace=False))
    idx[-1] = m - 1  # the last column (ragged column group) is always checked
    sub = EncodedMatrix(cfg, enc.n, len(idx), 0, enc.codes[idx], enc.ladder[idx], enc.norms[idx])
    x = rng.standard_normal((kp, b))
    act = dp.prepare_activations(x, cfg)
    xr = to_gpu(act.x_rot.T.astype(np.int32))
    acc = lib.wo_acc(w, kp, m, xr).cpu().numpy()[idx]
    ref = dp.weight_only_acc(sub, act.x_rot)
    xh = torch.from_numpy(np.ascontiguousarray(x.T)).to(torch.float16).cuda()
    yf = lib.gemv_fast(w, kp, m, xh).cpu().numpy().astype(np.float64)[idx]
    from hwq.matmul import decode_matrix
    yf_ref = decode_matrix(sub).T @ xh.cpu().numpy().astype(np.float64).T
    err = float(np.linalg.norm(yf - yf_ref) / np.linalg.norm(yf_ref))
    return {"exact_equal": bool(np.array_equal(acc, ref) and np.any(ref != 0)), "fast_rel_err": err,
            "ok": bool(np.array_equal(acc, ref) and err <= FAST_RTOL), "columns_checked": int(len(idx))}
