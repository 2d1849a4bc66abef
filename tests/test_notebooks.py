"""Source notebooks are thin, parameterised and committed without outputs (list from a glob)."""

import ast
import io
import tokenize

import nbformat
import pytest
import yaml

from nas.pipeline import DEFAULT_KERNEL, list_stages
from nas.results import repo_root

STAGES = list_stages()
PROFILE_FILES = sorted((repo_root() / "notebooks" / "params").glob("*/*.yaml"))


def parameters_cells(nb) -> list:
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


def declared_parameters(notebook) -> dict[str, ast.AnnAssign]:
    """Return {name: statement} of the notebook's parameters cell."""
    tree = ast.parse(parameters_cells(nbformat.read(notebook, as_version=4))[0].source)
    return {stmt.target.id: stmt for stmt in tree.body if isinstance(stmt, ast.AnnAssign)}


def test_stages_are_found():
    assert [p.stem for p in STAGES][:2] == ["00_environment", "01_data"]


@pytest.mark.parametrize("notebook", STAGES, ids=lambda p: p.stem)
def test_committed_without_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"strip outputs of {notebook.name}"


@pytest.mark.parametrize("notebook", STAGES, ids=lambda p: p.stem)
def test_header_kernel_and_one_parameters_cell(notebook):
    nb = nbformat.read(notebook, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "python -m nas.pipeline run" in first.source or "make " in first.source, "say how to run it"
    assert nb.metadata["kernelspec"]["name"] == DEFAULT_KERNEL
    assert len(parameters_cells(nb)) == 1


@pytest.mark.parametrize("notebook", STAGES, ids=lambda p: p.stem)
def test_parameters_are_annotated_literals_with_comments(notebook):
    source = parameters_cells(nbformat.read(notebook, as_version=4))[0].source
    tree = ast.parse(source)
    commented = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                 if tok.type == tokenize.COMMENT}
    for stmt in tree.body:
        assert isinstance(stmt, ast.AnnAssign) and stmt.value is not None, f"line {stmt.lineno}: `name: type = value`"
        ast.literal_eval(stmt.value)  # a literal: no derived values in the parameters cell
        assert stmt.lineno in commented, f"line {stmt.lineno} of {notebook.name} needs a trailing comment"
    assert "profile" in declared_parameters(notebook)


@pytest.mark.parametrize("params_file", PROFILE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_profile_files_name_a_stage_and_its_parameters(params_file):
    notebook = params_file.parents[2] / f"{params_file.stem}.ipynb"
    assert params_file.parent.name in ("smoke", "default", "full")
    assert notebook.exists(), f"{params_file} has no notebook {notebook.name}"
    values = yaml.safe_load(params_file.read_text()) or {}
    unknown = set(values) - set(declared_parameters(notebook))
    assert not unknown, f"{params_file}: {sorted(unknown)} are not parameters of {notebook.name}"
