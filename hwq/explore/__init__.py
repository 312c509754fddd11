"""``hwq explore``: co-design as a search over quantizer and hardware configs, run on Ray.

=========== =========================================================================================
module      holds
=========== =========================================================================================
space       the space file (TOML): fields and their values, grid / random / NSGA-II, ``make_config``
baselines   the baseline quantizers and hardware units shown as points on the same axes
store       the content-addressed store of stage records (resume without recomputing)
stages      the stages (quality, synth, sim, throughput, kernel, gpu), each a function of (point, workdir)
runner      Ray: tasks with resources, retries, the exclusive timing resource, progress lines
search      NSGA-II (optuna) over a space too large for a grid
pareto      non-dominated sorting with objective directions
front       the fronts, the ``explore-front`` record, its Markdown table, plots and recommendation
pick        ``--pick 'bits<=3.5,luts<=8000'``: the chosen config as a TOML ``hwq flow --config`` reads
=========== =========================================================================================
"""
