"""vaearr.preprocess_options: what a user asks of a run's input pipeline, checked in one line, and read from any
object with the same attributes (a ``TrainConfig``) with ``auto``'s choices put in."""

from __future__ import annotations

from dataclasses import fields
from types import SimpleNamespace

import pytest

from vaearr.errors import InputError
from vaearr.preprocess_options import AVERAGE_SIZES, BACKGROUND_OPERATIONS, PreprocessOptions


def test_the_defaults_pass_their_check():
    PreprocessOptions().check()
    for size in AVERAGE_SIZES:
        for op in BACKGROUND_OPERATIONS:
            PreprocessOptions(average_neighbours=size, background_operation=op, dynamic_operation=op,
                              neighbour_weights="uniform", dynamic_background=0.5).check()


@pytest.mark.parametrize(("given", "said"), [
    ({"average_neighbours": 4}, r"average_neighbours must be 3 or 5 \(0: off\), got 4"),
    ({"neighbour_weights": "gaussian"}, r"neighbour_weights must be similarity or uniform, got 'gaussian'"),
    ({"background_operation": "add"}, r"background_operation must be subtract or divide, got 'add'"),
    ({"dynamic_operation": "multiply"}, r"dynamic_operation must be subtract or divide, got 'multiply'"),
    ({"dynamic_background": -1.0}, r"dynamic_background \(σ, pixels\) must be >= 0, got -1.0"),
])
def test_an_option_out_of_range_is_one_line_naming_where(given, said):
    with pytest.raises(InputError, match=said) as raised:
        PreprocessOptions(**given).check("run/config.json")
    assert str(raised.value).startswith("run/config.json")


def test_options_are_read_from_an_object_with_the_same_attributes_and_auto_choices_win():
    config = SimpleNamespace(scale="[-1,1]", standardize=False, crop=(40, 40), subtract_background=False,
                             average_neighbours=None, epochs=5, seed=9)
    got = PreprocessOptions.of(config, standardize=True, subtract_background=True, dynamic_background=2.0)
    assert got == PreprocessOptions(scale="[-1,1]", standardize=True, crop=(40, 40), subtract_background=True,
                                    seed=9, dynamic_background=2.0, average_neighbours=0)
    assert PreprocessOptions.of(config, average_neighbours=3).average_neighbours == 3
    assert PreprocessOptions.of(SimpleNamespace()) == PreprocessOptions()  # nothing given: the defaults


def test_a_train_configs_fields_hold_every_option():
    from vaearr.train.config import TrainConfig

    train_fields = {f.name for f in fields(TrainConfig)}
    assert {f.name for f in fields(PreprocessOptions)} <= train_fields
