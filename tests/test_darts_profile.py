"""Latency profiles on the DARTS space: tiny profile files, grouped LUTs, isolated-op shapes and sums,
resume, local tables read from data/latency/darts, measuring given architectures, CLI; NB201 unchanged."""

import json

import numpy as np
import pandas as pd
import pytest

import nas.costs.profile_measure as profile_measure
import nas.costs.profiles as profiles
from nas.cli import build_parser, main
from nas.costs.devices import DeviceError
from nas.costs.latency import TimingPlan
from nas.costs.profile_config import (DARTS_ISOLATED_COLUMNS, VALIDATION_COLUMNS, ProfileConfig, ProfileError,
                                      sample_architectures)
from nas.costs.profile_darts import LIVE_OPS, isolated_table, part_keys
from nas.costs.profiles import latency_validation_rows, profile_dirs, read_profile
from nas.costs.profiling import run_profile
from nas.costs.resolve import build_table
from nas.costs.table import CostTable
from nas.results import load_json
from nas.spaces import get_space, space_names
from nas.spaces.base import cost_keys
from nas.spaces.darts.network import DartsMacro

TINY = dict(space="darts", C=4, N=3, resolution=16, n_fit=24, n_test=6, runs=3, warmup=1, rounds=1, chunk=16,
            passes=2)
CONVS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


@pytest.fixture(scope="module")
def darts_root(tmp_path_factory):
    """A data/latency-like root holding a finished tiny darts profile in ``darts/torch-cpu-1t``."""
    root = tmp_path_factory.mktemp("latency")
    run_profile(ProfileConfig.quick_config(**TINY), root / "darts" / "torch-cpu-1t", progress=False)
    return root


@pytest.fixture()
def folder(darts_root):
    return darts_root / "darts" / "torch-cpu-1t"


def test_darts_defaults_and_validation():
    cfg = ProfileConfig(space="darts")
    assert (cfg.C, cfg.N, cfg.resolution) == (16, 3, 32) and cfg.macro == DartsMacro(C=16, N=3)
    assert ProfileConfig.quick_config(space="darts").n_fit >= 22
    with pytest.raises(ProfileError, match="multiple of 4"):
        ProfileConfig(space="darts", resolution=18)
    with pytest.raises(ProfileError, match="at least 22"):
        ProfileConfig(space="darts", n_fit=21)
    with pytest.raises(ProfileError, match="cannot be profiled"):
        ProfileConfig(space="no-such-space")


def test_nb201_config_still_matches_the_committed_profile(repo):
    meta = load_json(repo / "data/latency/torch-cpu-1t/meta.json")
    assert ProfileConfig(runtime="torch-cpu-1t").measurement_key() == meta["measurement_key"]  # resumable as before
    meas = pd.read_csv(repo / "data/latency/torch-cpu-1t/measurements.csv")
    fit, test = sample_architectures(200, 100, seed=0)
    assert set(meas.loc[meas["split"] == "fit", "arch_str"]) == set(fit)
    assert set(meas.loc[meas["split"] == "test", "arch_str"]) == set(test)
    assert build_table("local-torch-cpu-1t").space == "nb201"
    assert {r["space"] for r in latency_validation_rows([repo / "data/latency/torch-cpu-1t"])} == {"nb201"}


def test_darts_sample_is_valid_disjoint_and_stable_under_larger_counts():
    sp = get_space("darts")
    fit, test = sample_architectures(24, 6, seed=0, space="darts")
    fit2, test2 = sample_architectures(40, 9, seed=0, space="darts")
    assert fit2[:24] == fit and test2[:6] == test and len(set(fit2 + test2)) == 49
    assert all(sp.is_valid(sp.parse(a)) and sp.format(sp.parse(a)) == a for a in fit2 + test2)
    assert sample_architectures(24, 6, seed=1, space="darts")[0] != fit


def test_tiny_darts_profile_writes_grouped_luts(folder):
    for name in ("measurements.csv", "isolated_ops.csv", "validation.csv", "lut-regression.json",
                 "lut-isolated.json", "meta.json"):
        assert (folder / name).is_file(), name
    reg, iso = CostTable.load(folder / "lut-regression.json"), CostTable.load(folder / "lut-isolated.json")
    keys = set(cost_keys(get_space("darts")))
    assert reg.space == iso.space == "darts" and set(reg.op_cost_dict()) == set(iso.op_cost_dict()) == keys
    assert reg.name == "local-torch-cpu-1t" and iso.name == "local-torch-cpu-1t-isolated"
    assert reg.fit["n_fit"] == 24 and reg.fit["n_test"] == 6 and np.isfinite(reg.fit["train_r2"])
    costs = iso.op_cost_dict()
    assert iso.base > 0 and all(costs[f"{g}/{op}"] > 0 for g in ("normal", "reduce_s2", "reduce_s1") for op in CONVS)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["measurement_key"]["space"] == "darts"
    assert meta["macro"] == {"C": 4, "N": 3, "in_channels": 3, "n_classes": 10} and meta["input"] == [1, 3, 16, 16]
    for kind in ("isolated", "regression"):
        assert {"kendall_tau", "spearman", "r2", "mape_pct", "within10_pct"} <= set(meta["validation"][kind])
    val = pd.read_csv(folder / "validation.csv")
    assert tuple(val.columns) == VALIDATION_COLUMNS and len(val) == 6
    assert np.allclose(val["pred_isolated_ms"], [iso.genotype_cost(a) for a in val["arch_str"]])


def test_isolated_ops_csv_shows_every_part_at_its_shape(folder):
    rows = pd.read_csv(folder / "isolated_ops.csv")
    assert tuple(rows.columns) == DARTS_ISOLATED_COLUMNS
    assert len(rows) == len(part_keys(DartsMacro(C=4, N=3))) == 1 + 3 * 2 + 7 + 2 * 2 * 7 + 1
    ops = rows[rows["component"].isin(LIVE_OPS)]
    assert (ops["channels_in"] == ops["channels_out"]).all()
    normal = ops[ops["group"] == "normal"]
    assert set(zip(normal["cell"], normal["channels_in"], normal["resolution"], normal["stride"])) == {(0, 4, 16, 1)}
    s2, s1 = ops[ops["group"] == "reduce_s2"], ops[ops["group"] == "reduce_s1"]
    assert set(zip(s2["cell"], s2["channels_in"], s2["resolution"], s2["stride"])) == {(1, 8, 16, 2), (2, 16, 8, 2)}
    assert set(zip(s1["cell"], s1["channels_in"], s1["resolution"], s1["stride"])) == {(1, 8, 8, 1), (2, 16, 4, 1)}
    head = rows[rows["component"] == "head"].iloc[0]
    assert (head["cell"], head["channels_in"], head["resolution"]) == (3, 64, 4)


def test_isolated_table_sums_the_cells_of_each_group():
    macro = DartsMacro(C=4, N=8)  # 6 normal cells, 2 reduction cells
    keys = part_keys(macro)
    rows = pd.DataFrame([(c, i, g, 1.0) for c, i, g in keys], columns=["component", "cell", "group", "latency_ms"])
    t = isolated_table(rows, macro, "x")
    costs = t.op_cost_dict()
    assert t.base == pytest.approx(1 + 2 * 8 + 1) and costs["normal/none"] == 0
    assert costs["normal/sep_conv_3x3"] == pytest.approx(6) and costs["reduce_s2/skip_connect"] == pytest.approx(2)
    assert costs["reduce_s1/max_pool_3x3"] == pytest.approx(2)
    with pytest.raises(ProfileError, match="missing"):
        isolated_table(rows.iloc[1:], macro, "x")


def test_resumed_darts_profile_measures_nothing_new(folder, monkeypatch):
    before = pd.read_csv(folder / "measurements.csv")
    assert len(before) == 2 * 30 and (before["arch_str"].value_counts() == 2).all()
    monkeypatch.setattr(profile_measure, "measure_many", lambda *a, **k: pytest.fail("measured again"))
    result = run_profile(ProfileConfig.quick_config(**TINY), folder, progress=False)
    assert result.regression == CostTable.load(folder / "lut-regression.json")
    pd.testing.assert_frame_equal(pd.read_csv(folder / "measurements.csv"), before)
    with pytest.raises(ProfileError, match="other settings"):
        run_profile(ProfileConfig.quick_config(**{**TINY, "C": 8}), folder, progress=False)


def test_local_darts_tables_are_read_from_the_darts_folder(darts_root, folder, monkeypatch):
    monkeypatch.setattr(profiles, "LATENCY_DIR", darts_root)
    assert build_table("local-torch-cpu-1t", space="darts") == CostTable.load(folder / "lut-regression.json")
    assert build_table("local-torch-cpu-1t-isolated", space="darts") == CostTable.load(folder / "lut-isolated.json")
    with pytest.raises(DeviceError, match="--space darts --out .*darts/onnxruntime-cpu"):
        build_table("local-onnxruntime-cpu", space="darts")
    with pytest.raises(DeviceError, match="has not been profiled on nb201"):
        build_table("local-torch-cpu-1t")  # the NB201 folder of this root is empty: spaces are not mixed


def test_summaries_keep_spaces_apart(darts_root, folder):
    assert profile_dirs(darts_root, space="darts") == [folder] and profile_dirs(darts_root) == []
    rows = latency_validation_rows([folder])
    assert [(r["lut_kind"], r["space"]) for r in rows] == [("isolated", "darts"), ("regression", "darts")]
    assert list(rows[0])[-1] == "space" and rows[1]["n_fit"] == 24 and read_profile(folder)["space"] == "darts"
    with pytest.raises(ProfileError, match="darts profile"):
        profiles.op_cost_ratios([folder])


def test_measure_architectures_on_darts_uses_its_cache(tmp_path, monkeypatch):
    archs, _ = sample_architectures(2, 0, seed=3, space="darts")
    kw = dict(space="darts", macro=DartsMacro(C=4, N=3), resolution=16, plan=TimingPlan(runs=3, warmup=0, rounds=1),
              threads=1, cache=tmp_path / "derived.csv")
    first = profile_measure.measure_architectures_frame(archs + archs[:1], "torch-cpu-1t", **kw)
    assert list(first.columns) == ["arch_str", "latency_ms", "iqr_ms", "runs"] and list(first["arch_str"]) == archs
    assert (first["latency_ms"] > 0).all() and (first["runs"] >= 3).all()
    monkeypatch.setattr(profile_measure, "measure_many", lambda *a, **k: pytest.fail("measured again"))
    again = profile_measure.measure_architectures_frame(archs[::-1], "torch-cpu-1t", **kw)
    pd.testing.assert_frame_equal(again.iloc[::-1].reset_index(drop=True), first)
    assert profile_measure.measure_architectures(archs, "torch-cpu-1t", **kw) == dict(zip(archs, first["latency_ms"]))


def test_cli_profiles_darts(tmp_path, capsys):
    action = next(a for a in build_parser()._subparsers._group_actions[0].choices["profile"]._actions
                  if a.dest == "space")
    assert tuple(action.choices) == space_names()
    out = tmp_path / "darts" / "torch-cpu-1t"
    argv = ["profile", "--runtime", "torch-cpu-1t", "--space", "darts", "--quick", "--n-fit", "22", "--n-test", "3",
            "--runs", "1", "--out", str(out)]
    assert main(argv) == 0
    assert "regression LUT on 3 held-out archs" in capsys.readouterr().out
    assert CostTable.load(out / "lut-regression.json").space == "darts"
