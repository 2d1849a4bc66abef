"""Importing any module of the package has no side effects: no files, threads, seeds, backends or hooks."""

import json
import pkgutil
import subprocess
import sys

import nas

MODULES = sorted(m.name for m in pkgutil.walk_packages(nas.__path__, "nas.") if not m.name.endswith("__main__"))

PROBE = """
import json, logging, os, sys
import hashlib
import matplotlib, numpy, torch
def state():
    return {"threads": torch.get_num_threads(), "backend": matplotlib.rcParams._get_backend_or_none(),
            "torch_rng": hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest(),
            "numpy_rng": hashlib.sha1(repr(numpy.random.get_state()).encode()).hexdigest(),
            "meta_path": len(sys.meta_path), "handlers": len(logging.getLogger().handlers),
            "files": sorted(os.listdir("."))}
before = state()
import importlib
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
print(json.dumps({"before": before, "after": state()}))
"""


def test_registry_lists_the_subpackages():
    for pkg in ("nas.spaces", "nas.search", "nas.costs", "nas.methods", "nas.evaluation", "nas.report",
                "nas.data", "nas.stages"):
        assert pkg in MODULES


def test_importing_every_module_changes_nothing(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(MODULES)], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["before"] == result["after"]
    assert list(tmp_path.iterdir()) == []
