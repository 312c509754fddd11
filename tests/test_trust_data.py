"""Issue 13, data side: a table of bad inputs (one clear line, exit 2 or HwqError, nothing changed on disk)
and property tests that mutate container and config files at random and never see anything but HwqError
or a correct load."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwq.cli import main
from hwq.config import HwqConfig, load_config
from hwq.container import EncodedMatrix, config_hash, load_encoded
from hwq.errors import HwqError
from hwq.matmul import decode_matrix, encode_matrix, estimate_product

B0 = 0.432  # the tuned D3 q=6 value: no Monte Carlo tuning in these tests
CFG = HwqConfig(beta0=B0)
GOOD_TOML = CFG.to_toml()
DEVICE = """[mybox]
name = "My box"
kind = "cpu"
bandwidth_gbs = 50.0
peak_tops = { fp32 = 1.5 }
measured = [{ kernel = "fp32 gemv", family = "fp32", k = 4096, m = 4096, batch = 1, time_us = 1300.0 }]
"""


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


# -- the CLI table: exit 2, one line on stderr, no traceback, nothing written ------------------------------

CLI_CASES = [
    # (id, files to create, argv (DIR is the temporary folder), text the one line must contain)
    ("config-empty", {"c.toml": b""}, ["config", "--config", "DIR/c.toml"], "is empty"),
    ("config-version", {"c.toml": b"config_version = 99\nq = 6\n"}, ["config", "--config", "DIR/c.toml"],
     "config_version = 99 is not supported"),
    ("config-not-utf8", {"c.toml": b"# caf\xe9\nq = 6\n"}, ["config", "--config", "DIR/c.toml"],
     "is not UTF-8 text"),
    ("config-directory", {"c.toml": None}, ["config", "--config", "DIR/c.toml"], "is a folder, not a file"),
    ("config-deep-json", {"c.json": b"[" * 50000 + b"]" * 50000}, ["config", "--config", "DIR/c.json"],
     "config file"),
    ("ladder_len-64", {}, ["config", "--set", "beta0=0.432", "--set", "ladder_len=64"],
     "config field 'ladder_len' = 64"),
    ("q-2**20", {}, ["config", "--set", "beta0=0.432", "--set", "q=1048576"], "config field 'q' = 1048576"),
    ("beta0-tiny", {}, ["config", "--set", "beta0=1e-300"],
     "config field 'beta0' = 1e-300 is invalid: far too small"),
    ("beta0-huge", {}, ["config", "--set", "beta0=1e300"], "far too large"),
    ("beta0-None-word", {}, ["config", "--set", "beta0=None"], "a finite number > 0 or 'auto'"),
    ("config-unknown-field", {"c.toml": GOOD_TOML.encode() + b"colour = 1\n"},
     ["config", "--config", "DIR/c.toml"],
     "unknown config field(s) colour"),
    ("device-misspelled", {"d.toml": DEVICE.replace("bandwidth_gbs", "bandwith_gbs").encode()},
     ["roofline", "--list", "--device-file", "DIR/d.toml"], "unknown key(s) 'bandwith_gbs'; allowed: "),
    ("device-negative-time", {"d.toml": DEVICE.replace("1300.0", "-1300.0").encode()},
     ["roofline", "--list", "--device-file", "DIR/d.toml"], "time_us = -1300.0"),
    ("device-zero-time", {"d.toml": DEVICE.replace("1300.0", "0.0").encode()},
     ["roofline", "--list", "--device-file", "DIR/d.toml"], "time_us = 0.0"),
    ("device-not-utf8", {"d.toml": b"# \xff\n" + DEVICE.encode()},
     ["roofline", "--list", "--device-file", "DIR/d.toml"], "is not UTF-8 text"),
]


@pytest.mark.parametrize("files, argv, text", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_table(tmp_path, capsys, files: dict, argv: list[str], text: str) -> None:
    for name, data in files.items():
        if data is None:
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_bytes(data)
    before = _snapshot(tmp_path)
    code = main([a.replace("DIR", str(tmp_path)) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwq: error: ") and "Traceback" not in err, err
    assert text in lines[0], lines[0]
    assert _snapshot(tmp_path) == before


def test_cli_accepts_bom_and_beta0_auto(tmp_path, capsys) -> None:
    (tmp_path / "c.toml").write_bytes("\ufeff".encode() + GOOD_TOML.encode())
    assert main(["config", "--config", str(tmp_path / "c.toml")]) == 0
    assert CFG.slug in capsys.readouterr().out
    assert main(["config", "--set", "beta0=auto", "--out", str(tmp_path / "auto.toml")]) == 0
    assert load_config(tmp_path / "auto.toml") == HwqConfig()


# -- the API table: HwqError with one line, nothing changed on disk ----------------------------------------

def _good_container(tmp_path: Path) -> tuple[EncodedMatrix, Path]:
    enc = encode_matrix(np.random.default_rng(0).standard_normal((192, 6)), CFG, matrix_id=1)
    return enc, enc.save(tmp_path / "good.npz")


def _forged(tmp_path: Path, *, meta: dict | None = None, cfg: dict | None = None, consistent: bool = True,
            **arrays: np.ndarray) -> Path:
    """A container rewritten by a writer that keeps slug, config hash and digest consistent (or not)."""
    _, good = _good_container(tmp_path)
    with np.load(good, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    m, c = json.loads(str(a["meta"])), json.loads(str(a["config"]))
    c.update(cfg or {})
    a.update(arrays, config=np.array(json.dumps(c)))
    if consistent:
        conf = HwqConfig.from_dict(c)
        m.update(slug=conf.slug, config_hash=config_hash(conf))
        m["digest"] = EncodedMatrix(conf, m["n"], m["cols"], m["matrix_id"], a["codes"], a["ladder"],
                                    a["norms"], m["overloads"]).digest()
    m.update(meta or {})
    a["meta"] = np.array(json.dumps(m))
    np.savez(tmp_path / "bad.npz", **a)
    return tmp_path / "bad.npz"


def _codes_255(tmp_path: Path) -> Callable[[], object]:
    enc, _ = _good_container(tmp_path)
    codes = enc.codes.copy()
    codes[0, 0] = 255
    p = _forged(tmp_path, codes=codes)
    return lambda: load_encoded(p)


def _norm(value: float) -> Callable[[Path], Callable[[], object]]:
    def make(tmp_path: Path) -> Callable[[], object]:
        enc, _ = _good_container(tmp_path)
        norms = enc.norms.copy()
        norms[1] = value
        p = _forged(tmp_path, norms=norms)
        return lambda: load_encoded(p)
    return make


def _meta(**meta) -> Callable[[Path], Callable[[], object]]:
    def make(tmp_path: Path) -> Callable[[], object]:
        p = _forged(tmp_path, meta=meta)
        return lambda: load_encoded(p)
    return make


def _forged_config(tmp_path: Path) -> Callable[[], object]:
    forged = HwqConfig(beta0=0.5)
    p = _forged(tmp_path, cfg={"beta0": 0.5}, consistent=False, meta={"slug": forged.slug})
    return lambda: load_encoded(p)


def _npy(tmp_path: Path) -> Callable[[], object]:
    np.save(tmp_path / "w.npy", np.ones((192, 4)))
    return lambda: load_encoded(tmp_path / "w.npy")


def _matrix(scale: float, entry: bool = False) -> Callable[[Path], Callable[[], object]]:
    def make(tmp_path: Path) -> Callable[[], object]:
        a = np.random.default_rng(0).standard_normal((192, 4))
        if entry:
            a[3, 2] = scale
        else:
            a *= scale
        return lambda: encode_matrix(a, CFG)
    return make


API_CASES = [
    ("code-255-d3q6", _codes_255, "code 255 at column 0, block 0 is out of range [0, 216)"),
    ("norm-nan", _norm(float("nan")), "norm of column 1 is nan"),
    ("norm-inf", _norm(float("inf")), "norm of column 1 is inf"),
    ("norm-negative", _norm(-2.0), "norm of column 1 is -2.0"),
    ("meta-n-string", _meta(n="192"), "meta field 'n' = '192' must be an integer"),
    ("meta-cols-string", _meta(cols="6"), "meta field 'cols' = '6' must be an integer"),
    ("meta-cols-float", _meta(cols=6.0), "meta field 'cols' = 6.0 must be an integer"),
    ("forged-config", _forged_config, "does not match the config hash recorded at save time"),
    ("plain-npy", _npy, "is a plain .npy array, not an hwq container"),
    ("encode-entry-1e39", _matrix(1e39, entry=True), "column 2 has norm 1e+39, above the float32 range"),
    ("encode-scale-1e-300", _matrix(1e-300), "column 0 has norm 1.34e-299, below the float32 range"),
    ("encode-cfg-None", lambda tmp: (lambda: encode_matrix(np.ones((192, 2)), None)), "needs an HwqConfig"),
    ("decode-not-container", lambda tmp: (lambda: decode_matrix(np.ones((192, 2)))),
     "must be an EncodedMatrix"),
    ("product-not-container", lambda tmp: (lambda: estimate_product(None, None)), "must be an EncodedMatrix"),
]


@pytest.mark.parametrize("make, text", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_bad_input_table(tmp_path, make, text: str) -> None:
    call = make(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(HwqError) as ei:
        call()
    msg = str(ei.value)
    assert "\n" not in msg and text in msg, msg
    assert _snapshot(tmp_path) == before


# -- property tests: random mutations of container and config files ----------------------------------------

_ENC = encode_matrix(np.random.default_rng(3).standard_normal((96, 5)), HwqConfig(beta0=B0, hadamard=32),
                     matrix_id=2)


def _same(a: EncodedMatrix, b: EncodedMatrix) -> bool:
    return (a.config == b.config and (a.n, a.cols, a.matrix_id, a.overloads) == (b.n, b.cols, b.matrix_id,
                                                                                 b.overloads)
            and all(getattr(a, f).tobytes() == getattr(b, f).tobytes() for f in ("codes", "ladder", "norms")))


def _refused_or_same(path: Path, data: bytes) -> None:
    """Loading the container bytes ``data`` (written to ``path``) either fails with a one-line HwqError or
    gives back exactly ``_ENC``."""
    path.write_bytes(data)
    try:
        back = load_encoded(path)
    except HwqError as e:
        assert "\n" not in str(e)
        return
    assert _same(back, _ENC)


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory) -> bytes:
    return _ENC.save(tmp_path_factory.mktemp("c") / "good.npz").read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1,
                      max_size=6),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_container_byte_mutations_are_refused_or_harmless(tmp_path, good_bytes: bytes, flips, cut) -> None:
    data = bytearray(good_bytes)
    for pos, x in flips:
        data[int(pos * len(data))] ^= x
    if cut is not None:
        data = data[: int(cut * len(data))]
    # refused in one line, or (a flip in bytes nobody reads: zip timestamps, ...) nothing changed
    _refused_or_same(tmp_path / "m.npz", bytes(data))


_json = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
                     | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                     max_leaves=6)
_META_KEYS = ["format", "version", "n", "cols", "matrix_id", "overloads", "slug", "config_hash", "digest",
              "x"]
_CFG_KEYS = ["lattice", "q", "beta0", "ladder_len", "ladder_step", "hadamard", "max_k", "decoder", "mmse",
             "config_version", "x"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=st.dictionaries(st.sampled_from(_META_KEYS), _json, max_size=3),
       cfg=st.dictionaries(st.sampled_from(_CFG_KEYS), _json, max_size=2),
       array=st.sampled_from([None, "codes", "ladder", "norms"]), value=st.integers(0, 255),
       fix=st.booleans())
def test_container_field_mutations_are_refused_or_correct(tmp_path, meta, cfg, array, value: int,
                                                          fix: bool) -> None:
    p = _ENC.save(tmp_path / "good.npz")
    with np.load(p, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    m, c = json.loads(str(a["meta"])), json.loads(str(a["config"]))
    c.update(cfg)
    m.update(meta)
    if array is not None:
        arr = a[array].copy()
        arr.view(np.uint8).reshape(-1)[value % arr.nbytes] ^= 0xFF
        a[array] = arr
    if fix:  # a writer that recomputes slug, hash and digest: only the content checks stand in the way
        try:
            conf = HwqConfig.from_dict(c)
            probe = EncodedMatrix(conf, m["n"], m["cols"], m["matrix_id"], a["codes"], a["ladder"],
                                  a["norms"], m["overloads"])
            m.update(slug=conf.slug, config_hash=config_hash(conf), digest=probe.digest())
        except (HwqError, KeyError, TypeError):
            pass
    a["meta"] = np.array(json.dumps(m))
    a["config"] = np.array(json.dumps(c))
    np.savez(tmp_path / "m.npz", **a)
    try:
        back = load_encoded(tmp_path / "m.npz")
    except HwqError as e:
        assert "\n" not in str(e)
        return
    if not fix:
        assert _same(back, _ENC)
    # whatever loads decodes without an out-of-range read and gives finite values
    assert np.all(np.isfinite(decode_matrix(back)))


@pytest.fixture(scope="module")
def config_text() -> str:
    return GOOD_TOML + '# comment\n'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from(["flip", "del", "ins"]),
                                st.binary(min_size=1, max_size=3)), min_size=1, max_size=4),
       suffix=st.sampled_from([".toml", ".json"]))
def test_config_file_mutations_are_refused_or_valid(tmp_path, config_text: str, edits, suffix: str) -> None:
    data = bytearray((config_text if suffix == ".toml" else CFG.to_json()).encode())
    for pos, op, b in edits:
        i = int(pos * len(data)) if data else 0
        if op == "flip" and data:
            data[i] ^= b[0]
        elif op == "del":
            del data[i:i + len(b)]
        else:
            data[i:i] = b
    p = tmp_path / f"c{suffix}"
    p.write_bytes(bytes(data))
    try:
        cfg = load_config(p)
    except HwqError as e:
        assert "\n" not in str(e).strip() or "not valid" in str(e)
        return
    assert isinstance(cfg, HwqConfig) and cfg == HwqConfig.from_dict(cfg.to_dict())


def test_container_header_damage_is_refused(tmp_path, good_bytes: bytes) -> None:
    # zip header fields that hypothesis rarely hits: compression method, version needed, encryption flags
    # (zipfile raises NotImplementedError / RuntimeError for these); every local header and the directory
    starts = [i for i in range(len(good_bytes) - 4) if good_bytes[i:i + 4] in (b"PK\x03\x04", b"PK\x01\x02")]
    assert len(starts) == 10
    for s in starts:
        local = good_bytes[s:s + 4] == b"PK\x03\x04"
        for off, x in ((4, 0x30), (6 if local else 8, 0x01), (6 if local else 8, 0x40),
                       (8 if local else 10, 0x08),
                       (8 if local else 10, 0x0E)):
            data = bytearray(good_bytes)
            data[s + off] ^= x
            _refused_or_same(tmp_path / "m.npz", bytes(data))


@pytest.mark.parametrize("fn",
                         ["weight_only_gemv", "both_quantized_gemv", "weight_codewords", "weight_scale"])
def test_datapath_refuses_a_non_container(fn: str) -> None:
    from hwq import datapath

    args = (np.ones(192),) if fn.endswith("gemv") else ()
    with pytest.raises(HwqError, match="must be an EncodedMatrix .* got dict"):
        getattr(datapath, fn)({"codes": 1}, *args)
