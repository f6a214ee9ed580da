"""Prefect flows index-map, phases, pattern-quality and orientation-maps: indexing one or several phases, phases found in the data, the
quality maps a ROI is made from; their parameters are the fields of the options dataclasses, as the commands'."""

from __future__ import annotations

from typing import Any

from flows.params import keyword, options_flow
from vaearr.maps.indexing.indexing import index_store
from vaearr.maps.options import IndexOptions, OrientationMapsOptions, PhasesOptions, QualityOptions
from vaearr.maps.indexing.orientations import orientation_maps_store
from vaearr.maps.roi.pattern_quality import quality_store
from vaearr.maps.phases.phases import phases_store
from vaearr.options import build, writable_folders
from vaearr.viz.orientations import orientation_figures
from vaearr.viz.phases import phase_figure


def _index_map(**params: Any) -> dict:
    """``vaearr index``: orientations, phase ids (several --phase in one call) and the maps derived from them."""
    options = build(IndexOptions, {**params, "progress": False})
    result = index_store(options.store, options)
    print(result.summary())
    return {"n_patterns": result.n_patterns, "n_indexed": result.attrs["n_indexed"],
            "phases": [p["name"] for p in result.attrs["phases"]], "seconds": result.seconds}


def _phases(**params: Any) -> dict:
    """``vaearr phases``: a segmentation's regions grouped into phases from their mean patterns."""
    out, figures = params.pop("out"), params.pop("figure_options")
    options = build(PhasesOptions, {**params, "progress": False})
    options.check()
    writable_folders(out=out)  # before the store is written
    result = phases_store(options.store, options)
    print(result.summary())
    files = phase_figure(options.store, out, name=options.name, figures=figures) if out else {}
    return {"n_phases": result.variable.attrs["n_phases"], "phase_list": result.variable.attrs["phase_list"],
            "files": {k: str(v) for k, v in files.items()}}


def _pattern_quality(**params: Any) -> dict:
    """``vaearr quality``: image quality and the average neighbour dot product from the patterns."""
    options = build(QualityOptions, {**params, "progress": False})
    result = quality_store(options.store, options)
    print(result.summary())
    return {"variables": list(result.variables)}


def _orientation_maps(**params: Any) -> dict:
    """``vaearr orientation-maps``: the IPF, KAM, GROD, grain and grain-boundary maps of a store's orientations (replacing
    those there), with ``out`` their figures."""
    figures = params.pop("figure_options")
    options = build(OrientationMapsOptions, params)
    options.check()
    writable_folders(out=options.out)  # before the store is written
    maps = orientation_maps_store(options)
    print(maps.summary())
    files = orientation_figures(options.store, options.out, name=options.var, figures=figures) if options.out else {}
    return {"variables": sorted(maps.variables), "n_grains": maps.n_grains,
            "files": {k: str(v) for k, v in files.items()}}


index_map = options_flow("index-map", IndexOptions, _index_map)
phases = options_flow("phases", PhasesOptions, _phases, figures=True, extra=[keyword("out", str | None, None)])
pattern_quality = options_flow("pattern-quality", QualityOptions, _pattern_quality)
orientation_maps = options_flow("orientation-maps", OrientationMapsOptions, _orientation_maps, figures=True)

FLOWS = (index_map, phases, pattern_quality, orientation_maps)
