"""The store's names (:mod:`vaearr.store.schema`): the ``auto`` mask made concrete, sample and feature dims split,
the names derived from another, the command that writes each variable, and the one line of a variable a store lacks."""

from __future__ import annotations

import pytest

from vaearr.errors import InputError
from vaearr.store.schema import (
    LISTED,
    MADE_BY,
    MADE_BY_ENDING,
    auto_mask,
    latent_name,
    made_by,
    mask_said,
    no_variable,
    orientation_map_name,
    phase_id_name,
    split_dims,
)


def test_the_auto_mask_and_what_is_said_of_it() -> None:
    assert auto_mask(("patterns", "roi"), "auto") == "roi" and auto_mask(("patterns",), "auto") is None
    assert auto_mask(("patterns",), None) is None and auto_mask((), "grains") == "grains"
    assert mask_said(("patterns",), "auto").startswith("mask: the store has no 'roi', so every pixel")
    assert mask_said(("roi",), "auto") is None and mask_said((), "grains") is None and mask_said((), None) is None


@pytest.mark.parametrize(("dims", "var", "sample", "feature", "split"), [
    (("y", "x", "py", "px"), "patterns", None, None, (("y", "x"), ("py", "px"))),
    (("sample", "row", "col"), "images", None, None, (("sample",), ("row", "col"))),  # no channel dim: left out
    (("sample", "row", "col", "channel"), "images", None, None, (("sample",), ("row", "col", "channel"))),
    (("subject", "z", "y", "x"), "volumes", None, None, (("subject",), ("z", "y", "x"))),
    (("y", "x", "k"), "mine", ("y", "x"), None, (("y", "x"), ("k",))),
    (("y", "x", "k"), "mine", None, ("k",), (("y", "x"), ("k",))),
    (("a", "b", "c"), "patterns", ("a",), ("c",), (("a",), ("c",))),  # given ones win, even on a schema variable
])
def test_sample_and_feature_dims(dims, var, sample, feature, split) -> None:
    assert split_dims(dims, var, sample, feature) == split


def test_a_variable_outside_the_schema_needs_its_dims() -> None:
    with pytest.raises(InputError, match="'mine' is not a schema variable: give `sample_dims` / `feature_dims`"):
        split_dims(("y", "x", "k"), "mine")


def test_names_derived_from_another() -> None:
    assert orientation_map_name("hough", "grod") == "hough_grod" and latent_name("z", "logvar") == "z_logvar"
    assert phase_id_name("orientation") == "phase_id" and phase_id_name("hough") == "hough_phase_id"


def test_the_command_that_writes_a_variable() -> None:
    assert made_by("roi") == MADE_BY["roi"] and made_by("cluster_any") == "'vaearr cluster STORE'"
    assert made_by("hough_grain_boundaries").startswith("'vaearr orientation-maps STORE'")  # the longest ending first
    assert made_by("segments_grains").startswith("'vaearr segment STORE'")
    assert made_by("_kam") is None and made_by("mine") is None  # an ending alone names nothing
    endings = [e for e, _ in MADE_BY_ENDING]
    for i, e in enumerate(endings):  # every ending that ends another comes after it
        assert not any(other.endswith(e) for other in endings[i + 1:] if other != e)


def test_the_line_of_a_variable_a_store_lacks() -> None:
    assert no_variable("rois", ["roi", "patterns"], kind="mask variable") == (
        "no mask variable 'rois' in the store; did you mean 'roi'?")
    assert no_variable("latent", ["patterns"]) == "no variable 'latent' in the store; run 'vaearr encode STORE --run RUN' first"
    assert no_variable("zz", ["patterns"], made="'vaearr x'") == "no variable 'zz' in the store; run 'vaearr x' first"
    assert no_variable("qqq", []) == "no variable 'qqq' in the store (its variables: none)"
    many = [f"w{i:02d}" for i in range(LISTED + 3)]
    line = no_variable("qqq", many, listed="its maps")
    assert line.endswith(f"(its maps: {', '.join(many[:LISTED])} and 3 more: 'vaearr info STORE' lists them)")
