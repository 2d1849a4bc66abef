"""Stage 07 (the DARTS space): its plan, the random baseline at equal cost, training jobs, control statistics
and the cell diagrams. The whole stage runs end to end in the smoke pipeline test."""

import math

import numpy as np
import pandas as pd
import pytest

from nas.costs.resolve import build_table
from nas.evaluation.darts_space import control_rows, equal_latency_wins
from nas.report.plots_darts import cell_dot
from nas.spaces import get_space
from nas.stages.darts_space import DartsSpaceConfig, Proposal, plan, plan_table, random_matches, train_configs

SPACE = get_space("darts")


def _archs(n, seed=0):
    return [SPACE.format(SPACE.from_indices(i)) for i in SPACE.sample(np.random.default_rng(seed), n)]


def test_plan_has_every_searched_method_per_dataset_in_the_darts_space():
    cfg = DartsSpaceConfig(seeds=(0, 1))
    runs = plan(cfg)
    assert len(runs) == 2 * 2 * (3 + 3)  # datasets x seeds x (darts-cc-hw, darts-cc, darts, fbnet x 3 betas)
    fbnet = [c for c in runs.values() if c.method == "fbnet"]
    assert sorted(c.fbnet_beta for c in fbnet) == sorted(cfg.fbnet_betas * 4)
    assert {c.devices for c in fbnet} == {(cfg.eval_device,)}
    assert {c.space for c in runs.values()} == {"darts"} and {c.schedule for c in runs.values()} == {"two-phase"}
    ours = [c for c in runs.values() if c.method == "darts-cc-hw"]
    assert all(c.devices == cfg.devices for c in ours)
    assert all("--space darts" in cmd and "--supernets" in cmd for cmd in plan_table(cfg)["command"])


def test_config_rejects_methods_and_trade_offs_it_cannot_run():
    with pytest.raises(ValueError, match="not run in the DARTS space"):
        DartsSpaceConfig(methods=("darts-cc-hw", "proxyless"))
    with pytest.raises(ValueError, match="lams"):
        DartsSpaceConfig(lams=(0.0, 1.5))


def test_random_architectures_are_drawn_at_the_predicted_cost_of_ours():
    cfg = DartsSpaceConfig(eval_device="flops", random_tolerance=0.05)
    table = build_table("flops", space="darts")
    ours = [Proposal("darts-cc-hw", "cifar10", 0, "r", lam, a, table.genotype_cost(a))
            for lam, a in zip((0.0, 0.5, 1.0), _archs(3))]
    picked = random_matches(cfg, "cifar10", 0, ours)
    assert [p.method for p in picked] == ["random"] * 3 and all(math.isnan(p.lam) for p in picked)
    for mine, rand in zip(ours, picked):
        assert SPACE.is_valid(SPACE.parse(rand.arch)) and rand.arch != mine.arch
        assert abs(rand.pred_cost - mine.pred_cost) <= 0.05 * mine.pred_cost
        assert table.genotype_cost(rand.arch) == pytest.approx(rand.pred_cost)
    assert [p.arch for p in random_matches(cfg, "cifar10", 0, ours)] == [p.arch for p in picked]  # seeded


def test_an_architecture_proposed_twice_is_trained_once_per_seed():
    arch = _archs(1)[0]
    props = [Proposal(m, "synthetic", 0, "", math.nan, arch, 1.0) for m in ("darts-cc-hw", "darts-cc")]
    cfg = DartsSpaceConfig(profile="smoke", train_seeds=(0, 1), train={"C": 4, "N": 3, "epochs": 1}, jobs=2)
    jobs = train_configs(cfg, props)
    assert len(jobs) == 2 and {tc.seed for _, tc in jobs} == {0, 1}
    assert all(tc.space == "darts" and tc.threads == 1 and tc.C == 4 for _, tc in jobs)


def test_control_and_equal_latency_tables():
    rows = []
    for method, accs, lats in (("darts-cc-hw", [90, 88, 85], [9.0, 6.0, 3.0]), ("random", [89, 86, 84], [9.2, 5.9, 3.1])):
        for i, (acc, lat) in enumerate(zip(accs, lats)):
            rows.append({"method": method, "dataset": "cifar10", "seed": 0, "device": "local-x",
                         "lam": [0.0, 0.5, 1.0][i] if method != "random" else math.nan, "acc": acc,
                         "meas_latency_ms": lat})
    frame = pd.DataFrame(rows)
    control = control_rows(frame)
    assert control["method"].tolist() == ["darts-cc-hw"] and control["rho_lam_measured"].iloc[0] == pytest.approx(-1.0)
    wins = equal_latency_wins(frame, "local-x")
    assert wins["diff_pts"].tolist() == [1, 2, 1] and wins["lam"].tolist() == [0.0, 0.5, 1.0]


def test_cell_diagram_names_every_live_edge():
    g = SPACE.parse(_archs(1, seed=3)[0])
    for kind in ("normal", "reduce"):
        source = cell_dot(SPACE.format(g), kind)
        for node, inputs in enumerate(g.inputs(kind)):
            for op, _ in inputs:
                assert f'label={op}' in source
        assert source.count("style=dashed") == 4  # the four intermediate nodes are concatenated


def test_the_long_schedule_retrains_only_ours_least_constrained_architecture_per_listed_dataset():
    a, b, c = _archs(3, seed=5)
    props = [Proposal("darts-cc-hw", "fashion-mnist", 0, "r", 1.0, a, 1.0),
             Proposal("darts-cc-hw", "fashion-mnist", 0, "r", 0.0, b, 2.0),
             Proposal("random", "fashion-mnist", 0, "", math.nan, c, 2.0),
             Proposal("darts-cc-hw", "cifar10", 0, "r", 0.0, c, 2.0)]
    cfg = DartsSpaceConfig(profile="smoke", train={"C": 4, "N": 3, "epochs": 1}, long_train={"epochs": 2},
                           long_datasets=("fashion-mnist",))
    jobs = train_configs(cfg, props, long=True)
    assert [(tc.dataset, tc.genotype, tc.epochs, tc.C, tc.threads) for _, tc in jobs] == [("fashion-mnist", b, 2, 4, 0)]
    assert jobs[0][0].parent.name == "train_long"
    assert train_configs(DartsSpaceConfig(profile="smoke", long_datasets=()), props, long=True) == []
