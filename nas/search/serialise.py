"""A config dataclass to ``--set FIELD=VALUE`` shell words and back, typed by the dataclass's fields.

The one way a :class:`nas.search.config.SearchConfig` crosses to the shell (``python -m nas plan``
prints the commands, ``python -m nas search --set`` reads them): :func:`to_set_args` writes the
fields that differ from a base config, :func:`parse_set` parses them back with the field's type.

Text of a value, by field type: ``bool`` ``true``/``false`` (read: true/false/1/0/yes/no, any
case); ``int`` and ``float`` as Python writes them (``repr`` for floats, so they round-trip
exactly); ``tuple[X, ...]`` comma-separated items (empty text: the empty tuple); ``X | None``
``None`` for None. Anything that does not parse as the field's type is a ``ValueError`` naming
the field and the text: a mistyped value never becomes a silent default. Items and strings may
not contain commas (tuples) or be the text ``None`` (optional fields).
"""

from __future__ import annotations

import dataclasses
import shlex
import types
import typing
from collections.abc import Iterable

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def field_types(cls: type) -> dict[str, object]:
    """Field name -> resolved type annotation of the dataclass ``cls``, in field order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def unwrap_optional(tp) -> tuple[object, bool]:
    """``(X, True)`` for ``X | None`` (or ``Optional[X]``), else ``(tp, False)``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _scalar(name: str, tp, text: str):
    if tp is bool:
        low = text.strip().lower()
        if low in TRUE or low in FALSE:
            return low in TRUE
        raise ValueError(f"{name}: {text!r} is not a bool (true/false/1/0/yes/no)")
    if tp in (int, float):
        try:
            return tp(text)
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not {'an int' if tp is int else 'a float'}") from None
    if tp is str:
        return text
    raise TypeError(f"{name}: fields of type {tp!r} cannot be given as text")


def parse_value(name: str, tp, text: str):
    """Parse ``text`` as a value of type ``tp`` (field ``name`` in messages)."""
    inner, optional = unwrap_optional(tp)
    if optional and text == "None":
        return None
    if typing.get_origin(inner) is tuple:
        items = typing.get_args(inner)
        if len(items) != 2 or items[1] is not Ellipsis:
            raise TypeError(f"{name}: only tuple[X, ...] fields can be given as text, not {inner!r}")
        return tuple(_scalar(name, items[0], x) for x in text.split(",")) if text else ()
    return _scalar(name, inner, text)


def format_value(value) -> str:
    """Text of a field value that :func:`parse_value` reads back to ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "None"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    return str(value)


def to_set_args(cfg, base) -> list[str]:
    """``FIELD=VALUE`` words (shell-quoted where needed) for every field of ``cfg`` that differs from ``base``."""
    return [shlex.quote(f"{f.name}={format_value(getattr(cfg, f.name))}") for f in dataclasses.fields(cfg)
            if getattr(cfg, f.name) != getattr(base, f.name)]


def parse_set(pairs: Iterable[str], cls: type) -> dict:
    """``{field: typed value}`` of ``FIELD=VALUE`` words (as the shell hands them over) for the dataclass ``cls``.

    Raises:
        ValueError: a word without ``=``, a field ``cls`` does not have, or a value of the wrong type.
    """
    typed = field_types(cls)
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in typed:
            raise ValueError(f"--set takes FIELD=VALUE with FIELD one of: {', '.join(typed)}; got {pair!r}")
        out[key] = parse_value(key, typed[key], text)
    return out

