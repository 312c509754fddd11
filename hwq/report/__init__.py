"""``hwq report``: one self-contained HTML page and a Markdown index of everything under ``reports/``.

Each area has a folder written by its own command; this module only reads them:

=========  =====================================  =========================================
folder     written by                             shown as
=========  =====================================  =========================================
paper      ``hwq eval paper``                     its Markdown (table + checks)
rd         ``hwq eval rd``                        Markdown/JSON table and the plot
synth      ``hwq synth``                          synthesis tables (LUT/FF/DSP/BRAM, Fmax)
sim        ``hwq sim``                            simulation summaries
bench      ``hwq bench c`` / the CUDA script      benchmark results
roofline   ``hwq roofline``                       tables, roofline and speedup charts
flow       ``hwq flow``                           the last end-to-end run
=========  =====================================  =========================================

Other folders under ``reports/`` are shown too, after these. Every JSON report is read as a typed record
(:mod:`hwq.records`); the page shows its stamp (config slug, hwq version, date, machine) and, for a file
that is not a current record, the reason in one line instead of a guessed stamp. A folder that does not
exist yet gets a "not run yet" section with the command that produces it. Images are inlined (PNG as
base64), so ``index.html`` reads offline as a single file.
"""

from hwq.report.build import build_report
from hwq.report.collect import SECTIONS, Section, collect, stamp_of
from hwq.report.html import markdown_to_html

__all__ = ["SECTIONS", "Section", "build_report", "collect", "markdown_to_html", "stamp_of"]
