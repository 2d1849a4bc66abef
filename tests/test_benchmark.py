"""NB201 ground truth (evaluation only): README anchors, budgets, oracle, regret, random search."""

import numpy as np
import pytest

from nas.spaces.nb201.benchmark import DEFAULT_QUANTILES, NB201Benchmark
from nas.costs.devices import SHARED_DEVICES
from nas.spaces.nb201.genotype import Genotype

BEST = 94.37


@pytest.fixture(scope="module")
def bench():
    return NB201Benchmark.load()


def test_readme_anchors(bench):
    f = bench.frame
    acc = f["cifar10_test_acc"]
    assert len(f) == 15625 and bench.devices == SHARED_DEVICES
    assert abs(acc.max() - BEST) < 0.01
    assert sorted(f.loc[np.isclose(acc, acc.max()), "arch_index"]) == [6111, 13714]
    assert f["dead"].sum() == 341 and np.allclose(acc[f["dead"]], 10.0, atol=0.01)
    assert abs(acc.mean() - 87.06) < 0.01
    assert all(Genotype.from_str(a).to_str() == a for a in f["arch_str"])  # canonical strings


def test_lookups_agree_across_keys(bench):
    row = bench.frame.iloc[6111]
    arch = row["arch_str"]
    assert bench.accuracy(6111) == bench.accuracy(arch) == bench.accuracy(Genotype.from_str(arch))
    assert bench.measured_latency(arch, "raspi4") == row["raspi4"]
    assert bench.accuracy(arch, "cifar10_valid_acc") == row["cifar10_valid_acc"]


@pytest.mark.parametrize(
    "call",
    [lambda b: b.accuracy("|bogus~0|"), lambda b: b.accuracy(15625), lambda b: b.measured_latency(0, "toaster"),
     lambda b: b.budgets("toaster"), lambda b: b.accuracy(0, metric="imagenet_acc")],
    ids=["bad-arch", "bad-index", "bad-device", "bad-device-budget", "bad-metric"],
)
def test_unknown_keys_raise_keyerror(bench, call):
    with pytest.raises(KeyError):
        call(bench)


@pytest.mark.parametrize("device", SHARED_DEVICES)
def test_budgets_and_oracle(bench, device):
    budgets = bench.budgets(device)
    assert list(budgets) == list(DEFAULT_QUANTILES) and np.all(np.diff(list(budgets.values())) >= 0)
    accs = [bench.oracle(device, b)[1] for b in budgets.values()]
    assert np.all(np.diff(accs) >= 0) and abs(accs[-1] - BEST) < 0.01
    arch, acc = bench.oracle(device, budgets[0.25])
    assert bench.measured_latency(arch, device) <= budgets[0.25] and bench.accuracy(arch) == acc
    live = bench.live()
    assert acc == live.loc[live[device] <= budgets[0.25], "cifar10_test_acc"].max()


@pytest.mark.parametrize("device", SHARED_DEVICES)
def test_oracle_choices_have_zero_regret(bench, device):
    returned = {b: bench.oracle(device, b)[0] for b in bench.budgets(device).values()}
    r = bench.budget_regret(device, returned)
    assert list(r["budget_q"]) == list(DEFAULT_QUANTILES)
    assert (r["regret"] == 0).all() and not r["violation"].any()


def test_violation_is_flagged(bench):
    budgets = bench.budgets("raspi4")
    slowest = bench.live()["raspi4"].idxmax()
    r = bench.budget_regret("raspi4", {budgets[0.1]: slowest})
    assert r["violation"].all() and r["meas_latency_ms"].iat[0] > budgets[0.1]


@pytest.mark.parametrize("device", SHARED_DEVICES)
def test_random_search_regret_decreases_with_n(bench, device):
    r10 = bench.random_search_regret(device, 10, seeds=range(20))
    r50 = bench.random_search_regret(device, 50, seeds=range(20))
    assert len(r10) == 20 and (r50["mean_regret"] >= 0).all()
    assert r10["mean_regret"].mean() > r50["mean_regret"].mean()
    again = bench.random_search_regret(device, 10, seeds=range(3))
    assert np.allclose(again["mean_regret"], r10["mean_regret"][:3])  # seeded
