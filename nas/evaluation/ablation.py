"""Ablations of the two-phase schedule: phase-1 supernet settings and phase-2 generator settings.

Reads finished run folders (configs, ``run.json``) and the tidy outputs of the ranking and budget-rule
tools on them, and writes one tidy file per ablation (``setting, seed, metric, value``):

* phase 1 -- every shared supernet folder under ``--supernets``, labelled by the fields that differ
  between them (resolution, epochs, path sampling), with its ranking rows
  (``python -m nas.evaluation.ranking FOLDERS --snapshots --out CSV``) and its phase-1 seconds;
* phase 2 -- every run folder under ``--phase2`` (one sub-folder per setting, as the budget-rule tool
  reads them), labelled by its phase 1 and the generator fields, with its budget-rule rows
  (``budget_rules.csv`` beside it), its supernet's ranking and generator agreement (``ranking.csv``
  beside it) and history; a run of the joint schedule found there is a row of ablation ``joint``
  (``ablation_joint.csv``),
  labelled by the fields of ``JOINT_LABEL_FIELDS``.

    python -m nas.evaluation.ablation --supernets results/runs/ablation/supernets \\
        --ranking results/ablation/supernet_ranking.csv --phase2 results/runs/ablation/phase2 \\
        --out results/ablation
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from nas.results import write_rows
from nas.search import run_io
from nas.search.config import SearchConfig

PHASE1_LABEL_FIELDS = ("resolution", "supernet_epochs", "path_sampling", "split_edge", "split_epoch", "w_lr_min")
PHASE2_LABEL_FIELDS = PHASE1_LABEL_FIELDS + ("a_lr", "reinforce_samples", "val_batch_size",
                                             "epochs")  # the phase 1 it ran on, then its own settings
JOINT_LABEL_FIELDS = ("epochs", "warmup_epochs", "w_lr_min", "a_lr", "reinforce_samples")  # joint schedule
LABELLED_WHEN_SET = ("split_edge", "split_epoch", "w_lr_min")  # named only where they differ from the default
COLUMNS = ("ablation", "setting", "seed", "run_id", "metric", "value")


def _label(cfg: SearchConfig, names) -> str:
    """``field=value ...`` of ``names`` (a field of ``LABELLED_WHEN_SET`` only where it is not the default)."""
    default = SearchConfig()
    return " ".join(f"{n}={getattr(cfg, n) or 'native' if n == 'resolution' else getattr(cfg, n)}" for n in names
                    if not (n in LABELLED_WHEN_SET and getattr(cfg, n) == getattr(default, n)))


def phase1_rows(supernets_dir: Path, ranking: pd.DataFrame) -> list[dict]:
    """Per shared supernet: its setting, seed, phase-1 seconds and ranking metrics (tau_band: mean over bands and
    devices; tau_epoch: per snapshot epoch, as ``tau_epoch_<epoch>``)."""
    rows = []
    for folder in sorted(p for p in Path(supernets_dir).iterdir() if (p / "run.json").is_file()):
        cfg = SearchConfig.from_dict(run_io.load_config(folder))
        base = {"ablation": "phase1", "setting": _label(cfg, PHASE1_LABEL_FIELDS), "seed": cfg.seed,
                "run_id": folder.name}
        rows.append({**base, "metric": "phase1_seconds", "value": run_io.load_run_info(folder)["search_seconds"]})
        r = ranking[ranking["run_id"] == folder.name]
        for metric in ("tau_all", "tau_top", "noise_floor"):
            rows += [{**base, "metric": metric, "value": float(v)} for v in r.loc[r["metric"] == metric, "value"]]
        bands = r.loc[r["metric"] == "tau_band", "value"]
        if len(bands):
            rows.append({**base, "metric": "tau_band_mean", "value": float(bands.mean())})
        for _, e in r[r["metric"] == "tau_epoch"].iterrows():
            rows.append({**base, "metric": f"tau_epoch_{int(e['band'])}", "value": float(e["value"])})
    return rows


def _rows_of(df: pd.DataFrame, run: Path, runs_in_folder: int) -> pd.DataFrame:
    """The rows of ``run`` in a tool's output beside a folder of ``runs_in_folder`` runs: those under its id where
    the file has them (a folder may hold several runs), else all of a file written for one run (under an earlier
    name)."""
    ids = set(df["run_id"])
    if run.name in ids:
        return df[df["run_id"] == run.name]
    if len(ids) == 1 and runs_in_folder == 1:
        return df
    raise ValueError(f"{run.parent} holds rows of {sorted(ids)} but none of {run.name}")


def phase2_rows(phase2_dir: Path) -> list[dict]:
    """Per phase-2 setting folder: mean regret and violations of every budget rule (``budget_rules.csv``), the
    generator's agreement with its supernet (mean tau_generator over devices), the supernet's own tau (all, top,
    mean within bands) and the generator's final entropy at lam 0."""
    rows = []
    for folder in sorted(p for p in Path(phase2_dir).iterdir() if p.is_dir()):
        runs = run_io.finished_runs(folder)
        for run in runs:
            cfg = SearchConfig.from_dict(run_io.load_config(run))
            joint = cfg.schedule == "joint"
            base = {"ablation": "joint" if joint else "phase2", "seed": cfg.seed, "run_id": run.name,
                    "setting": _label(cfg, JOINT_LABEL_FIELDS if joint else PHASE2_LABEL_FIELDS)}
            hist = run_io.load_history(run)
            rows.append({**base, "metric": "entropy_lam0", "value": float(hist["entropy_lam0"].iloc[-1])})
            rows.append({**base, "metric": "search_seconds" if joint else "phase2_seconds",
                         "value": run_io.load_run_info(run)["search_seconds"]})
            rules = folder / "budget_rules.csv"
            if rules.is_file():
                b = pd.read_csv(rules)
                b = _rows_of(b, run, len(runs))
                for (rule, margin, rerank), g in b.groupby(["rule", "margin", "rerank"]):
                    tag = f"{rule}{'+margin' if margin else ''}{f'+rerank{rerank}' if rerank else ''}"
                    rows.append({**base, "metric": f"regret[{tag}]",
                                 "value": float(g.loc[g["metric"] == "mean_regret", "value"].mean())})
                    rows.append({**base, "metric": f"violations[{tag}]",
                                 "value": float(g.loc[g["metric"] == "violations", "value"].sum())})
            rank = folder / "ranking.csv"
            if rank.is_file():
                r = pd.read_csv(rank)
                r = _rows_of(r, run, len(runs))
                for metric, name in (("tau_generator", "tau_generator"), ("tau_all", "tau_all"),
                                     ("tau_top", "tau_top"), ("tau_band", "tau_band_mean")):
                    values = r.loc[r["metric"] == metric, "value"]
                    if len(values):
                        rows.append({**base, "metric": name, "value": float(values.mean())})
    return rows


def summary(rows: list[dict]) -> pd.DataFrame:
    """Mean (and sd over seeds, where there are several) per (ablation, setting, metric)."""
    df = pd.DataFrame(rows)
    out = df.groupby(["ablation", "setting", "metric"])["value"].agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"count": "seeds"}).round(3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.evaluation.ablation", description=__doc__.splitlines()[0])
    p.add_argument("--supernets", required=True, help="folder of the shared phase-1 supernets compared")
    p.add_argument("--ranking", required=True, help="their ranking rows (python -m nas.evaluation.ranking ... --out)")
    p.add_argument("--phase2", help="folder with one sub-folder of phase-2 runs per setting")
    p.add_argument("--out", required=True, help="folder for ablation_phase1.csv, ablation_phase2.csv and "
                   "ablation_joint.csv (joint-schedule runs found under --phase2)")
    args = p.parse_args(argv)
    out = Path(args.out)
    rows1 = phase1_rows(Path(args.supernets), pd.read_csv(args.ranking))
    write_rows(out / "ablation_phase1.csv", rows1, COLUMNS)
    rows = rows1
    if args.phase2:
        rows2 = phase2_rows(Path(args.phase2))
        write_rows(out / "ablation_phase2.csv", [r for r in rows2 if r["ablation"] == "phase2"], COLUMNS)
        joint = [r for r in rows2 if r["ablation"] == "joint"]
        if joint:
            write_rows(out / "ablation_joint.csv", joint, COLUMNS)
        rows = rows1 + rows2
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(summary(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
