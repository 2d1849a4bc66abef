"""The stage registry: one config and run(cfg) per notebook, notebook defaults = config defaults = default profile."""

import ast
import dataclasses

import nbformat
import pytest

from nas.pipeline import list_stages
from nas.stages import STAGES, get_stage
from nas.stages.params import coerce, config_from, params_path, profile_config
from nas.stages.plan import planned_stages

NOTEBOOKS = {p.stem: p for p in list_stages()}


def notebook_defaults(notebook) -> dict:
    """{name: literal default} of the notebook's ``parameters`` cell, in order."""
    nb = nbformat.read(notebook, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    return {s.target.id: ast.literal_eval(s.value) for s in ast.parse(cell.source).body}


def test_every_notebook_is_a_registered_stage():
    assert list(NOTEBOOKS) == list(STAGES)
    assert planned_stages() == ["03_search", "05_baselines", "07_darts_space"]
    with pytest.raises(ValueError, match="registered: 00_environment"):
        get_stage("99_nothing")


@pytest.mark.parametrize("stem", STAGES)
def test_stage_has_one_frozen_config_and_run(stem):
    stage = get_stage(stem)
    cls, module = stage.config_class, stage.load()
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    assert callable(module.run) and (callable(module.plan) if stage.plans else True)
    assert [f.name for f in dataclasses.fields(cls)][0] == "profile"
    with pytest.raises(ValueError, match="profile"):
        cls(profile="huge")


@pytest.mark.parametrize("stem", STAGES)
def test_notebook_parameters_are_the_config_fields_and_defaults(stem):
    cls = get_stage(stem).config_class
    declared = notebook_defaults(NOTEBOOKS[stem])
    assert list(declared) == [f.name for f in dataclasses.fields(cls)]
    assert config_from(cls, declared) == cls()


@pytest.mark.parametrize("stem", STAGES)
def test_default_profile_is_the_defaults(stem):
    """A notebook run top to bottom in JupyterLab runs the default profile (as `make reproduce` does)."""
    cls = get_stage(stem).config_class
    assert profile_config(stem, "default") == cls()
    assert params_path(stem, "default").exists()


@pytest.mark.parametrize("profile", ["smoke", "full"])
@pytest.mark.parametrize("stem", STAGES)
def test_every_profile_file_builds_its_config(stem, profile):
    cfg = profile_config(stem, profile)
    assert cfg.profile == profile


def test_unknown_profile_key_names_the_file_and_the_fields(tmp_path):
    (tmp_path / "params" / "smoke").mkdir(parents=True)
    path = tmp_path / "params" / "smoke" / "04_derive.yaml"
    path.write_text("unseen_n: 10\nunsen_seed: 3\n")
    with pytest.raises(ValueError, match=r"04_derive.yaml: unknown parameter\(s\) \['unsen_seed'\]; DeriveConfig has: "
                                         r"profile, runs_dir"):
        profile_config("04_derive", "smoke", tmp_path)
    path.write_text("unseen_n: 10\n")
    assert profile_config("04_derive", "smoke", tmp_path).unseen_n == 10


def test_lists_become_tuples_where_the_field_is_a_tuple():
    cls = get_stage("05_baselines").config_class
    values = coerce(cls, {"seeds": [0, 1], "schedule": {"epochs": 3}, "fbnet_betas": [0.6]}, "test")
    assert values == {"seeds": (0, 1), "schedule": {"epochs": 3}, "fbnet_betas": (0.6,)}
