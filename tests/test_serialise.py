"""The one shell serialiser of a config: ``--set FIELD=VALUE`` words and their typed parsing round-trip."""

import shlex
import typing
from dataclasses import dataclass, replace

import pytest

from nas.search.config import SearchConfig, config_for_profile
from nas.search.serialise import field_types, parse_set, to_set_args, unwrap_optional
from nas.stages.baselines import comparison_plan


@dataclass(frozen=True)
class Typed:
    flag: bool = False
    n: int = 1
    x: float = 0.5
    name: str = "a"
    root: str | None = None
    items: tuple[str, ...] = ("p",)
    sizes: tuple[int, ...] = (1, 2)


def other_values(tp, default) -> list:
    """Values of type ``tp`` that differ from ``default`` (edge cases included)."""
    inner, optional = unwrap_optional(tp)
    out = [None] if optional and default is not None else []
    if inner is bool:
        return out + [not default]
    if inner is int:
        return out + [default + 3, -7, 0 if default else 1]
    if inner is float:
        return out + [default * 1.5 + 0.125, 0.1 + 0.2, 1e-7, -2.0, float("inf")]
    if inner is str:
        return out + [v for v in ("x-y", "with space", "a/b.csv", "") if v != default]
    if typing.get_origin(inner) is tuple:
        item = typing.get_args(inner)[0]
        return out + [v for v in (("a", "b"), ("one",), ()) if item is str and v != default] + \
            [v for v in ((3, 4), ()) if item is int and v != default]
    raise AssertionError(f"no test values for {tp!r}")


def shell_round_trip(cfg, base):
    words = shlex.split(" ".join(to_set_args(cfg, base)))
    return replace(base, **parse_set(words, type(cfg)))


@pytest.mark.parametrize("cls", [SearchConfig, Typed], ids=lambda c: c.__name__)
def test_every_field_round_trips_through_the_shell(cls):
    base = cls()
    for name, tp in field_types(cls).items():
        for value in other_values(tp, getattr(base, name)):
            cfg = replace(base, **{name: value})
            assert to_set_args(cfg, base), (name, value)
            assert shell_round_trip(cfg, base) == cfg, (name, value)
    assert to_set_args(base, base) == []


@pytest.mark.parametrize("profile", ["smoke", "default", "full"])
def test_comparison_plan_configs_round_trip(profile):
    base = config_for_profile(profile)
    configs = comparison_plan(profile, methods=("darts", "darts-cc", "fbnet"), ours_seeds=(1,),
                              fbnet_devices=("raspi4", "titan_rtx_1"), schedule={"epochs": 25}, threads=1)
    assert len(configs) == 1 + 1 + 2 * 3 + 1
    for cfg in configs.values():
        assert shell_round_trip(cfg, base) == cfg


@pytest.mark.parametrize("text,value", [("true", True), ("True", True), ("1", True), ("yes", True),
                                        ("false", False), ("FALSE", False), ("0", False), ("no", False)])
def test_bool_spellings(text, value):
    assert parse_set([f"flag={text}"], Typed) == {"flag": value}


@pytest.mark.parametrize("pair,field", [("flag=ture", "flag"), ("flag=", "flag"), ("n=abc", "n"), ("n=1.5", "n"),
                                        ("x=fast", "x"), ("sizes=1,two", "sizes")])
def test_a_mistyped_value_is_an_error_naming_field_and_value(pair, field):
    with pytest.raises(ValueError, match=rf"{field}: '.*' is not"):
        parse_set([pair], Typed)


def test_unknown_field_or_missing_equals_names_the_fields():
    for pair in ("nope=1", "n"):
        with pytest.raises(ValueError, match="FIELD one of: flag, n, x"):
            parse_set([pair], Typed)
    with pytest.raises(ValueError, match="n_train: 'abc' is not an int"):
        parse_set(["n_train=abc"], SearchConfig)


def test_tuples_none_and_strings():
    assert parse_set(["items=a,b", "sizes=", "root=None", "name=None"], Typed) == \
        {"items": ("a", "b"), "sizes": (), "root": None, "name": "None"}
    assert parse_set(["devices=raspi4,params", "data_root=None"], SearchConfig) == \
        {"devices": ("raspi4", "params"), "data_root": None}


def test_search_command_refuses_a_mistyped_set_before_running(tmp_path, capsys):
    from nas import cli

    assert cli.main(["search", "--profile", "smoke", "--out", str(tmp_path / "run"), "--set", "epochs=two"]) == 2
    assert "epochs: 'two' is not an int" in capsys.readouterr().err and not (tmp_path / "run").exists()
