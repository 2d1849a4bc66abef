"""Results files: atomic writes, declared column order, provenance."""

import csv
import dataclasses
import os
import re
import stat
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from nas.provenance import git_commit, provenance
from nas.results import (
    SUMMARY_COLUMNS, append_row, atomic_write_text, atomic_writer, load_json, read_rows, save_json, write_rows,
)


def header(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle))


def test_failing_writer_leaves_old_file_and_no_temp_files(tmp_path):
    target = tmp_path / "table.txt"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError, match="writer crashed"):
        with atomic_writer(target) as handle:
            handle.write("half of the new content")
            raise RuntimeError("writer crashed")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_rejected_rows_leave_old_csv_intact(tmp_path):
    path = tmp_path / "timing.csv"
    write_rows(path, [{"profile": "smoke", "stage": "00_x", "seconds": 1.0, "status": "ok"}])
    before = path.read_text()
    with pytest.raises(ValueError, match="unknown column"):
        write_rows(path, [{"profile": "smoke", "stage": "00_x", "bogus": 1}])
    assert path.read_text() == before
    assert list(tmp_path.iterdir()) == [path]


def test_new_files_get_umask_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = atomic_write_text(tmp_path / "a.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_declared_summary_columns_fix_the_order(tmp_path):
    path = tmp_path / "timing.csv"
    rows = [{"status": "ok", "stage": "01_data", "profile": "smoke"},
            {"seconds": 2.5, "profile": "smoke", "stage": "00_environment"}]
    write_rows(path, rows)
    assert header(path) == list(SUMMARY_COLUMNS["timing.csv"])
    frame = read_rows(path)
    assert list(frame.columns) == list(SUMMARY_COLUMNS["timing.csv"])
    assert frame["seconds"].isna().tolist() == [True, False]  # missing keys are empty cells


def test_explicit_and_first_seen_column_order(tmp_path):
    write_rows(tmp_path / "a.csv", [{"b": 1}, {"a": 2, "b": None}], columns=("a", "b"))
    assert (tmp_path / "a.csv").read_text().splitlines() == ["a,b", ",1", "2,"]
    write_rows(tmp_path / "b.csv", [{"y": 1, "x": 2}, {"z": 3}])
    assert header(tmp_path / "b.csv") == ["y", "x", "z"]


def test_append_row_writes_header_once_and_checks_schema(tmp_path):
    path = tmp_path / "run" / "history.csv"
    for epoch in range(3):
        append_row(path, {"epoch": epoch, "loss": 1.0 / (epoch + 1)}, columns=("epoch", "loss"))
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss" and len(lines) == 4
    with pytest.raises(ValueError, match="header"):
        append_row(path, {"epoch": 3}, columns=("epoch", "acc"))
    with pytest.raises(ValueError, match="unknown column"):
        append_row(path, {"epoch": 3, "lr": 0.1}, columns=("epoch", "loss"))


def test_json_round_trip_with_paths_and_numpy(tmp_path):
    obj = {"path": Path("a/b"), "n": np.int64(3), "x": np.arange(3), "t": (1, 2)}
    path = save_json(tmp_path / "sub" / "x.json", obj)
    assert load_json(path) == {"path": "a/b", "n": 3, "x": [0, 1, 2], "t": [1, 2]}


@dataclasses.dataclass(frozen=True)
class _Config:
    seed: int = 0
    out_dir: str = "out"


def test_provenance_records_versions_machine_and_config():
    record = provenance(_Config(seed=7))
    expected = {
        "git_commit", "timestamp_utc", "python", "torch", "torchvision", "numpy", "host", "platform",
        "cpu_model", "cpu_count", "torch_threads", "cuda_device", "config",
    }
    assert expected <= set(record)
    assert record["config"] == {"seed": 7, "out_dir": "out"}
    assert datetime.fromisoformat(record["timestamp_utc"]).tzinfo is not None
    assert record["torch_threads"] >= 1 and record["numpy"] == np.__version__
    assert provenance({"a": 1})["config"] == {"a": 1} and provenance()["config"] is None


def test_git_commit_is_short_sha_or_none():
    commit = git_commit()
    assert commit is None or re.fullmatch(r"[0-9a-f]{4,40}(-dirty)?", commit)


def test_summary_column_lists_are_unique():
    for name, columns in SUMMARY_COLUMNS.items():
        assert name.endswith(".csv") and len(set(columns)) == len(columns), name


def test_committed_summaries_have_their_declared_columns(repo):
    for path in sorted((repo / "results" / "summary").glob("*.csv")):
        assert path.name in SUMMARY_COLUMNS, f"declare the columns of {path.name} in nas.results.SUMMARY_COLUMNS"
        assert header(path) == list(SUMMARY_COLUMNS[path.name]), path


def test_importing_the_figures_leaves_the_backend_alone():
    import subprocess
    import sys

    code = ("import matplotlib; b = matplotlib.rcParams._get_backend_or_none(); "
            "import nas.report.plots, nas.report.plots_baselines, nas.report.plots_performance; "
            "assert matplotlib.rcParams._get_backend_or_none() == b, matplotlib.rcParams._get_backend_or_none()")
    env = {**os.environ, "MPLBACKEND": "svg"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_figures_are_written_atomically(tmp_path):
    from nas.report.style import save, subplots

    fig, ax = subplots()
    ax.plot([0, 1], [1, 0])
    png = save(fig, tmp_path, "f", "caption", ["results/summary/x.csv"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png", "f.txt"] and png.stat().st_size > 0
