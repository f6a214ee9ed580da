"""The indexing methods by name (:mod:`vaearr.maps.index_methods`): what each declares, the check of its settings and
the lines it prints, without building one (their indexing: ``tests/maps/indexing/test_index.py``)."""

from __future__ import annotations

import pytest

from vaearr.errors import InputError
from vaearr.maps.index_methods import INDEXERS, DictionaryIndexing, HoughIndexing, IndexMethod, Setup, has_opencl


def test_the_registered_methods_and_what_they_need() -> None:
    assert INDEXERS.names() == ("hough", "dictionary")
    assert INDEXERS["hough"] is HoughIndexing and not HoughIndexing.needs_master_pattern
    assert set(HoughIndexing.extra_maps) == {"bands", "ci"} and HoughIndexing.score_property == "fit"
    assert DictionaryIndexing.needs_master_pattern and DictionaryIndexing.uses_resolution
    assert DictionaryIndexing.extra_maps == {} and DictionaryIndexing.score_property == "scores"
    with pytest.raises(KeyError, match="unknown indexing method 'emsoft'; known: hough, dictionary"):
        INDEXERS["emsoft"]
    assert isinstance(has_opencl(), bool)


def test_a_dictionary_resolution_out_of_range_is_one_line() -> None:
    DictionaryIndexing().check(0.5)
    DictionaryIndexing().check(10)
    for bad in (0.4, 12.0):
        with pytest.raises(InputError, match=rf"^`resolution` must be 0\.5–10 degrees, got {bad:g}$"):
            DictionaryIndexing().check(bad)
    HoughIndexing().check(100.0)  # Hough samples no orientations: any resolution


def test_the_lines_a_dictionary_prints() -> None:
    one = {"dictionary": {"size": 300, "resolution_deg": 3.0, "sizes": {"ni": 300}, "in_memory": True}}
    assert DictionaryIndexing().messages(one) == ["dictionary: 300 orientations at 3°"]
    two = {"dictionary": {"size": 500, "resolution_deg": 2.5, "sizes": {"ni": 300, "fe": 200}, "in_memory": False}}
    assert DictionaryIndexing().messages(two) == [
        "dictionary: 500 orientations at 2.5° (ni 300, fe 200) (too big for memory: simulated while matching)"]
    assert HoughIndexing().messages({}) == []


def test_a_method_says_what_it_lacks() -> None:
    with pytest.raises(NotImplementedError):
        IndexMethod().build(Setup(None, [], None, [], 3.0))
    with pytest.raises(NotImplementedError):
        IndexMethod().index(None, 0)

