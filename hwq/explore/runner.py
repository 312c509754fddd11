"""Running the stages of ``hwq explore`` on Ray (or in this process, ``executor="inline"``, for tests).

* ``ray.init()`` starts a local cluster on this machine by default (all cores, plus one unit of the custom
  resource :data:`TIMING_RESOURCE`); ``address`` joins an existing cluster, whose nodes offer that resource
  when they were started with ``ray start ... --resources='{"hwq_explore_timing": 1}'``.
* Each (point, stage) is one task with the stage's CPU needs; a timing stage (the kernel benchmark) asks for
  the timing resource *and* every CPU of its node, so nothing else runs next door while it measures.
* Before a task is submitted its record is looked up in the store (:mod:`hwq.explore.store`): a rerun, or a
  sweep that was interrupted, recomputes nothing it already has. Finished records are written at once by the
  driver. A task whose worker or node dies is retried by Ray (``max_retries``); if it still cannot finish,
  the point's stage is reported failed ("worker lost") and not stored, so the next run tries it again.
* Progress: one line per finished task, with the counts of each stage (done / running / cached / failed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hwq.errors import HwqError
from hwq.explore.space import Point
from hwq.explore.stages import STAGES, run_stage, stage_key
from hwq.explore.store import Store
from hwq.records import ExploreStage, from_dict

__all__ = ["MAX_RETRIES", "TIMING_RESOURCE", "Sweep", "connect", "run_sweep"]

TIMING_RESOURCE = "hwq_explore_timing"
MAX_RETRIES = 3
#: order in which ready tasks are submitted: the long ones first
_ORDER = ("synth", "quality", "sim", "kernel", "throughput", "gpu")


@dataclass
class Sweep:
    """What a sweep produced: every record by (point, stage), what was computed now and what came from the
    store, and the Ray nodes that ran tasks."""

    records: dict[tuple[str, str], ExploreStage] = field(default_factory=dict)
    computed: list[tuple[str, str]] = field(default_factory=list)
    cached: list[tuple[str, str]] = field(default_factory=list)
    lost: list[tuple[str, str]] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    seconds: float = 0.0


def connect(address: str | None = None, node_ip: str | None = None, num_cpus: int | None = None) -> dict[str, Any]:
    """Start (or join, with ``address``) a Ray cluster for this process; returns its resources.

    Raises
    ------
    HwqError
        Ray is not installed (names the extra) or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise HwqError("hwq explore runs on Ray: pip install -e '.[explore]'") from None
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": True,
                              "logging_level": "ERROR"}
        if node_ip:
            kw["_node_ip_address"] = node_ip
        try:
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=num_cpus, resources={TIMING_RESOURCE: 1}, **kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise HwqError(f"cannot start or join {where}: {msg}") from None
    return dict(ray.cluster_resources())


def _timing_cpus() -> float:
    """CPUs of the smallest live node that offers the timing resource (what a timing task asks for)."""
    import ray

    cpus = [n["Resources"].get("CPU", 1.0) for n in ray.nodes()
            if n.get("Alive") and n["Resources"].get(TIMING_RESOURCE)]
    if not cpus:
        raise HwqError(f"no Ray node offers the custom resource {TIMING_RESOURCE!r} the kernel benchmark needs "
                       "(exclusive use of a node): start nodes with ray start ... "
                       f"--resources='{{\"{TIMING_RESOURCE}\": 1}}', or leave kernel out of stages")
    return min(cpus)


def _remote():
    import ray

    @ray.remote(max_retries=MAX_RETRIES)
    def explore_task(stage: str, point: Point, work: str, deps: dict, settings: dict, key: str,
                     tools: dict) -> dict:
        return run_stage(stage, point, work, deps, settings, key, tools).to_dict()

    return explore_task


class _Counts:
    def __init__(self, stages: Sequence[str]):
        self.c = {s: {"done": 0, "running": 0, "cached": 0, "failed": 0, "n/a": 0} for s in stages}

    def line(self) -> str:
        return "; ".join(f"{s} {v['done']} done, {v['running']} running, {v['cached']} cached, {v['failed']} failed"
                         + (f", {v['n/a']} n/a" if v["n/a"] else "") for s, v in self.c.items())


def run_sweep(points: Sequence[Point], stages: Sequence[str], settings: Mapping[str, Any], store: Store,
              work: str | Path, *, executor: str = "ray", log: Callable[[str], None] = print) -> Sweep:
    """Run ``stages`` on ``points`` (see the module docstring); returns the :class:`Sweep`.

    ``work`` is the folder for tool outputs (synthesis builds, compiled kernels); it should be on a file
    system every node sees (one machine: any folder).
    """
    if executor not in ("ray", "inline"):
        raise HwqError(f"executor {executor!r}: ray or inline")
    t0 = time.perf_counter()
    order = [s for s in _ORDER if s in stages] + [s for s in stages if s not in _ORDER]
    tools = {s: STAGES[s].tools() for s in order}
    work = Path(work).absolute()
    sw = Sweep()
    counts = _Counts([s for s in STAGES if s in stages])
    todo = [(p, s) for s in order for p in points]
    by_name = {p.name: p for p in points}
    running: dict[Any, tuple[str, str, str, float]] = {}  # ref -> (point, stage, key, start)
    done_keys: dict[tuple[str, str], str] = {}
    timing_cpus = None
    task = None
    if executor == "ray":
        import ray

        task = _remote()
        if any(STAGES[s].timing for s in stages):
            timing_cpus = _timing_cpus()

    def deps_ready(p: Point, s: str) -> bool:
        return all((p.name, n) in sw.records for n in STAGES[s].needs)

    def finish(p: Point, s: str, rec: ExploreStage, computed: bool) -> None:
        sw.records[(p.name, s)] = rec
        done_keys[(p.name, s)] = rec.key
        cnt = counts.c[s]
        if computed:
            sw.computed.append((p.name, s))
            sw.nodes.add(rec.node)
            cnt["failed" if rec.status == "failed" else "done"] += 1
            if rec.status == "n/a":
                cnt["n/a"] += 1
            why = f" ({rec.reason})" if rec.reason else ""
            log(f"explore: {s} {p.name}: {rec.status}{why} in {rec.seconds:.1f} s on node {rec.node}  "
                f"[{counts.line()}]")
        else:
            sw.cached.append((p.name, s))
            cnt["cached"] += 1

    def start(p: Point, s: str) -> None:
        st = STAGES[s]
        dep_keys = {n: done_keys[(p.name, n)] for n in st.needs}
        key = stage_key(p, st, settings, tools[s], dep_keys)
        hit = store.get(s, key)
        if hit is not None:
            finish(p, s, hit, computed=False)
            return
        deps = {n: dict(sw.records[(p.name, n)].values) for n in st.needs}
        wdir = str(work / s)
        if executor == "inline":
            rec = run_stage(s, p, wdir, deps, dict(settings), key, tools[s])
            store.put(rec)
            finish(p, s, rec, computed=True)
            return
        opts: dict[str, Any] = {"num_cpus": st.num_cpus}
        if st.timing:
            opts = {"num_cpus": timing_cpus, "resources": {TIMING_RESOURCE: 1}}
        ref = task.options(**opts).remote(s, p, wdir, deps, dict(settings), key, dict(tools[s]))
        running[ref] = (p.name, s, key, time.perf_counter())
        counts.c[s]["running"] += 1

    while todo or running:
        progressed = False
        for item in list(todo):
            p, s = item
            if deps_ready(p, s):
                todo.remove(item)
                start(p, s)
                progressed = True
        if executor == "inline":
            if todo and not progressed:  # a needed stage was not run (cannot happen: checked in the space)
                raise HwqError(f"stages {sorted({s for _, s in todo})} wait for stages that are not run")
            continue
        if not running:
            if todo and not progressed:
                raise HwqError(f"stages {sorted({s for _, s in todo})} wait for stages that are not run")
            continue
        ready, _ = ray.wait(list(running), num_returns=1, timeout=60.0)
        for ref in ready:
            name, s, key, started = running.pop(ref)
            counts.c[s]["running"] -= 1
            try:
                rec = from_dict(ray.get(ref), f"{s} task of {name}", ExploreStage)
            except ray.exceptions.RayError as e:  # retries exhausted: the worker or its node died
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                sw.lost.append((name, s))
                rec = ExploreStage(stamp=_stamp(), point=name, stage=s, version=STAGES[s].version, key=key,
                                   status="failed", seconds=round(time.perf_counter() - started, 3), node="?",
                                   values={}, config=by_name[name].config,
                                   reason=f"worker lost after {MAX_RETRIES} retries: {msg[:200]}")
                finish(by_name[name], s, rec, computed=True)
                continue
            store.put(rec)
            finish(by_name[name], s, rec, computed=True)
    sw.seconds = time.perf_counter() - t0
    log(f"explore: stages finished in {sw.seconds:.1f} s: {len(sw.computed)} computed, {len(sw.cached)} from the "
        f"store  [{counts.line()}]")
    return sw


def _stamp():
    from hwq.records import Stamp

    return Stamp.now()
