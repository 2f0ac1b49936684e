"""Python's cyclic garbage collector, tuned for keyplane's processes (the gate, the pack).

Rendering and judging thousands of resources allocates millions of small, long-lived objects
(the SDK's resources, protobuf messages, facts). With the default thresholds (700, 10, 10) the
collector walks them over and over: measured on the 2-core reference machine at 1,819 resources,
it took about 2.6 s of the gate's 5.5 s of CPU, made the pack's AnalyzeStack superlinear
(0.28 to 0.44 ms per resource from 2,000 to 10,000 resources) and about 43 % of checkov's time.
Freezing what is alive after the imports (it is never garbage) and raising the first threshold
took the full gate at 1,819 resources from 14.2 s to 9.8 s and `--no-checkov` from 6.0 s to
4.5 s, for about 10 MB more memory and identical findings. Cycles are still collected.

The render is paused (`paused`): even tuned, the young collections cost more as the heap grows
(measured on the gate's main process, CPU seconds of `--no-checkov`: 1,819 resources 2.87 s
tuned, 2.67 s paused; 9,919 resources 20.2 s tuned, of which 5.5 s in 108 collections, and
14.5 s paused: 1.58 -> 2.04 ms per resource tuned, 1.47 -> 1.46 paused), for 41 MB more peak
memory at 9,919 resources (779 -> 820 MB).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between young collections, and the two older generations' ratios.
THRESHOLDS = (50_000, 20, 100)


def tune() -> None:
    """Raise the collection thresholds and move every object alive now out of the collector's
    sight (`gc.freeze`); call it again after heavy imports to freeze those too."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


@contextmanager
def paused() -> Iterator[None]:
    """Run the block without cyclic collections (the render: everything it allocates lives to
    the end of the run, and a collection walks more of it the larger the estate), then freeze
    what it left and collect as `tune` set up. The collector's previous state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
