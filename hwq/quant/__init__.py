"""The quantizer zoo: every method of the paper and of the quantizers it is compared with, behind one
interface.

============  =========================================================================================
module        holds
============  =========================================================================================
base          the interface (:class:`~hwq.quant.base.Quantizer`, :class:`~hwq.quant.base.Encoded`) and
              rate helpers; every method imports this module only
nested        nested-lattice quantizers (Z, D3, D4, E8 wrapping the reference model) and NestQuant
baselines     absmax INT-k, Hadamard INT-k, dithered (entropy-coded) uniform scalar
blockfp       deployed fixed-rate formats: MXFP4, NVFP4 (E2M1 with E8M0 / E4M3 block scales), INT-k g128
scalar        the scalar arithmetic behind the baselines (also the RTL INT4 baseline's reference)
watersic      WaterSIC / GPTQ-like successive interference cancellation
kashin        Kashin decomposition with k-means centroids
timeshare     time-sharing two nested codes below R*
registry      :data:`~hwq.quant.registry.METHODS` and :func:`~hwq.quant.registry.make`; imports the methods
============  =========================================================================================

This package module imports nothing, so importing one method never pulls in the others (no import cycle:
methods -> base, registry -> methods).
"""
