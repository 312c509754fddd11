"""Multi-objective search for spaces too large for a grid: Optuna's NSGA-II proposes a generation of
configs (``population`` points), the runner evaluates them on Ray (through the store: a config seen before
costs nothing), and the objectives (D, bits/weight, LUTs per lane; all minimized) go back to the study.
Combinations the config refuses and points without the objectives are told as failed trials, so the
sampler moves away from them; ``samples`` bounds the number of trials.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from hwq.errors import HwqError
from hwq.explore.space import Invalid, Point, Space, build_points

__all__ = ["OBJECTIVES", "nsga2"]

#: (stage, value key) of each minimized objective (those of the space's stages are used)
OBJECTIVES = (("quality", "D"), ("quality", "bits"), ("synth", "luts_per_lane"))


def _suggest(trial: Any, space: Space) -> dict[str, Any]:
    grids = space.grids or ({},)
    g = trial.suggest_categorical("grid", list(range(len(grids)))) if len(grids) > 1 else 0
    merged = {**space.common, **grids[g]}
    return {name: trial.suggest_categorical(f"g{g}.{name}", list(vals)) if len(vals) > 1 else vals[0]
            for name, vals in sorted(merged.items())}


def nsga2(space: Space, evaluate: Callable[[list[Point]], Mapping[str, Mapping[str, Mapping[str, Any]]]],
          log: Callable[[str], None] = print) -> tuple[list[Point], list[Invalid]]:
    """Run the study; ``evaluate(points)`` runs the stages and returns point name -> stage -> values (ok
    stages only). Returns every valid point evaluated and the refused combinations."""
    try:
        import optuna
    except ImportError:
        raise HwqError("search = \"nsga2\" needs optuna: pip install -e '.[explore]'") from None
    objectives = [o for o in OBJECTIVES if o[0] in space.stages]
    if not objectives:
        raise HwqError("search = \"nsga2\" needs the quality stage (objectives D and bits/weight)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.NSGAIISampler(population_size=space.population, seed=space.seed)
    study = optuna.create_study(directions=["minimize"] * len(objectives), sampler=sampler)
    seen: dict[str, Point] = {}
    invalid: list[Invalid] = []
    told = 0
    gen = 0
    while told < space.samples:
        n = min(space.population, space.samples - told)
        trials = [study.ask() for _ in range(n)]
        combos = [_suggest(t, space) for t in trials]
        built = [build_points([c]) for c in combos]
        fresh = {p.name: p for pts, _ in built for p in pts}
        res = evaluate(list(fresh.values())) if fresh else {}
        for t, (pts, bad) in zip(trials, built):
            if bad:
                invalid.extend(bad)
                study.tell(t, state=optuna.trial.TrialState.FAIL)
                continue
            p = pts[0]
            seen.setdefault(p.name, p)
            vals = [res.get(p.name, {}).get(s, {}).get(k) for s, k in objectives]
            if any(v is None for v in vals):
                study.tell(t, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(t, [float(v) for v in vals])
        told += n
        gen += 1
        log(f"explore: NSGA-II generation {gen}: {told}/{space.samples} trials, {len(seen)} distinct "
            f"configs, {len(invalid)} refused")
    return list(seen.values()), _dedup(invalid)


def _dedup(items: Sequence[Invalid]) -> list[Invalid]:
    out: dict[str, Invalid] = {}
    for i in items:
        out.setdefault(repr(sorted(i.fields.items())), i)
    return list(out.values())
