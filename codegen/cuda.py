"""Compile the generated CUDA library with nvcc (compile-only where there is no GPU)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hwq.config import HwqConfig
from hwq.errors import HwqError

from hwq.codegen.render import lib_name, render

__all__ = ["find_nvcc", "compile_cuda", "NVCC_FLAGS", "ARCHS"]

ARCHS = ("80", "90")
NVCC_FLAGS = ("-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC,-Wall,-Wextra", "-Werror", "all-warnings")


def find_nvcc() -> str | None:
    """Path of nvcc ($NVCC, PATH, /usr/local/cuda/bin), or None."""
    for cand in (os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and Path(cand).is_file():
            return cand
    return None


def compile_cuda(cfg: HwqConfig, work_dir: str | Path, archs: tuple[str, ...] = ARCHS,
                 lineinfo: bool = False) -> Path:
    """Render and compile ``lib<name>_cuda.so`` for the given SM architectures.

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
    cmd = [nvcc, *NVCC_FLAGS, *(["-lineinfo"] if lineinfo else []), *gencode, "-o", str(lib), f"{name}.cu"]
    res = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if res.returncode != 0:
        raise HwqError(f"nvcc failed ({' '.join(cmd)}):\n{(res.stderr or res.stdout)[-4000:]}")
    return lib
