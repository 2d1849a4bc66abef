"""Shared fixtures (kept minimal): the repository root."""

from pathlib import Path

import pytest

from nas.results import repo_root


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (the folder that holds ``nas/``)."""
    return repo_root()
