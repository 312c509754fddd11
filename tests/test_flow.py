"""hwq flow: stage order, failure naming, unavailable stages, summary files; the real flow is slow."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hwq.cli import main
from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.flow import STAGES, FlowError, Stage, run_flow
from hwq.records import Flow, KernelCheck, Sim, Stamp, load


def _ok(fns, cfg, out, reports):
    return {"value": fns[0](2)}


def _bad_input(fns, cfg, out, reports):
    raise HwqError("lanes = 0 is too small")


def _crash(fns, cfg, out, reports):
    raise ZeroDivisionError("boom")


def _writes(fns, cfg, out, reports):
    out.mkdir(parents=True)
    (out / "x.txt").write_text("x")
    return {"file": str((out / "x.txt").resolve()), "folder": str(out)}


def _record(root: Path) -> Flow:
    return load(root / "flow" / f"{HwqConfig().slug}.json", Flow)


def test_stages_run_in_order_and_summary_written(tmp_path) -> None:
    stages = (Stage("a", ("math:sqrt",), _ok, "first"), Stage("b", ("math:sqrt",), _ok, "second"))
    log = io.StringIO()
    s = run_flow(HwqConfig(), tmp_path / "w", tmp_path / "r", stages=stages, stream=log)
    assert [st.stage for st in s.stages] == ["a", "b"] and s.stages[0].result == {"value": 2 ** 0.5}
    data = _record(tmp_path / "r")
    assert data.stamp.slug == HwqConfig().slug and data.stamp.config_hash == HwqConfig().hash
    assert all(st.status == "ok" for st in data.stages) and data.stages == s.stages
    assert "[2/2] b" in log.getvalue()


def test_outputs_stay_under_out_with_relative_paths(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    stages = (Stage("make", ("math:sqrt",), _writes, "writes a file"),
              Stage("report", ("hwq.report:build_report",),
                    lambda fns, cfg, out, rep: {"html": str(fns[0](rep)[0])}, "report"))
    run_flow(HwqConfig(), stages=stages, stream=io.StringIO())
    work = Path("build/flow") / HwqConfig().slug
    written = sorted(p.as_posix() for p in Path().rglob("*") if p.is_file())
    assert written and all(p.startswith(f"{work.as_posix()}/") for p in written), written
    rec = _record(work / "reports")
    assert rec.stages[0].result == {"file": "make/x.txt", "folder": "make"}
    assert rec.stages[1].result == {"html": "reports/index.html"}
    assert str(tmp_path) not in (work / "reports" / "flow" / f"{HwqConfig().slug}.json").read_text()


def test_failure_names_the_stage(tmp_path) -> None:
    stages = (Stage("a", ("math:sqrt",), _ok, "first"), Stage("lint", ("math:sqrt",), _bad_input, "lint"),
              Stage("c", ("math:sqrt",), _ok, "never"))
    with pytest.raises(FlowError, match="flow stage 'lint'.*lanes = 0") as ei:
        run_flow(HwqConfig(), tmp_path / "w", tmp_path / "r", stages=stages, stream=io.StringIO())
    assert ei.value.stage == "lint" and ei.value.expected
    assert [st.status for st in _record(tmp_path / "r").stages] == ["ok", "failed"]
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
    assert [s.name for s in STAGES] == ["reference", "golden", "rtl", "sim", "synth", "codegen", "roofline",
                                        "report"]


def test_cli_reports_stage_and_exit_status(tmp_path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    HwqConfig().save(cfg)
    # the cheap stages only; the skipped ones are recorded as skipped, not faked
    rc = main(["flow", "--config", str(cfg), "--out", str(tmp_path / "w"), "--reports", str(tmp_path / "r"),
               "--skip", "golden,rtl,sim,synth,codegen,roofline"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert [st.status for st in _record(tmp_path / "r").stages].count("skipped") == 6
    assert (tmp_path / "r" / "index.html").is_file() and "report:" in out.out
    bad = tmp_path / "bad.toml"
    bad.write_text("lanes = 0\n")
    assert main(["flow", "--config", str(bad), "--out", str(tmp_path / "w")]) == 2


@pytest.mark.slow
def test_real_flow_end_to_end(tmp_path) -> None:
    s = run_flow(HwqConfig(), tmp_path / "w", tmp_path / "r", stream=io.StringIO())
    assert all(st.status == "ok" for st in s.stages)
    assert (tmp_path / "r" / "index.html").stat().st_size > 10_000
    assert s.seconds < 600


def test_stage_result_with_failed_tests_is_a_failure() -> None:
    from hwq.flow import _require_ok

    def sim(passed: bool, tests: list[dict]) -> Sim:
        return Sim.from_legacy({"slug": "s", "seed": 1, "passed": passed,
                                "summary": {"cocotb_failed": 1 - passed},
                                "cocotb": {"top": {"passed": passed, "tests": tests}}})

    _require_ok(sim(True, [{"name": "a", "passed": True}]), "simulation")
    bad = sim(False,
              [{"name": "ok", "passed": True}, {"name": "extremes", "passed": False, "message": "timeout"}])
    with pytest.raises(HwqError, match="simulation failed: top test 'extremes': timeout; summary"):
        _require_ok(bad, "simulation")
    st = Stamp.now()
    _require_ok(KernelCheck(stamp=st, backend="c", ok=True, cases=({"name": "gemv", "ok": True},)), "C")
    with pytest.raises(HwqError, match="the compiled C kernels failed: gemv b=1"):
        _require_ok(KernelCheck(stamp=st, backend="c", ok=False, cases=({"name": "gemv b=1", "ok": False},)),
                    "the compiled C kernels")
    legacy = KernelCheck.from_legacy({"slug": "s", "ok": False, "cases": [
        {"kernel": "gemv_exact", "isa": "avx2", "batch": 4, "ok": False}]})
    with pytest.raises(HwqError, match="C kernels failed: kernel gemv_exact, isa avx2, batch 4$"):
        _require_ok(legacy, "the compiled C kernels")
