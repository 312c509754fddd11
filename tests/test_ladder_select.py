"""Tests of ``HwqConfig.ladder_select = "best"``: the offline weight encoder takes the ladder rung with the
smallest squared error (hwq.nested.quantize_blocks(select="best"), hwq.matmul.encode_matrix); the packed
format and every decoder are unchanged, so a "best"-encoded matrix decodes bit-exactly through the
container, the integer datapath and the C kernels."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

from hwq import datapath as dp
from hwq.config import HwqConfig
from hwq.container import load_encoded
from hwq.errors import HwqError
from hwq.hadamard import rotate
from hwq.lattice import get_lattice
from hwq.matmul import decode_matrix, decode_rotated, encode_matrix, pad_rows
from hwq.nested import decode_blocks, quantize_blocks


def _block_err(x, bc, lat, q, betas, z):
    return np.sum((x - decode_blocks(lat, q, bc.rows, bc.ladder, betas, z)) ** 2, axis=1)


@pytest.mark.parametrize("lattice, q, dither", [("Z", 9, False), ("D3", 6, False), ("D3", 6, True),
                                                ("D4", 5, False), ("E8", 7, False), ("E8", 14, True)])
def test_best_never_loses_to_first_per_block(lattice: str, q: int, dither: bool) -> None:
    cfg = HwqConfig(lattice=lattice, q=q, dither=dither)
    lat = get_lattice(lattice)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6000, lat.dim)) * rng.uniform(0.5, 2.5, (6000, 1))  # reach every rung
    z = rng.uniform(-0.5, 0.5, x.shape) if dither else None  # any fixed dither works for this property
    first = quantize_blocks(lat, q, x, cfg.betas, z)
    best = quantize_blocks(lat, q, x, cfg.betas, z, select="best")
    e1, e2 = _block_err(x, first, lat, q, cfg.betas, z), _block_err(x, best, lat, q, cfg.betas, z)
    assert np.all(e2 <= e1)
    assert np.mean(e2 < e1) > 0.01  # and it does pick other rungs
    assert np.array_equal(best.overload, first.overload)  # overloading every rung is independent of it
    assert best.overload.any()  # the clipped blocks are exercised too
    assert np.array_equal(best.rows[best.overload], first.rows[first.overload])
    with pytest.raises(HwqError, match="select"):
        quantize_blocks(lat, q, x[:4], cfg.betas, select="min")


# measured on this data: 0.78% (E8 q=14) and 9.3% (D3 q=6) lower MSE at the same packed rate
@pytest.mark.parametrize("lattice, q, n, at_least", [("E8", 14, 4096, 0.004), ("D3", 6, 4224, 0.05)])
def test_best_lowers_the_mse_on_gaussian_data(lattice: str, q: int, n: int, at_least: float) -> None:
    a = np.random.default_rng(0).standard_normal((n, 256))
    mse, packed = {}, {}
    for sel in ("first", "best"):
        cfg = HwqConfig(lattice=lattice, q=q, ladder_select=sel)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a handful of clipped blocks, the same for both
            em = encode_matrix(a, cfg)
        x = rotate(a * (np.sqrt(n) / np.linalg.norm(a, axis=0)), cfg.hadamard, cfg.sign_seed)
        mse[sel] = float(np.mean((x - decode_rotated(em)) ** 2))
        packed[sel] = em.rate_packed()
    assert packed["best"] == packed["first"]
    assert 1 - mse["best"] / mse["first"] >= at_least, mse


@pytest.mark.filterwarnings("ignore::hwq.nested.OverloadWarning")
def test_best_encoded_container_decodes_bit_exactly(tmp_path) -> None:
    cfg = HwqConfig(ladder_select="best")
    a = pad_rows(np.random.default_rng(2).standard_normal((500, 40)), cfg)
    enc = encode_matrix(a, cfg)
    assert not np.array_equal(enc.ladder_index(), encode_matrix(a, cfg.replace(ladder_select="first"))
                              .ladder_index())
    enc.save(tmp_path / "w.npz")
    back = load_encoded(tmp_path / "w.npz")
    assert back.config == cfg and back.config.ladder_select == "best"
    assert np.array_equal(decode_matrix(back), decode_matrix(enc))


def test_best_encoded_weights_through_the_integer_datapath() -> None:
    cfg = HwqConfig(ladder_select="best")
    rng = np.random.default_rng(3)
    w = pad_rows(rng.standard_normal((700, 24)), cfg)
    enc = encode_matrix(w, cfg)
    act = dp.prepare_activations(pad_rows(rng.standard_normal((700, 3)), cfg), cfg)
    acc = dp.weight_only_acc(enc, act.x_rot)
    # the integer accumulator is the reference decode (rotated domain) times 2**F cs / beta0, exactly
    scale = 2 ** cfg.frac_bits * cfg.coord_scale / cfg.beta0
    want = decode_rotated(enc).T @ act.x_rot.astype(np.float64) * scale
    assert np.any(acc != 0)
    assert np.allclose(acc, want, rtol=1e-9, atol=1e-6 * np.max(np.abs(want)))


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
@pytest.mark.parametrize("lattice, q", [("D3", 6), ("E8", 7)])  # table path and direct (arithmetic) path
def test_best_encoded_weights_through_the_c_kernels(tmp_path, lattice: str, q: int) -> None:
    from hwq.codegen.check import check_c

    rep = check_c(HwqConfig(lattice=lattice, q=q, ladder_select="best"), tmp_path / "c", m=29, batches=(1, 3))
    assert rep["ok"], [c for c in rep["cases"] if not c["ok"]]
    assert {"weight_only_acc", "gemv_exact", "dequantize"} <= {c["kernel"] for c in rep["cases"]}
