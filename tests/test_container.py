"""EncodedMatrix container: exact npz round trip (no pickle), rate accounting, corrupted files."""

from __future__ import annotations

import gc
import json
import math
import zipfile

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix, load_encoded
from hwq.errors import HwqError
from hwq.matmul import encode_matrix
from hwq.packing import packed_bytes

CFGS = [HwqConfig(beta0=0.43), HwqConfig(lattice="E8", q=7, beta0=0.38, dither=True),
        HwqConfig(lattice="Z", q=8, beta0=0.39, ladder_len=3)]


def _enc(cfg: HwqConfig, n: int = 192, cols: int = 7, seed: int = 0) -> EncodedMatrix:
    a = np.random.default_rng(seed).standard_normal((n, cols))
    a[:, 0] *= 30.0
    return encode_matrix(a, cfg, matrix_id=3)


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.slug)
def test_save_load_round_trip_bit_exact(tmp_path, cfg: HwqConfig) -> None:
    n = 192 if cfg.dim != 8 else 256
    enc = _enc(cfg, n=n)
    path = enc.save(tmp_path / "m.npz")
    back = load_encoded(path)
    assert back.config == cfg and back.config.slug == cfg.slug
    assert (back.n, back.cols, back.matrix_id, back.overloads) == (enc.n, enc.cols, 3, enc.overloads)
    for name in ("codes", "ladder", "norms"):
        a, b = getattr(enc, name), getattr(back, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(back.rows(), enc.rows())
    np.testing.assert_array_equal(back.ladder_index(), enc.ladder_index())
    # no pickled objects: every member loads with allow_pickle=False and none has object dtype
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    # rows / ladder unpack to the documented packed widths
    nb = n // cfg.dim
    assert enc.codes.shape == (enc.cols, packed_bytes(nb, cfg.code_bits))
    assert enc.rows().max() < cfg.num_codewords and enc.ladder_index().max() < cfg.ladder_len


def test_save_adds_npz_suffix(tmp_path) -> None:
    enc = _enc(CFGS[0])
    p = enc.save(tmp_path / "m")
    assert p.name == "m.npz" and p.is_file()
    np.testing.assert_array_equal(load_encoded(p).rows(), enc.rows())


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.slug)
def test_rates(cfg: HwqConfig) -> None:
    n = 192 if cfg.dim != 8 else 256
    enc = _enc(cfg, n=n)
    entries = enc.n * enc.cols
    assert enc.rate_packed() == pytest.approx(8 * (enc.codes.nbytes + enc.ladder.nbytes) / entries
                                              + cfg.side_bits / enc.n, rel=1e-12)
    t = enc.ladder_index().ravel()
    p = np.array([np.mean(t == v) for v in range(cfg.ladder_len)])
    h = -sum(v * math.log2(v) for v in p if v > 0)
    assert enc.ladder_entropy() == pytest.approx(h, abs=1e-12)
    assert enc.rate_entropy() == pytest.approx(math.log2(cfg.q) + h / cfg.dim + cfg.side_bits / enc.n,
                                               rel=1e-12)
    assert enc.nbytes() == enc.codes.nbytes + enc.ladder.nbytes + 4 * enc.cols


def test_rate_packed_d3_q6_figure() -> None:
    # D3 q=6: 8-bit code + 2-bit ladder per 3 entries: 10/3 bits + 32/n
    enc = _enc(CFGS[0], n=192 * 4, cols=4)
    assert enc.rate_packed() == pytest.approx(10 / 3 + 32 / 768, rel=1e-12)


def test_inconsistent_arrays_rejected() -> None:
    enc = _enc(CFGS[0])
    with pytest.raises(HwqError, match="container field codes"):
        EncodedMatrix(enc.config, enc.n, enc.cols, 0, enc.codes[:, :-1], enc.ladder, enc.norms)
    with pytest.raises(HwqError, match="container field norms"):
        EncodedMatrix(enc.config, enc.n, enc.cols, 0, enc.codes, enc.ladder, enc.norms.astype(np.float64))
    with pytest.raises(HwqError, match="multiple of the block size"):
        EncodedMatrix(enc.config, enc.n + 1, enc.cols, 0, enc.codes, enc.ladder, enc.norms)


def _rewrite(src, dst, **changes) -> None:
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        del arrays[k]
    np.savez(dst, **arrays)


def test_missing_and_corrupted_files(tmp_path) -> None:
    enc = _enc(CFGS[0])
    good = enc.save(tmp_path / "good.npz")
    with pytest.raises(HwqError, match="does not exist"):
        load_encoded(tmp_path / "nope.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an npz file at all" * 10)
    with pytest.raises(HwqError, match="not a readable .npz"):
        load_encoded(garbage)
    _rewrite(good, tmp_path / "nometa.npz", meta=None)
    with pytest.raises(HwqError, match="missing meta"):
        load_encoded(tmp_path / "nometa.npz")
    _rewrite(good, tmp_path / "short.npz", codes=enc.codes[:, :-1])
    with pytest.raises(HwqError, match="container field codes"):
        load_encoded(tmp_path / "short.npz")
    with np.load(good) as z:
        meta = json.loads(str(z["meta"]))
        cfg = json.loads(str(z["config"]))
    _rewrite(good, tmp_path / "fmt.npz", meta=np.array(json.dumps(meta | {"format": "other"})))
    with pytest.raises(HwqError, match="unsupported container format"):
        load_encoded(tmp_path / "fmt.npz")
    _rewrite(good, tmp_path / "slug.npz", meta=np.array(json.dumps(meta | {"slug": "d3q6_nd_h64_l8_000000"})))
    with pytest.raises(HwqError, match="does not match the recorded"):
        load_encoded(tmp_path / "slug.npz")
    _rewrite(good, tmp_path / "cfg.npz", config=np.array(json.dumps(cfg | {"q": 1})))
    with pytest.raises(HwqError, match="'q' = 1"):
        load_encoded(tmp_path / "cfg.npz")


@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_truncated_file_is_hwq_error(tmp_path) -> None:
    good = _enc(CFGS[0]).save(tmp_path / "good.npz")
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    got: type | None = None
    try:
        load_encoded(bad)
    except Exception as e:  # noqa: BLE001 - the type is what is tested
        got = type(e)
    gc.collect()  # np.load leaks the open file when the zip is unreadable: collect it inside this test
    assert got is HwqError, f"truncated file raised {got} (zipfile.BadZipFile is {zipfile.BadZipFile})"


@pytest.mark.parametrize("meta", ["{not json", json.dumps({"format": "hwq-encoded-matrix", "version": 1})])
def test_corrupted_meta_is_hwq_error(tmp_path, meta: str) -> None:
    good = _enc(CFGS[0]).save(tmp_path / "good.npz")
    _rewrite(good, tmp_path / "meta.npz", meta=np.array(meta))
    try:
        load_encoded(tmp_path / "meta.npz")
    except HwqError:
        return
    pytest.fail("no error for a corrupted meta record")


# -- validation on load: ranges, norms, meta types, forged configs, plain .npy ------------------------

def _forge(src, dst, *, meta: dict | None = None, cfg: dict | None = None, fix_digest: bool = True,
           **arrays) -> None:
    """Rewrite a container as a careless or adversarial writer would: change arrays, meta or config and,
    with ``fix_digest``, recompute the slug, config hash and digest so that only the content checks remain."""
    from hwq.container import config_hash

    with np.load(src, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    m = json.loads(str(a["meta"]))
    c = json.loads(str(a["config"]))
    if cfg:
        c.update(cfg)
        a["config"] = np.array(json.dumps(c))
    a.update(arrays)
    if fix_digest:
        good = HwqConfig.from_dict(c)
        m.update(slug=good.slug, config_hash=config_hash(good))
        probe = EncodedMatrix(good, m["n"], m["cols"], m["matrix_id"], a["codes"], a["ladder"], a["norms"],
                              m["overloads"])
        m["digest"] = probe.digest()
    m.update(meta or {})
    a["meta"] = np.array(json.dumps(m))
    np.savez(dst, **a)


def test_code_out_of_range_is_refused(tmp_path) -> None:
    enc = _enc(CFGS[0])  # D3 q=6: 216 codewords in 8-bit codes
    good = enc.save(tmp_path / "good.npz")
    codes = enc.codes.copy()
    codes[2, 5] = 255
    _forge(good, tmp_path / "bad.npz", codes=codes)
    with pytest.raises(HwqError, match=r"code 255 at column 2, block 5 is out of range \[0, 216\)"):
        load_encoded(tmp_path / "bad.npz")


def test_ladder_out_of_range_and_padding_refused(tmp_path) -> None:
    cfg = CFGS[2]  # Z q=8 with a 3-rung ladder: 2-bit ladder field, index 3 is out of range
    enc = _enc(cfg)
    good = enc.save(tmp_path / "good.npz")
    lad = enc.ladder.copy()
    lad[1, 0] |= 0b11
    _forge(good, tmp_path / "bad.npz", ladder=lad)
    with pytest.raises(HwqError, match=r"ladder index 3 at column 1, block 0 is out of range \[0, 3\)"):
        load_encoded(tmp_path / "bad.npz")
    # padding bits after the last code of a column must be zero
    cfg = HwqConfig(lattice="D3", q=5, beta0=0.5, hadamard=1)
    enc = encode_matrix(np.random.default_rng(1).standard_normal((15, 3)), cfg)  # 5 blocks x 7 bits = 35 bits
    good = enc.save(tmp_path / "pad.npz")
    codes = enc.codes.copy()
    codes[0, -1] |= 0x80  # bit 39: padding
    _forge(good, tmp_path / "badpad.npz", codes=codes)
    with pytest.raises(HwqError, match="non-zero padding bits"):
        load_encoded(tmp_path / "badpad.npz")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, -1.0])
def test_bad_norms_refused(tmp_path, value: float) -> None:
    enc = _enc(CFGS[0])
    good = enc.save(tmp_path / "good.npz")
    norms = enc.norms.copy()
    norms[4] = value
    _forge(good, tmp_path / "bad.npz", norms=norms)
    with pytest.raises(HwqError, match="norm of column 4 is .* must be finite and >= 0"):
        load_encoded(tmp_path / "bad.npz")


@pytest.mark.parametrize("field, value", [("n", "192"), ("cols", "7"), ("cols", 7.0), ("matrix_id", None),
                                          ("overloads", True), ("slug", 5), ("n", 0), ("matrix_id", -1),
                                          ("overloads", 10 ** 9)])
def test_meta_field_types_refused(tmp_path, field: str, value) -> None:
    good = _enc(CFGS[0]).save(tmp_path / "good.npz")
    _forge(good, tmp_path / "bad.npz", meta={field: value})
    with pytest.raises(HwqError, match=f"'?{field}'?"):
        load_encoded(tmp_path / "bad.npz")


def test_consistent_but_forged_config_is_caught(tmp_path) -> None:
    enc = _enc(CFGS[0])
    good = enc.save(tmp_path / "good.npz")
    # another beta0, slug recomputed so that slug and config agree: the recorded config hash disagrees
    with np.load(good) as z:
        c = json.loads(str(z["config"]))
        m = json.loads(str(z["meta"]))
    c["beta0"] = 0.5
    forged = HwqConfig.from_dict(c)
    _forge(good, tmp_path / "f1.npz", cfg={"beta0": 0.5}, fix_digest=False, meta={"slug": forged.slug})
    with pytest.raises(HwqError, match="config hash recorded at save time"):
        load_encoded(tmp_path / "f1.npz")
    # config and its hash recomputed but not the digest over the contents
    from hwq.container import config_hash

    _forge(good, tmp_path / "f2.npz", cfg={"beta0": 0.5}, fix_digest=False,
           meta={"slug": forged.slug, "config_hash": config_hash(forged)})
    with pytest.raises(HwqError, match="digest recorded at save time"):
        load_encoded(tmp_path / "f2.npz")
    # a config record swapped in from another container of the same shape
    other = encode_matrix(np.random.default_rng(0).standard_normal((192, 7)), HwqConfig(beta0=0.5),
                          matrix_id=3)
    src = other.save(tmp_path / "other.npz")
    with np.load(src) as z:
        m2 = json.loads(str(z["meta"]))
        cfg2 = str(z["config"])
    _forge(good, tmp_path / "f3.npz", fix_digest=False, config=np.array(cfg2),
           meta={"slug": m2["slug"], "config_hash": m2["config_hash"]})
    with pytest.raises(HwqError, match="digest recorded at save time"):
        load_encoded(tmp_path / "f3.npz")
    assert m["digest"] != m2["digest"]


def test_plain_npy_and_old_version_refused(tmp_path) -> None:
    np.save(tmp_path / "w.npy", np.zeros((4, 4)))
    with pytest.raises(HwqError, match="plain .npy array, not an hwq container"):
        load_encoded(tmp_path / "w.npy")
    good = _enc(CFGS[0]).save(tmp_path / "good.npz")
    _forge(good, tmp_path / "v1.npz", meta={"version": 1})
    with pytest.raises(HwqError, match="container version 1 is not supported"):
        load_encoded(tmp_path / "v1.npz")
    _forge(good, tmp_path / "arr.npz", meta=None, fix_digest=False, config=np.arange(3))
    with pytest.raises(HwqError, match="config record must be one string"):
        load_encoded(tmp_path / "arr.npz")


def test_hand_built_container_with_bad_codes_decodes_to_an_error() -> None:
    from hwq.matmul import decode_matrix

    enc = _enc(CFGS[0])
    codes = enc.codes.copy()
    codes[0, 0] = 250
    bad = EncodedMatrix(enc.config, enc.n, enc.cols, 3, codes, enc.ladder, enc.norms)
    with pytest.raises(HwqError, match=r"codebook row 250 is out of range \[0, 216\)"):
        decode_matrix(bad)
    with pytest.raises(HwqError, match="code 250 at column 0, block 0"):
        bad.check_contents()
