"""The space file of hwq explore: parsing, ranges, invalid points reported with the config's message,
one-line errors for bad files (hwq.explore.space, hwq.explore.baselines)."""

from __future__ import annotations

import tomllib

import pytest

from hwq.cli import main
from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.explore.baselines import BASELINES, quantizer_for
from hwq.explore.space import (
    DEFAULT_SPACE,
    FULL_SPACE,
    builtin_space_text,
    load_space,
    make_config,
    parse_space,
)


def _space(text: str):
    return parse_space(tomllib.loads(text), "test.toml")


def test_grid_ranges_and_common_fields():
    sp = _space("""
        [fields]
        dither = false
        lanes = [2, 4]
        [[grid]]
        lattice = "D3"
        q = {from = 4, to = 6}
        [[grid]]
        lattice = "Z"
        ladder_step = {from = 1.25, to = 1.75, step = 0.25}
    """)
    combos = sp.combos()
    assert sp.size() == len(combos) == 2 * 3 + 2 * 3
    assert {c["q"] for c in combos if c["lattice"] == "D3"} == {4, 5, 6}
    assert sorted({c["ladder_step"] for c in combos if c["lattice"] == "Z"}) == [1.25, 1.5, 1.75]
    assert all(c["dither"] is False and c["lanes"] in (2, 4) for c in combos)
    pts, bad = sp.points()
    assert not bad and len(pts) == 12
    assert all(p.name == make_config(p.fields).slug for p in pts)


def test_invalid_points_reported_with_the_config_message():
    sp = _space("""
        [[grid]]
        lattice = "D3"
        q = [6, 1]
        ladder_len = [4, 100]
    """)
    pts, bad = sp.points()
    assert [p.config["q"] for p in pts] == [6]
    msgs = {(b.fields["q"], b.fields["ladder_len"]): b.error for b in bad}
    assert len(msgs) == 3
    assert msgs[(1, 4)] == "config field 'q' = 1 is invalid: q must be an integer >= 2"
    assert "ladder_len" in msgs[(6, 100)] and "[1, 64]" in msgs[(6, 100)]


def test_duplicate_configs_are_one_point():
    sp = _space("""
        [[grid]]
        lattice = "D3"
        q = 6
        [[grid]]
        lattice = "D3"
        q = 6
        beta0 = "auto"
    """)
    pts, _ = sp.points()
    assert len(pts) == 1 and pts[0].name == HwqConfig().slug


def test_random_sampling_is_seeded_and_bounded():
    text = """
        search = "random"
        samples = 3
        seed = 7
        [[grid]]
        lattice = "D3"
        q = {from = 3, to = 9}
    """
    a, _ = _space(text).points()
    b, _ = _space(text).points()
    assert len(a) == 3 and [p.name for p in a] == [p.name for p in b]


@pytest.mark.parametrize("text, match", [
    ('[fields]\nnot_a_field = 1', "'not_a_field' is not an HwqConfig field"),
    ('search = "bayes"\n[fields]\nq = 6', "search = 'bayes'"),
    ('search = "random"\n[fields]\nq = 6', "needs samples"),
    ('stages = ["quality", "warp"]\n[fields]\nq = 6', "unknown stage"),
    ('stages = ["throughput"]\n[fields]\nq = 6', "needs stage 'synth'"),
    ('baselines = ["int5"]\n[fields]\nq = 6', "unknown baseline"),
    ('[settings]\nquality_n = -1\n[fields]\nq = 6', "quality_n"),
    ('[settings]\nwarp = 1\n[fields]\nq = 6', "unknown setting"),
    ('[fields]\nq = {from = 6, to = 4}', "from <= to"),
    ('[fields]\nq = []', "empty list"),
    ('colour = 1\n[fields]\nq = 6', "unknown key"),
    ('search = "grid"', "no config fields"),
])
def test_bad_space_is_one_line(text, match):
    with pytest.raises(HwqError, match=match) as e:
        _space(text)
    assert "\n" not in str(e.value) and "test.toml" in str(e.value)


def test_builtin_spaces():
    sp = load_space()
    pts, bad = sp.points()
    lattices = {p.config["lattice"] for p in pts}
    assert not bad and lattices == {"Z", "D3", "D4", "E8"}
    assert len({(p.config["lattice"], p.config["q"]) for p in pts}) >= 12
    assert set(sp.baselines) == set(BASELINES)
    full = parse_space(tomllib.loads(builtin_space_text(FULL_SPACE)), FULL_SPACE)
    assert full.size() >= 100 and len(full.settings["synth_seeds"]) >= 2
    assert "ladder_select" in builtin_space_text(DEFAULT_SPACE)  # the one line that adds it


def test_cli_bad_space_exit_2(tmp_path, capsys):
    p = tmp_path / "s.toml"
    p.write_text("[fields]\nlatice = 'D3'\n")
    assert main(["explore", "--space", str(p), "--out", str(tmp_path / "o"), "--no-ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'latice' is not an HwqConfig field" in err
    assert not (tmp_path / "o").exists()
    p.write_text("[fields\n")
    assert main(["explore", "--space", str(p), "--no-ray"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_baselines_are_the_registry_formats():
    from hwq.quant import registry

    for name in ("int4_g128", "int3_g128", "int2_g128", "mxfp4", "nvfp4"):
        b = BASELINES[name]
        assert name in registry.METHODS and b.method() == (name, {})
        assert quantizer_for(b).slug.startswith(name.split("_")[0])


def test_cli_unreachable_address_is_one_line(tmp_path, capsys):
    import socket

    p = tmp_path / "s.toml"
    p.write_text("stages = ['quality']\n[fields]\nq = 6\n")
    # a port nobody listens on: bound (so that no other process can take it meanwhile), never listening
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert main(["explore", "--space", str(p), "--out", str(tmp_path / "o"), "--address",
                     f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no Ray head answers there" in err
    assert main(["explore", "--space", str(p), "--address", "nohost"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
