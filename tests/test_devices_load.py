"""Device-file loading (hwq/perf/devices.py): a misspelled key or a non-positive measured time is refused."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, fields
from importlib import resources

import pytest

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.perf.devices import (DEVICE_KEYS, MEASURED_KEYS, Measurement, _check_keys, load_devices,
                              load_measurements)
from hwq.records import KernelBench, RooflinePoint, Stamp

GOOD = """
[mybox]
name = "My box"
kind = "cpu"
bandwidth_gbs = 50.0
peak_tops = { fp32 = 1.5 }
aliases = ["box"]
measured = [
  { kernel = "fp32 gemv", family = "fp32", k = 4096, m = 4096, batch = 1, time_us = 1300.0, source = "me" },
]
"""


def _write(tmp_path, text: str):
    p = tmp_path / "dev.toml"
    p.write_text(text)
    return p


def test_good_device_file_loads(tmp_path) -> None:
    d = load_devices(_write(tmp_path, GOOD))["mybox"]
    assert d.bandwidth == 50e9 and d.aliases == ("box",) and d.measured[0].time_s == pytest.approx(1.3e-3)


@pytest.mark.parametrize("old, new, match", [
    ("bandwidth_gbs = 50.0", "bandwith_gbs = 50.0", (r"unknown key\(s\) 'bandwith_gbs'; allowed: aliases, "
                                                     r"bandwidth_gbs")),
    ("peak_tops", "peak_top", r"unknown key\(s\) 'peak_top'"),
    ("time_us = 1300.0", "time_us = -1300.0",
     "measured time_us = -1300.0 .* must be a positive, finite time"),
    ("time_us = 1300.0", "time_us = 0", "measured time_us = 0 .* must be a positive"),
    ("time_us = 1300.0", "time_us = nan", "measured time_us = nan"),
    ("time_us = 1300.0", "time_us = 1300.0, tme = 1", r"measured entry: unknown key\(s\) 'tme'"),
    ("k = 4096", "k = -4096", "measured k = -4096 .* must be a positive integer"),
    ("k = 4096", 'k = "4096"', "measured k = '4096'"),
    ('aliases = ["box"]', 'aliases = "box"', "aliases must be a list of strings"),
    ('kind = "cpu"', 'kind = "cpu"\nresources = { luts = "many" }',
     "resources must be a table of non-negative"),
    ("bandwidth_gbs = 50.0", "bandwidth_gbs = -50.0", "must be a positive number"),
    ('family = "fp32", ', "", r"kernel 'fp32 gemv' has family = None; give family = one of 'fp16', 'fp32'"),
    ('family = "fp32"', 'family = "numpy"', "has family = 'numpy'; give family = one of"),
    ('family = "fp32"', 'family = "hwq"', "has family = 'hwq'; give family = one of"),
])
def test_bad_device_file_is_refused(tmp_path, old: str, new: str, match: str) -> None:
    assert old in GOOD
    with pytest.raises(HwqError, match=match):
        load_devices(_write(tmp_path, GOOD.replace(old, new)))


def test_catalog_points_are_classified_by_their_family_field_not_their_name(tmp_path) -> None:
    """The kernel's name says nothing: an fp32-looking name with family fp16 is an fp16 point."""
    text = GOOD.replace('kernel = "fp32 gemv", family = "fp32"', 'kernel = "numpy sgemv", family = "int8"')
    (m,) = load_devices(_write(tmp_path, text))["mybox"].measured
    assert (m.kernel, m.family) == ("numpy sgemv", "int8")
    h100 = load_devices()["h100-sxm"].measured
    assert {p.family for p in h100} == {"fp16"}


def test_a_measured_point_is_the_records_point_and_its_file(tmp_path) -> None:
    """One type: a Measurement is a RooflinePoint (its fields declared once, in the record) plus ``file``. A
    benchmark point comes back with every field it was recorded with; a catalog point is checked as a record
    point is."""
    assert [f.name for f in fields(Measurement)] == [f.name for f in fields(RooflinePoint)] + ["file"]
    cfg = HwqConfig()
    pt = RooflinePoint(device="cpu", kernel="hwq", family="hwq", k=64, m=32, batch=2, time_s=1e-5,
                       slug=cfg.slug, threads=2, nbytes=4096, cpu_time_s=2e-5, cold=False)
    KernelBench(stamp=Stamp.now(cfg), backend="c", device="cpu", ok=True, points=(pt,), rows=()).save(
        tmp_path / "bench" / "c_x.json")
    (m,), skipped = load_measurements(tmp_path)
    assert not skipped and isinstance(m, RooflinePoint) and m.file == "bench/c_x.json"
    assert {f.name: getattr(m, f.name) for f in fields(RooflinePoint)} == asdict(pt)
    (c,) = load_devices(_write(tmp_path, GOOD))["mybox"].measured
    assert isinstance(c, RooflinePoint) and c.file == "devices catalog (me)" and c.slug == ""
    with pytest.raises(HwqError, match="family 'numpy' is not one of"):
        Measurement(device="cpu", kernel="k", family="numpy", k=1, m=1, batch=1, time_s=1.0, file="x")


def test_unreadable_device_files(tmp_path) -> None:
    p = tmp_path / "latin.toml"
    p.write_bytes(b"# caf\xe9\n")
    with pytest.raises(HwqError, match="is not UTF-8 text"):
        load_devices(p)
    bom = tmp_path / "bom.toml"
    bom.write_bytes("\ufeff".encode() + GOOD.encode())
    assert "mybox" in load_devices(bom)
    with pytest.raises(HwqError, match="does not exist"):
        load_devices(tmp_path)


def test_builtin_catalog_uses_only_known_keys() -> None:
    # the built-in catalog is loaded leniently (a key added there never breaks a run); this test keeps
    # it to the schema: add a new key to DEVICE_KEYS / MEASURED_KEYS in hwq/perf/devices.py together with its
    # use
    raw = tomllib.loads(resources.files("hwq").joinpath("data/devices.toml").read_text())
    for key, entry in raw.items():
        _check_keys(entry, DEVICE_KEYS, f"built-in device {key!r}")
        for r in entry.get("measured", ()):
            _check_keys(r, MEASURED_KEYS, f"built-in device {key!r} measured entry")
