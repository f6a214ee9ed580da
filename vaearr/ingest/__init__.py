"""Deprecated: the readers moved to :mod:`vaearr.io` (this alias goes in vaearr 0.3)."""

from vaearr.deprecated import alias_package

alias_package(__name__, "vaearr.io", ("ebsd", "grid", "idx", "images", "nifti", "tables"))
