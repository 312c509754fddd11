"""Compile the generated CUDA library with nvcc (compile-only where there is no GPU).

:func:`compile_cuda` renders and builds ``lib<name>_cuda.so``; with ``ptxas_verbose=True`` it also
returns the ptxas resource usage of every kernel (registers, spills, stack), parsed by
:func:`parse_ptxas`, which the tests use to reject local-memory spills in the GEMV kernels.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from hwq.config import HwqConfig
from hwq.errors import HwqError

from hwq.codegen.render import lib_name, render

__all__ = ["find_nvcc", "compile_cuda", "parse_ptxas", "NVCC_FLAGS", "ARCHS", "GEMV_KERNELS"]

ARCHS = ("80", "90")
NVCC_FLAGS = ("-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC,-Wall,-Wextra", "-Werror", "all-warnings")
#: mangled-name prefixes of the GEMV kernels (table path, generic weight-only / fast / LUT)
GEMV_KERNELS = ("_Z9hwq_k_tab", "_Z8hwq_k_wo", "_Z10hwq_k_fast", "_Z9hwq_k_lut")

_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+a?)'")
_PROPS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")


def find_nvcc() -> str | None:
    """Path of nvcc ($NVCC, PATH, /usr/local/cuda/bin), or None."""
    for cand in (os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and Path(cand).is_file():
            return cand
    return None


def parse_ptxas(text: str) -> dict[str, dict[str, dict[str, int]]]:
    """ptxas ``-v`` output -> ``{arch: {kernel: {registers, stack, spill_stores, spill_loads}}}``.

    Examples
    --------
    >>> out = parse_ptxas("ptxas info    : Compiling entry function 'k' for 'sm_90'\\n"
    ...                   "ptxas info    : Function properties for k\\n"
    ...                   "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\\n"
    ...                   "ptxas info    : Used 80 registers, used 1 barriers\\n")
    >>> out["sm_90"]["k"]["registers"]
    80
    """
    res: dict[str, dict[str, dict[str, int]]] = {}
    cur: dict[str, int] | None = None
    for line in text.splitlines():
        m = _ENTRY.search(line)
        if m:
            cur = res.setdefault(m.group(2), {}).setdefault(m.group(1), {})
            continue
        if cur is None:
            continue
        m = _PROPS.search(line)
        if m:
            cur.update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
            continue
        m = _USED.search(line)
        if m:
            cur["registers"] = int(m.group(1))
    return res


def compile_cuda(cfg: HwqConfig, work_dir: str | Path, archs: tuple[str, ...] = ARCHS,
                 lineinfo: bool = False, ptxas_verbose: bool = False):
    """Render and compile ``lib<name>_cuda.so`` for the given SM architectures.

    Parameters
    ----------
    cfg : HwqConfig
    work_dir : path
        Build folder (rendered sources, headers and the library).
    archs : tuple of str
        SM numbers, e.g. ``("80", "90")``.
    lineinfo : bool
        Add ``-lineinfo`` (for compute-sanitizer / profilers).
    ptxas_verbose : bool
        Also return the parsed ptxas resource report (:func:`parse_ptxas`).

    Returns
    -------
    Path, or (Path, dict) when ``ptxas_verbose``

    Raises
    ------
    HwqError
        nvcc missing or the compilation failed (message included).
    """
    nvcc = find_nvcc()
    if nvcc is None:
        raise HwqError("nvcc not found: install the CUDA toolkit or set NVCC=/path/to/nvcc")
    work = Path(work_dir).resolve()
    render(cfg, "cuda", work)
    name = lib_name(cfg)
    lib = work / f"lib{name}_cuda.so"
    gencode = [a for sm in archs for a in ("-gencode", f"arch=compute_{sm},code=sm_{sm}")]
    extra = (["-lineinfo"] if lineinfo else []) + (["-Xptxas", "-v"] if ptxas_verbose else [])
    cmd = [nvcc, *NVCC_FLAGS, *extra, *gencode, "-o", str(lib), f"{name}.cu"]
    res = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if res.returncode != 0:
        raise HwqError(f"nvcc failed ({' '.join(cmd)}):\n{(res.stderr or res.stdout)[-4000:]}")
    if ptxas_verbose:
        return lib, parse_ptxas(res.stderr + res.stdout)
    return lib
