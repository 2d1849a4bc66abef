"""The notebook pipeline: stage selection, parameters, failure report, and the smoke run end to end."""

import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nas.pipeline import (
    DEFAULT_KERNEL, check_parameters, executed_path, list_stages, load_params, select_stages, timing_path,
)
from nas.report import plots, plots_answers, plots_baselines, plots_darts, plots_performance, plots_ranking
from nas.report.tables import TABLES
from nas.results import SUMMARY_COLUMNS


def write_stage(folder: Path, name: str, body: str, params: str = 'profile: str = "default"  # profile') -> Path:
    """Write a tiny stage notebook: header, parameters cell, one code cell."""
    cell = new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[new_markdown_cell(f"# {name}"), cell, new_code_cell(body)],
                      metadata={"kernelspec": {"name": DEFAULT_KERNEL, "display_name": "nas-hw", "language": "python"}})
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_stage_selection_by_substring_and_number():
    stages = [Path(f"{n}.ipynb") for n in ("00_environment", "01_data", "03_search", "06_figures")]
    assert select_stages(stages) == stages
    assert [p.stem for p in select_stages(stages, only=["figures"])] == ["06_figures"]
    assert [p.stem for p in select_stages(stages, only=["data", "search"])] == ["01_data", "03_search"]
    assert [p.stem for p in select_stages(stages, start="03")] == ["03_search", "06_figures"]
    with pytest.raises(ValueError, match="--only nothing matches no stage; the stages are: 00_environment, 01_data"):
        select_stages(stages, only=["nothing"])
    with pytest.raises(ValueError, match="--from 99: no stage has that number"):
        select_stages(stages, start=99)


def test_stage_list_is_a_glob_of_numbered_notebooks(tmp_path):
    for name in ("01_b", "00_a", "notes", "1_bad"):
        write_stage(tmp_path, name, "pass")
    assert [p.stem for p in list_stages(tmp_path)] == ["00_a", "01_b"]


def test_params_come_from_the_profile_file_plus_profile(tmp_path):
    notebook = write_stage(tmp_path, "00_a", "pass")
    assert load_params(notebook, "default") == {"profile": "default"}
    (tmp_path / "params" / "smoke").mkdir(parents=True)
    (tmp_path / "params" / "smoke" / "00_a.yaml").write_text("# tiny\nn: 3\nprofile: default\n")
    assert load_params(notebook, "smoke") == {"n": 3, "profile": "smoke"}


def test_outputs_of_smoke_runs_stay_apart(tmp_path):
    notebook = Path("notebooks/02_x.ipynb")
    assert executed_path(notebook, "smoke", tmp_path) == tmp_path / "notebooks/executed/smoke/02_x.ipynb"
    assert executed_path(notebook, "default", tmp_path) == tmp_path / "notebooks/executed/02_x.ipynb"
    assert timing_path("smoke", tmp_path) == tmp_path / "results/smoke/summary/timing.csv"
    assert timing_path("full", tmp_path) == tmp_path / "results/summary/timing.csv"


def test_unknown_parameter_is_rejected(tmp_path):
    notebook = write_stage(tmp_path, "00_a", "pass")
    check_parameters(notebook, {"profile": "smoke"})
    with pytest.raises(ValueError, match="unknown parameter"):
        check_parameters(notebook, {"profile": "smoke", "epochs": 3})


def run_cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas.pipeline", "run", "--no-progress", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_failing_stage_stops_the_pipeline_and_says_where(tmp_path):
    notebooks, out = tmp_path / "nb", tmp_path / "out"
    notebooks.mkdir()
    write_stage(notebooks, "00_ok", "x = 1")
    write_stage(notebooks, "01_boom", "y = 2\nraise ValueError('boom at stage one')")
    write_stage(notebooks, "02_never", "z = 3")
    proc = run_cli("--profile", "smoke", "--notebooks-dir", str(notebooks), "--out", str(out))
    assert proc.returncode == 1
    assert "01_boom" in proc.stderr and "cell index 3" in proc.stderr  # header, parameters, injected, failing
    assert "raise ValueError" in proc.stderr and "ValueError: boom at stage one" in proc.stderr
    failed = out / "notebooks/executed/smoke/01_boom.ipynb"
    assert failed.exists() and str(failed) in proc.stderr
    assert not (out / "notebooks/executed/smoke/02_never.ipynb").exists()
    rows = read_csv(out / "results/smoke/summary/timing.csv")
    assert [(r["stage"], r["status"]) for r in rows] == [("00_ok", "ok"), ("01_boom", "failed")]


def test_no_selected_stage_is_an_error_listing_the_stages(tmp_path):
    proc = run_cli("--profile", "default", "--only", "figures", "--notebooks-dir", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no stage notebooks" in proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smoke_profile_runs_every_stage(repo):
    for folder in ("results/smoke", "figures/smoke", "notebooks/executed/smoke"):  # disposable: start clean
        shutil.rmtree(repo / folder, ignore_errors=True)
    start = time.time()
    proc = run_cli("--profile", "smoke", timeout=590)
    assert proc.returncode == 0, proc.stderr[-4000:]
    stages = [p.stem for p in list_stages()]
    for stage in stages:
        executed = repo / "notebooks/executed/smoke" / f"{stage}.ipynb"
        assert executed.exists() and executed.stat().st_mtime >= start, executed
    timing = repo / "results/smoke/summary/timing.csv"
    assert read_csv(timing) and list(read_csv(timing)[0]) == list(SUMMARY_COLUMNS["timing.csv"])
    status = {r["stage"]: r["status"] for r in read_csv(timing)}
    assert {s: status.get(s) for s in stages} == {s: "ok" for s in stages}
    for summary in (repo / "results/smoke/summary").glob("*.csv"):
        assert summary.name in SUMMARY_COLUMNS, f"declare the columns of {summary.name} in nas.results"
        with summary.open(newline="") as handle:
            assert next(csv.reader(handle)) == list(SUMMARY_COLUMNS[summary.name]), summary
    for name in (plots.FIGURES + plots_baselines.FIGURES + plots_performance.FIGURES + plots_answers.FIGURES
                 + plots_ranking.FIGURES + plots_darts.FIGURES):
        for ext in ("pdf", "png", "txt"):
            path = repo / "figures/smoke" / f"{name}.{ext}"
            assert path.exists() and path.stat().st_mtime >= start, path
        assert "results/summary/" in (repo / "figures/smoke" / f"{name}.txt").read_text()
    for name in TABLES:
        for ext in ("md", "tex"):
            assert (repo / "results/smoke/tables" / f"{name}.{ext}").stat().st_mtime >= start


def test_executed_notebooks_keep_the_final_state_of_each_progress_bar(tmp_path):
    from nas.stages.executed import compact_streams

    nb = new_notebook(cells=[new_code_cell("pass")])
    updates = [f"epoch 1/2: {p:3d}%|#| {p}/100\r" for p in range(0, 101, 10)] + ["\n", "\x1b[A", "result 42\n"]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text=u) for u in updates]
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    compact_streams(path)
    (out,) = nbformat.read(path, as_version=4).cells[0].outputs
    assert out.text == "epoch 1/2: 100%|#| 100/100\nresult 42\n"
