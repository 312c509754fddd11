"""Tests of the quantizer interface and registry (hwq.quant: base, nested, baselines, registry)."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.errors import HwqError
from hwq.quant.baselines import Absmax, DitheredScalar, HadamardInt
from hwq.quant.nested import NestQuant
from hwq.quant.registry import make, method_names


@pytest.fixture(scope="module")
def ab() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.standard_normal((192, 16)), rng.standard_normal((192, 16))


def _dist(qz, a, b) -> float:
    est = qz.estimate_product(qz.encode(a, 0), qz.encode(b, 1))
    return float(np.sum((est - a.T @ b) ** 2) / (a.shape[0] * a.shape[1] * b.shape[1]))


def test_absmax_rate_matches_packed_size(ab) -> None:
    a, _ = ab
    for bits, group in [(3, None), (4, 64), (2, 32)]:
        enc = Absmax(bits, group).encode(a)
        g = a.shape[0] if group is None else group
        assert enc.rate == pytest.approx(bits + 32 / g)
        assert enc.rate_packed() == pytest.approx(enc.rate)  # fixed-width: stored bits == accounted bits
        assert enc.nbytes() == a.shape[1] * (a.shape[0] * bits // 8) + 4 * a.shape[1] * (a.shape[0] // g)


def test_lattice_rate_accounting(ab) -> None:
    a, _ = ab
    qz = make("d3", 3.0, dither=False)
    enc = qz.encode(a)
    em = enc.data["em"]
    assert enc.rate == pytest.approx(em.rate_entropy())
    packed_bytes = em.codes.nbytes + em.ladder.nbytes + em.norms.nbytes
    assert enc.rate_packed() == pytest.approx(8 * packed_bytes / a.size)
    assert enc.rate <= enc.rate_packed()
    assert abs(enc.rate - 32 / 192 - 3.0) < 0.1  # beta0 was tuned for 3 bits/entry on Gaussian blocks


def test_nestquant_rate_and_quality(ab) -> None:
    a, b = ab
    qz = NestQuant()
    enc = qz.encode(a)
    assert enc.rate == pytest.approx(np.log2(14) + 0.25 + 32 / 192)
    assert enc.rate - 32 / 192 == pytest.approx(4.057, abs=1e-3)
    assert sum(enc.data["ladder_hist"]) == a.size // 8
    # 31-bit codes + 2-bit beta index + float32 norm, bit-packed per column
    assert enc.nbytes() == a.shape[1] * ((24 * 31 + 7) // 8 + (24 * 2 + 7) // 8 + 4)
    assert _dist(qz, a, b) < 0.7 * _dist(Absmax(4), a, b)  # small n: absmax is at its best here


def test_every_method_beats_nothing_and_decodes(ab) -> None:
    a, b = ab
    for name, rate in [("absmax", 4), ("absmax_g64", 4), ("hadamard_int", 4), ("dithered", 4),
                       ("watersic", 4),
                       ("kashin", 4), ("z", 4.0), ("timeshare", 1.0)]:
        qz = make(name, rate)
        ea = qz.encode(a)
        assert ea.decode().shape == a.shape, name
        d = _dist(qz, a, b)
        assert d < 0.8, (name, d)  # estimating A^T B by 0 gives D = 1
        assert ea.rate > 0 and ea.rate_packed() > 0 and ea.slug[0].isalpha()


def test_dithered_is_unbiased_with_gain(ab) -> None:
    a, _ = ab
    qz = DitheredScalar.at_rate(3.0)
    enc = qz.encode(a)
    assert abs(enc.rate - 32 / 192 - 3.0) < 0.15
    err = enc.decode() - a
    assert np.mean(err ** 2) / np.mean(a ** 2) < 0.05


def test_hadamard_int8_is_near_lossless(ab) -> None:
    a, _ = ab
    enc = HadamardInt(8).encode(a)
    assert np.max(np.abs(enc.decode() - a)) < 0.05
    assert enc.rate == pytest.approx(8 + 32 / 192)


def test_errors() -> None:
    with pytest.raises(HwqError, match="unknown quantizer"):
        make("int5", 3)
    for name, rate in [("absmax", 0.0), ("d3", 1.0), ("kashin", 1.0), ("dithered", 40), ("nestquant", 3.0),
                       ("watersic", float("nan"))]:
        with pytest.raises(HwqError, match="rate"):
            make(name, rate)
    with pytest.raises(HwqError, match="2-D"):
        Absmax(3).encode(np.zeros(8))
    with pytest.raises(HwqError, match="NaN"):
        Absmax(3).encode(np.full((8, 2), np.nan))
    assert "watersic" in method_names() and "kashin" in method_names()


@pytest.mark.parametrize("module", ["base", "nested", "baselines", "blockfp", "scalar", "watersic", "kashin",
                                    "timeshare"])
def test_methods_import_without_the_registry(module: str) -> None:
    """No import cycle: a method module imports hwq.quant.base (and other methods), never the registry."""
    import subprocess
    import sys

    code = (f"import sys, hwq.quant.{module}; "
            "assert 'hwq.quant.registry' not in sys.modules, 'imports the registry'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_registry_holds_every_family_without_lazy_imports() -> None:
    from hwq.quant import registry
    from hwq.quant.kashin import Kashin
    from hwq.quant.timeshare import TimeShare
    from hwq.quant.watersic import WaterSIC

    assert registry.METHODS["watersic"] == WaterSIC.at_rate
    assert registry.METHODS["kashin"] == Kashin.at_rate
    assert registry.METHODS["timeshare"] == TimeShare.at_rate
