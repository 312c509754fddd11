"""HwqConfig: validation messages, slug, TOML/JSON round trip, derived widths bound the worst case."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from hwq.config import HwqConfig, load_config, paper_config
from hwq.errors import HwqError
from hwq.hadamard import rotate_int
from hwq.voronoi import codebook, codeword_of, pair_lut, row_to_digits

B0 = 0.43  # explicit beta0: no tuning run in these tests


@pytest.mark.parametrize("changes, field, value", [
    (dict(q=1), "q", "1"),
    (dict(q=2.5), "q", "2.5"),
    (dict(lattice="A2"), "lattice", "'A2'"),
    (dict(hadamard=48), "hadamard", "48"),
    (dict(hadamard=0), "hadamard", "0"),
    (dict(act_bits=1), "act_bits", "1"),
    (dict(ladder_step=1.0), "ladder_step", "1.0"),
    (dict(ladder_len=0), "ladder_len", "0"),
    (dict(dither="yes"), "dither", "'yes'"),
    (dict(dither_seed=-1), "dither_seed", "-1"),
    (dict(sign_seed=2**32), "sign_seed", str(2**32)),
    (dict(frac_bits=0), "frac_bits", "0"),
    (dict(decoder="fast"), "decoder", "'fast'"),
    (dict(hadamard_impl="x"), "hadamard_impl", "'x'"),
    (dict(beta0=-1.0), "beta0", "-1.0"),
    (dict(beta0=float("nan")), "beta0", "nan"),
    (dict(max_k=2), "max_k", "2"),
    (dict(max_k=2**24, hadamard=65536, act_bits=16, frac_bits=24), "max_k", str(2**24)),
])
def test_invalid_field_names_field_and_value(changes: dict, field: str, value: str) -> None:
    kw = dict(beta0=B0)
    kw.update(changes)
    with pytest.raises(HwqError) as ei:
        HwqConfig(**kw)
    msg = str(ei.value)
    assert f"'{field}'" in msg and value in msg, msg


def test_accumulator_overflow_message_says_how_to_fix() -> None:
    with pytest.raises(HwqError,
                       match=r"'max_k' .* accumulator \(\d+ bits > 64\) would overflow: lower .*max_k"):
        HwqConfig(beta0=B0, max_k=2**24, hadamard=65536, act_bits=16, frac_bits=24)


def test_from_dict_rejects_unknown_key() -> None:
    with pytest.raises(HwqError, match="unknown config field.*colour"):
        HwqConfig.from_dict({"lattice": "D3", "colour": "red"})
    with pytest.raises(HwqError, match="table/object"):
        HwqConfig.from_dict([1, 2])


SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
# a different valid value for every field
ALTERNATES = dict(lattice="D4", q=5, beta0=0.5, ladder_step=1.3, ladder_len=3, dither=True, dither_seed=9,
                  sign_seed=8, hadamard=32, act_bits=6, frac_bits=11, enc_frac_bits=18, side_bits=16,
                  max_k=8192, lanes=4, decoder="arith", hadamard_impl="folded", mmse=False)


def test_slug_deterministic_identifier_and_sensitive_to_every_field() -> None:
    base = HwqConfig(beta0=B0)
    assert SLUG.match(base.slug), base.slug
    assert base.slug.startswith("d3q6_nd_h64_l8_")
    assert HwqConfig(beta0=B0).slug == base.slug
    init_fields = set(base.to_dict())
    assert init_fields == set(ALTERNATES), "a new config field needs an entry in ALTERNATES"
    seen = {base.slug}
    for k, v in ALTERNATES.items():
        other = base.replace(**{k: v}, beta0=B0) if k != "beta0" else base.replace(beta0=v)
        assert SLUG.match(other.slug)
        assert other.slug != base.slug, f"slug ignores field {k}"
        seen.add(other.slug)
    assert len(seen) == len(ALTERNATES) + 1


@pytest.mark.parametrize("suffix", [".toml", ".json"])
@pytest.mark.parametrize("kw", [dict(), dict(lattice="E8", q=7, beta0=0.38, dither=True, decoder="arith"),
                                dict(lattice="Z", q=8, beta0=0.1 + 0.2, ladder_step=2 ** (1 / 3))])
def test_save_load_round_trip(tmp_path, suffix: str, kw: dict) -> None:
    cfg = HwqConfig(**({"beta0": B0} | kw))
    path = cfg.save(tmp_path / f"c{suffix}")
    back = load_config(path)
    assert back == cfg and back.slug == cfg.slug
    assert back.to_dict() == cfg.to_dict()
    assert back.beta0 == cfg.beta0 and back.ladder_step == cfg.ladder_step  # floats exact


def test_load_errors(tmp_path) -> None:
    with pytest.raises(HwqError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("lattice = \n")
    with pytest.raises(HwqError, match="not valid TOML"):
        load_config(bad)
    badj = tmp_path / "bad.json"
    badj.write_text("{")
    with pytest.raises(HwqError, match="not valid JSON"):
        load_config(badj)
    other = tmp_path / "c.yaml"
    other.write_text("q: 6\n")
    with pytest.raises(HwqError, match=r"\.toml or \.json"):
        load_config(other)
    with pytest.raises(HwqError, match=r"\.toml or \.json"):
        HwqConfig(beta0=B0).save(tmp_path / "c.txt")
    wrong = tmp_path / "w.json"
    wrong.write_text(json.dumps({"q": 1}))
    with pytest.raises(HwqError, match="'q' = 1"):
        load_config(wrong)


def test_fixed_point_ladder() -> None:
    cfg = HwqConfig(beta0=B0, ladder_step=2 ** 0.5, ladder_len=4, frac_bits=10)
    assert cfg.beta_mults == (1024, 1448, 2048, 2896)
    assert cfg.inv_beta_mults == (1024, 724, 512, 362)
    assert cfg.betas == pytest.approx([B0 * m / 1024 for m in cfg.beta_mults])
    assert cfg.ladder_bits == 2 and cfg.code_bits == 8 and cfg.act_max == 127
    assert HwqConfig(beta0=B0, ladder_len=1).ladder_bits == 0
    assert HwqConfig(beta0=B0, ladder_len=5).ladder_bits == 3


def _fits(v: int, bits: int) -> bool:
    return -(1 << (bits - 1)) <= v < (1 << (bits - 1))


@pytest.mark.parametrize("kw", [dict(), dict(lattice="Z", q=8), dict(lattice="D4", q=4),
                                dict(lattice="E8", q=3), dict(lattice="E8", q=7, hadamard=256, frac_bits=14)])
def test_derived_widths_bound_the_worst_case(kw: dict) -> None:
    cfg = HwqConfig(**({"beta0": B0} | kw))
    if cfg.num_codewords <= 1 << 16:
        cb = codebook(cfg.lattice, cfg.q).astype(np.int64)
    else:  # E8 q=7: every codeword with a large entry is a candidate; check a big sample
        rows = np.random.default_rng(0).integers(0, cfg.num_codewords, 200_000)
        cb = codeword_of(cfg.lat, cfg.q, row_to_digits(rows, cfg.q, cfg.dim))
    assert int(np.abs(cb).max()) <= cfg.coord_bound and _fits(int(np.abs(cb).max()), cfg.coord_bits)
    # the rotated activation bound is attained by x = act_max * signs and fits
    h = cfg.hadamard
    from hwq.prng import hadamard_signs

    x = cfg.act_max * hadamard_signs(cfg.sign_seed, h).astype(np.int64)
    xr = rotate_int(x, h, cfg.sign_seed)
    assert int(np.abs(xr).max()) == cfg.act_rot_bound and _fits(cfg.act_rot_bound, cfg.act_rot_bits)
    assert not _fits(-(cfg.act_rot_bound << 1), cfg.act_rot_bits)  # and the width is not wasteful
    # worst block dot product: the codeword with the largest L1 norm against +-act_rot_bound
    l1 = int(np.abs(cb).sum(axis=1).max())
    worst_dot = l1 * cfg.act_rot_bound
    assert worst_dot <= cfg.dot_bound and _fits(worst_dot, cfg.dot_bits) and _fits(-worst_dot, cfg.dot_bits)
    # worst accumulator: max_k / d blocks, each at the largest multiplier
    worst_acc = cfg.max_blocks * worst_dot * max(cfg.beta_mults)
    assert _fits(worst_acc, cfg.acc_bits) and _fits(-worst_acc, cfg.acc_bits) and cfg.acc_bits <= 64
    if cfg.num_codewords <= 4096:
        lut = pair_lut(cfg.lattice, cfg.q).astype(np.int64)
        lmax = int(np.abs(lut).max())
        assert lmax <= cfg.lut_bound and _fits(lmax, cfg.lut_bits)
        worst2 = cfg.max_blocks * lmax * max(cfg.beta_mults) ** 2
        assert _fits(worst2, cfg.lut_acc_bits) and _fits(-worst2, cfg.lut_acc_bits)
    w = cfg.widths()
    assert w["acc_bits"] == cfg.acc_bits and w["dot_bits"] == cfg.dot_bits


def test_decoder_kind_and_paper_config() -> None:
    assert HwqConfig(beta0=B0).decoder_kind == "rom"
    assert HwqConfig(beta0=B0, lattice="E8", q=7).decoder_kind == "arith"
    with pytest.raises(HwqError, match="'decoder'"):
        HwqConfig(beta0=B0, lattice="E8", q=7, decoder="rom")
    p = paper_config(beta0=0.43)
    assert p.dither and p.hadamard == 2048 and p.ladder_len == 16 and p.max_k == 6144
    assert p.ladder_step == pytest.approx(2 ** (1 / 3))


def test_frozen() -> None:
    cfg = HwqConfig(beta0=B0)
    with pytest.raises(AttributeError):
        cfg.q = 7  # type: ignore[misc]


# -- issue 13: the message names the field at fault; beta0 bounds and "auto"; files ------------------------

@pytest.mark.parametrize("changes, field, hint", [
    ({"ladder_len": 64}, "ladder_len", "ladder_len <= 26 fits"),
    ({"ladder_len": 40}, "ladder_len", "ladder_len <= 26 fits"),
    ({"q": 2 ** 20}, "q", "q <= 14189 fits"),
    ({"lattice": "Z", "q": 2 ** 20}, "q", "q <= 16385 fits"),
    ({"q": 2 ** 14}, "max_k", "max_k <= 12288 fits"),
])
def test_overflow_names_the_field_at_fault(changes: dict, field: str, hint: str) -> None:
    with pytest.raises(HwqError, match=f"config field '{field}' = ") as ei:
        HwqConfig(beta0=B0, **changes)
    assert hint in str(ei.value)
    # and the hint is true: the suggested bound builds, one more does not
    name, bound = hint.split(" <= ")[0], int(hint.split(" <= ")[1].split()[0])
    HwqConfig(**{"beta0": B0, **changes, name: bound})
    with pytest.raises(HwqError):
        HwqConfig(**{"beta0": B0, **changes, name: bound + 1})


@pytest.mark.parametrize("beta0, match", [(1e-300, "far too small: the top rung"), (1e300, "far too large"),
                                          (0.01, "far too small"), (True, "a finite number > 0 or 'auto'"),
                                          ("0.4", "a finite number > 0 or 'auto'"),
                                          (float("nan"), "a finite number > 0")])
def test_beta0_out_of_any_useful_range_is_refused(beta0, match: str) -> None:
    with pytest.raises(HwqError, match=f"'beta0' = .*{match}"):
        HwqConfig(beta0=beta0)


def test_beta0_auto_is_the_tuned_value() -> None:
    assert HwqConfig(beta0="auto") == HwqConfig(beta0=None) == HwqConfig()
    assert HwqConfig.from_dict({"q": 7, "beta0": "AUTO"}).beta0 == HwqConfig(q=7).beta0


def test_config_files_bad_and_odd(tmp_path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("  \n")
    with pytest.raises(HwqError, match="is empty"):
        load_config(empty)
    (tmp_path / "v.toml").write_text("config_version = 7\nq = 6\n")
    with pytest.raises(HwqError, match="config_version = 7 is not supported"):
        load_config(tmp_path / "v.toml")
    (tmp_path / "v.json").write_text('{"config_version": "1"}')
    with pytest.raises(HwqError, match="config_version = '1' is not supported"):
        load_config(tmp_path / "v.json")
    bom = tmp_path / "bom.toml"
    bom.write_bytes("\ufeff".encode() + HwqConfig(beta0=B0).to_toml().encode())
    assert load_config(bom) == HwqConfig(beta0=B0)
    (tmp_path / "latin.toml").write_bytes(b'# caf\xe9\nq = 6\n')
    with pytest.raises(HwqError, match="is not UTF-8 text"):
        load_config(tmp_path / "latin.toml")
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(HwqError, match="is a folder, not a file"):
        load_config(tmp_path / "dir.toml")
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(HwqError, match="nested too deeply|not valid JSON|must be a table"):
        load_config(tmp_path / "deep.json")
    (tmp_path / "auto.toml").write_text('q = 7\nbeta0 = "auto"\n')
    assert load_config(tmp_path / "auto.toml") == HwqConfig(q=7)


# -- ladder_select (the offline weight encoder's rung choice; tests/test_ladder_select.py tests the encoder)
def test_config_field_default_keeps_every_hash() -> None:
    default = HwqConfig()
    assert "ladder_select" not in default.to_dict()
    assert HwqConfig(ladder_select="first").hash == default.hash
    assert default.slug == "d3q6_nd_h64_l8_a1464a"  # the committed reports/roofline files carry this name
    best = HwqConfig(ladder_select="best")
    assert best.to_dict()["ladder_select"] == "best" and best.slug != default.slug
    assert HwqConfig.from_dict(best.to_dict()) == best
    assert best.replace(q=5).ladder_select == "best"
    for bad in ("min", "", None, 1):
        with pytest.raises(HwqError, match="ladder_select.*allowed: first .* or best"):
            HwqConfig(ladder_select=bad)


def test_config_files_and_cli_carry_it(tmp_path, capsys) -> None:
    from hwq.cli import main

    out = tmp_path / "b.toml"
    assert main(["config", "--set", "ladder_select=best", "--set", "lattice=E8", "--set", "q=7",
                 "--out", str(out)]) == 0
    cfg = load_config(out)
    assert cfg.ladder_select == "best" and cfg.lattice == "E8"
    assert 'ladder_select = "best"' in out.read_text()
    js = cfg.save(tmp_path / "b.json")
    assert load_config(js) == cfg
    assert main(["config", "--set", "ladder_select=min"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ladder_select" in err[0] and "Traceback" not in err[0]


def test_a_huge_ladder_step_is_refused_not_overflowed() -> None:
    """Found by tests/test_trust_data.py's hypothesis run: ladder_step = 5.6e101 made beta_mults overflow."""
    for step in (5.599361855444511e101, 1e300):
        with pytest.raises(HwqError, match="'ladder_step'.*beyond any 64-bit accumulator"):
            HwqConfig(ladder_step=step, beta0=B0)
