"""skelrec.keyvalues: the one KEY=VALUE parser of the command line."""

from __future__ import annotations

import math

import pytest

from skelrec.config import parse_override
from skelrec.errors import SkelrecError
from skelrec.keyvalues import parse_key_value, parse_key_values, parse_value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("640", 640),
        ("1e-3", 1e-3),  # PyYAML's YAML 1.1 would give the text '1e-3'
        ("-2.5E+2", -250.0),
        ("true", True),
        ("false", False),
        ("null", None),
        ("", None),
        ('"640"', "640"),
        ("[0.67, 1.5]", [0.67, 1.5]),
        ("[caches/ntu60]", ["caches/ntu60"]),
        ('{"depth": 2}', {"depth": 2}),
        ("{depth: 2}", {"depth": 2}),
        ("mediapipe33", "mediapipe33"),
        ("yes", "yes"),  # YAML 1.1 would read yes/no/on/off as booleans; JSON and YAML 1.2 do not
        ("off", "off"),
        ("[1,", "[1,"),
    ],
)
def test_values_are_yaml_1_2_a_superset_of_json(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_special_floats():
    assert parse_value(".inf") == math.inf and math.isnan(parse_value(".nan"))


def test_items_and_the_one_line_error():
    assert parse_key_values([" layout =mediapipe33", "max_side=640", "max_side=320"], "--option", "x") == {
        "layout": "mediapipe33",
        "max_side": 320,
    }
    assert parse_key_values(None, "--option", "x") == {}
    for bad in ("max_side", "=640"):
        with pytest.raises(SkelrecError, match=rf"^--option '{bad}': expected KEY=VALUE, e.g. --option a=1$"):
            parse_key_value(bad, "--option", "--option a=1")
    with pytest.raises(SkelrecError, match=r"^command-line override 'optim\.\.lr=1': expected key\.sub=value, e\.g\."):
        parse_override("optim..lr=1")
    assert parse_override("optim.lr=1e-3") == (["optim", "lr"], 1e-3)
