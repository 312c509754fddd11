"""C kernels at the data boundary (#13): NaN/inf activations never reach C, and out-of-range weight codes or
ladder indices are refused where container arrays enter C, so no kernel reads outside a table (also under
AddressSanitizer / UndefinedBehaviorSanitizer, on every ISA)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
from hwq.codegen.build import CKernels, compile_c

from hwq import datapath as dp
from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.errors import HwqError
from hwq.matmul import encode_matrix
from hwq.packing import pack_bits, unpack_bits

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

_C_ENTRY_POINTS = ("gemv_exact", "gemv_exact_packed", "gemv_fast", "gemv_fast_packed", "quantize_acts")


def _matrix(cfg: HwqConfig, k: int = 192, m: int = 70, seed: int = 0) -> EncodedMatrix:
    return encode_matrix(np.random.default_rng(seed).standard_normal((k, m)), cfg)


def _corrupt(enc: EncodedMatrix, code: int | None = None, t: int | None = None) -> EncodedMatrix:
    """A copy of ``enc`` with block 5 of column 3 set to ``code`` and/or ladder index ``t`` (written into the
    copied arrays in place, as a corrupted file or a stray write would)."""
    cfg = enc.config
    nb = enc.n // cfg.dim
    out = dataclasses.replace(enc, codes=enc.codes.copy(), ladder=enc.ladder.copy())
    codes = unpack_bits(enc.codes, cfg.code_bits, nb).astype(np.int64)
    lad = unpack_bits(enc.ladder, cfg.ladder_bits, nb).astype(np.int64)
    if code is not None:
        codes[3, 5] = code
    if t is not None:
        lad[3, 5] = t
    out.codes[:] = pack_bits(codes, cfg.code_bits)
    out.ladder[:] = pack_bits(lad, cfg.ladder_bits)
    return out


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("cgi")


@pytest.fixture(scope="module")
def d3_lib(build_root):
    cfg = HwqConfig()
    return CKernels(cfg, compile_c(cfg, build_root / cfg.slug))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])
def test_nonfinite_activations_are_refused_before_any_c_runs(d3_lib, bad):
    lib = d3_lib
    enc = _matrix(lib.cfg)
    pw = lib.pack(enc)
    x = np.random.default_rng(1).standard_normal((192, 3))
    x[17, 2] = bad
    called = []
    saved = {fn: getattr(lib, f"_{fn}") for fn in _C_ENTRY_POINTS}
    try:
        for fn in _C_ENTRY_POINTS:
            setattr(lib, f"_{fn}", lambda *a, _fn=fn: called.append(_fn) or 0)
        for isa in lib.available_isas():
            lib.set_isa(isa)
            fast = (lambda: lib.gemv_fast(pw, x), lambda: lib.gemv_fast(enc, x))
            exact = (lambda: lib.gemv_exact(pw, x), lambda: lib.gemv_exact(enc, x), lambda: lib.quantize(x))
            for call in (fast if bad == 1e39 else fast + exact):
                with pytest.raises(HwqError, match=r"NaN/inf value\(s\) \(first at row 17, column 2"):
                    call()
    finally:
        for fn, f in saved.items():
            setattr(lib, f"_{fn}", f)
        lib.set_isa("auto")
    assert called == []


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_one_column_fast_path_refuses_nonfinite_activations(d3_lib, bad):
    """gemv_exact's lean path (packed weights, one float64 column passed without a copy) checks finiteness by
    itself: a sum that overflows is not mistaken for a NaN, a real NaN/inf is named like the general path."""
    lib = d3_lib
    pw = lib.pack(_matrix(lib.cfg))
    x = np.ascontiguousarray(np.random.default_rng(2).standard_normal(192))
    big = np.full(192, 1e307)  # finite, but its sum overflows to inf: not refused, the general path's result
    _, acc_big = lib.gemv_exact(pw, big)
    assert np.array_equal(acc_big, lib.gemv_exact(pw, big[:, None].repeat(2, axis=1))[1][:, :1])
    x[17] = bad
    for xs in (x, x.reshape(192, 1)):
        with pytest.raises(HwqError, match=r"NaN/inf value\(s\) \(first at row 17, column 0"):
            lib.gemv_exact(pw, xs)


def test_one_column_fast_path_equals_the_general_path(d3_lib):
    """(K,), (K, 1) and a column of a (K, B) array give bit-equal results (the first two skip the copy)."""
    lib = d3_lib
    enc = _matrix(lib.cfg)
    pw = lib.pack(enc)
    xb = np.random.default_rng(3).standard_normal((192, 3))
    for j in range(3):
        col = np.ascontiguousarray(xb[:, j])
        for xs in (col, col.reshape(192, 1), col.astype(np.float32), xb[:, j]):
            y_ref, acc_ref = lib.gemv_exact(enc, xs[:, None] if xs.ndim == 1 else xs)  # the general path
            y, acc = lib.gemv_exact(pw, xs)
            assert np.array_equal(acc, acc_ref) and np.array_equal(y, y_ref)


def test_integer_activations_that_do_not_fit_are_refused(d3_lib):
    enc = _matrix(d3_lib.cfg)
    with pytest.raises(HwqError, match="integer activations out of range"):
        d3_lib.wo_acc(enc, np.full((192, 1), 2**32 + 5, dtype=np.int64))
    with pytest.raises(HwqError, match="integer activations expected"):
        d3_lib.wo_acc(enc, np.full((192, 1), np.nan))
    with pytest.raises(HwqError, match="activation input out of range"):
        d3_lib.wo_acc(enc, np.full((192, 1), d3_lib.cfg.act_max * d3_lib.cfg.hadamard + 1, dtype=np.int64))


@pytest.mark.parametrize("cfg,code,t", [
    (HwqConfig(), 216, None),                      # D3 q=6: 216 codewords in 8-bit fields
    (HwqConfig(), 255, None),
    (HwqConfig(ladder_len=3), None, 3),            # 3 rungs in 2-bit fields
    (HwqConfig(lattice="E8", q=7), 7**8, None),    # E8 q=7 (arithmetic decode): 7^8 codewords in 23 bits
], ids=["d3-216", "d3-255", "ladder3-T3", "e8-7^8"])
def test_out_of_range_codes_are_refused_where_they_enter_c(cfg, code, t, build_root):
    lib = CKernels(cfg, compile_c(cfg, build_root / cfg.slug))
    enc = _matrix(cfg, k=192, m=9)
    bad = _corrupt(enc, code, t)
    x = np.random.default_rng(2).standard_normal((192, 2))
    act = dp.prepare_activations(x, cfg)
    calls = [lambda: lib.pack(bad), lambda: lib.wo_acc(bad, act.x_rot), lambda: lib.gemv_exact(bad, x),
             lambda: lib.gemv_fast(bad, x.astype(np.float32)), lambda: lib.dequantize(bad)]
    if cfg.lattice != "E8":
        calls.append(lambda: lib.lut_acc(bad, dp.encode_activations(act.x_rot, cfg)))
    for isa in lib.available_isas():
        lib.set_isa(isa)
        for call in calls:
            with pytest.raises(HwqError, match="weight codes or ladder indices out of range.*re-encode"):
                call()
        assert np.array_equal(lib.wo_acc(enc, act.x_rot), dp.weight_only_acc(enc, act.x_rot)), isa


_SAN_SCRIPT = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from test_codegen_c_inputs import _corrupt, _matrix
from hwq import datapath as dp
from hwq.codegen.build import CKernels, compile_c
from hwq.config import HwqConfig
from hwq.errors import HwqError
out = {}
for cfg, code, t in ((HwqConfig(), 250, None), (HwqConfig(ladder_len=3), 200, 3),
                     (HwqConfig(lattice="E8", q=7), 2**23 - 1, None)):
    lib = CKernels(cfg, compile_c(cfg, sys.argv[1] + "/" + cfg.slug, sanitize=True), nthreads=2)
    enc = _matrix(cfg, k=192, m=70)
    bad = _corrupt(enc, code, t)
    x = np.random.default_rng(3).standard_normal((192, 3))
    act = dp.prepare_activations(x, cfg)
    refused = 0
    for isa in lib.available_isas():
        lib.set_isa(isa)
        calls = [lambda: lib.pack(bad), lambda: lib.wo_acc(bad, act.x_rot), lambda: lib.gemv_exact(bad, x),
                 lambda: lib.gemv_fast(bad, x.astype(np.float32)), lambda: lib.dequantize(bad)]
        if lib.table_path():
            calls.append(lambda: lib.lut_acc(bad, dp.encode_activations(act.x_rot, cfg)))
        for call in calls:
            try:
                call()
            except HwqError:
                refused += 1
        if lib.table_path():
            # a layout corrupted after pack (every code field 0xFF, every ladder field 3): the lookups stay
            # inside their tables (rows up to 2^code_bits), so the sanitizers see no bad read
            pw = lib.pack(enc)
            pw.data[:] = 0xFF
            lib.wo_acc(pw, act.x_rot)
            lib.lut_acc(pw, dp.encode_activations(act.x_rot, cfg))
            lib.gemv_fast(pw, x.astype(np.float32))
            lib.gemv_exact(pw, x)
    n_isa = len(lib.available_isas())
    out[cfg.slug] = [refused, 5 * n_isa + (n_isa if lib.table_path() else 0)]
print(json.dumps(out))
"""


def test_out_of_range_codes_under_address_and_undefined_sanitizers(tmp_path, run_sanitized):
    out = run_sanitized(_SAN_SCRIPT, tmp_path, os.path.dirname(__file__))
    result = json.loads(out.strip().splitlines()[-1])
    assert len(result) == 3 and all(r == n for r, n in result.values()), result


def test_compile_cache_rebuilds_a_damaged_library(tmp_path) -> None:
    """A cached library that no longer loads (truncated by a crash, say) is rebuilt, not fatal forever."""
    from hwq import HwqConfig
    from hwq.codegen.build import CKernels, compile_c

    cfg = HwqConfig(lattice="Z", q=8, hadamard=8, lanes=2)
    lib = compile_c(cfg, tmp_path, opt="-O0")
    lib.write_bytes(lib.read_bytes()[:100])
    again = compile_c(cfg, tmp_path, opt="-O0")
    assert again == lib and again.stat().st_size > 100
    CKernels(cfg, again).isa()
    assert not list(tmp_path.glob(".*.tmp")), "a temporary build output was left behind"
