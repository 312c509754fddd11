"""Tests of the Kashin decomposition and quantizer (hwq.quant.kashin)."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.errors import HwqError
from hwq.hadamard import unrotate
from hwq.quant.kashin import Kashin, kashin_matrix, kashin_vector, kmeans_1d


def test_vector_decomposition_reconstructs_and_shrinks_inf_norm() -> None:
    rng = np.random.default_rng(0)
    for x in (rng.standard_normal(256), rng.standard_t(1.5, 256), np.eye(256)[7] * 5.0):
        res = kashin_vector(x, tol=1e-8, max_iter=500)
        assert res.converged, res.message()
        recon = res.u + unrotate(res.v, 256, 13)
        assert np.linalg.norm(x - recon) <= 1e-8 * np.linalg.norm(x) * 1.0001
        level = np.linalg.norm(x) / np.sqrt(256)
        assert max(np.abs(res.u).max(), np.abs(res.v).max()) < np.abs(x).max()
        assert max(np.abs(res.u).max(), np.abs(res.v).max()) < 3.0 * level
        assert all(b <= a + 1e-15 for a, b in zip(res.history, res.history[1:]))  # residual never grows


def test_matrix_decomposition_reconstructs() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((64, 32))
    w[3, 5] = 40.0  # an outlier
    res = kashin_matrix(w, tol=1e-7, max_iter=500)
    assert res.converged
    recon = res.u + unrotate(unrotate(res.v, 64, 13).T, 32, 17).T
    assert np.linalg.norm(w - recon) <= 1e-7 * np.linalg.norm(w) * 1.0001
    assert max(np.abs(res.u).max(), np.abs(res.v).max()) < 40.0 / 4


def test_non_convergence_is_reported_not_hung() -> None:
    x = np.random.default_rng(2).standard_normal(128)
    res = kashin_vector(x, max_iter=2, tol=1e-12)
    assert not res.converged and res.iterations == 2
    assert "did NOT converge" in res.message()
    with pytest.raises(HwqError, match="did NOT converge"):
        Kashin(4, max_iter=1, tol=1e-9, require_convergence=True).encode(np.ones((64, 8)) + np.eye(64, 8))


def test_kmeans_and_quantizer_rate() -> None:
    v = np.concatenate([np.full(50, -1.0), np.full(30, 2.0), np.full(20, 5.0)])[:, None]
    idx, c = kmeans_1d(v, 3)
    np.testing.assert_allclose(c[:, 0], [-1.0, 2.0, 5.0])
    rng = np.random.default_rng(3)
    a = rng.standard_normal((128, 16))
    enc = Kashin(4).encode(a)
    assert enc.rate <= 2 * 2 + 2 * 4 * 32 / a.size + 1e-9
    assert enc.rate_packed() == pytest.approx(8 * enc.nbytes() / a.size)
    err = np.mean((enc.decode() - a) ** 2)
    assert err < 0.1


def test_bad_input() -> None:
    with pytest.raises(HwqError, match="power-of-two"):
        kashin_vector(np.ones(12))
    with pytest.raises(HwqError, match="max_iter"):
        kashin_vector(np.ones(16), max_iter=0)
    with pytest.raises(HwqError, match="k"):
        Kashin(1)
