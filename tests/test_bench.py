"""The search-step benchmark: records, ratios, merge into performance.csv, and its command line."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from nas.search.bench import BenchConfig, bench_search_step, write_performance
from nas.provenance import rss_peak_mb
from nas.results import SUMMARY_COLUMNS

COLUMNS = SUMMARY_COLUMNS["performance.csv"]


@pytest.fixture(scope="module")
def records():
    cfg = BenchConfig(profile="smoke", repeats=3, warmup=1, memory=False, threads=(1,))
    return bench_search_step(cfg, progress=False)


def test_one_record_per_mode_with_consistent_ratios(records):
    assert [r["mode"] for r in records] == ["single-path", "mixed"]
    for r in records:
        assert list(r) == list(COLUMNS)
        assert r["search_step_ms"] > 0 and r["child_step_ms"] > 0 and r["threads"] == 1
        assert r["search_over_child"] == pytest.approx(r["search_step_ms"] / r["child_step_ms"], rel=1e-2)
        assert 0 < r["hypernet_share"] < 1
        assert r["images_per_s"] == pytest.approx(1e3 * r["batch_size"] / r["search_step_ms"], rel=1e-2)
    single, mixed = records
    assert single["estimator"] == "reinforce" and mixed["estimator"] == "relaxed"
    assert mixed["target_over_child"] == pytest.approx(1.2 * 5)
    assert mixed["search_step_ms"] > single["search_step_ms"]  # every op runs in mixed mode


def test_performance_csv_merges_by_configuration(records, tmp_path):
    path = tmp_path / "performance.csv"
    gpu = {**records[0], "torch_device": "cuda", "device_name": "Some GPU", "search_step_ms": 1.0}
    write_performance([gpu], path)
    write_performance(records, path)
    write_performance(records[:1], path)  # a rerun replaces its own row, keeps the others
    df = pd.read_csv(path)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 3 and set(df["torch_device"]) == {"cpu", "cuda"}
    assert df.loc[df["torch_device"] == "cuda", "search_step_ms"].item() == 1.0


def test_invalid_configs_are_refused():
    with pytest.raises(ValueError, match="space"):
        BenchConfig(space="darts").validate()
    with pytest.raises(ValueError, match="modes"):
        BenchConfig(modes=("fast",)).validate()
    with pytest.raises(ValueError, match="repeats"):
        BenchConfig(repeats=1).validate()


def test_peak_rss_is_positive():
    assert rss_peak_mb() > 10


@pytest.mark.timeout(120)
def test_command_line_prints_json_lines_with_memory(tmp_path):
    out = tmp_path / "perf.csv"
    proc = subprocess.run([sys.executable, "-m", "nas.search.bench", "search-step", "--profile", "smoke", "--mode",
                           "single-path", "--repeats", "3", "--out", str(out)],
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (line,) = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert line["mode"] == "single-path" and line["peak_memory_mb"] > 10 and line["memory_kind"] == "rss"
    assert pd.read_csv(out)["mode"].tolist() == ["single-path"]
    bad = subprocess.run([sys.executable, "-m", "nas.search.bench", "search-step", "--repeats", "1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "repeats" in bad.stderr
