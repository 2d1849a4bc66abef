"""Summaries of the NB201 space itself (evaluation only): oracle fronts, random-search reference and
lookup-table fit quality. Figures read these files, never the benchmark.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nas.spaces.nb201.benchmark import DEFAULT_METRIC, NB201Benchmark
from nas.costs.devices import SHARED_DEVICES, lut_fit_report


def oracle_fronts(bench: NB201Benchmark, devices=SHARED_DEVICES, metric: str = DEFAULT_METRIC) -> pd.DataFrame:
    """Per device, the live cells on the accuracy-latency Pareto front (measured latency, ms)."""
    rows = []
    for device in devices:
        live = bench.live().sort_values([device, metric], ascending=[True, False])
        best = -np.inf
        for arch, lat, acc in zip(live["arch_str"], live[device], live[metric]):
            if acc > best:
                best = acc
                rows.append({"device": device, "latency_ms": lat, "acc": acc, "arch": arch})
    return pd.DataFrame(rows)


def random_reference(bench: NB201Benchmark, devices=SHARED_DEVICES, ns=(10, 50), seeds=range(20)) -> pd.DataFrame:
    """Budget regret of random search with n measured-and-trained architectures, per seed."""
    return pd.concat([bench.random_search_regret(d, n, list(seeds)) for d in devices for n in ns], ignore_index=True)


def lut_fit(n_fit: int = 300, seed: int = 0) -> pd.DataFrame:
    """Held-out quality of every shared device's fitted lookup table (``nas.costs.devices.lut_fit_report``)."""
    return lut_fit_report(n_fit=n_fit, seed=seed)
