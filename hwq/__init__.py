"""hwq: nested-lattice quantized matrix multiply, from the reference model to RTL, C/CUDA and rooflines.

The reference model lives in small modules (``hwq.lattice``, ``hwq.voronoi``, ``hwq.nested``,
``hwq.hadamard``, ``hwq.prng``, ``hwq.matmul``, ``hwq.datapath``); one frozen :class:`hwq.config.HwqConfig`
travels through all of them and through the RTL (``hwq.rtl``), simulation (``hwq.sim``) and code
generation (``hwq.codegen``) layers.
Beside the reference model: the quantizer zoo (``hwq.quant``), the evaluations (``hwq.eval``) and the
report page (``hwq.report``).
"""

from __future__ import annotations

__version__ = "0.1.0"

from hwq.config import HwqConfig, load_config  # noqa: E402
from hwq.errors import HwqError  # noqa: E402

__all__ = ["HwqConfig", "HwqError", "load_config", "__version__"]
