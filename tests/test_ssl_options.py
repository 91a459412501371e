"""Every SSL method validates its ``method.kwargs`` the same way: a typed MethodOptions dataclass."""

from __future__ import annotations

from dataclasses import fields

import pytest
from torch import nn

from skelrec.errors import SkelrecError
from skelrec.ssl import METHODS, InputSpec, MethodOptions, build_method

SPEC = InputSpec("ntu25", frames=12, persons=2, channels=3)
NAMES = [n for n in METHODS if not n.startswith("test_")]


def test_the_methods_are_all_there():
    assert set(NAMES) >= {"mamp", "macdiff", "skeleton2vec", "skeletonmae", "moco", "halp", "supervised"}


@pytest.mark.parametrize("name", NAMES)
def test_every_method_has_typed_options_with_one_error_shape(name):
    options = METHODS[name].Options
    assert issubclass(options, MethodOptions) and options is not MethodOptions
    known = ", ".join(f.name for f in fields(options))
    with pytest.raises(
        SkelrecError, match=rf"^method\.kwargs: method '{name}' has no option bogus; its options: {known}$"
    ):
        build_method(name, nn.Identity(), SPEC, bogus=1)
    first = fields(options)[0].name
    with pytest.raises(SkelrecError, match=rf"^method\.kwargs\.{first} must be .*, got \{{'a': 1\}}$"):
        build_method(name, nn.Identity(), SPEC, **{first: {"a": 1}})


def test_a_required_option_is_named():
    with pytest.raises(SkelrecError, match=r"^method\.kwargs\.num_classes: method 'supervised' needs it; set it$"):
        build_method("supervised", nn.Identity(), SPEC)


def test_lists_and_ints_are_converted_to_the_declared_types():
    options = METHODS["macdiff"].Options.from_kwargs("macdiff", {"input_var": [1, 2, 3]})
    assert options.input_var == (1.0, 2.0, 3.0) and isinstance(options.input_var[0], float)
