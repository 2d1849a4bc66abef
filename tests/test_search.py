"""Search runs: files, determinism, kill-and-resume, second order, no benchmark access."""

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nas.methods.derive import SearchRun, derive_lams
from nas.search.isolation import EVALUATION_ONLY, evaluation_modules_blocked
from nas.search.run_io import RunError
from nas.search.loop import run_search
from tests.search_fixture import tiny_config, tiny_data

REPO = Path(__file__).resolve().parent.parent
LAMS = [0.0, 0.25, 0.5, 0.75, 1.0]


def _genotypes(run_dir):
    run = SearchRun.load(run_dir)
    return [(d.device, d.arch) for dev in run.tables for d in derive_lams(run, dev, LAMS)]


def _hypernet_state(run_dir):
    return torch.load(Path(run_dir) / "hypernet.pt", weights_only=True)


def test_run_writes_contract_files_and_same_seed_same_genotypes(tmp_path):
    a = run_search(tiny_config(), tmp_path / "a", data=tiny_data(), progress=False)
    b = run_search(tiny_config(), tmp_path / "b", data=tiny_data(), progress=False)
    for name in ("config.json", "devices.json", "history.csv", "hypernet.pt", "run.json"):
        assert (a / name).is_file()
    assert len((a / "history.csv").read_text().strip().splitlines()) == 1 + 3
    assert _genotypes(a) == _genotypes(b)
    for k, v in _hypernet_state(a).items():
        assert torch.equal(v, _hypernet_state(b)[k])


def test_rerun_of_finished_run_is_a_no_op_and_other_config_is_refused(tmp_path):
    out = run_search(tiny_config(), tmp_path / "r", data=tiny_data(), progress=False)
    stamp = (out / "hypernet.pt").stat().st_mtime_ns
    run_search(tiny_config(), out, data=tiny_data(), progress=False)
    assert (out / "hypernet.pt").stat().st_mtime_ns == stamp
    with pytest.raises(RunError, match="another config"):
        run_search(tiny_config(seed=1), out, data=tiny_data(), progress=False)
    # where the data lives and how many threads run it do not make another run
    run_search(tiny_config(data_root="/elsewhere", threads=1), out, data=tiny_data(), progress=False)
    assert (out / "hypernet.pt").stat().st_mtime_ns == stamp


def test_finished_run_keeps_its_final_supernet_weights(tmp_path):
    """supernet.pt holds the weights of the last epoch (what ranking diagnostics score), finite and loadable."""
    from nas.search import run_io
    from nas.search.step import build_state

    cfg = tiny_config()
    out = run_search(cfg, tmp_path / "r", data=tiny_data(), progress=False)
    state = run_io.load_supernet_state(out)
    ckpt = torch.load(out / "checkpoint.ckpt", weights_only=False)["supernet"]
    assert state.keys() == ckpt.keys() and all(torch.equal(state[k], ckpt[k]) for k in state)
    data = tiny_data()
    fresh = build_state(cfg, data.in_channels, data.n_classes, 5).supernet
    fresh.load_state_dict(state)


def test_finished_run_without_its_checkpoint_is_not_searched_again(tmp_path):
    """A committed run folder holds no checkpoint (gitignored): it is still recognised as finished."""
    out = run_search(tiny_config(), tmp_path / "r", data=tiny_data(), progress=False)
    (out / "checkpoint.ckpt").unlink()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    run_search(tiny_config(), out, data=tiny_data(), progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_run_json_records_the_commit_the_run_started_on(tmp_path, monkeypatch):
    """A run resumed on another commit still names the commit its first epoch ran on."""
    import json

    import nas.search.run_io as run_io

    monkeypatch.setattr(run_io, "git_commit", lambda: "abc1234")
    out = run_search(tiny_config(), tmp_path / "r", data=tiny_data(), progress=False)
    assert json.loads((out / "run.json").read_text())["provenance"]["git_commit_at_start"] == "abc1234"
    for name in ("run.json", "checksums.json"):  # unfinished again: the next call resumes from the checkpoint
        (out / name).unlink()
    monkeypatch.setattr(run_io, "git_commit", lambda: "def5678")
    run_search(tiny_config(), out, data=tiny_data(), progress=False)
    assert json.loads((out / "run.json").read_text())["provenance"]["git_commit_at_start"] == "abc1234"


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    epochs = "6"
    ref = tmp_path / "ref"
    subprocess.run([sys.executable, "tests/search_fixture.py", str(ref), epochs], cwd=REPO, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    killed = tmp_path / "killed"
    cmd = [sys.executable, "tests/search_fixture.py", str(killed), epochs]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.time() + 120
    while not (killed / "checkpoint.ckpt").exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "run.json").exists(), "the run finished before it could be killed"
    subprocess.run(cmd, cwd=REPO, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert _genotypes(killed) == _genotypes(ref)
    for k, v in _hypernet_state(ref).items():
        assert torch.allclose(v, _hypernet_state(killed)[k], atol=0, rtol=0)


@pytest.mark.parametrize("overrides", [
    dict(estimator="relaxed", order="second"), dict(estimator="relaxed", mode="mixed"), dict(estimator="relaxed"),
    dict(mode="mixed"), dict(hypernet="mlp"), dict(loss="fbnet"), dict(hypernet="alpha"), dict(weight_paths="hypernet"),
])
def test_variants_run(tmp_path, overrides):
    out = run_search(tiny_config(epochs=2, **overrides), tmp_path / "v", data=tiny_data(), progress=False)
    assert len(_genotypes(out)) == 3 * len(LAMS)


def _nas_imports(module: str, seen: set) -> set:
    """Modules of the nas package imported (transitively, statically) by ``module``."""
    if module in seen:
        return seen
    seen.add(module)
    path = REPO / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = REPO / module.replace(".", "/") / "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            if name.startswith("nas"):
                _nas_imports(name, seen)
    return seen


def test_search_code_cannot_reach_benchmark():
    closure = _nas_imports("nas.search.loop", set()) | _nas_imports("nas.methods.derive", set())
    assert not closure & set(EVALUATION_ONLY), closure & set(EVALUATION_ONLY)
    code = "import sys; sys.modules.pop('nas.spaces.nb201.benchmark', None); import nas.spaces.nb201.benchmark"
    with evaluation_modules_blocked():
        with pytest.raises(ImportError, match="evaluation-only"):
            exec(code)
