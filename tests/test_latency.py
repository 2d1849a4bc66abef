"""Latency measurement and local profiles: timing invariants, skipping, export failures, resume, LUT fits, CLI."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import nas.costs.profile_measure as profile_measure
import nas.costs.profiles as profiles
from nas.cli import EXIT_USAGE, main
from nas.costs.table import FITTED_OPS, CostTable
from nas.costs.devices import DeviceError
from nas.spaces.nb201.genotype import Genotype
from nas.costs.latency import Measurement, TimingPlan, interleaved_schedule, measure_latency, measure_many
from nas.costs.runtimes import RUNTIMES, ExportFailed, RuntimeUnavailable, get_runtime
from nas.costs.profile_config import MEASUREMENT_COLUMNS, ProfileConfig, ProfileError, sample_architectures
from nas.costs.profiles import latency_validation_rows
from nas.costs.profiling import isolated_table, run_profile, validation_stats
from nas.spaces.nb201.network import MacroConfig
from nas.results import SUMMARY_COLUMNS
from nas.costs.resolve import build_table

TINY = dict(C=4, N=1, resolution=16, n_fit=6, n_test=4, runs=5, warmup=1, rounds=2, chunk=4, passes=2)
HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def tiny_profile(tmp_path_factory):
    """A finished tiny torch-cpu-1t profile in ``<root>/torch-cpu-1t``."""
    root = tmp_path_factory.mktemp("latency")
    run_profile(ProfileConfig(**TINY), root / "torch-cpu-1t", progress=False)
    return root


def test_measure_latency_median_iqr_n_on_tiny_module():
    m = measure_latency(nn.Conv2d(3, 4, 3), "torch-cpu-1t", input_shape=(1, 3, 8, 8), runs=12, warmup=2, rounds=5)
    assert isinstance(m, Measurement)
    assert m.n >= 12 and m.median_ms > 0 and m.mean_ms > 0 and m.iqr_ms >= 0
    assert torch.get_num_threads() >= 1  # the 1-thread setting is restored afterwards


def test_interleaved_schedule_is_a_seeded_permutation_of_every_repeat():
    keys = ["a", "b", "c", "d"]
    s = interleaved_schedule(keys, 5, seed=3)
    assert sorted(s) == sorted((k, r) for k in keys for r in range(5))
    assert s == interleaved_schedule(keys, 5, seed=3)
    assert s != interleaved_schedule(keys, 5, seed=4)
    assert [k for k, _ in s[:4]] != keys or [k for k, _ in s[4:8]] != keys  # not round-robin


def test_measure_many_times_every_model_with_at_least_runs_calls():
    models = {"id": nn.Identity(), "conv": nn.Conv2d(3, 3, 1)}
    batch = measure_many(models, "torch-cpu-1t", input_shape=(1, 3, 4, 4), plan=TimingPlan(runs=7, warmup=0, rounds=3))
    assert set(batch.measured) == set(models) and not batch.failed
    assert all(m.n >= 7 for m in batch.measured.values())


@pytest.mark.skipif(HAS_CUDA, reason="this machine has a GPU")
def test_cuda_without_gpu_is_skipped_with_a_message(tmp_path, capsys):
    reason = RUNTIMES["cuda"].unavailable()
    assert reason.startswith("skipped:") and "CUDA" in reason
    with pytest.raises(RuntimeUnavailable, match="^skipped:"):
        measure_latency(nn.Identity(), "cuda", input_shape=(1, 1))
    result = run_profile(ProfileConfig(**{**TINY, "runtime": "cuda"}), tmp_path / "cuda", progress=False)
    assert result.skipped == reason and not (tmp_path / "cuda").exists()
    assert main(["profile", "--runtime", "cuda", "--out", str(tmp_path / "cuda2"), "--quick"]) == 0
    assert "skipped:" in capsys.readouterr().out


class _NoExport(nn.Module):
    """Runs in PyTorch but refuses to be exported (a stand-in for an unsupported op)."""

    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            raise RuntimeError("op not supported by the exporter")
        return x * 2


def test_export_failure_is_reported_and_skipped():
    pytest.importorskip("onnxruntime")
    seen = {}
    batch = measure_many({"bad": _NoExport(), "good": nn.Conv2d(3, 3, 1)}, "onnxruntime-cpu",
                         input_shape=(1, 3, 4, 4), plan=TimingPlan(runs=3, warmup=1, rounds=1),
                         on_fail=lambda k, msg: seen.update({k: msg}))
    assert set(batch.measured) == {"good"} and set(batch.failed) == {"bad"} == set(seen)
    assert "ONNX" in batch.failed["bad"] and "not supported" in batch.failed["bad"]
    with pytest.raises(ExportFailed):
        measure_latency(_NoExport(), "onnxruntime-cpu", input_shape=(1, 3, 4, 4), runs=2, warmup=0)


def test_sample_is_disjoint_live_and_stable_under_larger_counts():
    fit, test = sample_architectures(6, 4, seed=0)
    fit2, test2 = sample_architectures(9, 7, seed=0)
    assert not set(fit) & set(test) and not any(Genotype.from_str(a).is_dead() for a in fit + test)
    assert fit2[:6] == fit and test2[:4] == test


def test_interrupted_profile_resumes_without_remeasuring(tmp_path, monkeypatch):
    cfg, out = ProfileConfig(**TINY), tmp_path / "p"
    real, timed = profile_measure.measure_many, []

    def crash_after_first_chunk(models, *args, **kwargs):
        if timed:
            raise KeyboardInterrupt
        timed.append(list(models))
        return real(models, *args, **kwargs)

    monkeypatch.setattr(profile_measure, "measure_many", crash_after_first_chunk)
    with pytest.raises(KeyboardInterrupt):
        run_profile(cfg, out, progress=False)
    first = pd.read_csv(out / "measurements.csv")
    assert list(first.columns) == list(MEASUREMENT_COLUMNS) and len(first) == cfg.chunk
    assert json.loads((out / "meta.json").read_text())["status"] == "running"

    def counting(models, *args, **kwargs):
        timed.append(list(models))
        return real(models, *args, **kwargs)

    timed.clear()
    monkeypatch.setattr(profile_measure, "measure_many", counting)
    run_profile(cfg, out, progress=False)
    e2e = [k for chunk in timed for k in chunk if "@" not in k]
    n_archs = cfg.n_fit + cfg.n_test
    assert len(e2e) == cfg.passes * n_archs - cfg.chunk  # the first chunk's pass is not repeated
    assert not set(e2e[: n_archs - cfg.chunk]) & set(first["arch_str"])  # rest of pass 1 first
    timed.clear()
    run_profile(cfg, out, progress=False)  # complete: nothing is measured again
    assert timed == []
    rows = pd.read_csv(out / "measurements.csv")
    assert len(rows) == cfg.passes * n_archs and (rows["arch_str"].value_counts() == cfg.passes).all()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["noisy"]["pass_agreement"]["n"] == n_archs and len(meta["history"]) == 2


def test_resume_under_other_settings_is_refused(tiny_profile):
    with pytest.raises(ProfileError, match="other settings"):
        run_profile(ProfileConfig(**{**TINY, "runs": 9}), tiny_profile / "torch-cpu-1t", progress=False)


def test_tiny_profile_writes_fitted_luts_and_provenance(tiny_profile, monkeypatch):
    d = tiny_profile / "torch-cpu-1t"
    reg, iso = CostTable.load(d / "lut-regression.json"), CostTable.load(d / "lut-isolated.json")
    assert reg.name == "local-torch-cpu-1t" and reg.fit["n_fit"] == 6 and reg.fit["n_test"] == 4
    assert math.isfinite(reg.fit["train_r2"]) and math.isfinite(reg.base) and iso.base > 0  # 6 rows: base may be < 0
    assert all(c > 0 for op, c in iso.op_cost_dict().items() if op not in ("none", "skip_connect"))
    meta = json.loads((d / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["runtime"]["threads"] == 1 and meta["batch"] == 1
    for key in ("cpu_model", "cpu_count"):
        assert key in meta["machine"]
    assert {"torch", "numpy"} <= set(meta["libraries"]) and "git_commit" in meta and "noisy" in meta
    val = pd.read_csv(d / "validation.csv")
    assert len(val) == 4 and np.allclose(val["pred_regression_ms"], [reg.genotype_cost(a) for a in val["arch_str"]])
    monkeypatch.setattr(profiles, "LATENCY_DIR", tiny_profile)
    assert build_table("local-torch-cpu-1t") == reg
    with pytest.raises(DeviceError, match="has not been profiled"):
        build_table("local-onnxruntime-cpu")


def test_isolated_table_sums_n_cells_per_stage():
    rows = [(op, s, 0.1 * (i + 1) * (s + 1)) for i, op in enumerate(FITTED_OPS) for s in range(3)]
    rows += [("stem", 0, 1.0), ("reduction_1", 1, 2.0), ("reduction_2", 2, 3.0), ("head", 2, 0.5)]
    t = isolated_table(pd.DataFrame(rows, columns=["component", "stage", "latency_ms"]), N=5, name="x")
    assert t.base == pytest.approx(6.5)
    assert t.op_cost_dict()["skip_connect"] == pytest.approx(5 * 0.1 * (1 + 2 + 3))
    with pytest.raises(ProfileError, match="missing"):
        isolated_table(pd.DataFrame(rows[:-1], columns=["component", "stage", "latency_ms"]), N=5, name="x")


def test_validation_stats_on_exact_and_scaled_predictions():
    y = np.array([1.0, 2.0, 3.0, 5.0])
    s = validation_stats(y, y)
    assert s["kendall_tau"] == 1 and s["mape_pct"] == 0 and s["within10_pct"] == 100
    assert s["slope"] == pytest.approx(1) and s["intercept"] == pytest.approx(0, abs=1e-12)
    s = validation_stats(y / 2, y)
    assert s["slope"] == pytest.approx(2) and s["mape_pct"] == pytest.approx(50) and s["within10_pct"] == 0


def test_latency_validation_rows_have_the_declared_columns(tiny_profile):
    rows = latency_validation_rows([tiny_profile / "torch-cpu-1t"])
    cols = SUMMARY_COLUMNS["latency_validation.csv"]
    assert [r["lut_kind"] for r in rows] == ["isolated", "regression"]
    assert all(tuple(r) == cols for r in rows) and rows[1]["n_fit"] == 6 and rows[1]["n_test"] == 4


def test_device_difference_tables(tiny_profile):
    d = [tiny_profile / "torch-cpu-1t"]
    tau = profiles.device_similarity_all(d)
    assert set(tau["device_a"]) == set(tau["device_b"]) and "local-torch-cpu-1t" in set(tau["device_a"])
    assert len(tau) == 9 * 9 and tau["kendall_tau"].between(-1, 1).all()
    local = tau[(tau["device_a"] == "local-torch-cpu-1t") & (tau["device_b"] == "pixel3")]
    assert int(local["n_archs"].iloc[0]) == 10
    ratios = profiles.op_cost_ratios(d)
    assert len(ratios) == 8 + 2 and set(ratios["lut_kind"]) == {"regression", "isolated"}


def test_measure_architectures_uses_its_cache(tmp_path, monkeypatch):
    archs, _ = sample_architectures(2, 0, seed=1)
    kw = dict(macro=MacroConfig(C=4, N=1), resolution=16, plan=TimingPlan(runs=3, warmup=0, rounds=1),
              cache=tmp_path / "derived.csv")
    first = profile_measure.measure_architectures(archs, "torch-cpu-1t", **kw)
    assert set(first) == set(archs) and all(v > 0 for v in first.values())
    monkeypatch.setattr(profile_measure, "measure_many", lambda *a, **k: pytest.fail("measured again"))
    assert profile_measure.measure_architectures(archs[::-1], "torch-cpu-1t", **kw) == first


@pytest.mark.parametrize("argv, match", [
    (["--runtime", "tpu"], "unknown runtime 'tpu'"),
    (["--runtime", "torch-cpu-1t", "--n-fit", "-3"], "n_fit must be a positive integer"),
    (["--runtime", "torch-cpu-1t", "--runs", "0"], "runs must be a positive integer"),
    (["--runtime", "torch-cpu-1t", "--space", "darts", "--n-fit", "10"], "n_fit must be at least 22"),
    (["--runtime", "torch-cpu-1t", "--threads", "0"], "threads must be a positive integer"),
])
def test_cli_bad_input_exits_2_with_a_message(argv, match, tmp_path, capsys):
    assert main(["profile", *argv, "--out", str(tmp_path / "p")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error:") and match in err
    assert not (tmp_path / "p").exists()


def test_get_runtime_rejects_threads_for_cuda():
    with pytest.raises(ValueError, match="no thread count"):
        get_runtime("cuda", threads=2)
