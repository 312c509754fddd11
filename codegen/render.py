"""Render the C / CUDA kernel library of one config from Jinja2 templates.

The templates (``codegen/templates/``) carry configuration and tables only: sizes, widths, the ladder
multipliers ``cfg.beta_mults``, the codebook from :func:`hwq.voronoi.codebook`, the pairwise LUT from
:func:`hwq.voronoi.pair_lut` and the integer generator of the lattice.  The arithmetic lives in the
hand-written headers of ``codegen/include/`` that the rendered sources include (they are copied next
to the rendered files so that the output folder builds on its own).  Hadamard signs are computed in
C/CUDA by the documented counter-based PRNG (:func:`hwq.prng.hadamard_signs`).

Symbols are ``hwq_<slug>_<name>``; rendering is deterministic (same config -> same bytes) and a file
is written only when its content changed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from hwq.codegen.c_abi import c_abi_context
from hwq.codegen.dn_tables import dn_tables

from hwq.config import HwqConfig
from hwq.errors import HwqError, OutputExistsError
from hwq.locks import folder_lock
from hwq.voronoi import codebook, pair_lut

__all__ = ["render", "render_context", "TARGETS", "LUT_RENDER_ROWS", "CODEBOOK_RENDER_ROWS", "C_HEADERS",
           "CUDA_HEADERS", "lib_name"]

TARGETS = ("c", "cuda")
#: largest codebook rendered as a pairwise LUT table (rows); larger codes use codeword inner products
LUT_RENDER_ROWS = 512
#: largest codebook rendered as a decode table (rows); larger codes decode arithmetically
CODEBOOK_RENDER_ROWS = 4096
#: largest per-block table (ladder_len * codewords) of the C table path
TABLE_PATH_ENTRIES = 4096
#: bytes of the tables of all activation vectors built at a time (about L2); beyond it a tile is split
TAB_BYTES = 1536 * 1024
#: largest Hadamard segment of the CUDA kernels (one shared-memory segment per thread block)
CUDA_MAX_HADAMARD = 8192
C_HEADERS = ("hwq_arith.h", "hwq_decode.h", "hwq_kernels_c.h", "hwq_table_c.h", "hwq_simd_x86.h",
             "hwq_baselines_c.h", "hwq_direct_c.h")
# E8 arithmetic decode on AVX-512 VBMI (hwq_direct_c.h includes it), the code range check (hwq_kernels_c.h)
C_HEADERS += ("hwq_e8_vbmi.h", "hwq_e8_avx2.h", "hwq_codes_check.h", "hwq_dec_dot.h", "hwq_acts_x86.h",
              "hwq_glue_x86.h", "hwq_pool_c.h", "hwq_avx2_wo.h", "hwq_avx2_dn.h")
CUDA_HEADERS = ("hwq_arith.h", "hwq_decode.h", "hwq_cuda_lane.cuh", "hwq_kernels_cuda.cuh",
                "hwq_cuda_table.cuh")
_LAT_KIND = {"Z": 0, "D3": 1, "D4": 1, "E8": 2}
_INT32_MAX = 2**31 - 1


def lib_name(cfg: HwqConfig) -> str:
    """Base name of the generated files and symbols: ``hwq_<slug>``."""
    return f"hwq_{cfg.slug}"


def _int_rows(values: np.ndarray, per_line: int) -> list[str]:
    flat = [str(int(v)) for v in np.asarray(values).ravel()]
    return [", ".join(flat[i:i + per_line]) for i in range(0, len(flat), per_line)]


def _ctype(bits: int) -> str:
    for w in (8, 16, 32):
        if bits <= w:
            return f"int{w}_t"
    return "int64_t"


def render_context(cfg: HwqConfig) -> dict[str, Any]:
    """Template variables of one config (configuration and tables; no arithmetic).

    Raises
    ------
    HwqError
        If the config cannot be served by the kernels (dither on, or a lattice without C closest-point
        rules).
    """
    if cfg.dither:
        raise HwqError("the kernels implement the integer datapath, which needs dither = false; "
                       "re-encode the weights with a dither-free config")
    if cfg.lattice not in _LAT_KIND:
        raise HwqError(f"lattice {cfg.lattice!r} has no C/CUDA closest-point rule; use one of "
                       f"{', '.join(sorted(_LAT_KIND))}")
    if cfg.act_bits > 8:
        raise HwqError(f"the kernels take int8 activations; act_bits = {cfg.act_bits} is not supported "
                       "(set act_bits <= 8)")
    nc = cfg.num_codewords
    maxm = max(cfg.beta_mults)
    have_cb = nc <= CODEBOOK_RENDER_ROWS
    rom = cfg.decoder_kind == "rom" and have_cb
    has_lut = nc <= LUT_RENDER_ROWS
    lut_entry = cfg.lut_bound * maxm * maxm
    table_path = rom and cfg.ladder_len * nc <= TABLE_PATH_ENTRIES and cfg.scaled_bound <= _INT32_MAX
    lut_table_path = table_path and has_lut and lut_entry <= _INT32_MAX
    cb = codebook(cfg.lattice, cfg.q) if have_cb else None
    lut = pair_lut(cfg.lattice, cfg.q) if has_lut else None
    gen = cfg.lat.generator_int
    dn = dn_tables(cfg.lattice, cfg.q, cfg.dim, cfg.code_bits) if cfg.coord_scale == 1 else None
    return {
        "cfg": cfg,
        "slug": cfg.slug,
        "name": lib_name(cfg),
        "config_json": cfg.to_json().rstrip("\n").splitlines(),
        "d": cfg.dim, "q": cfg.q, "nc": nc, "code_bits": cfg.code_bits, "ladder_bits": cfg.ladder_bits,
        "ladder_len": cfg.ladder_len, "cs": cfg.coord_scale, "h": cfg.hadamard, "sign_seed": cfg.sign_seed,
        "act_max": cfg.act_max, "frac_bits": cfg.frac_bits, "beta0": repr(float(cfg.beta0)),
        "lat_kind": _LAT_KIND[cfg.lattice], "rom": int(rom), "have_codebook": int(have_cb),
        "has_lut": int(has_lut), "table_path": int(table_path), "lut_table_path": int(lut_table_path),
        "lut_absmax": int(np.abs(lut).max()) if lut is not None else 0,
        # int32 partial sums of (column, ladder index) add table entries bounded by dot_bound (weight-only)
        # or lut_bound * max m (LUT): flushed into int64 at least every INT32_MAX // bound blocks
        "flush_blocks": max(1, _INT32_MAX // cfg.dot_bound),
        "flush_blocks_lut": max(1, _INT32_MAX // max(1, cfg.lut_bound * maxm)),
        # one layout tile over all of K (measured 2-8 % faster than 28-block L1 tiles on Zen 4: the partial
        # sums stay in registers); threads then split the column groups
        "tile_blocks": cfg.max_blocks,
        # byte-plane lookups (AVX-512 VBMI) need entries within +-2^23 (3 bytes) and codes of <= 8 bits
        "vbmi_wo": int(table_path and cfg.code_bits <= 8 and cfg.dot_bound < 2**23),
        "vbmi_lut": int(lut_table_path and cfg.code_bits <= 8 and cfg.lut_bound * maxm < 2**23),
        "max_k": cfg.max_k, "tab_bytes": TAB_BYTES,
        "mults": list(cfg.beta_mults),
        "betas": [repr(float(b)) for b in cfg.betas],
        "codebook_rows": _int_rows(cb, 3 * cfg.dim) if cb is not None else [],
        "codebook_type": _ctype(cfg.coord_bits),
        "lut_rows": _int_rows(lut, 24) if lut is not None else [],
        "lut_type": _ctype(cfg.lut_bits),
        "gen_rows": _int_rows(gen, cfg.dim),
        "widths": cfg.widths(),
        "decoder": "rom" if rom else "arith",
        "lat_name": cfg.lattice,
        "rot_gain": repr(1.0 / math.sqrt(cfg.hadamard)),
        "dn_arith": int(dn is not None), "dn_h0_red": dn.h0_reductions if dn else 0,
        "dn_rows": dn.rows() if dn else [], "dn_mag": list(dn.mag) if dn else [],
        "dn_shift": list(dn.shift) if dn else [],
        **c_abi_context(),  # C return codes and ISA ids (kernels)
    }


@cache
def _env():
    import jinja2

    loader = jinja2.FunctionLoader(lambda name: (resources.files("hwq.codegen").joinpath("templates", name)
                                                 .read_text(encoding="utf-8")))
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


#: the list of files hwq wrote into a ``codegen --out`` folder (name -> SHA-256 of the content written)
MANIFEST = "hwq_files.json"
MANIFEST_KIND = "hwq-codegen-files"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(out: Path) -> dict[str, str]:
    """Files hwq wrote into ``out`` (empty when there is no manifest yet). A file named like the manifest
    that is not one is a user's file: refused."""
    path = out / MANIFEST
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    ours = isinstance(doc, dict) and doc.get("kind") == MANIFEST_KIND and isinstance(doc.get("files"), dict)
    if not ours:
        raise OutputExistsError(f"{path} exists and is not hwq's file list: move it away or choose another "
                                "--out")
    return {str(k): str(v) for k, v in doc["files"].items()}


def _check_ours(out: Path, planned: dict[str, bytes], written: dict[str, str]) -> None:
    """Refuse (before anything is written) when a planned file exists with other content and hwq did not
    write it, or it was edited since."""
    for name, data in planned.items():
        path = out / name
        if path.is_dir():
            raise OutputExistsError(f"{path} is a folder where hwq writes a file: move it away or choose "
                                    "another --out")
        if not path.exists():
            continue
        old = path.read_bytes()
        if old == data:
            continue
        if name not in written:
            raise OutputExistsError(f"{path} exists and was not written by hwq codegen: it is never "
                                    "overwritten; move it away or choose another --out")
        if _sha(old) != written[name]:
            raise OutputExistsError(f"{path} was edited since hwq codegen wrote it: move your version away "
                                    "or choose another --out")


def _write_manifest(out: Path, cfg: HwqConfig, files: dict[str, str]) -> None:
    from hwq import __version__
    from hwq.perf.devices import host_name

    doc = {"kind": MANIFEST_KIND, "schema": 1,
           "stamp": {"hwq_version": __version__, "slug": cfg.slug,
                     "config_hash": _sha(cfg.to_json().encode()), "tools": {}, "machine": host_name(),
                     "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")},
           "files": dict(sorted(files.items()))}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / MANIFEST)


def _write_if_changed(path: Path, data: bytes) -> Path:
    if not path.is_file() or path.read_bytes() != data:
        tmp = path.with_name(path.name + ".hwq.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def _files(target: str, name: str) -> list[tuple[str, str]]:
    if target == "c":
        return [("c_header.h.j2", f"{name}.h"), ("tables.h.j2", f"{name}_tables.h"),
                ("c_lib.c.j2", f"{name}.c"), ("c_Makefile.j2", "Makefile")]
    return [("tables.h.j2", f"{name}_tables.h"), ("cuda_lib.cu.j2", f"{name}.cu"),
            ("cuda_Makefile.j2", "Makefile")]


def render(cfg: HwqConfig, target: str, out_dir: str | Path) -> list[Path]:
    """Render the kernel library of ``cfg`` for ``target`` ("c" or "cuda") into ``out_dir``.

    Parameters
    ----------
    cfg : HwqConfig
        Dither-free config (the integer datapath).
    target : {"c", "cuda"}
    out_dir : path
        Created if missing; files are rewritten only when their content changed. ``hwq_files.json`` lists
        what hwq wrote (with SHA-256): a file hwq did not write, or one edited since, is never overwritten.

    Returns
    -------
    list of Path
        The rendered sources, the Makefile and the copied hand-written headers, in a fixed order.

    Raises
    ------
    HwqError
        Unknown target, dither on, or an unsupported lattice.
    OutputExistsError
        A file in ``out_dir`` would be overwritten that hwq did not write (nothing is written then).

    Examples
    --------
    >>> paths = render(HwqConfig(), "c", "build/kernels")  # doctest: +SKIP
    """
    if target not in TARGETS:
        raise HwqError(f"unknown codegen target {target!r}; allowed: {', '.join(TARGETS)}")
    ctx = render_context(cfg)
    if target == "cuda" and cfg.hadamard > CUDA_MAX_HADAMARD:
        raise HwqError(f"the CUDA kernels rotate activations in shared memory: hadamard = {cfg.hadamard} "
                       f"exceeds {CUDA_MAX_HADAMARD}; choose a smaller hadamard")
    ctx["target"] = target
    ctx["headers"] = C_HEADERS if target == "c" else CUDA_HEADERS  # the Makefile's dependencies
    out = Path(out_dir)
    env = _env()
    planned = {dst: env.get_template(src).render(**ctx).encode("utf-8")
               for src, dst in _files(target, ctx["name"])}
    inc = resources.files("hwq.codegen").joinpath("include")
    for h in ctx["headers"]:
        planned[h] = inc.joinpath(h).read_bytes()
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, what=f"codegen folder {out}"):
        written = _manifest(out)
        _check_ours(out, planned, written)
        paths = [_write_if_changed(out / name, data) for name, data in planned.items()]
        _write_manifest(out, cfg, written | {name: _sha(data) for name, data in planned.items()})
    return paths
