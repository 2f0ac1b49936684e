"""Python's cyclic garbage collector, tuned for keyplane's processes (the gate, the pack).

Rendering and judging thousands of resources allocates millions of small, long-lived objects
(the SDK's resources, protobuf messages, facts). With the default thresholds (700, 10, 10) the
collector walks them over and over: measured on the 2-core reference machine at 1,819 resources,
it took about 2.6 s of the gate's 5.5 s of CPU, made the pack's AnalyzeStack superlinear
(0.28 to 0.44 ms per resource from 2,000 to 10,000 resources) and about 43 % of checkov's time.
Freezing what is alive after the imports (it is never garbage) and raising the first threshold
took the full gate at 1,819 resources from 14.2 s to 9.8 s and `--no-checkov` from 6.0 s to
4.5 s, for about 10 MB more memory and identical findings. Cycles are still collected.
"""

from __future__ import annotations

import gc

#: Allocations between young collections, and the two older generations' ratios.
THRESHOLDS = (50_000, 20, 100)


def tune() -> None:
    """Raise the collection thresholds and move every object alive now out of the collector's
    sight (`gc.freeze`); call it again after heavy imports to freeze those too."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
