"""Baselines and the comparison on tiny synthetic runs: configs, budget rules, metrics and files."""

import math
import shlex

import numpy as np
import pandas as pd
import pytest

from nas.costs.resolve import cost_floor
from nas.methods import registry
from nas.methods.base import descriptor_table, fixed_architecture
from nas.methods.fbnet import fbnet_tradeoff
from nas.methods.ours import tradeoff_budget_answers
from nas.methods.random_search import random_answers
from nas.methods.registry import METHODS, build_config
from nas.stages.baselines import cli_command, comparison_plan, method_configs, run_configs
from nas.cli import _overrides, build_parser
from nas.evaluation.answers import answer_searched
from nas.evaluation.comparison import ComparisonConfig, build_comparison, write_comparison
from nas.evaluation.comparison_table import comparison_table
from nas.evaluation.scores import device_metrics, hypervolume, score_answers, specialisation
from nas.methods.derive import LAM_GRID, SearchRun, cheapest_live, derive_budgets, most_probable_live
from nas.spaces.nb201.genotype import Genotype
from nas.results import SUMMARY_COLUMNS
from nas.search.sampling import temperature
from nas.search.config import config_for_profile
from nas.search.loop import run_search
from tests.search_fixture import TINY, tiny_data

SMALL = {k: v for k, v in TINY.items() if k != "devices"} | {"epochs": 2, "threads": 1}
DEVICES = ("raspi4", "eyeriss")


@pytest.fixture(scope="module")
def bench():
    from nas.spaces.nb201.benchmark import NB201Benchmark

    return NB201Benchmark.load()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Finished tiny runs: ours (runs/), darts-cc and darts (+ fbnet on raspi4 at two betas) in runs/baselines/."""
    root = tmp_path_factory.mktemp("cmp")
    data = tiny_data()
    ours = run_search(build_config("darts-cc-hw", "smoke", **SMALL, devices=TINY["devices"]),
                      root / "runs" / "ours", data=data, progress=False)
    configs = {**method_configs("darts-cc", "smoke", **SMALL), **method_configs("darts", "smoke", **SMALL)}
    configs.update(method_configs("fbnet", "smoke", devices=("raspi4",), tradeoffs=(0.3, 1.2), **SMALL))
    out = {"root": root, "ours": ours}
    for d in run_configs(configs, root / "runs" / "baselines", data=data, progress=False):
        method = SearchRun.load(d).config.method
        out[d.name if method == "fbnet" else method] = d  # fbnet: one key per run
    return out


@pytest.mark.parametrize("method", [m for m, s in METHODS.items() if s.needs_search])
def test_each_method_builds_valid_configs(method):
    cfgs = method_configs(method, "smoke", devices=("raspi4", "titan_rtx_1"), tradeoffs=(0.3, 0.6, 1.2))
    assert len(cfgs) == (6 if method == "fbnet" else 1) and len(set(cfgs)) == len(cfgs)
    for name, cfg in cfgs.items():
        assert cfg.validate() is cfg and cfg.method == method and name.startswith(method + "_")
    cfg = next(iter(cfgs.values()))
    if method == "darts":
        assert cfg.hypernet == "alpha"
        assert cfg.loss == "none" or cfg.lam_max <= 1e-8, "plain DARTS has no cost pressure"
    if method == "darts-cc":
        assert cfg.devices == ("params",) and cfg.hypernet == "pwlinear"
    if method == "fbnet":
        assert cfg.hypernet == "alpha" and cfg.loss == "fbnet-fixed" and cfg.devices == ("raspi4",)
        assert cfg.fbnet_a == 0.2 and {c.fbnet_beta for c in cfgs.values()} == {0.3, 0.6, 1.2}
        taus = [temperature(e, cfg.epochs, cfg.tau_max, cfg.tau_min, cfg.tau_schedule) for e in range(cfg.epochs)]
        assert np.allclose(taus, [5.0 * math.exp(-0.045 * e) for e in range(cfg.epochs)])
    assert method_configs("random", "smoke") == {}


@pytest.mark.parametrize("method", ["darts-cc", "darts", "fbnet"])
def test_cli_command_rebuilds_the_same_config(method):
    cfg = next(iter(method_configs(method, "default", devices=("raspi4",), seed=2, threads=1).values()))
    args = build_parser().parse_args(shlex.split(cli_command(cfg, "default", "results/runs/x"))[3:])
    over = _overrides(args.set)
    over.update(method=args.method, dataset=args.dataset, seed=args.seed)
    if args.devices:
        over["devices"] = tuple(args.devices)
    assert config_for_profile(args.profile, **over).to_dict() == cfg.to_dict()


def test_method_seeds_override_the_shared_seeds_for_that_method_only():
    plan = comparison_plan("smoke", seeds=(0,), methods=("darts", "darts-cc"), method_seeds={"darts": [0, 1, 2]},
                           ours_seeds=(1,))
    seeds = sorted((c.method, c.seed) for c in plan.values())
    assert seeds == [("darts", 0), ("darts", 1), ("darts", 2), ("darts-cc", 0), ("darts-cc-hw", 1)]
    assert len(set(plan)) == len(plan)  # each seed its own run folder
    with pytest.raises(ValueError, match="fbnet"):
        comparison_plan("smoke", methods=("darts",), method_seeds={"fbnet": (0, 1)})


def test_user_overrides_win():
    cfg = build_config("fbnet", "smoke", device="raspi4", estimator="reinforce")
    assert cfg.estimator == "reinforce"


def test_darts_cc_answers_use_params_descriptor_and_meet_predicted_budgets(runs):
    run = SearchRun.load(runs["darts-cc"])
    assert set(run.tables) == {"params"} and descriptor_table(run, "raspi4").name == "params"
    table = run.device_table("raspi4")
    floor = cost_floor(table)
    cheap = max(cheapest_live(table)[1], floor)  # the cheapest achievable (raspi4's fit dips below zero)
    mid = float(np.median(table.all_costs()))
    budgets = [cheap, (cheap + mid) / 2, mid, 1e9]
    answers = tradeoff_budget_answers([run], "raspi4", budgets)
    grid_cost = np.maximum(table.all_costs(), floor)[most_probable_live(run.probs(run.tables["params"], LAM_GRID))]
    for a, b in zip(answers, budgets):
        assert a.pred_latency_ms <= b + 1e-9 and not Genotype.from_str(a.arch).is_dead()
        assert a.pred_latency_ms == pytest.approx(max(table.genotype_cost(a.arch), floor))
        ok = np.flatnonzero(grid_cost <= b)
        if ok.size:  # the least pressure on the lam grid whose params-derived architecture fits
            assert a.tradeoff == LAM_GRID[ok[0]] and a.pred_latency_ms == pytest.approx(grid_cost[ok[0]])


def test_ours_answers_equal_derive_budgets(runs):
    run = SearchRun.load(runs["ours"])
    budgets = [8.0, 20.0, 60.0]
    mine = tradeoff_budget_answers([run], "raspi4", budgets)
    ref = derive_budgets(run, "raspi4", budgets)
    assert [(a.arch, a.tradeoff) for a in mine] == [(d.arch, d.lam) for d in ref]


def test_trade_off_rho_agrees_with_the_derivation_stage(runs, bench):
    """The comparison's Spearman rho of ours is stage 04's (the same lam sweep, the same measured latency)."""
    from nas.evaluation.scores import tradeoff_rho
    from nas.evaluation.evaluate import evaluate_device

    res = answer_searched("darts-cc-hw", [SearchRun.load(runs["ours"])], bench, DEVICES)
    for device in DEVICES:
        _, _, metrics = evaluate_device(SearchRun.load(runs["ours"]), bench, device)
        expected = next(m["value"] for m in metrics if m["metric"] == "spearman_lam_latency")
        name, rho = tradeoff_rho(res, device, bench)
        assert name == "spearman_lam_latency"
        assert rho == pytest.approx(expected, nan_ok=True)


def test_darts_returns_one_architecture_for_every_budget(runs):
    run = SearchRun.load(runs["darts"])
    answers = registry.budget_answers("darts", [run], "raspi4", [1.0, 10.0, 1e9])
    assert len({a.arch for a in answers}) == 1 and answers[0].tradeoff is None


def test_fbnet_answers_come_from_the_device_runs(runs):
    fb = [SearchRun.load(d) for k, d in runs.items() if k.startswith("fbnet")]
    assert sorted(fbnet_tradeoff(r) for r in fb) == [0.3, 1.2]
    assert registry.budget_answers("fbnet", fb, "eyeriss", [5.0]) == []  # not searched for eyeriss
    archs = {fbnet_tradeoff(r): fixed_architecture(r, "raspi4") for r in fb}
    answers = registry.budget_answers("fbnet", fb, "raspi4", [1e9, 0.0])
    assert answers[0].tradeoff == 0.3 and answers[0].pred_latency_ms == archs[0.3][1]  # least pressure fits
    assert answers[1].tradeoff == 1.2 and not Genotype.from_str(answers[1].arch).is_dead()  # nothing fits: cheapest


def test_random_baseline_samples_n_distinct_live_archs_and_picks_best_within(bench):
    budgets = list(bench.budgets("raspi4").values())
    answers, archs = random_answers(bench, "raspi4", budgets, 12, seed=3)
    assert len(archs) == len(set(archs)) == 12 and not any(Genotype.from_str(a).is_dead() for a in archs)
    assert random_answers(bench, "raspi4", budgets, 12, seed=3)[1] == archs  # seeded
    lat = {a: bench.measured_latency(a, "raspi4") for a in archs}
    for a, b in zip(answers, budgets):
        fits = [x for x in archs if lat[x] <= b]
        if fits:
            assert a.arch in fits and bench.accuracy(a.arch) == max(bench.accuracy(x) for x in fits)
        else:
            assert lat[a.arch] == min(lat.values())


def test_hypervolume_of_oracle_front_bounds_any_subset(bench):
    from nas.evaluation.reference import oracle_fronts

    assert hypervolume([0.5], [60.0], 1.0) == pytest.approx(0.5 * 0.5)
    assert hypervolume([0.2, 0.5, 0.7], [50.0, 60.0, 55.0], 1.0) == pytest.approx(0.3 * 0.4 + 0.5 * 0.5)
    front = oracle_fronts(bench, devices=("raspi4",))
    max_lat = bench.budgets("raspi4")[1.0]
    full = hypervolume(front["latency_ms"], front["acc"], max_lat)
    rng = np.random.default_rng(0)
    for _ in range(20):
        pick = front.sample(int(rng.integers(1, len(front))), random_state=int(rng.integers(1 << 30)))
        assert hypervolume(pick["latency_ms"], pick["acc"], max_lat) <= full + 1e-12
    live = bench.live().sample(200, random_state=0)
    assert hypervolume(live["raspi4"], live["cifar10_test_acc"], max_lat) <= full + 1e-12


def test_specialisation_diagonal_is_the_methods_own_regret(runs, bench):
    res = answer_searched("darts-cc-hw", [SearchRun.load(runs["ours"])], bench, DEVICES)
    own = {r["device"]: r["value"] for r in device_metrics(res, score_answers(res, bench), bench)
           if r["metric"] == "mean_regret"}
    spec = pd.DataFrame(specialisation(res, bench, DEVICES))
    diag = spec[(spec["metric"] == "mean_regret") & (spec["device"] == spec["device_to"])]
    assert dict(zip(diag["device"], diag["value"])) == pytest.approx(own)
    assert len(spec) == 2 * len(DEVICES) ** 2


def test_comparison_rows_files_table_and_figures(runs, bench, tmp_path):
    from nas.report import plots_baselines
    from nas.evaluation.reference import oracle_fronts

    root = runs["root"]
    cfg = ComparisonConfig(runs_dirs=(str(root / "runs"), str(root / "runs" / "baselines")), devices=DEVICES)
    result = build_comparison(cfg, bench)
    assert list(result.metrics.columns) == list(SUMMARY_COLUMNS["comparison.csv"])
    methods = set(result.metrics["method"])
    assert {"darts-cc-hw", "darts-cc", "darts", "random", "oracle"} <= methods
    assert "fbnet" in methods
    m = result.metrics
    assert (m.loc[(m["method"] == "oracle") & (m["metric"] == "mean_regret"), "value"] == 0).all()
    assert set(m.loc[m["method"] == "darts-cc", "metric"]) >= {"spearman_lam_latency", "hypervolume",
                                                               "search_seconds_total"}
    assert "search_seconds_total_extrapolated" in set(m.loc[m["method"] == "fbnet", "metric"])
    ours_n = result.answers[result.answers["method"] == "darts-cc-hw"].groupby("device")["arch"].nunique()
    rand = m[(m["method"] == "random") & (m["metric"] == "evaluated_archs")]["value"]
    assert int(rand.iloc[0]) == int(ours_n.sum())
    pd.DataFrame([{**{c: "x" for c in SUMMARY_COLUMNS["comparison.csv"]}, "seed": 0, "value": 1.0}]).to_csv(
        tmp_path / "comparison.csv", index=False)  # a row of 04_derive that must survive
    for _ in range(2):  # idempotent
        paths = write_comparison(result, tmp_path)
    merged = pd.read_csv(paths["comparison.csv"])
    assert len(merged) == len(result.metrics) + 1
    for name, path in paths.items():
        assert list(pd.read_csv(path).columns) == list(SUMMARY_COLUMNS[name])
    table = comparison_table(merged)
    assert {"darts-cc-hw", "random", "published:darts"} <= set(table["method"])
    answers = pd.read_csv(paths["method_answers.csv"])
    spec = pd.read_csv(paths["specialisation.csv"])
    figs = [plots_baselines.fig9_fronts_methods(answers, oracle_fronts(bench, devices=DEVICES), tmp_path),
            plots_baselines.fig10_search_cost(merged, tmp_path),
            plots_baselines.fig11_specialisation(spec, tmp_path)]
    assert all(p.exists() for p in figs)
    assert "results/summary/" in (tmp_path / "fig11_specialisation.txt").read_text()


def test_methods_never_import_the_benchmark():
    import ast
    from pathlib import Path

    import nas.methods

    for path in Path(nas.methods.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names} | {
            n.module for n in top if isinstance(n, ast.ImportFrom)}
        assert not names & {"nas.spaces.nb201.benchmark", "nas.evaluation.evaluate"}, path.name


def test_registry_is_the_one_method_list():
    from nas.evaluation import comparison_table
    from nas.methods import registry
    from nas.report import plots_baselines

    assert list(registry.METHODS) == list(registry.METHOD_NAMES)
    assert all(name == spec.name for name, spec in registry.METHODS.items())
    assert comparison_table.METHOD_ORDER == plots_baselines.METHOD_ORDER == registry.REPORT_ORDER
    assert registry.REPORT_ORDER[: len(registry.METHODS)] == registry.METHOD_NAMES
