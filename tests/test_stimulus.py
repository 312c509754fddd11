"""hwq.stimulus (and hwq.sim.payload): packing round trips, vectors equal to the reference, one generator."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.datapath import weight_only_acc
from hwq.errors import HwqError
from hwq.stimulus import _enc_weights, extreme_rows, make_vectors
from hwq.sim.payload import Layout, pack, pack_words, unpack, unpack_words

CFG = HwqConfig(hadamard=16, lanes=4)


def _layout() -> Layout:
    return Layout([["codes", 0, 8, 4, False], ["x", 32, 11, 3, True], ["last", 65, 1, 1, False]])


def test_pack_unpack_roundtrip_and_words_agree() -> None:
    lay = _layout()
    rng = np.random.default_rng(0)
    n = 50
    vals = {"codes": rng.integers(0, 256, (n, 4)), "x": rng.integers(-1024, 1024, (n, 3)),
            "last": rng.integers(0, 2, (n, 1))}
    words = pack_words(lay, vals, n)
    assert words.shape == (n, 3)
    for i in range(n):
        w = pack(lay, {"codes": vals["codes"][i], "x": vals["x"][i], "last": int(vals["last"][i, 0])})
        assert w == sum(int(words[i, j]) << (32 * j) for j in range(3))
        back = unpack(lay, w)
        assert back["codes"] == vals["codes"][i].tolist() and back["x"] == vals["x"][i].tolist()
    assert np.array_equal(unpack_words(lay, words, "x"), vals["x"])


def test_pack_rejects_out_of_range() -> None:
    lay = _layout()
    with pytest.raises(HwqError, match="does not fit field 'x'"):
        pack(lay, {"x": [1024, 0, 0]})
    with pytest.raises(HwqError, match="unknown payload field"):
        pack(lay, {"nope": 1})


def test_top_vectors_equal_weight_only_acc() -> None:
    vec = make_vectors("top", CFG, seed=3, n_vec=2)
    k, m, lanes = vec.meta["K"], vec.meta["M"], CFG.lanes
    nb = k // CFG.dim
    x = vec.beats["x"]["x"].reshape(2, k)
    assert vec.beats["w"]["last"].sum() == 2 * (m // lanes) and vec.beats["w"]["done"].sum() == 2
    from hwq.datapath import rotate_activations

    for j in range(2):
        w = {f: vec.beats["w"][f][j * (m // lanes) * nb:(j + 1) * (m // lanes) * nb]
             for f in ("codes", "ladder")}
        rows = w["codes"].reshape(m // lanes, nb, lanes).transpose(0, 2, 1).reshape(m, nb)
        lad = w["ladder"].reshape(m // lanes, nb, lanes).transpose(0, 2, 1).reshape(m, nb)
        acc = weight_only_acc(_enc_weights(CFG, rows, lad), rotate_activations(x[j][:, None], CFG))[:, 0]
        assert np.array_equal(vec.beats["o"]["acc"][j * 2:(j + 1) * 2].reshape(-1), acc)
        assert np.any(acc != 0)


def test_extremes_present() -> None:
    vec = make_vectors("mac", CFG, seed=1, n_tx=3, max_len=2, long_tx=True)
    assert int(vec.tx["i"][1]) == CFG.max_blocks  # the longest dot product the width is sized for
    acc = vec.beats["o"]["acc"]
    assert acc[0].max() > 0 and acc[1].min() < 0
    assert int(np.abs(acc).max()) < 1 << (CFG.acc_bits - 1)
    assert int(np.abs(acc).max()) > 1 << (CFG.acc_bits - 5)  # close to the derived width
    rows = extreme_rows(CFG, np.random.default_rng(0), 1)
    assert rows.shape == (1,)
    x = make_vectors("top", CFG, seed=1, n_vec=2).beats["x"]["x"]
    assert x.min() == -CFG.act_max


def test_unknown_unit() -> None:
    with pytest.raises(HwqError, match="unknown RTL unit"):
        make_vectors("alu", CFG, 1)
