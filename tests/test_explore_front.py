"""The fronts, the explore-front record, its Markdown and plots, and --pick round-tripping into a config that
loads (hwq.explore.front, hwq.explore.pick, hwq explore)."""

from __future__ import annotations

import pytest

from hwq.cli import main
from hwq.config import HwqConfig, load_config
from hwq.errors import HwqError
from hwq.explore.front import fronts_of, recommend
from hwq.explore.pick import choose, parse_pick
from hwq.records import ExploreFront, load

SPACE = """
stages = ["quality", "sim", "gpu"]
baselines = ["int4_g128", "int3_g128", "mxfp4"]
[settings]
quality_n = 384
quality_cols = 16
sim_rows = 4
[fields]
dither = false
hadamard = 16
lanes = 2
[[grid]]
lattice = "D3"
q = [4, 6, 300]
[[grid]]
lattice = "Z"
q = 8
ladder_len = [4, 100]
"""


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    (root / "space.toml").write_text(SPACE)
    assert main(["explore", "--space", str(root / "space.toml"), "--out", str(root / "out"), "--no-ray"]) == 0
    return root


def test_front_record_markdown_and_plots(explored):
    out = explored / "out"
    rec = load(out / "front.json", ExploreFront)
    names = [r["name"] for r in rec.points]
    assert len(names) == 4 + 3 and rec.counts["invalid"] == 1
    assert "ladder_len" in rec.invalid[0]["error"]
    q = {r["name"]: r for r in rec.points}
    # the quality-vs-bits front is the non-dominated set of (D, bits) over the points that passed
    pts = [r for r in rec.points if r["ok"] and r["D"] is not None]
    for r in pts:
        dominated = any(o["D"] <= r["D"] and o["bits"] <= r["bits"]
                        and (o["D"], o["bits"]) != (r["D"], r["bits"])
                        for o in pts)
        assert (r["name"] in rec.fronts["quality_vs_bits"]["front"]) == (not dominated)
    # the block floating-point formats come from the quantizer registry (4.25 bits: e2m1 + an e8m0 per 32)
    assert q["mxfp4"]["status"]["quality"] == "ok" and q["mxfp4"]["bits"] == pytest.approx(4.25)
    assert q["int4_g128"]["kind"] == "baseline" and q["int4_g128"]["bits"] == pytest.approx(4 + 16 / 128)
    md = (out / "front.md").read_text()
    assert "| point | config | bits/w |" in md and "prediction" in md and "## What the front recommends" in md
    assert "Projected cost of the full space" in md
    assert (out / "front.png").stat().st_size > 1000 and (out / "front.svg").is_file()
    assert rec.recommendation and any("int4" in line.lower() for line in rec.recommendation)


def test_pick_round_trips_into_a_config_that_loads(explored, capsys):
    out = explored / "out"
    rec = load(out / "front.json", ExploreFront)
    best = min((r for r in rec.points if r["kind"] == "config" and r["bits"] <= 3.5 and r["ok"]),
               key=lambda r: r["D"])
    path = explored / "my.toml"
    assert main(["explore", "--pick", "bits<=3.5", "--front", str(out), "--out", str(path)]) == 0
    assert "hwq flow --config" in capsys.readouterr().out
    cfg = load_config(path)
    assert cfg.slug == best["name"] and cfg == HwqConfig.from_dict(best["config"])
    # an existing different file is never overwritten (exit 2, file unchanged); the same content is fine
    assert main(["explore", "--pick", "bits<=3.5", "--front", str(out), "--out", str(path)]) == 0
    path.write_text("# mine\n")
    assert main(["explore", "--pick", "bits<=3.5", "--front", str(out), "--out", str(path)]) == 2
    assert path.read_text() == "# mine\n" and "exists" in capsys.readouterr().err


@pytest.mark.parametrize("expr, match", [
    ("bits<=", "not METRIC OP NUMBER"),
    ("bitz<=3", "metric 'bitz' is unknown"),
    ("bits=>3", "not METRIC OP NUMBER"),
    ("bits<=inf", "not METRIC OP NUMBER|finite"),
    ("", "needs conditions"),
])
def test_bad_pick_expressions(explored, capsys, expr, match):
    with pytest.raises(HwqError, match=match):
        parse_pick(expr)
    assert main(["explore", "--pick", expr, "--front", str(explored / "out"), "--out",
                 str(explored / "x.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and not (explored / "x.toml").exists()


def test_pick_nothing_meets_and_needs_toml(explored, capsys):
    assert main(["explore", "--pick", "bits<=0.5", "--front", str(explored / "out"), "--out",
                 str(explored / "y.toml")]) == 2
    assert "no config of the front meets" in capsys.readouterr().err
    assert main(["explore", "--pick", "bits<=4", "--front", str(explored / "out"), "--out",
                 str(explored / "y")]) == 2
    assert "--out FILE.toml" in capsys.readouterr().err
    assert main(["explore", "--pick", "bits<=4", "--front", str(explored / "nope"), "--out",
                 str(explored / "y.toml")]) == 2


def _row(name, d, bits, kind="config", luts=None, ok=True):
    return {"name": name, "label": name, "kind": kind, "D": d, "bits": bits, "ratio": d / 0.03, "ok": ok,
            "luts_per_lane": luts, "luts": None if luts is None else luts * 8, "weights_per_s": None,
            "luts_per_weight": None if luts is None else luts / 3, "kernel_vs_ort": None}


def test_choose_and_recommend_hand_checked():
    rows = [_row("a", 0.06, 3.3, luts=900), _row("b", 0.05, 3.1, luts=3000), _row("c", 0.04, 3.6, luts=950),
            _row("bad", 0.01, 2.0, ok=False), _row("int4_g128", 0.022, 4.25, kind="baseline", luts=1000)]
    assert choose(rows, parse_pick("bits<=3.5"))["name"] == "b"
    assert choose(rows, parse_pick("bits<=3.5,luts<=8000"))["name"] == "a"
    assert choose(rows, parse_pick("d<0.045"))["name"] == "c"
    fr = fronts_of(rows)
    assert fr["quality_vs_bits"]["front"] == ["b", "c", "int4_g128"]           # "bad" failed: on no front
    assert fr["quality_vs_luts"]["front"] == ["a", "c", "int4_g128"]               # b: c has lower D and LUTs
    rec = recommend(rows, fr)
    assert any(line.startswith("No config of this space reaches the quality of int4_g128") for line in rec)


def test_nsga2_search(tmp_path, capsys):
    pytest.importorskip("optuna")
    (tmp_path / "s.toml").write_text("""
search = "nsga2"
samples = 8
population = 4
seed = 3
stages = ["quality"]
baselines = ["int3_g128"]
[settings]
quality_n = 384
quality_cols = 16
[fields]
dither = false
hadamard = 16
[[grid]]
lattice = "D3"
q = {from = 3, to = 9}
ladder_len = [4, 80]
[[grid]]
lattice = "Z"
q = [4, 8, 16]
""")
    assert main(["explore", "--space", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"),
                 "--no-ray"]) == 0
    err = capsys.readouterr().err
    assert "NSGA-II generation 2: 8/8 trials" in err
    rec = load(tmp_path / "o" / "front.json", ExploreFront)
    cfgs = [r for r in rec.points if r["kind"] == "config"]
    assert 1 <= len(cfgs) <= 8 and all(r["D"] is not None for r in cfgs)
    assert all("ladder_len" in i["error"] for i in rec.invalid)
    assert rec.fronts["quality_vs_bits"]["front"]
