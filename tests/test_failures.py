"""Bad inputs and corrupt files: every case exits with status 2 and one stderr line naming the problem
and the fix, with no traceback and no file created or changed; finished runs are never searched again.

A tiny smoke search (synthetic data, two devices) is run once per session and copied per test.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nas import cli, pipeline
from nas.data import datasets
from nas.search import run_io
from nas.search.config import SearchConfig, config_for_profile
from nas.search.loop import run_search
from nas.search.serialise import parse_set

SEARCH = ["search", "--profile", "smoke", "--devices", "raspi4", "eyeriss", "--set", "lut_n_fit=60",
          "n_train=64", "n_val=64", "epochs=2", "warmup_epochs=1"]
GOOD_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def search_argv(out: Path, *more: str) -> list[str]:
    return [*SEARCH, *more, "--out", str(out)]


@pytest.fixture(scope="session")
def finished(tmp_path_factory) -> Path:
    """A finished smoke run folder (with checkpoint and checksums.json); copy it before changing it."""
    out = tmp_path_factory.mktemp("runs") / "smoke"
    assert cli.main(search_argv(out)) == 0
    return out


@pytest.fixture
def run_copy(finished, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(finished, dst)
    return dst


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (empty when it does not exist)."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def fails(main, argv, capsys, *words: str) -> str:
    """Run ``main(argv)``; assert exit status 2 and one stderr line holding every word; return the line."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    for w in words:
        assert w.lower() in err.lower(), (w, err)
    return err


# ---------------------------------------------------------------- settings (defect 4): nothing written

SEARCH_CASES = {
    "batch-negative": (["--set", "batch_size=-4"], "batch_size"),
    "batch-huge": (["--set", "batch_size=100000"], "batch_size"),
    "batch-zero": (["--set", "batch_size=0"], "batch_size"),
    "batch-over-data": (["--set", "n_train=16", "n_val=16", "batch_size=64"], "batch_size"),
    "epochs-text": (["--set", "epochs=abc"], "epochs"),
    "epochs-zero": (["--set", "epochs=0", "warmup_epochs=0"], "epochs"),
    "w_lr-text": (["--set", "w_lr=abc"], "w_lr"),
    "w_lr-nan": (["--set", "w_lr=nan"], "w_lr"),
    "threads-negative": (["--set", "threads=-1"], "threads"),
    "n_train-negative": (["--set", "n_train=-5"], "n_train"),
    "tau_min-negative": (["--set", "tau_min=-1"], "tau_min"),
    "unknown-field": (["--set", "nosuch=1"], "nosuch"),
    "unknown-device": (["--devices", "raspi4", "raspi5"], "raspi5"),
    "device-csv-missing": (["--devices", "raspi4", "/nonexistent/phone.csv"], "phone.csv"),
    "unknown-method": (["--method", "nosuch"], "method"),
    "unknown-profile": (["--profile", "nosuch"], "profile"),
}


@pytest.mark.parametrize("case", list(SEARCH_CASES))
def test_bad_search_settings_write_nothing(case, tmp_path, capsys):
    more, word = SEARCH_CASES[case]
    out = tmp_path / "new" / "run"
    fails(cli.main, search_argv(out, *more), capsys, word)
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_search_on_cuda_without_cuda_writes_nothing(tmp_path, capsys):
    fails(cli.main, search_argv(tmp_path / "run", "--set", "torch_device=cuda"), capsys, "cuda", "torch_device=cpu")
    assert not (tmp_path / "run").exists()


def test_corrected_device_list_is_accepted_after_a_failed_one(tmp_path, capsys):
    out = tmp_path / "run"
    fails(cli.main, search_argv(out, "--devices", "raspi4", "raspi5"), capsys, "raspi5")
    cfg = config_for_profile("smoke", devices=("raspi4", "eyeriss"), **parse_set(SEARCH[7:], SearchConfig))
    run_io.prepare_run_dir(out, cfg.to_dict())  # not refused as "another config": nothing was left behind


# ---------------------------------------------------------------- output paths (defect 6)

def _out_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Bad ``--out`` paths and a word the error must name (``/proc`` is read-only even for root)."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    (tmp_path / "adir").mkdir()
    return {"under-a-file": (afile / "sub" / "out", "afile"), "is-a-dir": (tmp_path / "adir", "adir"),
            "is-a-file": (afile, "afile"), "read-only": (Path("/proc/nas-reliability-test/out"), "nas-reliability-test")}


@pytest.mark.parametrize("kind", ["under-a-file", "is-a-dir", "read-only"])
def test_derive_and_export_bad_out(kind, finished, tmp_path, capsys):
    out, word = _out_cases(tmp_path)[kind]
    before = snapshot(tmp_path)
    fails(cli.main, ["derive", "--run", str(finished), "--device", "raspi4", "--lam", "0.5", "--out", str(out)],
          capsys, word)
    fails(cli.main, ["export", "--arch", GOOD_ARCH, "--format", "torchscript", "--out", str(out)], capsys, word)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["under-a-file", "is-a-file", "read-only"])
def test_search_bad_out(kind, tmp_path, capsys):
    out, word = _out_cases(tmp_path)[kind]
    before = snapshot(tmp_path)
    fails(cli.main, search_argv(out), capsys, word)
    assert snapshot(tmp_path) == before


def test_stale_temps_are_cleaned_on_the_next_write_and_ignored_by_git(tmp_path, repo):
    from nas.results import TMP_PREFIX, save_json

    stale = tmp_path / f"{TMP_PREFIX}999999999-deadbeef-x.json"  # no such pid: its writer was killed
    stale.write_text("{")
    save_json(tmp_path / "y.json", {"a": 1})
    assert not stale.exists() and (tmp_path / "y.json").exists()
    import subprocess

    probe = f"results/runs/x/{TMP_PREFIX}123-abcd-run.json"
    assert subprocess.run(["git", "check-ignore", "-q", probe], cwd=repo).returncode == 0


# ---------------------------------------------------------------- derive, export, profile, plan, data, pipeline

def test_derive_bad_inputs(finished, tmp_path, capsys):
    fails(cli.main, ["derive", "--run", str(tmp_path / "none"), "--device", "raspi4", "--lam", "0.5"], capsys,
          "does not exist")
    fails(cli.main, ["derive", "--run", str(finished), "--device", "nosuch", "--lam", "0.5"], capsys, "nosuch")
    fails(cli.main, ["derive", "--run", str(finished), "--device", "raspi4", "--lam", "2"], capsys, "lam")


def test_derive_on_an_unfinished_run_suggests_a_command_that_resumes_it(run_copy, capsys):
    (run_copy / "run.json").unlink()
    err = fails(cli.main, ["derive", "--run", str(run_copy), "--device", "raspi4", "--lam", "0.5"], capsys,
                "python -m nas search")
    command = err.split("`")[1]
    args = cli.build_parser().parse_args(shlex.split(command)[3:])
    cfg = config_for_profile(args.profile, space=args.space, **parse_set(args.set, SearchConfig))
    assert cfg.to_dict() == run_io.load_config(run_copy) and args.out == str(run_copy)


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "phone.csv"
    path.write_text("arch_str,latency_ms\n" + "\n".join(rows) + "\n")
    return path


def _archs(n: int) -> list[str]:
    from nas.spaces import get_space

    sp, rng = get_space("nb201"), np.random.default_rng(0)
    out: list[str] = []
    while len(out) < n:
        g = sp.from_indices(list(rng.integers(0, len(sp.primitives), sp.n_edges)))
        if sp.is_valid(g) and sp.format(g) not in out:
            out.append(sp.format(g))
    return out


@pytest.mark.parametrize("case", ["conflicting-duplicate", "outlier"])
def test_device_csv_conflicts_and_outliers(case, finished, tmp_path, capsys):
    archs = _archs(21)
    rows = [f"{a},{10 + i}" for i, a in enumerate(archs[:-1])]
    rows.append(f"{archs[0]},9999" if case == "conflicting-duplicate" else f"{archs[-1]},1e30")
    word = "conflicting" if case == "conflicting-duplicate" else "implausible"
    fails(cli.main, ["derive", "--run", str(finished), "--device", str(_csv(tmp_path, rows)), "--lam", "0.5"],
          capsys, word, "phone.csv")


def test_agreeing_duplicates_are_averaged(tmp_path):
    from nas.costs.devices import table_from_csv

    archs = _archs(20)
    rows = [f"{a},{10 + i}" for i, a in enumerate(archs)] + [f"{archs[0]},11"]
    assert table_from_csv(_csv(tmp_path, rows)).fit["n_duplicates_merged"] == 1


def test_export_profile_plan_bad_inputs(tmp_path, capsys):
    fails(cli.main, ["export", "--arch", "|conv~0|", "--format", "onnx", "--out", str(tmp_path / "m.onnx")], capsys,
          "genotype")
    fails(cli.main, ["profile", "--runtime", "nosuch", "--out", str(tmp_path / "p")], capsys, "runtime")
    fails(cli.main, ["plan", "--profile", "nosuch"], capsys, "profile")
    assert list(tmp_path.iterdir()) == []


def test_data_prepare_bad_root(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    fails(datasets.main, ["prepare", "cifar10", "--root", str(afile)], capsys, "afile")
    bad = tmp_path / "root" / "cifar10"
    bad.mkdir(parents=True)
    (bad / "arrays.npz").write_bytes(b"garbage")
    fails(datasets.main, ["prepare", "cifar10", "--root", str(tmp_path / "root")], capsys, "arrays.npz", "delete")
    assert (bad / "arrays.npz").read_bytes() == b"garbage"


@pytest.mark.parametrize("argv,word", [(["run", "--only", "99_x"], "99_x"), (["run", "--from", "99"], "99")])
def test_pipeline_unknown_stage_is_an_error_listing_the_stages(argv, word, capsys):
    err = fails(pipeline.main, [*argv, "--profile", "smoke"], capsys, word, "stages are")
    assert all(p.stem in err for p in pipeline.list_stages())


def test_data_content_hash_detects_one_changed_pixel(tmp_path, monkeypatch):
    """A prepared array re-saved with one pixel changed fails its pinned sha256 on load."""
    from dataclasses import replace

    from nas.data.specs import FASHION_MNIST
    from nas.data.verify import Figures, array_sha256

    a = datasets.synthetic_arrays(20, 10, shape=(28, 28, 1)).as_dict()
    spec = replace(FASHION_MNIST, expected=Figures(array_sha256=array_sha256(a)))
    (tmp_path / spec.name).mkdir()
    np.savez(tmp_path / spec.name / "arrays.npz", **a)
    datasets.load_arrays(spec, tmp_path)  # intact: loads
    a["x_train"][0, 0, 0, 0] ^= 1
    np.savez(tmp_path / spec.name / "arrays.npz", **a)
    with pytest.raises(datasets.DataError, match="x_train.*pinned sha256"):
        datasets.load_arrays(spec, tmp_path)


@pytest.mark.parametrize("name", ["fashion-mnist", "cifar10"])
def test_pinned_hashes_are_those_of_the_prepared_data(name):
    root = datasets.resolve_root()
    if not (root / name / "arrays.npz").is_file():
        pytest.skip(f"{name} not prepared")
    datasets.load_arrays(name)  # raises on a content mismatch


# ---------------------------------------------------------------- finished runs (defect 1)

@pytest.mark.parametrize("checkpoint", [True, False])
def test_finished_run_is_never_searched_again(checkpoint, run_copy, capsys):
    if not checkpoint:
        (run_copy / run_io.CHECKPOINT).unlink()
    before = snapshot(run_copy)
    capsys.readouterr()
    assert cli.main(search_argv(run_copy)) == 0
    assert "already holds this finished search" in capsys.readouterr().out
    run_search(SearchConfig.from_dict(run_io.load_config(run_copy)), run_copy, progress=False)  # the stages' path
    assert snapshot(run_copy) == before


def test_finished_run_with_another_config_is_refused(run_copy, capsys):
    before = snapshot(run_copy)
    fails(cli.main, search_argv(run_copy, "w_lr=0.05"), capsys, "another config", "w_lr")
    assert snapshot(run_copy) == before


def test_committed_runs_load_without_checksums(repo):
    runs = sorted(p.parent for p in (repo / "results" / "runs").rglob("run.json"))
    assert runs
    for run in runs:
        run_io.check_run(run)


# ---------------------------------------------------------------- corrupt run files (defect 5)

def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot a run file\x13" * 10)


def _edit_json(change):
    def edit(path: Path) -> None:
        d = json.loads(path.read_text())
        change(d)
        path.write_text(json.dumps(d))  # json writes NaN for float("nan")
    return edit


def _edit_state(change):
    def edit(path: Path) -> None:
        state = torch.load(path, weights_only=False)
        torch.save(change(state), path)
    return edit


def _nan_first(state: dict) -> dict:
    key = next(k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point())
    state[key] = state[key].clone().fill_(float("nan"))
    return state


def _nan_epoch(text: str) -> str:
    """history.csv text with the first row's epoch set to nan."""
    lines = [line.split(",") for line in text.splitlines()]
    lines[1][lines[0].index("epoch")] = "nan"
    return "\n".join(",".join(line) for line in lines) + "\n"


CORRUPTIONS = {
    "config.json": {
        "truncated": _truncate, "garbage": _garbage,
        "unknown-key": _edit_json(lambda d: d.update(nosuch=1)),
        "nan": _edit_json(lambda d: d.update(w_lr=float("nan"))),
        "changed-size": _edit_json(lambda d: d.update(n_knots=d["n_knots"] + 3)),
    },
    "devices.json": {
        "truncated": _truncate, "garbage": _garbage,
        "empty": lambda p: p.write_text("{}"),
        "wrong-schema": _edit_json(lambda d: d["devices"][0].pop("op_cost")),
        "nan": _edit_json(lambda d: d["devices"][0].update(base=float("nan"))),
    },
    "history.csv": {
        "truncated": _truncate, "garbage": _garbage,
        "wrong-schema": lambda p: p.write_text("a,b\n1,2\n"),
        "nan": lambda p: p.write_text(_nan_epoch(p.read_text())),
    },
    run_io.HYPERNET: {
        "truncated": _truncate, "garbage": _garbage,
        "wrong-schema": lambda p: torch.save({"w": torch.zeros(3)}, p),
        "nan": _edit_state(_nan_first),
    },
    "run.json": {
        "truncated": _truncate, "garbage": _garbage,
        "wrong-schema": _edit_json(lambda d: d.pop("search_seconds")),
        "nan": _edit_json(lambda d: d.update(search_seconds=float("nan"))),
    },
}
CASES = [(f, k) for f, kinds in CORRUPTIONS.items() for k in kinds]


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "no-checksums"])
@pytest.mark.parametrize("file,kind", CASES, ids=[f"{f}-{k}" for f, k in CASES])
def test_corrupt_run_file_is_named(file, kind, checksums, run_copy, capsys):
    if not checksums:
        (run_copy / run_io.CHECKSUMS).unlink()
    CORRUPTIONS[file][kind](run_copy / file)
    if not checksums and file == "history.csv" and kind == "truncated":
        try:
            run_io.load_history(run_copy)
        except run_io.RunError:
            pass
        else:
            pytest.skip("history.csv cut at a row boundary is a valid shorter history: only checksums.json sees it")
    before = snapshot(run_copy)
    fails(cli.main, ["derive", "--run", str(run_copy), "--device", "raspi4", "--lam", "0.5"], capsys, file)
    fails(cli.main, search_argv(run_copy), capsys, "config" if file == "config.json" else file)
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("kind", ["truncated", "garbage", "wrong-schema", "nan"])
def test_corrupt_checkpoint_on_resume_is_named(kind, run_copy, capsys):
    for name in ("run.json", run_io.HYPERNET, run_io.CHECKSUMS):
        (run_copy / name).unlink()  # an unfinished run: the next search resumes from the checkpoint
    ckpt = run_copy / run_io.CHECKPOINT
    {"truncated": _truncate, "garbage": _garbage, "wrong-schema": lambda p: torch.save({"epoch": 1}, p),
     "nan": _edit_state(lambda s: {**s, "supernet": _nan_first(dict(s["supernet"]))})}[kind](ckpt)
    before = snapshot(run_copy)
    fails(cli.main, search_argv(run_copy), capsys, run_io.CHECKPOINT, "delete")
    assert snapshot(run_copy) == before


def test_checksum_catches_any_change(run_copy, capsys):
    path = run_copy / "history.csv"
    path.write_text(path.read_text().replace("0.", "1.", 1))  # still a valid CSV
    fails(cli.main, ["derive", "--run", str(run_copy), "--device", "raspi4", "--lam", "0.5"], capsys,
          "history.csv", "changed since the run finished")


# ---------------------------------------------------------------- threads (defect 3)

def test_resume_with_another_thread_count_is_refused(run_copy, capsys):
    for name in ("run.json", run_io.HYPERNET, run_io.CHECKSUMS):
        (run_copy / name).unlink()
    written = torch.load(run_copy / run_io.CHECKPOINT, weights_only=False)["torch_threads"]
    before, threads = snapshot(run_copy), torch.get_num_threads()
    try:
        fails(cli.main, search_argv(run_copy, f"threads={written + 1}"), capsys, "thread", f"threads={written}")
    finally:
        torch.set_num_threads(threads)
    assert snapshot(run_copy) == before


def test_finished_run_records_its_thread_count_and_checksums(finished):
    assert run_io.load_run_info(finished)["provenance"]["torch_threads"] >= 1
    assert set(json.loads((finished / run_io.CHECKSUMS).read_text())) == set(run_io.CHECKSUMMED)
