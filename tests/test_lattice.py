"""Closest-point algorithms of hwq.lattice against brute force, the SPEC tie rules and second moments."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq.errors import HwqError
from hwq.lattice import get_lattice, lattice_names

FAST = settings(max_examples=60, deadline=None)
NAMES = ("Z", "D3", "D4", "E8")


# ----------------------------------------------------------------------------------------------------
# brute force, written from the SPEC definitions (not from hwq.lattice's code)
# ----------------------------------------------------------------------------------------------------

def _is_member(name: str, s: np.ndarray) -> np.ndarray:
    """Membership of scaled points s (..., d) by the SPEC definitions."""
    if name == "Z":
        return np.ones(s.shape[:-1], dtype=bool)
    if name.startswith("D"):
        return np.sum(s, axis=-1) % 2 == 0
    # E8 = D8 u (D8 + 1/2): scaled coords all even or all odd, real coordinate sum even
    even = np.all(s % 2 == 0, axis=-1)
    odd = np.all(s % 2 == 1, axis=-1)
    return (even | odd) & (np.sum(s, axis=-1) % 4 == 0)


def _candidates_by_generator(name: str, num: np.ndarray, den: int, box: int = 3) -> np.ndarray:
    """Scaled lattice points G k for integer k in a box around G^-1 x (d <= 4)."""
    lat = get_lattice(name)
    g = lat.generator_float
    x = num / den
    k0 = np.rint(np.linalg.solve(g, x)).astype(np.int64)
    offs = np.array(list(itertools.product(range(-box, box + 1), repeat=lat.dim)), dtype=np.int64)
    return (k0 + offs) @ lat.generator_int.T


def _candidates_e8(x: np.ndarray) -> np.ndarray:
    """All scaled E8 points p with |p_i / 2 - x_i| <= 1 for every i (the covering radius is 1)."""
    sx = 2 * np.asarray(x, dtype=np.float64)
    out = []
    for parity in (0, 1):  # D8 (all even scaled) and D8 + 1/2 (all odd scaled)
        per = []
        for v in sx:
            p = np.arange(int(np.floor(v)) - 3, int(np.ceil(v)) + 4)
            per.append(p[(p % 2 == parity) & (np.abs(p - v) <= 2 + 1e-9)])
        out.append(np.array(list(itertools.product(*per)), dtype=np.int64).reshape(-1, 8))
    pts = np.concatenate(out)
    return pts[_is_member("E8", pts)]


def _sq_dist_scaled(name: str, num: np.ndarray, den: int, pts: np.ndarray) -> np.ndarray:
    """Exact integer (den * coord_scale)^2 * |x - p|^2 for x = num/den and scaled points pts."""
    cs = get_lattice(name).coord_scale
    diff = pts.astype(np.int64) * den - np.asarray(num, dtype=np.int64) * cs
    return np.sum(diff * diff, axis=-1)


def _brute_min(name: str, num: np.ndarray, den: int) -> int:
    pts = _candidates_e8(num / den) if name == "E8" else _candidates_by_generator(name, num, den)
    assert np.all(_is_member(name, pts))
    return int(_sq_dist_scaled(name, num, den, pts).min())


def _dyadic(dim: int, lim: int = 40):
    return st.lists(st.integers(-lim, lim), min_size=dim, max_size=dim).map(
        lambda v: np.array(v, dtype=np.int64))


# ----------------------------------------------------------------------------------------------------
# truly closest (random dyadic points: many exact ties at den = 2, 4)
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_closest_is_truly_closest_on_dyadic_points(name: str, data) -> None:
    lat = get_lattice(name)
    den = data.draw(st.sampled_from([1, 2, 4, 8]))
    num = data.draw(_dyadic(lat.dim, lim=6 * den))
    got = lat.closest_rational(num, den)
    assert _is_member(name, got[None])[0], f"{got} is not a point of {name}"
    d_got = int(_sq_dist_scaled(name, num, den, got[None])[0])
    assert d_got == _brute_min(name, num, den), f"closest({num}/{den}) = {got} is not closest"
    # the float path gives the same point on dyadic input
    np.testing.assert_array_equal(lat.closest(num / den), got)


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(x=st.lists(st.floats(-5, 5, allow_nan=False, width=64), min_size=8, max_size=8))
def test_closest_float_is_truly_closest(name: str, x) -> None:
    lat = get_lattice(name)
    xv = np.array(x[: lat.dim])
    got = lat.closest(xv)
    assert _is_member(name, got[None])[0]
    cs = lat.coord_scale
    pts = (_candidates_e8(xv) if name == "E8"
           else _candidates_by_generator(name, np.round(xv * 64).astype(np.int64), 64))
    dist = np.sum((pts / cs - xv) ** 2, axis=1)
    assert np.sum((got / cs - xv) ** 2) <= dist.min() + 1e-9


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_closest_rational_matches_float_on_dyadics(name: str, data) -> None:
    lat = get_lattice(name)
    k = data.draw(st.integers(0, 12))
    den = 1 << k
    num = data.draw(st.lists(st.integers(-50 * den, 50 * den), min_size=lat.dim, max_size=lat.dim))
    num = np.array(num, dtype=np.int64)
    np.testing.assert_array_equal(lat.closest_rational(num, den), lat.closest(num / den))


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_lattice_point_maps_to_itself(name: str, data) -> None:
    lat = get_lattice(name)
    k = np.array(data.draw(st.lists(st.integers(-20, 20), min_size=lat.dim, max_size=lat.dim)),
                 dtype=np.int64)
    p = lat.generator_int @ k
    np.testing.assert_array_equal(lat.closest(p / lat.coord_scale), p)
    np.testing.assert_array_equal(lat.closest_rational(p, lat.coord_scale), p)
    np.testing.assert_array_equal(lat.closest_rational(p * 7, 7 * lat.coord_scale), p)


def test_vectorised_equals_one_by_one() -> None:
    rng = np.random.default_rng(3)
    for name in NAMES:
        lat = get_lattice(name)
        x = np.round(rng.uniform(-4, 4, (200, lat.dim)) * 4) / 4  # many ties
        batch = lat.closest(x)
        one = np.stack([lat.closest(v) for v in x])
        np.testing.assert_array_equal(batch, one)
        np.testing.assert_array_equal(lat.closest(x.reshape(10, 20, lat.dim)), batch.reshape(10, 20, lat.dim))


# ----------------------------------------------------------------------------------------------------
# tie rules of SPEC section 2, hand-derived
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x, want", [
    (0.5, 1), (-0.5, 0), (1.5, 2), (-1.5, -1), (2.5, 3), (-2.5, -2), (0.49, 0), (-0.51, -1),
])
def test_z_rounds_half_up(x: float, want: int) -> None:
    lat = get_lattice("Z")
    assert int(lat.closest(np.array([x]))[0]) == want
    num = int(round(x * 100))
    assert int(lat.closest_rational(np.array([num]), 100)[0]) == want


# Each case: f = floor(x + 1/2); if sum(f) odd, move coordinate argmax |x_i - f_i| (lowest index on ties)
# one step toward x_i (+1 if x_i - f_i >= 0).
D_TIES = [
    ("D3", (0.5, 0.5, 0.0), (1, 1, 0)),       # f = (1,1,0), even: kept
    ("D3", (0.5, 0.0, 0.0), (0, 0, 0)),       # f = (1,0,0) odd, r = (-.5,0,0): index 0 steps down
    ("D3", (0.5, 0.5, 0.5), (0, 1, 1)),       # f = (1,1,1) odd, all |r| = .5: lowest index 0 steps down
    ("D3", (-0.5, -0.5, -0.5), (0, 0, 0)),    # round half up gives (0,0,0), even
    ("D3", (0.5, -0.5, 0.0), (0, 0, 0)),      # f = (1,0,0) odd, |r| tie on 0 and 1: index 0, r < 0
    ("D3", (1.0, 0.0, 0.0), (2, 0, 0)),       # f = (1,0,0) odd, r = 0 everywhere: index 0, r >= 0 -> +1
    ("D3", (0.0, 1.0, 0.0), (1, 1, 0)),       # f = (0,1,0) odd, r = 0 everywhere: index 0 -> +1
    ("D3", (-1.5, 0.0, 0.0), (-2, 0, 0)),     # f = (-1,0,0) odd, r = (-.5,0,0): index 0 -> -1
    ("D3", (0.2, 0.7, 0.1), (0, 0, 0)),       # f = (0,1,0) odd, largest |r| at index 1, r < 0
    ("D3", (0.2, 0.3, 1.4), (0, 0, 2)),       # f = (0,0,1) odd, r = (.2,.3,.4): index 2, r >= 0 -> +1
    ("D4", (0.5, 0.0, 0.0, 0.0), (0, 0, 0, 0)),
    ("D4", (0.5, 0.5, 0.5, 0.5), (1, 1, 1, 1)),   # f = (1,1,1,1), even: kept
    ("D4", (0.0, 0.0, 0.0, 1.0), (1, 0, 0, 1)),
    ("D4", (-0.5, 0.5, 0.5, 0.5), (-1, 1, 1, 1)),  # f = (0,1,1,1) odd, |r| all .5: index 0, r = -.5 -> -1
]


@pytest.mark.parametrize("name, x, want", D_TIES)
def test_dn_parity_fix_tie_rules(name: str, x, want) -> None:
    lat = get_lattice(name)
    xv = np.array(x)
    np.testing.assert_array_equal(lat.closest(xv), want)
    np.testing.assert_array_equal(lat.closest_rational(np.round(xv * 20).astype(np.int64), 20), want)


def test_e8_keeps_y0_on_exact_tie() -> None:
    lat = get_lattice("E8")
    # x = (1/4)*1: y0 = 0 and y1 = (1/2)*1 are both at squared distance 1/2 -> y0 (scaled 0)
    np.testing.assert_array_equal(lat.closest(np.full(8, 0.25)), np.zeros(8))
    np.testing.assert_array_equal(lat.closest_rational(np.ones(8, dtype=np.int64), 4), np.zeros(8))
    # just past the tie y1 is strictly closer
    np.testing.assert_array_equal(lat.closest(np.full(8, 0.26)), np.ones(8))
    np.testing.assert_array_equal(lat.closest_rational(np.full(8, 26), 100), np.ones(8))
    np.testing.assert_array_equal(lat.closest(np.full(8, 0.24)), np.zeros(8))
    # negative side: x = -(1/4)*1: y0 = 0, y1 = Q_D8(-3/4 * 1) + 1/2 = -(1/2)*1: tie -> 0
    np.testing.assert_array_equal(lat.closest_rational(-np.ones(8, dtype=np.int64), 4), np.zeros(8))


def test_e8_points_are_even_or_odd_scaled() -> None:
    lat = get_lattice("E8")
    x = np.random.default_rng(5).uniform(-3, 3, (2000, 8))
    y = lat.closest(x)
    assert np.all(_is_member("E8", y))
    assert np.any(y % 2 == 1) and np.any(np.all(y % 2 == 0, axis=1))


# ----------------------------------------------------------------------------------------------------
# generator, inverse, second moment
# ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_inverse_int_inverts_generator(name: str) -> None:
    lat = get_lattice(name)
    m, den = lat.inverse_int
    np.testing.assert_array_equal(m @ lat.generator_int, den * np.eye(lat.dim, dtype=np.int64))


def test_generators_match_spec() -> None:
    np.testing.assert_array_equal(get_lattice("D3").generator_int, [[2, 1, 1], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(get_lattice("D4").generator_int,
                                  [[2, 1, 1, 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    g = get_lattice("E8").generator_int  # doubled
    assert g[:, 0].tolist() == [4, 0, 0, 0, 0, 0, 0, 0]
    for i in range(1, 7):
        col = np.zeros(8, dtype=np.int64)
        col[i - 1], col[i] = -2, 2
        assert g[:, i].tolist() == col.tolist()
    assert g[:, 7].tolist() == [1] * 8
    assert get_lattice("E8").det == pytest.approx(1.0)
    assert get_lattice("D3").det == pytest.approx(2.0)


@pytest.mark.parametrize("name, g", [("Z", 1 / 12), ("D3", 1 / 8), ("E8", 929 / 12960)])
def test_second_moment_monte_carlo(name: str, g: float) -> None:
    lat = get_lattice(name)
    x = np.random.default_rng(11).uniform(-20, 20, (200_000, lat.dim))
    e = x - lat.closest(x) / lat.coord_scale
    per_dim = float(np.mean(np.sum(e * e, axis=1)) / lat.dim)
    assert per_dim == pytest.approx(g, rel=0.02)
    assert lat.second_moment == pytest.approx(g, rel=1e-6)


# ----------------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------------

def test_bad_input_raises_hwq_error() -> None:
    lat = get_lattice("D3")
    with pytest.raises(HwqError, match="NaN or Inf"):
        lat.closest(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(HwqError, match="NaN or Inf"):
        lat.closest(np.array([0.0, np.inf, 1.0]))
    with pytest.raises(HwqError, match="length 3"):
        lat.closest(np.zeros(4))
    with pytest.raises(HwqError, match="integer"):
        lat.closest_rational(np.zeros(3), 2)
    with pytest.raises(HwqError, match="den"):
        lat.closest_rational(np.zeros(3, dtype=np.int64), 0)
    with pytest.raises(HwqError, match="unknown lattice"):
        get_lattice("A2")
    assert set(NAMES) <= set(lattice_names())
