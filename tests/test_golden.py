"""Golden vectors: write + verify round trip, and a corrupted array is detected and named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.golden import golden_shape, verify_golden, write_golden

CFGS = [HwqConfig(beta0=0.432), HwqConfig(lattice="E8", q=3, beta0=0.6, hadamard=32, lanes=4),
        HwqConfig(dither=True, beta0=0.4257)]


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: c.slug)
def test_write_verify_round_trip(tmp_path, cfg: HwqConfig) -> None:
    man = write_golden(cfg, tmp_path, n_ops=256)
    assert man["slug"] == cfg.slug and man["integer_datapath"] == (not cfg.dither)
    npz = tmp_path / f"{cfg.slug}.npz"
    assert npz.is_file() and (tmp_path / f"{cfg.slug}.json").is_file()
    arrays = verify_golden(npz)
    k, m, b = golden_shape(cfg)
    assert arrays["w"].shape == (k, m) and arrays["x"].shape == (k, b)
    assert set(man["arrays"]) == set(arrays)
    if not cfg.dither:
        for name in ("acc", "acc2", "y", "y2", "x_rot", "op_out"):
            assert name in arrays
        assert np.abs(arrays["y"]).max() > 0  # an all-zero output could not catch anything
        # the single-block operations include the extremes of the activation range
        assert np.abs(arrays["op_x"]).max() == cfg.act_rot_bound
    else:
        assert "acc" not in arrays
    # deterministic: a second write gives identical arrays and hashes (zip timestamps aside)
    again = write_golden(cfg, tmp_path / "again", n_ops=256)
    assert again["arrays"] == man["arrays"]


@pytest.mark.parametrize("name", ["acc", "codes", "w", "pair_lut"])
def test_corrupted_array_is_detected_and_named(tmp_path, name: str) -> None:
    cfg = CFGS[0]
    write_golden(cfg, tmp_path, n_ops=64)
    npz = tmp_path / f"{cfg.slug}.npz"
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k].copy() for k in z.files}
    a = arrays[name]
    flat = a.reshape(-1)
    flat[len(flat) // 2] = flat[len(flat) // 2] + 1 if a.dtype.kind != "f" else flat[len(flat) // 2] * 1.5 + 1
    np.savez(npz, **arrays)  # the manifest is left as it was
    with pytest.raises(HwqError) as ei:
        verify_golden(npz)
    msg = str(ei.value)
    assert f"{name} (" in msg and "do not match the reference model" in msg
    assert "\n" not in msg


def test_manifest_and_missing_files(tmp_path) -> None:
    cfg = CFGS[0]
    with pytest.raises(HwqError, match="not found"):
        verify_golden(tmp_path / "missing.npz")
    man = write_golden(cfg, tmp_path, n_ops=16)
    js = tmp_path / f"{cfg.slug}.json"
    d = json.loads(js.read_text())
    assert d["format"] == "hwq-golden" and d["config"] == cfg.to_dict()
    assert all(len(v["sha256"]) == 64 for v in d["arrays"].values())
    d["version"] = 999
    js.write_text(json.dumps(d))
    with pytest.raises(HwqError, match="version"):
        verify_golden(man["npz"])
    with pytest.raises(HwqError, match="multiple of lcm"):
        golden_shape(cfg, k=100)
    with pytest.raises(HwqError, match="n_ops"):
        write_golden(cfg, tmp_path, n_ops=2)
