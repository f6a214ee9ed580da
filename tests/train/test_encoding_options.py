"""vaearr.encoding_options: ``vaearr encode``'s options, declared once: their ranges and the keywords
:func:`vaearr.encoding.encode` takes of them."""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path

import pytest

from vaearr.encoding_options import EncodeOptions
from vaearr.errors import OptionError


def test_the_keywords_are_every_field_but_the_store_the_run_and_the_figures_folder():
    o = EncodeOptions(store="s.zarr", run=Path("run"), name="z", recon_stride=2, export=Path("ex"))
    kw = o.keywords()
    assert set(kw) == {f.name for f in fields(EncodeOptions)} - {"store", "run", "out"}
    assert (kw["name"], kw["recon_stride"], kw["export"], kw["recon_error"]) == ("z", 2, Path("ex"), True)


def test_encode_takes_every_keyword_it_is_given():
    from vaearr.encoding import encode

    params = inspect.signature(encode).parameters
    assert set(EncodeOptions(store="s", run=Path("r")).keywords()) <= set(params)


@pytest.mark.parametrize(("given", "said"), [
    ({"recon_stride": 0}, r"recon_stride must be at least 1, got 0"),
    ({"batch_size": 0}, r"batch_size must be at least 1, got 0"),
    ({"num_workers": -1}, r"num_workers must be at least 0, got -1"),
])
def test_a_value_out_of_range_names_the_field(given, said):
    with pytest.raises(OptionError, match=said):
        EncodeOptions(store="s", run=Path("r"), **given).check()
    EncodeOptions(store="s", run=Path("r"), recon_stride=None, batch_size=None).check()
