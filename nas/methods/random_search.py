"""random (random search): no search run; N distinct live cells per device, each measured and
trained (the benchmark's latency and accuracy are its own evaluations); a budget query takes the
most accurate sampled cell whose measured latency meets it (the fastest if none does).
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from nas.methods.base import Answer, MethodSpec


def random_answers(bench, device: str, budgets: Sequence[float], n: int, seed: int) -> tuple[list[Answer], list[str]]:
    """Random search with ``n`` distinct live cells (seeded per device), each measured and trained.

    ``bench`` is an ``nas.spaces.nb201.benchmark.NB201Benchmark``: random search evaluates every candidate, so
    the benchmark's measured latency and accuracy are its own evaluations. Per budget: the most
    accurate sampled cell with measured latency <= budget, else the fastest one (a violation).

    Returns:
        (answers, the sampled architectures).
    """
    from nas.spaces.nb201.benchmark import DEFAULT_METRIC  # deferred: evaluation only

    live = bench.live()
    if not 1 <= n <= len(live):
        raise ValueError(f"random search needs 1 <= n <= {len(live)}, got {n}")
    rng = np.random.default_rng([int(seed), zlib.crc32(device.encode())])
    pick = live.iloc[rng.choice(len(live), size=n, replace=False)]
    lat, acc = pick[device].to_numpy(float), pick[DEFAULT_METRIC].to_numpy(float)
    archs = pick["arch_str"].tolist()
    out = []
    for b in budgets:
        ok = np.flatnonzero(lat <= b)
        j = int(ok[np.lexsort((lat[ok], -acc[ok]))[0]]) if ok.size else int(lat.argmin())
        out.append(Answer(device, float(b), archs[j], float(lat[j]), None, ""))
    return out, archs


SPEC = MethodSpec("random", "random search: N measured-and-trained live cells per device", "none", None, None, None)
