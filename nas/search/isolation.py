"""Keep benchmark ground truth out of a search.

``nas.spaces.nb201.benchmark`` (trained accuracy of every NB201 cell) and ``nas.evaluation.evaluate`` are evaluation-only.
Search code never imports them (a test walks its imports), and ``run_search`` runs inside
``evaluation_modules_blocked()``, under which importing them raises ImportError.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import sys
from typing import Iterator

EVALUATION_ONLY: tuple[str, ...] = ("nas.spaces.nb201.benchmark", "nas.evaluation")  # modules and packages


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in EVALUATION_ONLY):
            raise ImportError(f"{name} holds benchmark ground truth and is evaluation-only; a search must not "
                              "import it")
        return None


@contextlib.contextmanager
def evaluation_modules_blocked() -> Iterator[None]:
    """Within the block, ``import nas.spaces.nb201.benchmark`` / ``nas.evaluation.evaluate`` raise ImportError.

    Modules already imported elsewhere (e.g. by a notebook kernel) stay importable from
    ``sys.modules``; the guard is about what the search itself loads.
    """
    blocker = _Blocker()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)
