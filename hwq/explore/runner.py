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

__all__ = ["MAX_RETRIES", "TIMING_RESOURCE", "Sweep", "check_address", "connect", "run_sweep"]

TIMING_RESOURCE = "hwq_explore_timing"
MAX_RETRIES = 3
#: order in which ready tasks are submitted: the long ones first
_ORDER = ("synth", "quality", "minilm", "sim", "kernel", "throughput", "gpu")


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


def connect(address: str | None = None, node_ip: str | None = None,
            num_cpus: int | None = None) -> dict[str, Any]:
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
    if address:
        check_address(address)
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


def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse at once (one line) a ``HOST:PORT`` nobody listens on, instead of Ray's minutes of retries."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        if address == "auto":
            return
        raise HwqError(f"--address {address!r}: give the Ray head as HOST:PORT (e.g. 127.0.0.1:6379) or "
                       "'auto'")
    try:
        with socket.create_connection((host.removeprefix("ray://") or "127.0.0.1", int(port)),
                                      timeout=timeout):
            pass
    except OSError as e:
        raise HwqError(f"--address {address}: no Ray head answers there ({e.strerror or e}); start one with "
                       "`ray start --head --port=PORT` or check the address") from None


def _timing_cpus() -> float:
    """CPUs of the smallest live node that offers the timing resource (what a timing task asks for)."""
    import ray

    cpus = [n["Resources"].get("CPU", 1.0) for n in ray.nodes()
            if n.get("Alive") and n["Resources"].get(TIMING_RESOURCE)]
    if not cpus:
        raise HwqError(f"no Ray node offers the custom resource {TIMING_RESOURCE!r} the kernel benchmark "
                       "needs (exclusive use of a node): start nodes with ray start ... "
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
        return "; ".join(f"{s} {v['done']} done, {v['running']} running, {v['cached']} cached, "
                         f"{v['failed']} failed" + (f", {v['n/a']} n/a" if v["n/a"] else "")
                         for s, v in self.c.items())


def run_sweep(points: Sequence[Point], stages: Sequence[str], settings: Mapping[str, Any], store: Store,
              work: str | Path, *, executor: str = "ray", log: Callable[[str], None] = print,
              connect_fn: Callable[[], Any] | None = None) -> Sweep:
    """Run ``stages`` on ``points`` (see the module docstring); returns the :class:`Sweep`.

    ``work`` is the folder for tool outputs (synthesis builds, compiled kernels); it should be on a file
    system every node sees (one machine: any folder). ``connect_fn`` starts or joins Ray; it is called only
    when a task has to run (a sweep the store answers entirely starts no cluster), default :func:`connect`.
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
    done_keys: dict[tuple[str, str], str] = {}
    ray_state: dict[str, Any] = {}

    def ray_task(timing: bool) -> Any:
        if not ray_state:
            import ray

            if not ray.is_initialized():
                (connect_fn or connect)()
            ray_state["task"] = _remote()
        if timing and "cpus" not in ray_state:
            ray_state["cpus"] = _timing_cpus()
        return ray_state["task"]

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

    inflight: dict[str, dict[str, Any]] = {}  # key -> the task computing it and the points waiting for it
    shared: dict[str, list[Point]] = {}  # key -> points waiting for a queued task of the same key
    queue: list[tuple[Point, str, str]] = []
    rank = {s: i for i, s in enumerate(order)}

    def resolve() -> list[tuple[Point, str, str]]:
        """Answer what the store (or a task in flight) answers; return what needs a new task."""
        need = []
        for item in list(todo):
            p, s = item
            if not deps_ready(p, s):
                continue
            todo.remove(item)
            st = STAGES[s]
            key = stage_key(p, st, settings, tools[s], {n: done_keys[(p.name, n)] for n in st.needs})
            hit = store.get(s, key)
            if hit is not None:
                finish(p, s, hit, computed=False)
            elif key in inflight:
                inflight[key]["points"].append(p)
            elif any(k == key for _, _, k in need + queue):  # same content: computed once, shared
                shared.setdefault(key, []).append(p)
            else:
                need.append((p, s, key))
        return sorted(need, key=lambda t: rank[t[1]])

    def deps_of(p: Point, s: str) -> dict[str, dict[str, Any]]:
        return {n: dict(sw.records[(p.name, n)].values) for n in STAGES[s].needs}

    def complete(key: str, rec: ExploreStage, lost: bool = False) -> None:
        job = inflight.pop(key)
        counts.c[job["stage"]]["running"] -= 1
        if not lost:
            store.put(rec)
        first, *rest = job["points"]
        finish(first, job["stage"], rec, computed=True)
        for q in rest:
            finish(q, job["stage"], rec, computed=False)

    def capacity() -> float:
        import ray

        ray_task(False)  # connects on first use
        return float(ray.cluster_resources().get("CPU", 1.0))

    while todo or queue or inflight:
        queue[:] = sorted(queue + resolve(), key=lambda t: rank[t[1]])
        if executor == "inline":
            if not queue:
                if todo:  # a needed stage is not run (cannot happen: the space checks it)
                    raise HwqError(f"stages {sorted({s for _, s in todo})} wait for stages that are not run")
                break
            p, s, key = queue.pop(0)
            inflight[key] = {"stage": s, "points": [p, *shared.pop(key, [])]}
            counts.c[s]["running"] += 1
            complete(key, run_stage(s, p, str(work / s), deps_of(p, s), dict(settings), key, tools[s]))
            continue
        cap = capacity() if queue else 0.0
        while queue:
            p, s, key = queue[0]
            st = STAGES[s]
            task = ray_task(st.timing)
            cpus = ray_state["cpus"] if st.timing else st.num_cpus
            used = sum(j["cpus"] for j in inflight.values())
            if inflight and used + cpus > cap + 1e-9:
                break  # submitted = running: the progress counts say what runs
            queue.pop(0)
            opts: dict[str, Any] = {"num_cpus": cpus}
            if st.timing:
                opts["resources"] = {TIMING_RESOURCE: 1}
            ref = task.options(**opts).remote(s, p, str(work / s), deps_of(p, s), dict(settings), key,
                                              dict(tools[s]))
            inflight[key] = {"ref": ref, "stage": s, "points": [p, *shared.pop(key, [])], "cpus": cpus,
                             "start": time.perf_counter()}
            counts.c[s]["running"] += 1
        if not inflight:
            if todo:
                raise HwqError(f"stages {sorted({s for _, s in todo})} wait for stages that are not run")
            continue
        import ray

        refs = {j["ref"]: k for k, j in inflight.items()}
        ready, _ = ray.wait(list(refs), num_returns=1, timeout=2.0)  # short: Ctrl-C is seen at once
        for ref in ready:
            key = refs[ref]
            job = inflight[key]
            s, first = job["stage"], job["points"][0]
            try:
                rec = from_dict(ray.get(ref), f"{s} task of {first.name}", ExploreStage)
            except ray.exceptions.RayError as e:  # retries exhausted: the worker or its node died
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                sw.lost += [(q.name, s) for q in job["points"]]
                rec = ExploreStage(stamp=_stamp(), point=first.name, stage=s, version=STAGES[s].version,
                                   key=key, status="failed",
                                   seconds=round(time.perf_counter() - job["start"], 3), node="?",
                                   values={}, config=first.config,
                                   reason=f"worker lost after {MAX_RETRIES} retries: {msg[:200]}")
                complete(key, rec, lost=True)
                continue
            complete(key, rec)
    sw.seconds = time.perf_counter() - t0
    log(f"explore: stages finished in {sw.seconds:.1f} s: {len(sw.computed)} computed, {len(sw.cached)} from "
        f"the store  [{counts.line()}]")
    return sw


def _stamp():
    from hwq.records import Stamp

    return Stamp.now()
