"""Generated CUDA kernels compile with nvcc for sm_80 and sm_90 (compile-only without a GPU)."""

from __future__ import annotations

import pytest

from hwq.config import HwqConfig

from hwq.codegen.cuda import compile_cuda, find_nvcc


@pytest.mark.skipif(find_nvcc() is None, reason="nvcc not installed")
def test_cuda_compiles_for_sm80_and_sm90(tmp_path):
    lib = compile_cuda(HwqConfig(), tmp_path, archs=("80", "90"))
    data = lib.read_bytes()
    # the fat binary records the ptxas/nvlink options of each embedded cubin
    assert b"-arch sm_80" in data and b"-arch sm_90" in data
    assert f"hwq_{HwqConfig().slug}_cuda_gemv_exact".encode() in data
