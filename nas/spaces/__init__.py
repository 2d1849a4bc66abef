"""Search spaces by name: ``get_space(name)`` gives a :class:`~nas.spaces.base.SearchSpace`.

``nb201`` (NAS-Bench-201) and ``darts`` (the DARTS cell space) are built on first use. A new space is a folder under ``nas/spaces/``
implementing the protocol plus one line in ``_BUILTIN``; tests add their own with
``register_space``.
"""

from __future__ import annotations

from importlib import import_module

_BUILTIN = {"nb201": "nas.spaces.nb201.space:NB201", "darts": "nas.spaces.darts.space:DARTS"}  # name -> "module:attribute", imported lazily
_REGISTERED: dict = {}


def space_names() -> tuple[str, ...]:
    """Names of every known space, built-in first."""
    return tuple(_BUILTIN) + tuple(n for n in _REGISTERED if n not in _BUILTIN)


def get_space(name: str):
    """The space registered as ``name``; raises ValueError listing the known spaces."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _BUILTIN:
        raise ValueError(f"unknown search space {name!r}; known spaces: {', '.join(space_names())}")
    module, attr = _BUILTIN[name].split(":")
    space = getattr(import_module(module), attr)
    _REGISTERED[name] = space
    return space


def register_space(space) -> None:
    """Make ``space`` (a SearchSpace) available as ``space.name``; a built-in name cannot be replaced."""
    if space.name in _BUILTIN:
        raise ValueError(f"{space.name!r} is a built-in space and cannot be replaced")
    _REGISTERED[space.name] = space


def unregister_space(name: str) -> None:
    """Remove a space added with :func:`register_space` (built-in spaces stay)."""
    if name not in _BUILTIN:
        _REGISTERED.pop(name, None)
