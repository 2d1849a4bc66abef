"""Stage configs from parameters: a notebook's ``parameters`` cell or a profile's YAML file.

Both give plain values (lists where the config has tuples); :func:`coerce` checks the names
against the config's fields and turns lists into tuples. A profile file
``notebooks/params/<profile>/<stem>.yaml`` overrides the config's defaults (which are the
notebook's defaults and the default profile's settings); ``profile`` is always set.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path

from nas.search.serialise import field_types, unwrap_optional


def coerce(cls: type, values: Mapping, source: str) -> dict:
    """Values for the fields of the dataclass ``cls``, lists turned into tuples where the field is a tuple.

    Raises:
        ValueError: a key that is not a field of ``cls``; the message names ``source`` and the fields.
    """
    typed = field_types(cls)
    unknown = sorted(set(values) - set(typed))
    if unknown:
        raise ValueError(f"{source}: unknown parameter(s) {unknown}; {cls.__name__} has: {', '.join(typed)}")
    out = {}
    for key, value in values.items():
        inner, _ = unwrap_optional(typed[key])
        out[key] = tuple(value) if typing.get_origin(inner) is tuple and isinstance(value, list) else value
    return out


def config_from(cls: type, namespace: Mapping):
    """The config ``cls`` from the variables of a notebook's ``parameters`` cell (``globals()``)."""
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if n not in namespace]
    if missing:
        raise ValueError(f"{cls.__name__}: the parameters cell does not define {missing}")
    return cls(**coerce(cls, {n: namespace[n] for n in names}, "parameters cell"))


def read_params_file(path: str | Path) -> dict:
    """The mapping of a profile's YAML file (absent or empty file: ``{}``).

    Raises:
        ValueError: the file holds something other than a mapping.
    """
    import yaml

    path = Path(path)
    params = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    if not isinstance(params, Mapping):
        raise ValueError(f"{path}: expected a mapping of parameter names to values")
    return dict(params)


def params_path(stem: str, profile: str, notebooks_dir: str | Path | None = None) -> Path:
    """``<notebooks>/params/<profile>/<stem>.yaml``."""
    from nas.results import repo_root

    folder = Path(notebooks_dir) if notebooks_dir is not None else repo_root() / "notebooks"
    return folder / "params" / profile / f"{stem}.yaml"


def profile_config(stem: str, profile: str, notebooks_dir: str | Path | None = None):
    """The config stage ``stem`` runs with on ``profile``: defaults, the profile's file, ``profile``."""
    from nas.stages import get_stage

    cls = get_stage(stem).config_class
    path = params_path(stem, profile, notebooks_dir)
    return cls(**coerce(cls, {**read_params_file(path), "profile": profile}, str(path)))
