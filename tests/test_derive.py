"""Derivation and the CLI: never dead, budgets met, clear errors with exit status 2."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nas.costs.resolve import cost_floor
import torch

from nas.cli import main
from nas.methods.derive import COLUMNS, DeriveError, SearchRun, cheapest_live, derive_budgets, derive_lams, most_probable_live
from nas.costs.devices import load_latency_table
from nas.spaces.nb201.genotype import Genotype, all_op_indices, dead_mask
from nas.search.loop import run_search
from tests.search_fixture import tiny_config, tiny_data

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return run_search(tiny_config(epochs=2), tmp_path_factory.mktemp("runs") / "tiny", data=tiny_data(),
                      progress=False)


def test_most_probable_live_skips_dead_cells():
    probs = np.full((1, 6, 5), 1e-3)
    probs[0, :, 0] = 1.0  # `none` everywhere is by far the most probable cell: dead
    probs /= probs.sum(-1, keepdims=True)
    i = most_probable_live(probs)[0]
    assert not dead_mask()[i]
    assert (all_op_indices()[i] == 0).sum() == 5  # one edge flipped: the direct input->output edge


def test_lam_queries_never_dead_and_budgets_are_met(run_dir):
    run = SearchRun.load(run_dir)
    for device in ("raspi4", "eyeriss", "pixel3", "params"):
        for d in derive_lams(run, device, np.linspace(0, 1, 11)):
            assert not Genotype.from_str(d.arch).is_dead()
        table = run.device_table(device)
        cheap = float(run.predicted(table, run.space.cheapest(table)))  # the cheapest achievable
        for d in derive_budgets(run, device, [cheap, cheap + 0.5, cheap + 5.0, 1e9]):
            assert d.pred_latency_ms <= d.budget_ms + 1e-9 and not Genotype.from_str(d.arch).is_dead()


def test_budget_below_cheapest_names_the_cheapest(run_dir):
    run = SearchRun.load(run_dir)
    arch, cost = cheapest_live(run.device_table("raspi4"))
    with pytest.raises(DeriveError, match="cheapest") as e:
        derive_budgets(run, "raspi4", [cost - 1.0])
    assert arch in str(e.value)


def test_predictions_never_fall_below_the_fastest_measurement(run_dir):
    """raspi4's fitted table has a negative base: its cheapest cell is predicted below zero."""
    run = SearchRun.load(run_dir)
    table = run.device_table("raspi4")
    raw = cheapest_live(table)[1]
    floor = cost_floor(table)
    assert raw < 0 < floor  # the fastest of the 300 measurements the table was fitted on
    for d in derive_lams(run, "raspi4", np.linspace(0, 1, 11)):
        assert d.pred_latency_ms >= floor
    with pytest.raises(DeriveError, match="cheapest achievable") as e:
        derive_budgets(run, "raspi4", [0.0])
    assert f"{floor:.4g}" in str(e.value)


def test_unseen_device_from_csv(run_dir, tmp_path):
    lat = load_latency_table().sample(40, random_state=0)
    csv = tmp_path / "new_phone.csv"
    pd.DataFrame({"arch_str": lat["arch_str"], "latency_ms": lat["pixel3"]}).to_csv(csv, index=False)
    rows = derive_lams(SearchRun.load(run_dir), str(csv), [0.0, 1.0])
    assert [r.device for r in rows] == ["new_phone", "new_phone"]


def _cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_outputs_contract_columns(run_dir, tmp_path, capsys):
    code, out, _ = _cli(["derive", "--run", str(run_dir), "--device", "raspi4", "--lam", "0", "1"], capsys)
    assert code == 0 and out.splitlines()[0].startswith("device,lam,budget_ms,arch,pred_latency_ms")
    target = tmp_path / "o.csv"
    assert _cli(["derive", "--run", str(run_dir), "--device", "raspi4", "--budget-ms", "30", "--out", str(target)],
                capsys)[0] == 0
    assert pd.read_csv(target).shape[0] == 1 and list(pd.read_csv(target).columns[:5]) == list(COLUMNS)


@pytest.mark.parametrize("args, message", [
    (["--device", "nope", "--lam", "0.5"], "known devices"),
    (["--device", "raspi4", "--lam", "1.5"], "in [0, 1]"),
    (["--device", "raspi4", "--budget-ms", "-50"], "cheapest"),
    (["--device", "MISSING.csv", "--lam", "0.5"], "MISSING.csv"),
])
def test_cli_bad_input_exit_2_and_no_file(run_dir, tmp_path, capsys, args, message):
    target = tmp_path / "never.csv"
    code, _, err = _cli(["derive", "--run", str(run_dir), *args, "--out", str(target)], capsys)
    assert code == 2 and message in err and not target.exists()


@pytest.mark.parametrize("content, message", [
    ("arch,ms\n", "arch_str"),
    ("arch_str,latency_ms\n|bad|,3\n", "row"),
    ("arch_str,latency_ms\n" + "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|,-1\n",
     "row"),
    ("arch_str,latency_ms\n" + "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|,2\n",
     "at least"),
])
def test_cli_malformed_device_csv(run_dir, tmp_path, capsys, content, message):
    csv = tmp_path / "dev.csv"
    csv.write_text(content)
    code, _, err = _cli(["derive", "--run", str(run_dir), "--device", str(csv), "--lam", "0.5"], capsys)
    assert code == 2 and message in err


def test_cli_unfinished_run(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    code, _, err = _cli(["derive", "--run", str(tmp_path / "half"), "--device", "raspi4", "--lam", "0"], capsys)
    assert code == 2 and "no finished search" in err


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_runs_and_matches(tmp_path, capsys, fmt):
    arch = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
    out = tmp_path / f"m.{fmt}"
    code, text, _ = _cli(["export", "--space", "nb201", "--arch", arch, "--format", fmt, "--out", str(out)], capsys)
    assert code == 0 and out.stat().st_size > 0 and "difference" in text


def test_module_entry_point_reports_bad_arch(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nas", "export", "--arch", "|x~0|", "--format", "onnx",
                        "--out", str(tmp_path / "x.onnx")], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "error:" in r.stderr and not (tmp_path / "x.onnx").exists()
