"""The run plan: the same runs the notebooks execute, as commands that rebuild the same configs."""

import shlex

import pytest

from nas import cli
from nas.pipeline import load_params
from nas.results import repo_root
from nas.search.config import config_for_profile
from nas.stages import get_stage
from nas.stages.params import config_from
from nas.search.shared_supernet import supernet_run_name
from nas.stages.plan import commands, makefile, planned_stages, profile_runs, profile_supernets, repo_relative
from tests.test_stages import notebook_defaults


def _config_of(command: str):
    """The SearchConfig a ``python -m nas search ...`` line runs (parsed like the command line does)."""
    args = cli.build_parser().parse_args(shlex.split(command)[3:])
    over = cli._overrides(args.set)
    over.update({k: v for k, v in (("dataset", args.dataset), ("seed", args.seed), ("method", args.method))
                 if v is not None})
    if args.devices:
        over["devices"] = tuple(args.devices)
    return config_for_profile(args.profile, space=args.space, **over), args.out


def notebook_runs(profile: str) -> dict:
    """The runs the stage notebooks execute on ``profile``: their parameters cell, then papermill's parameters."""
    out = {}
    for stem in planned_stages():
        notebook = repo_root() / "notebooks" / f"{stem}.ipynb"
        stage = get_stage(stem)
        cfg = config_from(stage.config_class, {**notebook_defaults(notebook), **load_params(notebook, profile)})
        out.update({repo_relative(d): c for d, c in stage.load().plan(cfg).items()})
    return out


@pytest.mark.parametrize("profile", ["smoke", "default", "full"])
def test_every_planned_command_rebuilds_the_notebooks_config(profile):
    runs = profile_runs(profile)
    assert runs == notebook_runs(profile)
    cmds = commands(profile)
    phase1 = {d: c for d, c in cmds.items() if "--supernet-only" in c}
    assert set(cmds) - set(phase1) == set(runs)
    supernets = profile_supernets(profile)
    for run_dir, cmd in cmds.items():
        cfg, out = _config_of(cmd)
        if run_dir in phase1:  # trains the shared supernet of every run with the same phase-1 fields
            assert out == str(supernets) and run_dir == supernets / supernet_run_name(cfg)
            continue
        assert out == str(run_dir) and cfg == runs[run_dir], run_dir
        if cfg.schedule == "two-phase":
            assert f"--supernets {supernets}" in cmd and supernets / supernet_run_name(cfg) in phase1
    two_phase = {supernet_run_name(c) for c in runs.values() if c.schedule == "two-phase"}
    assert {d.name for d in phase1} == two_phase


def test_plan_covers_both_searching_stages_with_distinct_folders():
    runs = profile_runs("default")
    names = [p.name for p in runs]
    assert len(set(runs)) == len(runs)
    assert "darts-cc-hw_nb201_cifar10_s0" in names and "darts-cc-hw_nb201_cifar10_s0_without-pixel3" in names
    methods = sorted({c.method for c in runs.values()})
    assert methods == ["darts", "darts-cc", "darts-cc-hw", "fbnet"]
    assert all(str(p).startswith("results/runs") for p in runs)


def test_makefile_has_a_target_per_run_and_threads_do_not_change_the_config():
    text = makefile("smoke", threads=1, python=".venv/bin/python")
    runs = profile_runs("smoke")
    for run_dir, cfg in runs.items():
        assert f"{run_dir}/run.json:" in text
        if cfg.schedule == "two-phase":  # after its shared phase-1 supernet: no two jobs train one
            assert f"{run_dir}/run.json: {profile_supernets('smoke') / supernet_run_name(cfg)}/run.json" in text
    assert text.count("--set threads=1") + text.count(" threads=1 ") >= len(runs)
    assert "all: " in text
