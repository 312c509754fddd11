"""The peers of the CPU benchmark: ONNX Runtime's quantized MatMul kernels and numpy fp32 in a clean process.

* :class:`OrtNBits` -- ``com.microsoft::MatMulNBits`` (bits 4 or 2, fp32 activations and scales, block
  ``block``, ``accuracy_level`` 4 = int8 activations, ORT's fastest CPU setting), the graph built with
  ``onnx.helper``. The weights are quantized here per block of K (absmax, zero point 2^(bits-1), the op's
  default) and packed as the op defines it: element i of a block at byte i * bits // 8, low bits first.
  :meth:`OrtNBits.reference` is the dequantized product in float64 that the ORT output is checked against.
* :class:`OrtInt8` -- ``MatMulInteger`` (uint8 activations with zero point 128, int8 weights, int32 out),
  checked for equality against the integer product in numpy. Without VNNI, ORT's x86 kernel multiplies
  u8 x s8 with ``vpmaddubsw``, whose int16 pair sums saturate for full-range weights; ORT's own quantizer
  then keeps weights to 7 bits (``reduce_range``), and so does the bench (:func:`int8_weight_bound`).
* :class:`NumpyWorker` -- numpy fp32 ``W @ X`` run in a persistent subprocess whose environment lacks
  ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (OpenBLAS reads them once, when it loads: a machine-wide
  override would pick a kernel for another CPU). The parent drives it one call at a time, so it stays
  interleaved with the other kernels; the worker times the call itself (no pipe latency in the figure)
  and reports which OpenBLAS kernel threadpoolctl sees.

Each peer keeps ``copies`` copies of its weights (separate ORT sessions, separate arrays) and rotates over
them per call, so every timed call reads weights that are not in the last-level cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np

from hwq.errors import HwqError

__all__ = ["BENCH_EXTRA", "NumpyWorker", "OrtInt8", "OrtNBits", "cpu_flags", "int8_weight_bound",
           "ort_available"]

BENCH_EXTRA = "pip install -e '.[bench]' (onnxruntime and onnx)"


def cpu_flags(line: str | None = None) -> frozenset[str]:
    """The feature flags of a /proc/cpuinfo ``flags`` line (by default this machine's first one; empty where
    there is no /proc/cpuinfo)."""
    if line is None:
        try:
            with open("/proc/cpuinfo") as f:
                line = next((ln for ln in f if ln.startswith("flags")), "")
        except OSError:
            line = ""
    return frozenset(line.partition(":")[2].split() if ":" in line else line.split())


def int8_weight_bound(flags: str | None = None) -> int:
    """The largest |w| of the ``MatMulInteger`` weights: 127 where the CPU has VNNI (an exact u8 x s8 dot),
    63 without it (ORT's ``reduce_range``: 2 x 255 x 64 fits the int16 of ``vpmaddubsw``). ``flags`` is a
    /proc/cpuinfo flags line; by default this machine's (:func:`cpu_flags`)."""
    words = cpu_flags(flags)
    has_avx = any(w.startswith("avx") for w in words)
    return 127 if words & {"avx512_vnni", "avx_vnni"} or not has_avx else 63


def ort_available() -> str | None:
    """None when onnxruntime and onnx import, else a one-line message naming the extra to install."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f"the CPU benchmark needs onnxruntime and onnx ({e.name} is missing): {BENCH_EXTRA}"
    return None


def _session(model: Any, nthreads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(nthreads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # an idle intra-op worker would otherwise spin and take the core of the next kernel in the round
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _model(node: Any, a_type: int, y_type: int, k: int, n: int, inits: list[Any], name: str) -> Any:
    """A one-node model ``Y (B, n) = node(A (B, k), inits)`` with element types ``a_type`` and ``y_type``."""
    from onnx import helper

    inputs = [helper.make_tensor_value_info("A", a_type, ["B", k])]
    outputs = [helper.make_tensor_value_info("Y", y_type, ["B", n])]
    graph = helper.make_graph([node], name, inputs, outputs, initializer=inits)
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )


class _Rotating:
    """Sessions per thread count, one per weight copy, used in turn."""

    def __init__(self) -> None:
        self._sessions: dict[int, list[Any]] = {}
        self._next: dict[int, int] = {}

    def _add(self, nthreads: int, sessions: list[Any]) -> None:
        self._sessions[nthreads] = sessions
        self._next[nthreads] = 0

    def _take(self, nthreads: int) -> Any:
        s = self._sessions[nthreads]
        i = self._next[nthreads] = (self._next[nthreads] + 1) % len(s)
        return s[i]


class OrtNBits(_Rotating):
    """``MatMulNBits`` on a K x N fp32 weight (Y = A W, A (B, K)).

    Parameters
    ----------
    w : ndarray (K, N) float32
    bits : {2, 4}
    block : int
        Quantization block along K (a power of two >= 16; K a multiple of it).
    threads : iterable of int
        Thread counts to build sessions for.
    copies : int
        Weight copies per thread count (cold weights).
    """

    def __init__(
        self,
        w: np.ndarray,
        bits: int,
        block: int = 128,
        threads=(1,),
        copies: int = 1,
        accuracy_level: int = 4,
    ):
        super().__init__()
        if bits not in (2, 4):
            raise HwqError(f"MatMulNBits is benchmarked with bits 2 or 4, got {bits}")
        k, n = w.shape
        if k % block:
            raise HwqError(f"K = {k} is not a multiple of the MatMulNBits block {block}")
        self.k, self.n, self.bits, self.block, self.accuracy_level = k, n, bits, block, accuracy_level
        nblk = k // block
        zp = 1 << (bits - 1)
        wb = w.T.reshape(n, nblk, block).astype(np.float32)  # (N, blocks, block)
        # ORT's own symmetric scheme: the entry of largest magnitude (with its sign) maps to q = 0, i.e.
        # scale = that entry / -zp (a negative scale when it is positive), so the whole range is used
        idx = np.argmax(np.abs(wb), axis=2)[:, :, None]
        vmax = np.take_along_axis(wb, idx, axis=2)[:, :, 0]
        scale = np.where(vmax != 0, vmax / -zp, 1.0).astype(np.float32)
        q = np.clip(np.rint(wb / scale[:, :, None]) + zp, 0, 2 * zp - 1).astype(np.uint8)
        per = 8 // bits
        qq = q.reshape(n, nblk, block // per, per).astype(np.uint16)
        packed = np.zeros((n, nblk, block // per), dtype=np.uint16)
        for j in range(per):  # element i at byte i // per, bits (i % per) * bits upwards
            packed |= qq[:, :, :, j] << (bits * j)
        self.packed = packed.astype(np.uint8)
        self.scales = scale.reshape(-1)
        self.w_deq = ((q.astype(np.float32) - zp) * scale[:, :, None]).reshape(n, k).T  # (K, N) float32
        self.nbytes = int(self.packed.nbytes + self.scales.nbytes)
        self.bits_per_weight = 8.0 * self.nbytes / (k * n)
        for nt in threads:
            self._add(nt, [_session(self._graph(i), nt) for i in range(max(1, copies))])

    def _graph(self, copy: int) -> Any:
        from onnx import TensorProto, helper, numpy_helper

        b = numpy_helper.from_array(self.packed, "W")  # each session holds its own copy
        s = numpy_helper.from_array(self.scales.copy(), "S")
        node = helper.make_node(
            "MatMulNBits",
            ["A", "W", "S"],
            ["Y"],
            domain="com.microsoft",
            K=self.k,
            N=self.n,
            bits=self.bits,
            block_size=self.block,
            accuracy_level=self.accuracy_level,
        )
        return _model(node, TensorProto.FLOAT, TensorProto.FLOAT, self.k, self.n, [b, s],
                      f"matmulnbits{self.bits}_{copy}")

    def run(self, a: np.ndarray, nthreads: int) -> np.ndarray:
        """Y (B, N) float32 from A (B, K) float32."""
        return self._take(nthreads).run(None, {"A": a})[0]

    def reference(self, a: np.ndarray) -> np.ndarray:
        """The product with the dequantized weights, float64 (ORT's result up to its int8 activations)."""
        return a.astype(np.float64) @ self.w_deq.astype(np.float64)


class OrtInt8(_Rotating):
    """``MatMulInteger``: A (B, K) uint8 (zero point 128) x W (K, N) int8 -> int32 (W8A8)."""

    def __init__(self, w8: np.ndarray, threads=(1,), copies: int = 1):
        super().__init__()
        self.w8 = np.ascontiguousarray(w8, dtype=np.int8)
        self.k, self.n = self.w8.shape
        self.nbytes = int(self.w8.nbytes)
        self.bits_per_weight = 8.0
        for nt in threads:
            self._add(nt, [_session(self._graph(i), nt) for i in range(max(1, copies))])

    def _graph(self, copy: int) -> Any:
        from onnx import TensorProto, helper, numpy_helper

        w = numpy_helper.from_array(self.w8, "W")  # each session holds its own copy
        azp = numpy_helper.from_array(np.array(128, dtype=np.uint8), "AZP")
        node = helper.make_node("MatMulInteger", ["A", "W", "AZP"], ["Y"])
        return _model(node, TensorProto.UINT8, TensorProto.INT32, self.k, self.n, [w, azp],
                      f"matmulinteger_{copy}")

    def run(self, a_u8: np.ndarray, nthreads: int) -> np.ndarray:
        return self._take(nthreads).run(None, {"A": a_u8})[0]

    def reference(self, a_u8: np.ndarray) -> np.ndarray:
        return (a_u8.astype(np.int64) - 128) @ self.w8.astype(np.int64)


# ------------------------------------------------------------------------------------------------------
# numpy fp32 in a subprocess without the OpenBLAS overrides
_WORKER = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

mats, xs, nxt = {}, {}, {}
out = sys.stdout
for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    try:
        if op == "setup":
            rng = np.random.default_rng(req["seed"])
            k, m, copies = req["k"], req["m"], req["copies"]
            w = rng.standard_normal((m, k), dtype=np.float32)
            mats[req["key"]] = [w] + [w.copy() for _ in range(copies - 1)]
            nxt[req["key"]] = 0
            res = {"nbytes": int(w.nbytes)}
        elif op == "check":
            w = mats[req["key"]][0]
            rng = np.random.default_rng(req["seed"])
            x = rng.standard_normal((w.shape[1], req["batch"]), dtype=np.float32)
            with threadpool_limits(limits=req["threads"], user_api="blas"):
                y = w @ x
            ref = w.astype(np.float64) @ x.astype(np.float64)
            res = {"max_rel_err": float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))}
        elif op == "time":
            key = req["key"]
            ws = mats[key]
            xk = (key, req["batch"])
            if xk not in xs:
                rng = np.random.default_rng(7)
                xs[xk] = rng.standard_normal((ws[0].shape[1], req["batch"]), dtype=np.float32)
            x = xs[xk]
            ts = []
            with threadpool_limits(limits=req["threads"], user_api="blas"):
                for _ in range(req.get("calls", 1)):
                    i = nxt[key] = (nxt[key] + 1) % len(ws)
                    c0, t0 = time.thread_time(), time.perf_counter()
                    ws[i] @ x
                    ts.append([time.perf_counter() - t0, time.thread_time() - c0])
            res = {"seconds": ts}
        elif op == "drop":
            mats.pop(req["key"], None)
            res = {}
        elif op == "info":
            res = {"threadpools": threadpool_info(), "numpy": np.__version__}
        else:
            res = {"error": "unknown op " + op}
    except Exception as e:  # reported to the parent, which raises
        res = {"error": type(e).__name__ + ": " + str(e)}
    out.write(json.dumps(res) + "\n")
    out.flush()
"""

_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: the worker's OpenBLAS threads sleep after 2^4 cycles idle instead of spinning for 2^28 (about 0.1 s): a
#: spinning thread held the second core through the next kernels of the round (hwq at 2 threads right after a
#: 2-thread BLAS call: 0.216 ms min, 0.154 ms with the timeout; ORT's spinning is off likewise)
WORKER_ENV = {"OPENBLAS_THREAD_TIMEOUT": "4"}


class NumpyWorker:
    """numpy fp32 GEMV/GEMM in a persistent subprocess without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``.

    Use as a context manager; :meth:`close` ends the subprocess.
    """

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _OVERRIDES} | WORKER_ENV
        self.removed = {k: os.environ[k] for k in _OVERRIDES if k in os.environ}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )
        info = self._ask({"op": "info"})
        blas = [p for p in info["threadpools"] if p.get("user_api") == "blas"]
        self.blas = (
            {k: blas[0].get(k) for k in ("internal_api", "version", "architecture", "filepath")}
            if blas
            else {"internal_api": "none found"}
        )
        self.numpy_version = info["numpy"]

    def _ask(self, req: dict[str, Any]) -> dict[str, Any]:
        if self.proc.poll() is not None:
            raise HwqError(f"the numpy worker exited with status {self.proc.returncode}")
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise HwqError(f"the numpy worker exited with status {self.proc.wait()}")
        res = json.loads(line)
        if "error" in res:
            raise HwqError(f"numpy worker: {res['error']}")
        return res

    def setup(self, key: str, k: int, m: int, copies: int, seed: int = 3) -> int:
        """Random fp32 W (M, K) and its copies in the worker; returns W's bytes."""
        return int(
            self._ask({"op": "setup", "key": key, "k": k, "m": m, "copies": copies, "seed": seed})["nbytes"]
        )

    def check(self, key: str, batch: int, threads: int) -> float:
        """Max |fp32 W x - float64 W x| / max |W x| of one call (the worker's own reference)."""
        return float(
            self._ask({"op": "check", "key": key, "batch": batch, "threads": threads, "seed": 11})[
                "max_rel_err"
            ]
        )

    def time(self, key: str, batch: int, threads: int, calls: int = 1) -> list[tuple[float, float]]:
        """(wall, calling-thread CPU) seconds of ``calls`` calls ``W @ X`` timed in the worker (each on the
        next weight copy)."""
        return [
            (float(w), float(c))
            for w, c in self._ask(
                {"op": "time", "key": key, "batch": batch, "threads": threads, "calls": calls}
            )["seconds"]
        ]

    def drop(self, key: str) -> None:
        self._ask({"op": "drop", "key": key})

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()

    def __enter__(self) -> NumpyWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
