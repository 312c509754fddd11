"""Rendering: reproducible bytes, tables from the reference model, clear errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hwq.cli import main
from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.voronoi import codebook, pair_lut

from hwq.codegen.render import lib_name, render


def _array(text: str, name: str) -> np.ndarray:
    m = re.search(rf"{name}\[\d+\] = \{{(.*?)\}};", text, re.S)
    assert m, name
    return np.array([int(v) for v in m.group(1).replace("\n", " ").split(",") if v.strip()])


@pytest.mark.parametrize("target", ["c", "cuda"])
def test_render_is_reproducible_and_writes_only_on_change(tmp_path, target):
    cfg = HwqConfig()
    a = render(cfg, target, tmp_path / "a")
    b = render(cfg, target, tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
    mtimes = [p.stat().st_mtime_ns for p in a]
    render(cfg, target, tmp_path / "a")
    assert [p.stat().st_mtime_ns for p in a] == mtimes
    assert any(p.name == f"{lib_name(cfg)}_tables.h" for p in a)


def test_tables_come_from_the_reference_model(tmp_path):
    cfg = HwqConfig()
    render(cfg, "c", tmp_path)
    text = (tmp_path / f"{lib_name(cfg)}_tables.h").read_text()
    assert np.array_equal(_array(text, "hwq_codebook"), codebook(cfg.lattice, cfg.q).ravel())
    assert np.array_equal(_array(text, "hwq_lut"), pair_lut(cfg.lattice, cfg.q).ravel())
    assert _array(text, "hwq_mults").tolist() == list(cfg.beta_mults)
    src = (tmp_path / f"{lib_name(cfg)}.c").read_text()
    assert f"#define HWQ_SYM(n) hwq_{cfg.slug}_##n" in src
    assert f"#define HWQ_BETA0 {cfg.beta0!r}" in src


def test_e8_renders_arithmetic_decode_without_codebook(tmp_path):
    cfg = HwqConfig(lattice="E8", q=7)
    render(cfg, "c", tmp_path)
    src = (tmp_path / f"{lib_name(cfg)}.c").read_text()
    assert "#define HWQ_ROM 0" in src and "#define HWQ_TABLE_PATH 0" in src
    assert "hwq_codebook[" not in (tmp_path / f"{lib_name(cfg)}_tables.h").read_text()


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(HwqError, match="target"):
        render(HwqConfig(), "verilog", tmp_path)
    with pytest.raises(HwqError, match="dither"):
        render(HwqConfig(dither=True), "c", tmp_path)
    with pytest.raises(HwqError, match="hadamard"):
        render(HwqConfig(hadamard=16384, max_k=16384), "cuda", tmp_path)


def test_cli_codegen(tmp_path, capsys):
    cfg_path = HwqConfig(lattice="Z", q=8).save(tmp_path / "z.toml")
    assert main(["codegen", "--config", str(cfg_path), "--target", "c", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"hwq_{HwqConfig(lattice='Z', q=8).slug}.c" in out
    assert main(["codegen", "--config", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.parametrize("target", ["c", "cuda"])
def test_makefile_depends_on_every_included_header(tmp_path, target):
    """The rendered Makefile rebuilds when any header its source includes changes: every ``#include "..."``
    of the rendered source and of the copied headers is a dependency of the library."""
    cfg = HwqConfig()
    render(cfg, target, tmp_path)
    rule = (tmp_path / "Makefile").read_text().split(".so:", 1)[1].split("\n", 1)[0].split()
    src = tmp_path / f"{lib_name(cfg)}.{'c' if target == 'c' else 'cu'}"
    texts = [src.read_text()] + [p.read_text() for p in tmp_path.glob("hwq_*.h*") if p.name in rule]
    included = {m for t in texts for m in re.findall(r'#include "([^"]+)"', t)}
    assert included, "no local includes found"
    assert included <= set(rule), sorted(included - set(rule))
