"""Golden vectors: inputs, codes, tables, intermediate integers and outputs of the reference model.

:func:`write_golden` writes ``<slug>.npz`` (arrays) and ``<slug>.json`` (manifest: format version, config,
shapes, dtypes and a SHA-256 per array) into a folder. The RTL, C and CUDA tests read them;
:func:`verify_golden` recomputes every derived array from the stored inputs and config and reports each
array that differs (a corrupted or hand-edited file is detected). Arrays (K = reduction length,
M = output columns, B = batch, nb = K / d):

============== ============ =====================================================================
name           shape        meaning
============== ============ =====================================================================
w              (K, M) f64   weights (input)
x              (K, B) f64   activations (input)
codes, ladder  packed u8    container fields (hwq.container layout)
norms          (M,) f32     rho * alpha
rows, t        (M, nb)      codebook rows and ladder indices of the weights
cw             (M, nb, d)   scaled codewords (coord_scale * c)
codebook       (q^d, d)     decode table (only when q^d <= 65536)
pair_lut       (q^d, q^d)   <c_r, c_s> (only when q^d <= 4096)
beta_mults     (L,)         fixed-point ladder multipliers
signs          (K,) i8      Hadamard signs
x_int, s_x     (K, B), (B,) integer activations and their scale
x_rot          (K, B)       H diag(signs) x_int
dots           (M, nb, B)   <cw, x_rot block> per block
acc            (M, B)       weight-only accumulators
wscale, y      (M,), (M, B) epilogue scale and float64 output
enc_mult       (B,)         activation encoder multiplier (both-quantized mode)
x_rows, x_t    (B, nb)      activation codes and ladder indices
acc2, wscale2, xscale2, y2  both-quantized accumulator, scales, output
op_rows, op_t, op_x, op_out random single block operations incl. extremes: mult * <cw, x>
============== ============ =====================================================================

Configs with dither store only the encode/decode arrays (the integer datapath needs dither off).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from hwq import __version__
from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.datapath import (
    block_dot, encode_activations, lut_acc, lut_scales, prepare_activations, weight_codewords,
    weight_only_acc, weight_only_output, weight_scale,
)
from hwq.errors import HwqError
from hwq.matmul import encode_matrix
from hwq.nested import codewords_for_rows
from hwq.prng import hadamard_signs
from hwq.stimulus import golden_inputs
from hwq.voronoi import MAX_LUT_ROWS, codebook, pair_lut

__all__ = ["write_golden", "verify_golden", "compute_golden", "GOLDEN_VERSION", "golden_shape"]

GOLDEN_VERSION = 1
_INPUTS = ("w", "x", "op_rows", "op_t", "op_x")


def golden_shape(cfg: HwqConfig, k: int | None = None, m: int | None = None,
                 batch: int = 2) -> tuple[int, int, int]:
    """Default (K, M, B): K a multiple of lcm(d, hadamard) of at least 256, M = 2 * lanes."""
    step = cfg.k_step
    if k is None:
        k = step * max(1, -(-256 // step))
    if k < 1 or k % step or k > cfg.max_k:
        raise HwqError(f"K = {k} must be a positive multiple of lcm(d, hadamard) = {step} and at most "
                       f"max_k = {cfg.max_k}")
    m = 2 * cfg.lanes if m is None else m
    if m < 1 or batch < 1:
        raise HwqError("M and the batch must be positive")
    return k, m, batch


def compute_golden(cfg: HwqConfig, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All golden arrays derived from ``inputs`` (w, x, op_rows, op_t, op_x) by the reference model."""
    out = dict(inputs)
    enc: EncodedMatrix = encode_matrix(inputs["w"], cfg, matrix_id=0, workers=1)
    out.update(codes=enc.codes, ladder=enc.ladder, norms=enc.norms, rows=enc.rows(), t=enc.ladder_index())
    out["beta_mults"] = np.asarray(cfg.beta_mults, dtype=np.int64)
    out["signs"] = hadamard_signs(cfg.sign_seed, inputs["w"].shape[0])
    if cfg.num_codewords <= 1 << 16:
        out["codebook"] = np.asarray(codebook(cfg.lattice, cfg.q))
    if cfg.num_codewords <= MAX_LUT_ROWS:
        out["pair_lut"] = np.asarray(pair_lut(cfg.lattice, cfg.q))
    if cfg.dither:
        return out
    cw, t = weight_codewords(enc)
    out["cw"] = cw
    act = prepare_activations(inputs["x"], cfg)
    out.update(x_int=act.x_int, s_x=act.scale, x_rot=act.x_rot)
    nb = enc.blocks_per_col
    xb = act.x_rot.reshape(nb, cfg.dim, -1)
    out["dots"] = np.einsum("mbi,bij->mbj", cw, xb)
    acc = weight_only_acc(enc, act.x_rot)
    ws = weight_scale(enc)
    out.update(acc=acc, wscale=ws, y=weight_only_output(acc, ws, act.scale, cfg))
    codes = encode_activations(act.x_rot, cfg)
    acc2 = lut_acc(enc, codes)
    ws2, xs2 = lut_scales(enc, codes, act.scale)
    out.update(enc_mult=codes.enc_mult, x_rows=codes.rows, x_t=codes.ladder, acc2=acc2, wscale2=ws2,
               xscale2=xs2, y2=(acc2.astype(np.float64) * ws2[:, None]) * xs2[None, :])
    ocw = codewords_for_rows(cfg.lat, cfg.q, inputs["op_rows"])
    mult = np.asarray(cfg.beta_mults, dtype=np.int64)[inputs["op_t"]]
    out["op_out"] = block_dot(ocw, inputs["op_x"], mult)
    return out


def _sha(a: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def write_golden(cfg: HwqConfig, out_dir: str | Path, seed: int = 1, k: int | None = None,
                 m: int | None = None, batch: int = 2, n_ops: int = 4096) -> dict:
    """Write ``<slug>.npz`` and ``<slug>.json`` into ``out_dir``; returns the manifest (with file paths).

    Examples
    --------
    >>> import tempfile
    >>> man = write_golden(HwqConfig(), tempfile.mkdtemp())  # doctest: +SKIP
    """
    k, m, batch = golden_shape(cfg, k, m, batch)
    if n_ops < 4:
        raise HwqError("n_ops must be at least 4 (the extreme-value operations)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = compute_golden(cfg, golden_inputs(cfg, seed, k, m, batch, n_ops))
    npz = out_dir / f"{cfg.slug}.npz"
    np.savez(npz, **arrays)
    manifest = {
        "format": "hwq-golden", "version": GOLDEN_VERSION, "hwq_version": __version__, "slug": cfg.slug,
        "config": cfg.to_dict(), "seed": seed, "K": k, "M": m, "B": batch, "n_ops": n_ops,
        "integer_datapath": not cfg.dither,
        "arrays": {name: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": _sha(a)}
                   for name, a in sorted(arrays.items())},
        "generator": "hwq.golden.write_golden (never edit these files by hand)",
    }
    man_path = out_dir / f"{cfg.slug}.json"
    man_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return {**manifest, "npz": str(npz), "manifest": str(man_path)}


def _read_manifest(man_path: Path) -> tuple[dict, HwqConfig]:
    """The manifest dict and its config; a damaged or foreign manifest raises HwqError naming the file."""
    fix = "rewrite it with `hwq golden`"
    try:
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HwqError(f"{man_path} is not a readable golden manifest ({e}); {fix}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "hwq-golden" \
            or manifest.get("version") != GOLDEN_VERSION:
        raise HwqError(f"{man_path}: not an hwq golden manifest of version {GOLDEN_VERSION}; {fix}")
    arrays = manifest.get("arrays")
    if not isinstance(manifest.get("config"), dict) or not isinstance(arrays, dict) or not all(
            isinstance(m, dict) and isinstance(m.get("sha256"), str) for m in arrays.values()):
        raise HwqError(f"{man_path}: the manifest's config or arrays entry is damaged; {fix}")
    return manifest, HwqConfig.from_dict(manifest["config"])


def verify_golden(path: str | Path) -> dict[str, np.ndarray]:
    """Check a golden ``.npz`` (and its ``.json`` manifest) against the reference model.

    Returns the arrays when everything matches.

    Raises
    ------
    HwqError
        Listing every array whose content differs from its manifest hash or from a fresh
        recomputation from the stored inputs.
    """
    path = Path(path)
    npz = path if path.suffix == ".npz" else path.with_suffix(".npz")
    man_path = npz.with_suffix(".json")
    if not npz.is_file() or not man_path.is_file():
        raise HwqError(f"golden files {npz} / {man_path} not found (write them with `hwq golden`)")
    manifest, cfg = _read_manifest(man_path)
    try:
        with open(npz, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # fh: closed on a bad zip too
            arrays = {k: z[k] for k in z.files}
    except (ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:  # an OSError speaks for itself
        raise HwqError(f"{npz} is not a readable golden .npz ({type(e).__name__}: {e}); rewrite it with "
                       "`hwq golden`") from None
    missing = [k for k in _INPUTS if k not in arrays]
    if missing:
        raise HwqError(f"{npz} lacks the input arrays {', '.join(missing)}; rewrite it with `hwq golden`")
    bad = [f"{name} (hash)" for name, meta in manifest["arrays"].items()
           if name not in arrays or _sha(arrays[name]) != meta["sha256"]]
    try:
        fresh = compute_golden(cfg, {k: arrays[k] for k in _INPUTS})
    except (ValueError, IndexError, TypeError) as e:  # inputs of the wrong shape or type
        if isinstance(e, HwqError):
            raise
        raise HwqError(f"{npz}: the stored inputs do not fit the config ({type(e).__name__}: {e}); rewrite "
                       "it with `hwq golden`") from None
    for name, a in fresh.items():
        if name not in arrays or arrays[name].shape != a.shape or not np.array_equal(arrays[name], a):
            bad.append(f"{name} (recomputed)")
    if bad:
        raise HwqError(f"golden vectors {npz.name} do not match the reference model: "
                       f"{', '.join(sorted(set(bad)))}")
    return arrays
