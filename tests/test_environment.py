"""The environment: pins agree across files, metadata is valid, importing nas changes nothing."""

import json
import subprocess
import sys
import tomllib

import yaml

from nas.stages.environment import environment_report, normalise_name, read_requirements

CONDA_TO_PIP = {"python-graphviz": "graphviz", "pytorch": "torch"}  # conda-forge name -> pip name
NOT_PACKAGES = {"python", "pip"}


def conda_pins(path) -> dict[str, str | None]:
    """Parse environment.yml into {normalised pip name: version}, conda and pip sections alike."""
    pins = {}
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        if isinstance(entry, dict):
            for line in entry.get("pip", []):
                if not line.startswith("-"):
                    name, _, version = line.partition("==")
                    pins[normalise_name(name.strip())] = version.strip() or None
            continue
        name, _, version = entry.partition("=")
        name = normalise_name(name.strip())
        if name not in NOT_PACKAGES:
            pins[normalise_name(CONDA_TO_PIP.get(name, name))] = version.lstrip("=").strip() or None
    return pins


def test_every_requirement_is_pinned(repo):
    pins = read_requirements(repo / "requirements.txt")
    assert {"torch", "torchvision", "papermill", "numpy"} <= set(pins)
    assert not [name for name, version in pins.items() if version is None]


def test_environment_yml_matches_requirements(repo):
    assert conda_pins(repo / "environment.yml") == read_requirements(repo / "requirements.txt")


def test_environment_yml_uses_python_311_from_conda_forge(repo):
    env = yaml.safe_load((repo / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert env["channels"][0] == "conda-forge"


def test_pyproject_dependencies_are_unpinned_and_pinned_in_requirements(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    assert project["project"]["name"] == "nas-hw"
    assert project["project"]["requires-python"] == ">=3.11"
    pins = read_requirements(repo / "requirements.txt")
    for spec in project["project"]["dependencies"]:
        assert "==" not in spec, spec
        name = normalise_name(spec.split(">")[0].split("<")[0].split("=")[0].strip())
        assert name in pins, f"{name} is a dependency in pyproject.toml but not pinned in requirements.txt"
    assert project["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]


def test_citation_cff_has_the_required_keys(repo):
    cff = yaml.safe_load((repo / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "version", "date-released", "license", "type"):
        assert cff.get(key), key
    assert cff["type"] == "software" and cff["license"] == "MIT"
    assert all("name" in a or "family-names" in a for a in cff["authors"])
    titles = " | ".join(ref["title"] for ref in cff["references"])
    for needle in ("DARTS", "Structure Complexity Control", "FBNet", "NAS-Bench-201", "HW-NAS-Bench", "HELP",
                   "Fashion-MNIST", "Tiny Images"):
        assert needle in titles, needle
    for ref in cff["references"]:
        assert ref["type"] and ref["authors"] and ref["year"], ref["title"]


SIDE_EFFECT_PROBE = r"""
import importlib, json, os, random, sys
from pathlib import Path
import numpy as np, torch
from nas.stages.environment import denormals_flushed

root = Path(sys.argv[1])
skip = {".git", ".venv", "__pycache__", ".pytest_cache"}

def files():
    found = set()
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        found.update(os.path.join(folder, n) for n in names)
    return found

def state():
    return (torch.get_num_threads(), denormals_flushed(), torch.get_rng_state().tolist(),
            str(np.random.get_state()[1].tolist()), random.getstate())

modules = sorted(
    ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
    for p in (root / "nas").rglob("*.py") if p.stem != "__main__"
)
problems = []
before_files, before_state = files(), state()
for name in modules:
    importlib.import_module(name)
    new_files = sorted(files() - before_files)
    if new_files:
        problems.append(f"{name} created {new_files}")
    if state() != before_state:
        problems.append(f"{name} changed torch threads, flush-denormal or an RNG state")
    before_files, before_state = files(), state()
print(json.dumps({"modules": modules, "problems": problems}))
"""


def test_importing_nas_has_no_side_effects(repo):
    proc = subprocess.run(
        [sys.executable, "-B", "-c", SIDE_EFFECT_PROBE, str(repo)],
        capture_output=True, text=True, timeout=240, cwd=repo,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "nas" in report["modules"] and "nas.results" in report["modules"]
    assert report["problems"] == []


def test_environment_report_describes_torch_and_packages():
    report = environment_report()
    assert set(report) == {"provenance", "packages", "torch", "onnxruntime_providers", "graphviz"}
    assert report["packages"]["torch"] and report["packages"]["papermill"]
    assert {"threads", "mkl", "openmp", "flush_denormal_supported", "cuda_available"} <= set(report["torch"])
    assert report["onnxruntime_providers"] is None or "CPUExecutionProvider" in report["onnxruntime_providers"]
