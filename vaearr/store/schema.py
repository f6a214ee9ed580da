"""Every dim and variable name of the store schema, in one place (the names users type).

Readers write these names and the trainer, encoder and analyses look them up here; a name
that appears as a string literal elsewhere is a bug waiting for a rename.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vaearr.errors import InputError

# -- dims ---------------------------------------------------------------------------------------
#: Scan grid of a map (coordinates in µm, ascending; ``y`` downward in figures).
Y, X = "y", "x"
#: Rows and columns of one Kikuchi pattern.
PY, PX = "py", "px"
#: One image of an image set, and its pixels.
SAMPLE, ROW, COL, CHANNEL = "sample", "row", "col", "channel"
#: One volume of a volume set, and its voxels (index order z, y, x).
SUBJECT, Z = "subject", "z"
#: Axes of a 4×4 affine and of a voxel size.
AFFINE_ROW, AFFINE_COL, AXIS = "affine_row", "affine_col", "axis"
#: Element of an element map.
ELEMENT = "element"
#: Latent dims written by ``vaearr encode``: a vector latent, or the channels and grid of a
#: spatial latent (``l`` + the spatial dim).
LATENT_DIM, LATENT_CHANNEL = "latent_dim", "latent_channel"
SPATIAL_LATENT_DIMS = ("lz", "ly", "lx")

# -- variables ----------------------------------------------------------------------------------
PATTERNS = "patterns"
BANDCONTRAST = "bandcontrast"
ELEMENTS = "elements"
PHASE = "phase"
IMAGES = "images"
VOLUMES = "volumes"
AFFINE = "affine"
VOXEL_SIZE = "voxel_size"
LABEL = "label"
FILENAME = "filename"
#: Element composite (``ingest tables --composite``/``--composite-rgb``): a weighted sum of the
#: normalised element maps, and an RGB triple whose luminance is ``composite``.
COMPOSITE, COMPOSITE_RGB = "composite", "composite_rgb"
#: Crystal orientations (``ingest orientations``, ``index``): unit quaternions in orix's convention
#: (components a, b, c, d) along dim ``quaternion``, the phase of each pixel (−1: not indexed),
#: and the maps derived from them, ``{name}_ipf(y, x, rgb)`` and ``{name}_{part}(y, x)``.
ORIENTATION, PHASE_ID = "orientation", "phase_id"
QUATERNION, RGB = "quaternion", "rgb"
QUATERNION_COMPONENTS = ("a", "b", "c", "d")
RGB_COMPONENTS = ("r", "g", "b")
ORIENTATION_MAPS = ("ipf", "kam", "grod", "grains", "grain_boundaries")
#: Quality columns of orientation files → store variables (``.ang``: image quality, confidence
#: index, pattern fit; ``.ctf``: mean angular deviation, bands, band contrast, band slope; Bruker:
#: MAD, indexed bands, Radon quality and band count).
ORIENTATION_QUALITY = {"iq": "iq", "ci": "ci", "fit": "fit", "MAD": "mad", "bands": "bands",
                       "BC": "bandcontrast", "BS": "bandslope",
                       # kikuchipy's indexing results saved by orix (NCC / dot product of the best match),
                       # EMsoft's dictionary-indexing h5ebsd (orix keeps its upper-case names)
                       "scores": "score", "osm": "osm", "CI": "ci", "IQ": "iq", "OSM": "osm", "ADP": "adp",
                       # the datasets of vendor HDF5 files: Oxford H5OINA, EDAX h5ebsd, Bruker h5ebsd (via orix)
                       "Band Contrast": "bandcontrast", "Band Slope": "bandslope", "Bands": "bands",
                       "Mean Angular Deviation": "mad", "Fit": "fit", "NIndexedBands": "bands",
                       "RadonQuality": "radonquality", "RadonBandCount": "radonbandcount"}
#: Default name of a region-of-interest mask, and of the latent written by ``vaearr encode``.
ROI = "roi"
LATENT = "latent"
#: Every ``--mask``'s default: ``roi`` when the store has one, else every pixel.
AUTO_MASK = "auto"


def auto_mask(names: Sequence[str] | Any, mask: str | None) -> str | None:
    """``mask`` with ``"auto"`` made concrete against a store's variable ``names``: ``roi`` when
    the store has it, else None (every pixel). Any other name is returned as given.

    >>> auto_mask(["patterns", "roi"], "auto"), auto_mask(["patterns"], "auto"), auto_mask([], "grains")
    ('roi', None, 'grains')
    """
    if mask == AUTO_MASK:
        return ROI if ROI in names else None
    return mask


def mask_said(names: Sequence[str] | Any, mask: str | None) -> str | None:
    """The one line a command prints when ``"auto"`` found no ``roi`` (None otherwise)."""
    if mask == AUTO_MASK and ROI not in names:
        return "mask: the store has no 'roi', so every pixel (vaearr roi makes one; --mask none says so)"
    return None

#: Dims of each schema variable.
PATTERN_DIMS = (Y, X, PY, PX)
MAP_DIMS = (Y, X)
IMAGE_DIMS = (SAMPLE, ROW, COL)
VOLUME_SPATIAL_DIMS = (Z, Y, X)
VOLUME_DIMS = (SUBJECT, *VOLUME_SPATIAL_DIMS)

#: Feature dims (one sample's dims) of the variables a model trains on; the rest are sample dims.
FEATURE_DIMS = {
    PATTERNS: (PY, PX),
    IMAGES: (ROW, COL, CHANNEL),
    VOLUMES: VOLUME_SPATIAL_DIMS,
}


def orientation_map_name(name: str, part: str) -> str:
    """A map derived from orientations ``name``: ``part`` is one of :data:`ORIENTATION_MAPS`.

    Examples
    --------
    >>> orientation_map_name("orientation", "kam")
    'orientation_kam'
    """
    return f"{name}_{part}"


def latent_name(name: str, part: str) -> str:
    """The companion variable of latent ``name``: ``part`` is ``logvar`` or ``recon_error``."""
    return f"{name}_{part}"


def split_dims(dims: Sequence[str], var: str, sample_dims: Sequence[str] | None = None,
               feature_dims: Sequence[str] | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sample and feature dims of variable ``var`` (dims ``dims``): given ones win, else the schema's.

    Examples
    --------
    >>> split_dims(("y", "x", "py", "px"), "patterns")
    (('y', 'x'), ('py', 'px'))
    >>> split_dims(("sample", "a", "b"), "mine", feature_dims=("a", "b"))
    (('sample',), ('a', 'b'))
    """
    dims = tuple(map(str, dims))
    if feature_dims is None and sample_dims is None:
        feats = FEATURE_DIMS.get(var)
        if feats is None:
            raise InputError(None, f"'{var}' is not a schema variable: give `sample_dims` / `feature_dims`")
        feature_dims = tuple(d for d in feats if d in dims)
    if feature_dims is None:
        feature_dims = tuple(d for d in dims if d not in tuple(sample_dims or ()))
    if sample_dims is None:
        sample_dims = tuple(d for d in dims if d not in feature_dims)
    return tuple(sample_dims), tuple(feature_dims)


#: Quality maps ``vaearr index`` writes beside orientations ``name`` (``{name}_score``: NCC of
#: dictionary indexing / refinement, or PyEBSDIndex's pattern fit; ``{name}_bands``: bands matched;
#: ``{name}_ci``: PyEBSDIndex's confidence metric, 0–1).
INDEX_QUALITY = ("score", "bands", "ci")


def phase_id_name(name: str) -> str:
    """The phase-id variable beside orientations ``name``: ``phase_id`` for the default name,
    ``{name}_phase_id`` for others (so ``index --name hough`` keeps a vendor map's phase ids).

    Examples
    --------
    >>> phase_id_name("orientation"), phase_id_name("hough")
    ('phase_id', 'hough_phase_id')
    """
    return PHASE_ID if name == ORIENTATION else f"{name}_{PHASE_ID}"
