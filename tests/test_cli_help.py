"""The command line reads well: plain-text help with examples, every option explained, the devices
listed, and ``derive`` output labelled with what the tables know about each architecture."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nas.cli import BENCH_COLUMN, MEASURED_COLUMN, build_parser, main
from nas.costs.devices import SHARED_DEVICES

REPO = Path(__file__).resolve().parents[1]
MAIN_RUN = REPO / "results/runs/darts-cc-hw_nb201_cifar10_s0"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_is_plain_text_with_examples():
    parser = build_parser()
    text = parser.format_help()
    assert "``" not in text and ":class:" not in text and "examples:" in text
    for name, sub in _subparsers(parser).items():
        help_text = sub.format_help()
        assert "``" not in help_text, name
        assert "example" in help_text, f"{name} --help has no example"


@pytest.mark.parametrize("command", ["search", "train", "derive", "export", "profile", "plan"])
def test_every_option_has_help(command):
    sub = _subparsers(build_parser())[command]
    missing = [a.dest for a in sub._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert not missing, f"{command}: options without help: {missing}"


def test_derive_help_lists_the_devices():
    text = _subparsers(build_parser())["derive"].format_help()
    assert all(device in text for device in SHARED_DEVICES)
    assert MEASURED_COLUMN in text and BENCH_COLUMN in text


def test_importing_the_cli_loads_no_benchmark():
    code = "import sys, nas.cli; print('nas.spaces.nb201.benchmark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not (MAIN_RUN / "config.json").exists(), reason="committed run folder absent")
def test_derive_output_adds_measured_latency_and_benchmark_accuracy(tmp_path, capsys):
    from nas.spaces.nb201.benchmark import NB201Benchmark

    out = tmp_path / "d.csv"
    assert main(["derive", "--run", str(MAIN_RUN), "--device", "raspi4", "--lam", "0", "1", "--out", str(out)]) == 0
    rows = pd.read_csv(out)
    bench = NB201Benchmark.load()
    for r in rows.itertuples(index=False):
        assert getattr(r, MEASURED_COLUMN) == pytest.approx(bench.measured_latency(r.arch, "raspi4"))
        assert getattr(r, BENCH_COLUMN) == pytest.approx(bench.accuracy(r.arch))
    assert main(["derive", "--run", str(MAIN_RUN), "--device", "params", "--lam", "0", "--out", str(out)]) == 0
    assert pd.read_csv(out)[MEASURED_COLUMN].isna().all()  # no measured latency for an analytic device
