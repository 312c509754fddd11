"""Tests of the MiniLM quantization evaluation (hwq.eval.model_eval)."""

from __future__ import annotations

import numpy as np
import pytest

from hwq import datapath as dp
from hwq.cli import main
from hwq.errors import HwqError
from hwq.quant.nested import NestedLattice
from hwq.quant.registry import make
from hwq.eval.model_eval import WaLinear, _quantizer, _verdict, evaluate_minilm, write_model_report


def test_missing_model_path_is_a_clear_error(tmp_path, capsys) -> None:
    with pytest.raises(HwqError, match="does not exist"):
        evaluate_minilm(str(tmp_path / "nowhere"), methods=("absmax",), rates=(3,))
    assert main(["eval", "model", "minilm", "--model-path", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bad_arguments() -> None:
    with pytest.raises(HwqError, match="2, 3, 4"):
        evaluate_minilm(None, methods=("absmax",), rates=(5,))
    with pytest.raises(HwqError, match="unknown quantizer"):
        evaluate_minilm(None, methods=("nosuch",), rates=(3,))
    with pytest.raises(HwqError, match="jobs"):
        evaluate_minilm(None, methods=("absmax",), rates=(3,), jobs=0)
    with pytest.raises(HwqError, match="wa_sentences"):
        evaluate_minilm(None, methods=("absmax",), rates=(3,), wa_sentences=1)
    assert main(["eval", "model", "minilm", "--jobs", "0"]) == 2
    assert main(["eval", "model", "minilm", "--wa-reference", "/nonexistent/minilm.json"]) == 2


@pytest.mark.parametrize("qz, bound", [(make("d3", 3.0, dither=False), 0.1),  # pair-LUT path (343 codewords)
                                       (NestedLattice("E8", q=3, beta0=0.5, dither=False), 0.5)])  # codewords
def test_wa_linear_equals_the_integer_datapath_bit_for_bit(qz, bound) -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((384, 24)) * np.linspace(0.2, 3, 24)
    x = rng.standard_t(4, (384, 37))  # heavy tails: several ladder rungs and overloads
    em = qz.encode(w).data["em"]
    lin = WaLinear(em)
    got = lin(x.T).T
    want = dp.both_quantized_gemv(em, x)
    assert np.array_equal(got, want)
    lin.split = not lin.split  # the two-GEMM path (used where one float64 GEMM would not be exact) agrees
    assert np.array_equal(lin(x.T).T, want)
    rel = np.sum((got - w.T @ x) ** 2) / np.sum((w.T @ x) ** 2)
    assert rel < bound  # and it is a product estimate (~3 bits: D3; ~1.9 bits: E8 q = 3)


def test_unreachable_lattice_rate_falls_back_to_q3_with_a_note() -> None:
    qz, note = _quantizer("e8", 2.0)
    assert isinstance(qz, NestedLattice) and qz.q == 3 and not qz.dither
    assert "cannot reach 2 bits" in note
    enc = qz.encode(np.random.default_rng(1).standard_normal((256, 8)))
    assert 1.6 < enc.rate < 2.0  # below the target, as the note says
    assert _quantizer("nestquant", 3.0) == (None, "")


def test_verdict_detects_a_violated_order() -> None:
    def row(m: str, d: float, mode: str = "W") -> dict:
        return {"method": m, "mode": mode, "target": 3.0, "layer_dist_mean": d, "rate": 3.0, "note": "",
                "cos_mean": 0.9, "slug": f"{m}q7_nd"}

    good = [row("z", 4.0), row("d3", 3.0), row("d4", 2.9), row("e8", 2.0), row("absmax", 8.0)]
    text = "\n".join(_verdict(good))
    assert "E8 < D4 < D3 < Z -> confirms" in text and "ratio 4.0x" in text
    bad = [row("z", 1.0), row("d3", 3.0), row("d4", 2.9), row("e8", 2.0)]
    assert "does NOT confirm" in "\n".join(_verdict(bad)) and "q = 3" not in "\n".join(_verdict(bad))
    for r in bad:
        r["slug"] = r["slug"].replace("q7_", "q3_")
    assert "every lattice runs at q = 3" in "\n".join(_verdict(bad))


def test_tiny_run_serial_equals_parallel(tmp_path, minilm_installed) -> None:
    kw = dict(methods=("absmax", "hadamard_int"), rates=(4,), max_sentences=6)
    res = evaluate_minilm(None, jobs=1, **kw)
    assert [(r["method"], r["mode"]) for r in res.rows] == [("absmax", "W"), ("hadamard_int", "W")]
    assert len(res.layers["absmax@4/W"]) == 36
    for r in res.rows:
        assert 0 < r["layer_dist_mean"] <= r["layer_dist_max"] < 1
        assert -1 <= r["spearman"] <= 1 and r["cos_min"] <= r["cos_mean"] <= 1 + 1e-6
        assert r["rate"] == pytest.approx(4 + 32 / 384, abs=0.07)
    par = evaluate_minilm(None, jobs=2, **kw)
    assert par.meta["jobs"] == 2
    for a, b in zip(res.rows, par.rows, strict=True):
        assert a == b  # forked workers give the same rows, in task order
    paths = write_model_report(res, tmp_path)
    text = paths[1].read_text()
    assert "Prediction and verdict" in text and "| absmax | absmax_int4_col_mr | W |" in text
    with pytest.raises(HwqError, match="does not exist"):
        write_model_report(res, tmp_path, wa_reference=tmp_path / "missing.json")


@pytest.mark.slow
def test_lattice_weights_and_activations_rows(tmp_path, minilm_installed) -> None:
    res = evaluate_minilm(None, methods=("absmax", "d3"), rates=(4,), max_sentences=6, wa_sentences=4, jobs=1)
    assert [(r["method"], r["mode"]) for r in res.rows] == [("absmax", "W"), ("d3", "W"), ("d3", "W+A")]
    absmax, d3w, d3wa = res.rows
    assert len(res.layers["d3@4/WA"]) == 36
    assert d3wa["sentences"] == 4 and d3w["sentences"] == 6
    assert 3.5 < d3wa["act_rate"] < 4.6
    # the lattice beats absmax INT4 per column, and quantizing the activations too costs distortion
    assert d3w["layer_dist_mean"] < absmax["layer_dist_mean"] < 1
    assert d3w["layer_dist_mean"] < d3wa["layer_dist_mean"] < 1
    paths = write_model_report(res, tmp_path)
    text = write_model_report(res, tmp_path / "again", wa_reference=paths[0])[1].read_text()
    assert "| d3 | 4 | " in text and "Largest difference: cos mean 0.0000, Spearman 0.0000" in text
