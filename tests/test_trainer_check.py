"""The trainer check against NAS-Bench-201 picks distinct live cells spread over the benchmark's accuracy range."""

import numpy as np

from nas.evaluation.trainer_check import pick_cells
from nas.spaces.nb201.benchmark import NB201Benchmark
from nas.spaces.nb201.genotype import Genotype


def test_picked_cells_are_distinct_live_and_spread_over_the_accuracy_range():
    cells = pick_cells(6, seed=0)
    bench = NB201Benchmark.load()
    acc = np.array([bench.accuracy(a) for a in cells])
    assert len(set(cells)) == 6 and not any(Genotype.from_str(a).is_dead() for a in cells)
    assert (np.diff(acc) > 0).all() and acc[-1] - acc[0] > 10
    assert pick_cells(6, seed=0) == cells and pick_cells(6, seed=1) != cells
