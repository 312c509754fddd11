"""Evaluations of the quantizers: the paper's table (``paper``), the rate-distortion sweep (``rd``) and a real
transformer (``model_eval`` on the pure-numpy all-MiniLM-L6-v2 of ``minilm``). Each is driven by an
``hwq eval`` subcommand and writes a typed record (:mod:`hwq.records`). ``quality`` evaluates the
matrix-product distortion of one design point (a config or any registry method), for callers such as the
explorer."""
