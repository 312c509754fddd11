"""Tests of the MiniLM quantization evaluation (hwq.model_eval)."""

from __future__ import annotations

import pytest

from hwq.cli import main
from hwq.errors import HwqError
from hwq.model_eval import evaluate_minilm, write_model_report


def test_missing_model_path_is_a_clear_error(tmp_path, capsys) -> None:
    with pytest.raises(HwqError, match="does not exist"):
        evaluate_minilm(str(tmp_path / "nowhere"), methods=("absmax",), rates=(3,))
    assert main(["eval", "model", "minilm", "--model-path", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_rate_out_of_range() -> None:
    with pytest.raises(HwqError, match="2, 3, 4"):
        evaluate_minilm(None, methods=("absmax",), rates=(5,))


def test_tiny_run(tmp_path) -> None:
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    from hwq.minilm import find_model_dir

    try:
        find_model_dir()
    except HwqError as exc:
        pytest.skip(f"MiniLM weights not installed: {exc}")
    res = evaluate_minilm(None, methods=("absmax", "hadamard_int"), rates=(4,), wa=False, max_sentences=6)
    assert len(res["rows"]) == 2 and len(res["layers"]["absmax@4/W"]) == 36
    for r in res["rows"]:
        assert 0 < r["layer_dist_mean"] < 1 and -1 <= r["spearman"] <= 1 and r["cos_mean"] <= 1 + 1e-6
        assert r["rate"] == pytest.approx(4 + 32 / 384, abs=0.07)
    paths = write_model_report(res, tmp_path)
    assert "Prediction and verdict" in paths[1].read_text()
