"""hwq explore on real Ray clusters.

* a local cluster (``ray.init()`` in this process): the sweep runs as Ray tasks, and a second sweep is
  answered by the store without starting Ray at all;
* the two-node run of issue 16 (marked ``ray``): a head and a second node started with ``ray start`` as
  separate processes on 127.0.0.1 (token authentication, as ray 2.60's head requires), ``hwq explore
  --address`` on a small space, tasks on both nodes, the second node killed mid-sweep, and the sweep still
  completes with every result.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from hwq.records import ExploreFront, load

ray = pytest.importorskip("ray")

BIN = Path(sys.executable).parent


def _space(tmp: Path, configs: list[tuple[str, int]], quality_n: int = 384, cols: int = 64) -> Path:
    grids = "\n".join(f'[[grid]]\nlattice = "{lat}"\nq = {q}\n' for lat, q in configs)
    p = tmp / "space.toml"
    p.write_text(f"""stages = ["quality", "sim"]
baselines = ["int3_g128"]
[settings]
quality_n = {quality_n}
quality_cols = {cols}
sim_rows = 8
[fields]
dither = false
hadamard = 16
lanes = 2
{grids}""")
    return p


def test_local_ray_sweep_then_resume_without_ray(tmp_path):
    from hwq.explore.runner import run_sweep
    from hwq.explore.space import Point, load_space
    from hwq.explore.store import Store

    sp = load_space(_space(tmp_path, [("D3", 4), ("Z", 8)]))
    pts, _ = sp.points()
    pts += [Point("int3_g128", "baseline", {"baseline": "int3_g128"})]
    from hwq.explore.runner import connect

    try:
        connect(num_cpus=2)
        first = run_sweep(pts, sp.stages, sp.settings, Store(tmp_path / "store"), tmp_path / "build",
                          log=lambda s: None)
    finally:
        ray.shutdown()
    assert len(first.computed) == 6 and all(r.status in ("ok", "n/a") for r in first.records.values())
    assert len(first.nodes) == 1 and all(len(r.node) == 12 for r in first.records.values())

    def no_ray():
        raise AssertionError("the store should answer everything: Ray must not start")

    second = run_sweep(pts, sp.stages, sp.settings, Store(tmp_path / "store"), tmp_path / "build",
                       log=lambda s: None, connect_fn=no_ray)
    assert second.computed == [] and len(second.cached) == 6 and not ray.is_initialized()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_node(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A Ray node in the foreground (--block) in its own process group, so that this test can kill exactly
    it."""
    with log.open("w") as f:
        return subprocess.Popen([str(BIN / "ray"), "start", "--block", *args], env=env, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _kill(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait(timeout=30)


@pytest.mark.ray
def test_two_node_cluster_survives_a_node_kill(tmp_path):
    t0 = time.monotonic()
    port = _free_port()
    # short: Ray's socket paths must stay < 108 chars
    rtmp = Path(tempfile.mkdtemp(prefix="hwqray", dir="/tmp"))
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", '--resources={"hwq_explore_timing": 1}']
    head = _start_node(["--head", f"--port={port}", "--temp-dir", str(rtmp), "--include-dashboard=false",
                        *common], env, tmp_path / "head.log")
    nodes = [head]
    try:
        deadline = time.monotonic() + 120
        worker = None
        while time.monotonic() < deadline:
            assert head.poll() is None, (tmp_path / "head.log").read_text()[-2000:]
            if worker is None and (Path.home() / ".ray" / "auth_token").exists():
                r = subprocess.run([str(BIN / "ray"), "status", f"--address=127.0.0.1:{port}"], env=env,
                                   capture_output=True, text=True)
                if r.returncode == 0:
                    worker = _start_node([f"--address=127.0.0.1:{port}", *common], env,
                                         tmp_path / "worker.log")
                    nodes.append(worker)
            if worker is not None:
                r = subprocess.run([str(BIN / "ray"), "status", f"--address=127.0.0.1:{port}"], env=env,
                                   capture_output=True, text=True)
                if r.stdout.count("node_") >= 2:
                    break
            time.sleep(1)
        else:
            pytest.fail("the two-node cluster did not come up in 120 s: "
                        + (tmp_path / "head.log").read_text()[-1500:])
        cluster_up = time.monotonic() - t0

        space = _space(tmp_path, [("D3", q) for q in (3, 4, 5, 6, 7, 8)] + [("D4", 3), ("D4", 4), ("Z", 8)],
                       quality_n=6144, cols=1024)
        out = tmp_path / "out"
        # stdout to a file: the reader thread below must be the only reader of the driver's stderr
        # (communicate() would read that pipe too and take lines, or parts of lines, from under it)
        with (tmp_path / "driver.out").open("w") as drv_out:
            drv = subprocess.Popen([str(BIN / "hwq"), "explore", "--space", str(space), "--out", str(out),
                                    "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1"],
                                   env=env, stdout=drv_out, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        seen_nodes: set[str] = set()
        killed_at: list[int] = []

        def read() -> None:
            for ln in drv.stderr:
                lines.append(ln.rstrip())
                if " on node " in ln:
                    seen_nodes.add(ln.split(" on node ")[1].split()[0])
                if len(seen_nodes) >= 2 and not killed_at:
                    # mid-sweep: both nodes have finished tasks; the second node has just been given its next
                    # one (seconds long), which dies with it and must be retried on the head
                    killed_at.append(len(lines))
                    threading.Timer(1.0, _kill, (worker,)).start()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        drv.wait(timeout=480)
        reader.join(timeout=10)
        drv.stderr.close()
        stdout = (tmp_path / "driver.out").read_text()
        log = "\n".join(lines)
        assert drv.returncode == 0, log[-3000:]
        assert killed_at, f"tasks never ran on two nodes: {seen_nodes}\n{log[-2000:]}"
        after = [ln for ln in lines[killed_at[0]:] if ": ok in " in ln]
        assert after, "the node was not killed mid-sweep (no task finished after it)"
        rec = load(out / "front.json", ExploreFront)
        assert len(rec.nodes) == 2 and rec.counts["lost"] == 0
        for row in rec.points:  # every result present: no stage failed or lost
            assert all(s == "ok" or s.startswith("n/a") for s in row["status"].values()), row["status"]
            assert row["status"].keys() == {"quality", "sim"}
        assert len(rec.points) == 10 and "| point | config |" in stdout
        nodes_in_store = {json.loads(p.read_text())["node"] for p in (out / "store").glob("*/*.json")}
        assert len(nodes_in_store) == 2
        print(f"two-node test: cluster up in {cluster_up:.0f} s, whole test {time.monotonic() - t0:.0f} s")
    finally:
        for p in reversed(nodes):
            _kill(p)
        shutil.rmtree(rtmp, ignore_errors=True)
