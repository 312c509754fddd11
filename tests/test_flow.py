"""hwq flow: stage order, failure naming, unavailable stages, summary files; the real flow is slow."""

from __future__ import annotations

import io
import json

import pytest

from hwq.cli import main
from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.flow import STAGES, FlowError, Stage, run_flow


def _ok(fns, cfg, out, reports):
    return {"value": fns[0](2)}


def _bad_input(fns, cfg, out, reports):
    raise HwqError("lanes = 0 is too small")


def _crash(fns, cfg, out, reports):
    raise ZeroDivisionError("boom")


def test_stages_run_in_order_and_summary_written(tmp_path) -> None:
    stages = (Stage("a", ("math:sqrt",), _ok, "first"), Stage("b", ("math:sqrt",), _ok, "second"))
    log = io.StringIO()
    s = run_flow(HwqConfig(), tmp_path / "w", tmp_path / "r", stages=stages, stream=log)
    assert [st["stage"] for st in s["stages"]] == ["a", "b"] and s["stages"][0]["result"] == {"value": 2 ** 0.5}
    data = json.loads((tmp_path / "r" / "flow" / f"{HwqConfig().slug}.json").read_text())
    assert data["slug"] == HwqConfig().slug and all(st["status"] == "ok" for st in data["stages"])
    assert "[2/2] b" in log.getvalue()


def test_failure_names_the_stage(tmp_path) -> None:
    stages = (Stage("a", ("math:sqrt",), _ok, "first"), Stage("lint", ("math:sqrt",), _bad_input, "lint"),
              Stage("c", ("math:sqrt",), _ok, "never"))
    with pytest.raises(FlowError, match="flow stage 'lint'.*lanes = 0") as ei:
        run_flow(HwqConfig(), tmp_path / "w", tmp_path / "r", stages=stages, stream=io.StringIO())
    assert ei.value.stage == "lint" and ei.value.expected
    data = json.loads((tmp_path / "r" / "flow" / f"{HwqConfig().slug}.json").read_text())
    assert [st["status"] for st in data["stages"]] == ["ok", "failed"]
    stages = (Stage("boom", ("math:sqrt",), _crash, "crash"),)
    with pytest.raises(FlowError, match="stage 'boom'.*unexpectedly: ZeroDivisionError: boom") as ei:
        run_flow(HwqConfig(), tmp_path / "w", tmp_path / "r", stages=stages, stream=io.StringIO())
    assert not ei.value.expected


def test_unavailable_stage_stops_before_anything_runs(tmp_path) -> None:
    ran = []
    stages = (Stage("a", ("math:sqrt",), lambda *a: ran.append(1) or {}, "first"),
              Stage("ghost", ("hwq.no_such_layer:go",), _ok, "missing"))
    with pytest.raises(FlowError, match="stage ghost unavailable: ModuleNotFoundError.*hwq.no_such_layer"):
        run_flow(HwqConfig(), tmp_path / "w", tmp_path / "r", stages=stages, stream=io.StringIO())
    assert not ran
    with pytest.raises(HwqError, match="unknown stage.*nope"):
        run_flow(HwqConfig(), tmp_path / "w", tmp_path / "r", skip=("nope",))


def test_default_pipeline_names() -> None:
    assert [s.name for s in STAGES] == ["reference", "golden", "rtl", "sim", "synth", "codegen", "roofline", "report"]


def test_cli_reports_stage_and_exit_status(tmp_path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    HwqConfig().save(cfg)
    # the cheap stages only; the skipped ones are recorded as skipped, not faked
    rc = main(["flow", "--config", str(cfg), "--out", str(tmp_path / "w"), "--reports", str(tmp_path / "r"),
               "--skip", "golden,rtl,sim,synth,codegen,roofline"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    data = json.loads((tmp_path / "r" / "flow" / f"{HwqConfig().slug}.json").read_text())
    assert [st["status"] for st in data["stages"]].count("skipped") == 6
    assert (tmp_path / "r" / "index.html").is_file() and "report:" in out.out
    bad = tmp_path / "bad.toml"
    bad.write_text("lanes = 0\n")
    assert main(["flow", "--config", str(bad), "--out", str(tmp_path / "w")]) == 2


@pytest.mark.slow
def test_real_flow_end_to_end(tmp_path) -> None:
    s = run_flow(HwqConfig(), tmp_path / "w", tmp_path / "r", stream=io.StringIO())
    assert all(st["status"] == "ok" for st in s["stages"])
    assert (tmp_path / "r" / "index.html").stat().st_size > 10_000
    assert s["seconds"] < 600


def test_stage_result_with_failed_tests_is_a_failure() -> None:
    from hwq.flow import _require_ok

    _require_ok({"passed": True, "cocotb": {"tests": [{"name": "a", "passed": True}]}}, "simulation")
    res = {"passed": False, "cocotb": {"top": {"tests": [{"name": "ok", "passed": True},
                                                         {"name": "extremes", "passed": False, "message": "timeout"}]}},
           "summary": {"cocotb_failed": 1}}
    with pytest.raises(HwqError, match="simulation failed: test 'extremes': timeout; summary"):
        _require_ok(res, "simulation")
    with pytest.raises(HwqError, match="C kernels failed: .*'ok': False"):
        _require_ok({"ok": False, "cases": [{"kernel": "gemv", "ok": False}]}, "the compiled C kernels")
