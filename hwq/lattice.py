"""Lattices and their closest-point algorithms, with the tie rules of SPEC section 2.

Every lattice is described by a :class:`Lattice` record in a small registry (:data:`LATTICES`,
:func:`get_lattice`, :func:`register_lattice`). Points are returned as *integer* arrays in
"scaled coordinates": the real coordinates times ``coord_scale`` (1 for Z^n and D_n, 2 for E8, whose
points have half-integer coordinates). Two closest-point paths exist and share one set of rules:

* :meth:`Lattice.closest` for float64 input (offline encoding of real data);
* :meth:`Lattice.closest_rational` for exact rational input ``num / den`` with integer ``num`` and a
  positive integer ``den`` (coset leaders, and the integer activation encoder of the hardware).

Tie rules (SPEC section 2):

* rnd(x) = floor(x + 1/2) (round half up);
* D_n: if the rounded point has odd coordinate sum, move the coordinate with the largest
  ``|x_i - f_i|`` (lowest index on ties) one step toward ``x_i`` (+1 if ``x_i - f_i >= 0``);
* E8 = D8 u (D8 + 1/2): y0 = Q_D8(x), y1 = Q_D8(x - 1/2) + 1/2, keep y1 only if strictly closer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from hwq.errors import HwqError

__all__ = ["Lattice", "LATTICES", "get_lattice", "register_lattice", "lattice_names"]


def _check_points(x: np.ndarray, dim: int, what: str) -> np.ndarray:
    if x.ndim == 0 or x.shape[-1] != dim:
        raise HwqError(f"{what} must have last axis of length {dim} (the lattice dimension), got shape "
                       f"{x.shape}")
    return x


# ----------------------------------------------------------------------------------------------------
# small-axis helpers: numpy reductions over a last axis of length 3..8 are several times slower than
# the same work written column by column, and these loops are the encoder's hot path
# ----------------------------------------------------------------------------------------------------

def _rowsum(a: np.ndarray) -> np.ndarray:
    s = a[:, 0].copy()
    for j in range(1, a.shape[1]):
        s += a[:, j]
    return s


def _rowsum_sq(a: np.ndarray) -> np.ndarray:
    s = a[:, 0] * a[:, 0]
    for j in range(1, a.shape[1]):
        s += a[:, j] * a[:, j]
    return s


def _argmax_abs(r: np.ndarray) -> np.ndarray:
    """Index of the largest |r_i| per row, the lowest index on ties (as np.argmax)."""
    best = np.abs(r[:, 0])
    idx = np.zeros(r.shape[0], dtype=np.intp)
    for j in range(1, r.shape[1]):
        v = np.abs(r[:, j])
        gt = v > best
        idx[gt] = j
        np.maximum(best, v, out=best)
    return idx


# ----------------------------------------------------------------------------------------------------
# float64 closest point
# ----------------------------------------------------------------------------------------------------

def _closest_z_float(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


def _closest_d_float(x: np.ndarray) -> np.ndarray:
    f = np.floor(x + 0.5)
    odd = (_rowsum(f).astype(np.int64) & 1).astype(bool)
    if np.any(odd):
        xo = x[odd]
        fo = f[odd]
        r = xo - fo
        i = _argmax_abs(r)  # first index on ties
        rows = np.arange(xo.shape[0])
        fo[rows, i] += np.where(r[rows, i] >= 0, 1.0, -1.0)
        f[odd] = fo
    return f


def _closest_e8_float(x: np.ndarray) -> np.ndarray:
    """Return 2 * (closest E8 point) as float (exact small integers)."""
    y0 = _closest_d_float(x)
    y1 = _closest_d_float(x - 0.5) + 0.5
    d0 = _rowsum_sq(x - y0)
    d1 = _rowsum_sq(x - y1)
    take1 = d1 < d0
    return 2.0 * np.where(take1[..., None], y1, y0)


# ----------------------------------------------------------------------------------------------------
# exact rational closest point: input num / den, integer num (int64), integer den > 0
# ----------------------------------------------------------------------------------------------------

def _closest_z_rational(num: np.ndarray, den: int) -> np.ndarray:
    # rnd(num/den) = floor((2 num + den) / (2 den)), exact in integers (numpy // is floor division)
    return (2 * num + den) // (2 * den)


def _closest_d_rational(num: np.ndarray, den: int) -> np.ndarray:
    f = _closest_z_rational(num, den)
    odd = (_rowsum(f) & 1).astype(bool)
    if np.any(odd):
        fo = f[odd]
        r = num[odd] - den * fo  # den * (x - f), same sign and order as x - f
        i = _argmax_abs(r)
        rows = np.arange(fo.shape[0])
        fo[rows, i] += np.where(r[rows, i] >= 0, 1, -1)
        f[odd] = fo
    return f


def _closest_e8_rational(num: np.ndarray, den: int) -> np.ndarray:
    """Return 2 * (closest E8 point to num/den) as int64."""
    f0 = _closest_d_rational(num, den)
    f1 = _closest_d_rational(2 * num - den, 2 * den)  # Q_D8(x - 1/2)
    y0 = 2 * f0
    y1 = 2 * f1 + 1
    # |x - y/2|^2 compared via (2den)^2 |x - y/2|^2 = |2 num - den y|^2; the difference
    # d1 - d0 = den * sum((y0 - y1) * (4 num - den (y0 + y1))) keeps intermediates small.
    diff = _rowsum((y0 - y1) * (4 * num - den * (y0 + y1)))
    take1 = diff < 0
    return np.where(take1[..., None], y1, y0)


# ----------------------------------------------------------------------------------------------------
# the registry
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Lattice:
    """A lattice with its generator and closest-point rules.

    Attributes
    ----------
    name : str
        Registry key ("Z", "D3", "D4", "E8").
    dim : int
        Dimension d (block length).
    generator : tuple of tuple of Fraction
        Generator matrix G (basis vectors are the *columns*), exact.
    coord_scale : int
        Integer point arrays hold ``coord_scale * coordinates`` (2 for E8, else 1).
    second_moment : float
        Second moment per dimension of the unit Voronoi cell (Z 1/12, D3 1/8, E8 929/12960 ...).
    covering_radius : float
        Covering radius of the lattice (bounds codeword norms: ||c|| <= q * covering_radius).
    coord_max : float
        Largest absolute coordinate of a point of the closed Voronoi cell (bounds codeword entries).
    """

    name: str
    dim: int
    generator: tuple[tuple[Fraction, ...], ...]
    coord_scale: int
    second_moment: float
    covering_radius: float
    coord_max: float
    _float: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    _rational: Callable[[np.ndarray, int], np.ndarray] = field(repr=False)

    # -- generator in various forms ------------------------------------------------------------------
    @property
    def generator_float(self) -> np.ndarray:
        """G as float64 (d, d), basis vectors as columns."""
        return np.array([[float(v) for v in row] for row in self.generator], dtype=np.float64)

    @property
    def generator_int(self) -> np.ndarray:
        """``coord_scale * G`` as int64 (maps an index vector k to scaled coordinates)."""
        return np.array([[int(v * self.coord_scale) for v in row] for row in self.generator], dtype=np.int64)

    @property
    def inverse_int(self) -> tuple[np.ndarray, int]:
        """``(M, den)`` with ``G^-1 y = M @ (coord_scale * y) / den`` exactly, M int64, den > 0."""
        return _exact_inverse(self.generator, self.coord_scale)

    @property
    def det(self) -> float:
        """Covolume |det G|."""
        return float(abs(np.linalg.det(self.generator_float)))

    @property
    def packing_radius(self) -> float:
        """Half the minimum distance."""
        return _packing_radius(self.name)

    # -- closest point ----------------------------------------------------------------------------
    def closest(self, x: np.ndarray) -> np.ndarray:
        """Closest lattice point to each row of float input ``x`` (..., d).

        Parameters
        ----------
        x : ndarray of float, shape (..., d)

        Returns
        -------
        ndarray of int64, shape (..., d)
            ``coord_scale`` times the closest point.

        Raises
        ------
        HwqError
            Wrong last-axis length, or NaN/Inf entries.
        """
        x = np.asarray(x, dtype=np.float64)
        _check_points(x, self.dim, "x")
        if not np.all(np.isfinite(x)):
            raise HwqError("x contains NaN or Inf; the closest lattice point is undefined (clean the input)")
        shape = x.shape
        y = self._float(x.reshape(-1, self.dim))
        return y.astype(np.int64).reshape(shape)

    def closest_rational(self, num: np.ndarray, den: int) -> np.ndarray:
        """Closest lattice point to ``num / den`` computed exactly in integers.

        Parameters
        ----------
        num : ndarray of int, shape (..., d)
            Numerators (|num| must stay below 2**52 so that intermediates fit int64).
        den : int
            Common positive denominator.

        Returns
        -------
        ndarray of int64, shape (..., d)
            ``coord_scale`` times the closest point.
        """
        num = np.asarray(num)
        if num.dtype.kind not in "iu":
            raise HwqError(f"num must be an integer array, got dtype {num.dtype}")
        _check_points(num, self.dim, "num")
        den = int(den)
        if den <= 0:
            raise HwqError(f"den must be a positive integer, got {den}")
        num = num.astype(np.int64)
        if num.size and (int(np.max(np.abs(num))) >= 2**52 or den >= 2**52):
            raise HwqError("num/den too large for exact int64 closest point (keep |num|, den < 2**52)")
        shape = num.shape
        y = self._rational(num.reshape(-1, self.dim), den)
        return y.reshape(shape)


def _exact_inverse(gen: tuple[tuple[Fraction, ...], ...], coord_scale: int) -> tuple[np.ndarray, int]:
    d = len(gen)
    # Gauss-Jordan over the rationals on coord_scale * G
    a = [[Fraction(gen[i][j]) * coord_scale for j in range(d)] + [Fraction(int(i == j)) for j in range(d)]
         for i in range(d)]
    for col in range(d):
        piv = next(r for r in range(col, d) if a[r][col] != 0)
        a[col], a[piv] = a[piv], a[col]
        p = a[col][col]
        a[col] = [v / p for v in a[col]]
        for r in range(d):
            if r != col and a[r][col] != 0:
                fct = a[r][col]
                a[r] = [vr - fct * vc for vr, vc in zip(a[r], a[col])]
    inv = [row[d:] for row in a]
    den = 1
    for row in inv:
        for v in row:
            den = den * v.denominator // _gcd(den, v.denominator)
    m = np.array([[int(v * den) for v in row] for row in inv], dtype=np.int64)
    return m, den


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def _packing_radius(name: str) -> float:
    return {"Z": 0.5}.get(name, float(np.sqrt(2.0) / 2.0))


def _dn_generator(n: int) -> tuple[tuple[Fraction, ...], ...]:
    # columns (2,0,..,0), e_0 + e_i for i = 1..n-1  (D3: (2,0,0), (1,1,0), (1,0,1))
    g = [[Fraction(0)] * n for _ in range(n)]
    g[0][0] = Fraction(2)
    for i in range(1, n):
        g[0][i] = Fraction(1)
        g[i][i] = Fraction(1)
    return tuple(tuple(r) for r in g)


def _e8_generator() -> tuple[tuple[Fraction, ...], ...]:
    # Conway-Sloane: column 0 = (2,0,...,0); column i = e_i - e_{i-1} (i = 1..6); column 7 = (1/2,...,1/2)
    g = [[Fraction(0)] * 8 for _ in range(8)]
    g[0][0] = Fraction(2)
    for i in range(1, 7):
        g[i - 1][i] = Fraction(-1)
        g[i][i] = Fraction(1)
    for r in range(8):
        g[r][7] = Fraction(1, 2)
    return tuple(tuple(r) for r in g)


LATTICES: dict[str, Lattice] = {}


def register_lattice(lat: Lattice) -> Lattice:
    """Add a lattice to the registry (name must be new)."""
    if lat.name in LATTICES:
        raise HwqError(f"lattice {lat.name!r} is already registered")
    LATTICES[lat.name] = lat
    return lat


def lattice_names() -> list[str]:
    """Registered lattice names."""
    return sorted(LATTICES)


def get_lattice(name: str) -> Lattice:
    """Look a lattice up by name.

    Raises
    ------
    HwqError
        Unknown name (the message lists the registered ones).
    """
    try:
        return LATTICES[name]
    except (KeyError, TypeError):
        raise HwqError(f"unknown lattice {name!r}; allowed: {', '.join(lattice_names())}") from None


def _dn(n: int, second_moment: float) -> Lattice:
    return Lattice(
        name=f"D{n}", dim=n, generator=_dn_generator(n), coord_scale=1, second_moment=second_moment,
        covering_radius=max(1.0, float(np.sqrt(n)) / 2.0), coord_max=1.0,
        _float=_closest_d_float, _rational=_closest_d_rational,
    )


register_lattice(Lattice(
    name="Z", dim=1, generator=((Fraction(1),),), coord_scale=1, second_moment=1.0 / 12.0,
    covering_radius=0.5, coord_max=0.5, _float=_closest_z_float, _rational=_closest_z_rational,
))
# D3 (fcc): G = 0.0787451 normalised, det 2 -> 0.0787451 * 2^(2/3) = 1/8 per dimension
register_lattice(_dn(3, 1.0 / 8.0))
# D4: normalised second moment 0.0766032, det 2 -> 0.0766032 * 2^(1/2)
register_lattice(_dn(4, 0.0766032 * 2.0 ** 0.5))
register_lattice(Lattice(
    name="E8", dim=8, generator=_e8_generator(), coord_scale=2, second_moment=929.0 / 12960.0,
    covering_radius=1.0, coord_max=1.0, _float=_closest_e8_float, _rational=_closest_e8_rational,
))
