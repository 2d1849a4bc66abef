"""Numbers the README quotes from ``results/`` match the committed file they name.

Each ``Quote`` is a phrase of README.md, the number in it, the file it comes from and how to read
the number there (rounded as the README prints it). A README edit that changes a quoted phrase must
update its entry; a result that changes makes its entry fail until the README says the new number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
MAIN = "darts-cc-hw_nb201_cifar10_s0"
HOLDOUT = "darts-cc-hw_nb201_cifar10_s0_without-pixel3"


class Quote(NamedTuple):
    """A number the README quotes: ``phrase`` contains ``number``; ``select`` reads it from ``file``."""

    phrase: str
    number: str
    file: str
    select: Callable[[pd.DataFrame], float]
    digits: int


def _one(df: pd.DataFrame, column: str = "value", **where) -> float:
    """The single value of ``column`` in the rows of ``df`` matching every ``where`` (column=value)."""
    rows = df
    for key, value in where.items():
        rows = rows[rows[key] == value]
    assert len(rows) == 1, f"{len(rows)} rows match {where}"
    return float(rows[column].iloc[0])


def _regret(device: str, run: str = MAIN, given_as: str = "name") -> Callable[[pd.DataFrame], float]:
    return lambda df: _one(df, run_id=run, device=device, device_given_as=given_as, metric="mean_regret")


def _random(device: str, n: int, stat: str) -> Callable[[pd.DataFrame], float]:
    return lambda df: float(df[(df["device"] == device) & (df["n"] == n)]["mean_regret"].agg(stat))


def _rule(method: str, rule: str, margin: bool, metric: str, rerank: int = 0) -> Callable[[pd.DataFrame], float]:
    """Mean over devices and seeds of one budget rule's metric (``budget_rules.csv``)."""
    return lambda df: float(df[(df["method"] == method) & (df["rule"] == rule) & (df["margin"] == margin)
                               & (df["rerank"] == rerank) & (df["metric"] == metric)]["value"].mean())


def _ablation(setting: str, metric: str) -> Callable[[pd.DataFrame], float]:
    """Mean over seeds of one metric of one ablation setting (``results/ablation/ablation_phase*.csv``)."""
    return lambda df: float(df[(df["setting"] == setting) & (df["metric"] == metric)]["value"].mean())


P1 = "resolution=16 supernet_epochs=36 path_sampling="
JOINT = "epochs=20 warmup_epochs=4 a_lr=0.001 reinforce_samples=2"
JOINT_CONST = "epochs=20 warmup_epochs=4 w_lr_min=0.025 a_lr=0.001 reinforce_samples=2"
P2_NO_NONE = "resolution=16 supernet_epochs=36 path_sampling=no-none a_lr=0.1 reinforce_samples=8 val_batch_size=128 epochs=2"


QUOTES = (
    Quote("the committed run records 1529 s", "1529", "results/summary/runs.csv",
          lambda df: _one(df, "search_seconds", run_id=MAIN), 0),
    Quote("(1781 s recorded)", "1781", "results/summary/runs.csv",
          lambda df: _one(df, "search_seconds", run_id=HOLDOUT), 0),
    Quote("| eyeriss (estimated) | 1.62 |", "1.62", "results/summary/comparison.csv", _regret("eyeriss"), 2),
    Quote("| gold_6226 | 1.85 |", "1.85", "results/summary/comparison.csv", _regret("gold_6226"), 2),
    Quote("| eyeriss (estimated) | 1.62 | 0/5 | -0.92 | 2.77 ± 3.30", "2.77", "results/summary/random_reference.csv",
          _random("eyeriss", 10, "mean"), 2),
    Quote("| eyeriss (estimated) | 1.62 | 0/5 | -0.92 | 2.77 ± 3.30", "3.30", "results/summary/random_reference.csv",
          _random("eyeriss", 10, "std"), 2),
    Quote("mean regret 1.93 with 300", "1.93", "results/summary/comparison.csv", _regret("pixel3", HOLDOUT, "csv-300"), 2),
    Quote("1.85 with MODNAS's 10", "1.85", "results/summary/comparison.csv", _regret("pixel3", HOLDOUT, "csv-10"), 2),
    Quote("| constrained (yes) | 1.88 ± 0.33 / 2.0 |", "1.88", "results/summary/budget_rules.csv",
          _rule("darts-cc-hw", "constrained", True, "mean_regret"), 2),
    Quote("| constrained (yes) | 1.88 ± 0.33 / 2.0 | 1.73 / 2 |", "1.73", "results/summary/budget_rules.csv",
          _rule("darts-cc", "constrained", True, "mean_regret"), 2),
    Quote("| first-fit (no) | 1.96 ± 0.14 / 2.7 | 2.71 / 4 |", "2.71", "results/summary/budget_rules.csv",
          _rule("darts-cc", "first-fit", False, "mean_regret"), 2),
    Quote("| constrained + rerank 10 (no) | 1.53 ± 0.27 / 3.0 |", "1.53", "results/summary/budget_rules.csv",
          _rule("darts-cc-hw", "constrained", False, "mean_regret", rerank=10), 2),
    Quote("constrained + rerank 10 1.74 ± 0.14 against", "1.74",
          "results/runs/ablation/joint/budget_rules_score2048.csv",
          _rule("darts-cc-hw", "constrained", False, "mean_regret", rerank=10), 2),
    Quote("the last `make reproduce` took 499 s of stages 00-06 (03: 102 s", "102", "results/summary/timing.csv",
          lambda df: _one(df, "seconds", profile="default", stage="03_search"), 0),
    Quote("| 16 px, 36 epochs, uniform | 3 | 0.23 |", "0.23", "results/ablation/ablation_phase1.csv",
          _ablation(P1 + "uniform", "tau_all"), 2),
    Quote("| 16 px, 36 epochs, no-none (the zero op never sampled) | 2 | 0.22 | 0.19 |", "0.19",
          "results/ablation/ablation_phase1.csv", _ablation(P1 + "no-none", "tau_top"), 2),
    Quote("| 16 px, 36 epochs, uniform, few-shot: split on edge 0->3 at epoch 12 | 2 | 0.08 |", "0.08",
          "results/ablation/ablation_phase1.csv", _ablation(P1 + "uniform split_edge=3 split_epoch=12", "tau_all"), 2),
    Quote("| 32 px, 24 epochs, uniform, constant learning rate 0.025 (`w_lr_min=0.025`) | 2 | 0.48 |", "0.48",
          "results/ablation/ablation_phase1.csv",
          _ablation("resolution=native supernet_epochs=24 path_sampling=uniform w_lr_min=0.025", "tau_all"), 2),
    Quote("| 32-px 40-epoch supernet, a_lr 0.1 (2 seeds) | 0.81 | 0.22 | 3.47 ± 0.46 | 2.29 ± 0.69 | 4.08 ± 1.20 | 2.06",
          "2.06", "results/ablation/ablation_phase2.csv",
          _ablation("resolution=native supernet_epochs=40 path_sampling=uniform a_lr=0.1 reinforce_samples=8 "
                    "val_batch_size=128 epochs=2", "regret[constrained+rerank10]"), 2),
    Quote("| 32 px, 16 epochs, uniform | 2 | 0.01 |", "0.01", "results/ablation/ablation_phase1.csv",
          _ablation("resolution=native supernet_epochs=16 path_sampling=uniform", "tau_all"), 2),
    Quote("| no-none supernet, a_lr 0.1 (2 seeds) | 0.66 | 0.23 | 6.13 | 6.75 | 6.17 | 3.31", "3.31",
          "results/ablation/ablation_phase2.csv", _ablation(P2_NO_NONE, "regret[constrained+rerank10]"), 2),
    Quote("| no-none supernet, a_lr 0.1 (2 seeds) | 0.66 | 0.23 | 6.13 | 6.75 |", "6.75",
          "results/ablation/ablation_phase2.csv", _ablation(P2_NO_NONE, "regret[constrained]"), 2),
    Quote("| cosine decay to 0.001 | 0.07 ± 0.03 |", "0.07", "results/ablation/ablation_joint.csv",
          _ablation(JOINT, "tau_all"), 2),
    Quote("| constant 0.025 | 0.47 ± 0.04 |", "0.47", "results/ablation/ablation_joint.csv",
          _ablation(JOINT_CONST, "tau_all"), 2),
    Quote("| constant 0.025 | 0.47 ± 0.04 | 0.02 | 0.50 | 0.73 / 0.78 | 0.39 | 1.89", "1.89",
          "results/ablation/ablation_joint.csv", _ablation(JOINT_CONST, "regret[first-fit]"), 2),
    Quote("| cosine decay to 0.001 | 0.07 ± 0.03 | -0.04 | 0.11 | 0.64 / 0.72 | 0.33 | 2.65", "2.65",
          "results/ablation/ablation_joint.csv", _ablation(JOINT, "regret[first-fit]"), 2),
    Quote("(the space's best: 94.37 %)", "94.37", "results/summary/oracle_front.csv", lambda df: df["acc"].max(), 2),
    Quote("reaches 87.50 % (529 s)", "87.50", "results/summary/darts_training.csv",
          lambda df: _one(df, "test_acc_pct", schedule="long", dataset="fashion-mnist"), 2),
    Quote("Spearman rho 0.43, Kendall tau 0.33", "0.43", "results/summary/trainer_check.csv",
          lambda df: _one(df, "trained_acc", arch="spearman"), 2),
    Quote("phase 2 468 s for the twelve", "468", "results/summary/timing.csv",
          lambda df: _one(df, "seconds", profile="default", stage="07_darts_space/phase2_searches"), 0),
)


@pytest.fixture(scope="module")
def readme() -> str:
    return " ".join((REPO / "README.md").read_text(encoding="utf-8").split())  # line breaks as spaces


@pytest.mark.parametrize("quote", QUOTES, ids=[f"{q.number}@{Path(q.file).name}" for q in QUOTES])
def test_readme_number_matches_its_file(quote: Quote, readme: str):
    assert quote.phrase in readme, f"README.md no longer says {quote.phrase!r}: update tests/test_readme_numbers.py"
    assert quote.number in quote.phrase
    value = quote.select(pd.read_csv(REPO / quote.file))
    assert f"{value:.{quote.digits}f}" == quote.number, f"{quote.file} holds {value}, README.md says {quote.number}"


def test_a_wrong_number_is_caught():
    wrong = QUOTES[0]._replace(number="631")
    value = wrong.select(pd.read_csv(REPO / wrong.file))
    assert f"{value:.{wrong.digits}f}" != wrong.number
