"""Deprecated: latent-space exploration was split (this module goes in vaearr 0.3).

The analyses moved to :mod:`vaearr.analysis.latents` (encoding samples, per-dim statistics,
prototypes), :mod:`vaearr.analysis.generate` (decoding, interpolation, traversals, manifolds)
and :mod:`vaearr.analysis.embedding`; the figures to :mod:`vaearr.viz.grids`, the slider app
to :mod:`vaearr.viz.explorer` and :func:`explore` (the whole ``vaearr explore``) to
:mod:`vaearr.viz.explore`. Every old name is here, from its new home.
"""

import warnings

from vaearr.analysis.embedding import (  # noqa: F401
    EMBEDDINGS,
    Embedding,
    embed,
    line_points,
    nearest,
    sample_embedding,
)
from vaearr.analysis.generate import (  # noqa: F401
    decode,
    interpolate,
    linear_interpolation,
    manifold,
    prior_samples,
    reconstruct,
    slerp,
    traversal,
)
from vaearr.analysis.latents import (  # noqa: F401
    Encoded,
    LoadedRun,
    activations,
    describe,
    dim_names,
    encode_samples,
    latent_stats,
    load_run,
    prototypes,
)
from vaearr.deprecated import REMOVED_IN
from vaearr.viz.explore import PARTS, ExploreResult, explore  # noqa: F401
from vaearr.viz.explorer import Explorer, explorer_for_run  # noqa: F401
from vaearr.viz.grids import (  # noqa: F401
    bar_chart,
    displayable,
    embedding_figure,
    heatmap,
    image_grid,
    pairwise_scatter,
    scatter_by_label,
    side_by_side,
    tile,
)

warnings.warn(f"vaearr.analysis.explore was split into vaearr.analysis.latents/generate/embedding and "
              f"vaearr.viz.grids/explorer/explore; the old module goes in vaearr {REMOVED_IN}", DeprecationWarning,
              stacklevel=2)
