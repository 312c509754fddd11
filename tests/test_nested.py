"""Nested-lattice quantization with the overload ladder: decode(encode), ladder choice, overload flag."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq.errors import HwqError
from hwq.lattice import get_lattice
from hwq.nested import codewords_for_rows, decode_blocks, quantize_blocks
from hwq.prng import dither_for
from hwq.voronoi import codeword_of, index_of

CASES = [("Z", 8, 0.4), ("D3", 6, 0.43), ("D4", 4, 0.68), ("E8", 7, 0.38), ("E8", 3, 0.6)]


def _rung_overloads(lat, q, x, beta, z):
    """Overload at one rung by the SPEC definition: lam = Q(x/beta + z); overload iff c(k(lam)) != lam."""
    xs = x / beta + (0.0 if z is None else z)
    lam = lat.closest(xs)
    c = codeword_of(lat, q, index_of(lat, q, lam))
    return np.any(c != lam, axis=1), lam


@pytest.mark.parametrize("name, q, beta0", CASES)
@pytest.mark.parametrize("dither", [False, True])
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31), spread=st.sampled_from([0.5, 1.0, 3.0]))
def test_ladder_choice_and_decode(name: str, q: int, beta0: float, dither: bool, seed: int,
                                  spread: float) -> None:
    lat = get_lattice(name)
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.standard_normal((n, lat.dim)) * spread
    x[:5] = 1000.0  # blocks that overload at every rung
    z = dither_for(lat, seed % 1000, 0, np.zeros(n, dtype=np.int64), np.arange(n)) if dither else None
    betas = [beta0 * 2 ** (t / 3) for t in range(4)]
    bc = quantize_blocks(lat, q, x, betas, z)
    assert bc.rows.dtype == np.int64 and bc.ladder.dtype == np.uint8 and bc.overload.dtype == bool
    last = len(betas) - 1
    over = [_rung_overloads(lat, q, x, b, z) for b in betas]
    for i in range(n):
        t = int(bc.ladder[i])
        # every earlier rung overloads, the chosen one does not (unless it is the flagged last rung)
        assert all(over[s][0][i] for s in range(t)), f"block {i} skipped a usable rung"
        if bc.overload[i]:
            assert t == last and over[t][0][i]
        else:
            assert not over[t][0][i]
    assert bc.overload[:5].all() and np.all(bc.ladder[:5] == last)
    # decode(encode) is the chosen lattice point for non-overloaded blocks: c(k) == lam
    cw = codewords_for_rows(lat, q, bc.rows)
    lam = np.stack([over[int(bc.ladder[i])][1][i] for i in range(n)])
    ok = ~bc.overload
    np.testing.assert_array_equal(cw[ok], lam[ok])
    # decode_blocks = beta_T * (c - z)
    xh = decode_blocks(lat, q, bc.rows, bc.ladder, betas, z)
    want = (cw / lat.coord_scale - (0.0 if z is None else z)) * np.asarray(betas)[bc.ladder][:, None]
    np.testing.assert_allclose(xh, want, rtol=0, atol=1e-12)
    # the error of a non-overloaded block is within beta_T * (cell + dither) radius
    err = np.sqrt(np.sum((xh - x) ** 2, axis=1))[ok]
    assert np.all(err <= np.asarray(betas)[bc.ladder][ok] * lat.covering_radius + 1e-9)


def test_single_rung_ladder_flags_overload() -> None:
    lat = get_lattice("D3")
    x = np.array([[0.1, 0.2, -0.1], [100.0, 0.0, 0.0]])
    bc = quantize_blocks(lat, 6, x, [0.4])
    assert bc.ladder.tolist() == [0, 0]
    assert bc.overload.tolist() == [False, True]


def test_quantize_is_deterministic_and_blockwise() -> None:
    lat = get_lattice("D4")
    x = np.random.default_rng(1).standard_normal((64, 4))
    betas = [0.6, 0.8, 1.1]
    a = quantize_blocks(lat, 4, x, betas)
    b = quantize_blocks(lat, 4, x[::-1].copy(), betas)
    np.testing.assert_array_equal(a.rows, b.rows[::-1])
    np.testing.assert_array_equal(a.ladder, b.ladder[::-1])


def test_bad_input_raises_hwq_error() -> None:
    lat = get_lattice("D3")
    good = np.zeros((2, 3))
    with pytest.raises(HwqError, match="NaN or Inf"):
        quantize_blocks(lat, 6, np.array([[0.0, np.nan, 0.0]]), [0.4])
    with pytest.raises(HwqError, match="NaN or Inf"):
        quantize_blocks(lat, 6, np.array([[0.0, -np.inf, 0.0]]), [0.4])
    with pytest.raises(HwqError, match=r"shape \(N, 3\)"):
        quantize_blocks(lat, 6, np.zeros((2, 4)), [0.4])
    with pytest.raises(HwqError, match=r"shape \(N, 3\)"):
        quantize_blocks(lat, 6, np.zeros(3), [0.4])
    with pytest.raises(HwqError, match="dither shape"):
        quantize_blocks(lat, 6, good, [0.4], dither=np.zeros((3, 3)))
    with pytest.raises(HwqError, match="at least one rung"):
        quantize_blocks(lat, 6, good, [])
    with pytest.raises(HwqError, match="out of range"):
        decode_blocks(lat, 6, np.zeros(2, dtype=np.int64), np.array([0, 2], dtype=np.uint8), [0.4, 0.5])


# -- overload at the top rung: clip to the nearest codeword, never wrap ---------------------------------

def _wrapped(lat, q: int, y: np.ndarray) -> np.ndarray:
    """The old behaviour: codeword c(k(Q(y))) of the top rung (wraps around the coarse cell)."""
    return codeword_of(lat, q, index_of(lat, q, lat.closest(y)))


@pytest.mark.parametrize("name, q, dither",
                         [("Z", 8, False), ("D3", 6, False), ("D3", 6, True), ("D4", 5, False),
                                             ("E8", 3, False), ("D3", 65, False)])
def test_top_rung_overload_clips_to_the_nearest_codeword(name: str, q: int, dither: bool) -> None:
    from hwq.voronoi import codebook

    lat = get_lattice(name)
    x = np.random.default_rng(5).standard_normal((4000, lat.dim)) * 1.8
    z = dither_for(lat, 3, 0, np.zeros(len(x), dtype=np.int64), np.arange(len(x))) if dither else None
    betas = [6 / q, 7.2 / q]  # a few percent of the blocks overload the top rung
    bc = quantize_blocks(lat, q, x, betas, z)
    ov = bc.overload
    assert 20 < ov.sum() < len(x)
    y = x[ov] / betas[-1] + (z[ov] if dither else 0.0)
    tab = codebook(name, q).astype(np.float64)
    d2 = ((y[:, None, :] * lat.coord_scale - tab[None]) ** 2).sum(axis=2) if len(tab) < 5000 else None
    got = codewords_for_rows(lat, q, bc.rows[ov]).astype(np.float64)
    err = ((y * lat.coord_scale - got) ** 2).sum(axis=1)
    if d2 is not None:  # exactly the nearest codeword
        np.testing.assert_allclose(err, d2.min(axis=1))
    # never farther than the wrapped codeword, much nearer on average
    werr = ((y * lat.coord_scale - _wrapped(lat, q, y)) ** 2).sum(axis=1)
    assert np.all(err <= werr + 1e-9) and err.mean() < 0.5 * werr.mean()
    assert np.all(bc.ladder[ov] == len(betas) - 1)
    # blocks that did not overload the top rung are encoded as before: c(k(Q(x/beta_T + z))) == Q(...)
    ok = ~ov
    b = np.asarray(betas)[bc.ladder[ok]]
    lam = lat.closest(x[ok] / b[:, None] + (z[ok] if dither else 0.0))
    np.testing.assert_array_equal(codewords_for_rows(lat, q, bc.rows[ok]), lam)


def test_clip_without_a_table_is_near_the_exact_nearest(monkeypatch) -> None:
    # codebooks above _EXACT_CLIP_ROWS (D3 q >= 65, E8 q >= 5) use radial shrink + descent: check it on a
    # small one
    from hwq import nested
    from hwq.voronoi import codebook

    lat = get_lattice("D3")
    y = np.random.default_rng(9).standard_normal((300, 3)) * 4.0
    exact = nested._clip_rows(lat, 6, y, None)
    monkeypatch.setattr(nested, "_EXACT_CLIP_ROWS", 0)
    approx = nested._clip_rows(lat, 6, y, None)
    tab = codebook("D3", 6).astype(np.float64)

    def dist(r):
        return ((y * lat.coord_scale - tab[r]) ** 2).sum(axis=1)

    werr = ((y * lat.coord_scale - _wrapped(lat, 6, y)) ** 2).sum(axis=1)
    assert np.all(dist(approx) >= dist(exact) - 1e-9)
    assert dist(approx).mean() <= 1.1 * dist(exact).mean()
    assert np.all(dist(approx) <= werr + 1e-9)
