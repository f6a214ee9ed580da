"""Every dim and variable name of the store schema, in one place (the names users type).

Readers write these names and the trainer, encoder and analyses look them up here; a name
that appears as a string literal elsewhere is a bug waiting for a rename.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any
from types import MappingProxyType

from vaearr.errors import InputError, did_you_mean

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
ORIENTATION_QUALITY = MappingProxyType({"iq": "iq", "ci": "ci", "fit": "fit", "MAD": "mad", "bands": "bands",
                                        "BC": "bandcontrast", "BS": "bandslope",
                                        # kikuchipy's indexing results saved by orix (NCC / dot product of the best match),
                                        # EMsoft's dictionary-indexing h5ebsd (orix keeps its upper-case names)
                                        "scores": "score", "osm": "osm", "CI": "ci", "IQ": "iq", "OSM": "osm", "ADP": "adp",
                                        # the datasets of vendor HDF5 files: Oxford H5OINA, EDAX h5ebsd, Bruker h5ebsd (via orix)
                                        "Band Contrast": "bandcontrast", "Band Slope": "bandslope", "Bands": "bands",
                                        "Mean Angular Deviation": "mad", "Fit": "fit", "NIndexedBands": "bands",
                                        "RadonQuality": "radonquality", "RadonBandCount": "radonbandcount"})
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
FEATURE_DIMS = MappingProxyType({
    PATTERNS: (PY, PX),
    IMAGES: (ROW, COL, CHANNEL),
    VOLUMES: VOLUME_SPATIAL_DIMS,
})


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


# -- what makes each variable ---------------------------------------------------------------------
#: The command that writes a variable of the schema, by its name: the advice an error gives when a store lacks one
#: ("run '…' first": whole command lines, as a user types them).
MADE_BY: Mapping[str, str] = MappingProxyType({
    PATTERNS: "'vaearr ingest ebsd FILE STORE'",
    BANDCONTRAST: "'vaearr ingest tables STORE --bandcontrast FILE' (or measure the patterns: 'vaearr quality STORE')",
    ELEMENTS: "'vaearr ingest tables STORE --elements FILE'",
    PHASE: "'vaearr ingest tables STORE --phase FILE'",
    COMPOSITE: "'vaearr ingest tables STORE --composite all'",
    COMPOSITE_RGB: "'vaearr ingest tables STORE --composite-rgb Ni,Fe,Cr'",
    IMAGES: "'vaearr ingest images FOLDER STORE' (or 'vaearr ingest idx FILE STORE')",
    VOLUMES: "'vaearr ingest nifti FILE STORE'",
    ROI: "'vaearr roi STORE --otsu'",
    LATENT: "'vaearr encode STORE --run RUN'",
    ORIENTATION: "'vaearr index STORE --phase PHASE --pc X,Y,Z' (or read a vendor's: 'vaearr ingest orientations FILE "
                                  "STORE')",
    PHASE_ID: "'vaearr index STORE --phase PHASE --pc X,Y,Z' (or 'vaearr ingest orientations FILE STORE')",
    "iq": "'vaearr quality STORE'",
    "adp": "'vaearr quality STORE'",
    "segments": "'vaearr segment STORE'",
    "phases": "'vaearr phases STORE'",
    "boundary_strength": "'vaearr boundaries STORE'",
    "grain_boundaries": "'vaearr boundaries STORE'",
    "low_angle_boundaries": "'vaearr boundaries STORE'",
    "recrystallised": "'vaearr spread STORE'",
})
#: ... and by the ending of a name made from another (``{name}_ipf``, ``pca_weights``), the longest ending first.
MADE_BY_ENDING: tuple[tuple[str, str], ...] = (
    ("_grain_boundaries", "'vaearr orientation-maps STORE' (of orientations) or 'vaearr segment STORE' (of features)"),
    ("_kernel_spread", "'vaearr spread STORE'"),
    ("_domain_spread", "'vaearr spread STORE'"),
    ("_recon_error", "'vaearr encode STORE --run RUN'"),
    ("_components", "'vaearr decompose STORE --method pca'"),
    ("_boundaries", "'vaearr segment STORE'"),
    ("_phase_id", "'vaearr index STORE --phase PHASE --pc X,Y,Z'"),
    ("_weights", "'vaearr decompose STORE --method pca' (or 'vaearr ingest tables STORE --pca-weights FILE')"),
    ("_grains", "'vaearr segment STORE' (of orientations: 'vaearr orientation-maps STORE')"),
    ("_logvar", "'vaearr encode STORE --run RUN --logvar'"),
    ("_score", "'vaearr index STORE --phase PHASE --pc X,Y,Z'"),
    ("_bands", "'vaearr index STORE --phase PHASE --pc X,Y,Z'"),
    ("_grod", "'vaearr orientation-maps STORE'"),
    ("_kam", "'vaearr orientation-maps STORE'"),
    ("_ipf", "'vaearr orientation-maps STORE'"),
)


def made_by(name: str) -> str | None:
    """The command line that writes a variable named ``name`` (quoted, as a message gives it), or None for a name
    no command writes by default.

    >>> made_by("latent"), made_by("orientation_kam"), made_by("cluster_kmeans_dim3"), made_by("mine")
    ("'vaearr encode STORE --run RUN'", "'vaearr orientation-maps STORE'", "'vaearr cluster STORE'", None)
    """
    if name in MADE_BY:
        return MADE_BY[name]
    if name.startswith("cluster_"):
        return "'vaearr cluster STORE'"
    return next((cmd for end, cmd in MADE_BY_ENDING if name.endswith(end) and len(name) > len(end)), None)


#: Names a message lists before it says how many more there are (``vaearr info STORE`` lists them all).
LISTED = 12


def no_variable(name: str, names: Any, *, kind: str = "variable", listed: str = "its variables",
                made: str | None = None) -> str:
    """The line for a variable ``name`` that a store (whose variables, or the candidates of ``kind``, are ``names``)
    lacks: ``no mask variable 'rois' in the store; did you mean 'roi'?`` when a name is close to it; else the names
    it has (``listed``: ``its masks: roi, grains``, the first :data:`LISTED`) and the command that writes ``name``
    (``run 'vaearr encode STORE --run RUN' first``; ``made``: the command line that writes this one, where the
    caller knows it better than :func:`made_by`). The one wording of every lookup of a variable a user named.

    Examples
    --------
    >>> no_variable("rois", ["patterns", "roi", "bandcontrast"], kind="mask variable")
    "no mask variable 'rois' in the store; did you mean 'roi'?"
    >>> no_variable("orientation", ["patterns", "roi"], kind="orientation variable", listed="its orientations")
    "no orientation variable 'orientation' in the store; run 'vaearr index STORE --phase PHASE --pc X,Y,Z' (or read a vendor's: 'vaearr ingest orientations FILE STORE') first"
    >>> no_variable("latnt", ["patterns", "roi"], kind="feature variable")
    "no feature variable 'latnt' in the store; did you mean 'latent'? 'vaearr encode STORE --run RUN' writes it"
    >>> no_variable("mine", [f"v{i}" for i in range(14)])
    "no variable 'mine' in the store (its variables: v0, v1, v10, v11, v12, v13, v2, v3, v4, v5, v6, v7 and 2 more: 'vaearr info STORE' lists them)"
    """
    have = sorted({str(n) for n in names})
    line = f"no {kind} '{name}' in the store"
    near = did_you_mean(name, have)
    if near:
        return f"{line}; {near}"
    maker = made or made_by(str(name))
    if maker is not None:  # the store lacks what a command writes: that command is the way on
        return f"{line}; run {maker} first"
    known = difflib.get_close_matches(str(name), list(MADE_BY), n=1)
    if known:  # a misspelt name of what a command writes, which the store lacks too
        return f"{line}; did you mean '{known[0]}'? {MADE_BY[known[0]]} writes it"
    more = len(have) - LISTED
    shown = ", ".join(have[:LISTED]) + (f" and {more} more: 'vaearr info STORE' lists them" if more > 0 else "")
    return f"{line} ({listed}: {shown or 'none'})"
