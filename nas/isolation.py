"""Keep benchmark ground truth out of a search.

``nas.benchmark`` (trained accuracy of every NB201 cell) and ``nas.evaluate`` are evaluation-only.
Search code never imports them (a test walks its imports), and ``run_search`` runs inside
``evaluation_modules_blocked()``, under which importing them raises ImportError.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import sys
from typing import Iterator

EVALUATION_ONLY: tuple[str, ...] = ("nas.benchmark", "nas.evaluate")


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in EVALUATION_ONLY:
            raise ImportError(f"{name} holds benchmark ground truth and is evaluation-only; a search must not "
                              "import it")
        return None


@contextlib.contextmanager
def evaluation_modules_blocked() -> Iterator[None]:
    """Within the block, ``import nas.benchmark`` / ``nas.evaluate`` raise ImportError.

    Modules already imported elsewhere (e.g. by a notebook kernel) stay importable from
    ``sys.modules``; the guard is about what the search itself loads.
    """
    blocker = _Blocker()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)
