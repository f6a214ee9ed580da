"""Latents for TensorBoard's Embedding Projector: ``tensors.tsv``, ``metadata.tsv``, ``projector_config.pbtxt``, a sprite.

Written by hand (tab-separated text and the config's protobuf text format), so nothing beyond
numpy and PIL is needed to write them; to look: ``tensorboard --logdir OUT/projector``, then the
*Projector* tab (or load the two TSV files at https://projector.tensorflow.org).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

#: The projector's limit on a sprite's side, in pixels.
SPRITE_MAX = 8192


def _cell(value: Any) -> str:
    # a tab or newline inside a cell would shift the columns
    return " ".join(str(value).split()) or "-"


def sprite(images: np.ndarray, *, max_side: int = SPRITE_MAX) -> tuple[np.ndarray, tuple[int, int]]:
    """A square sheet of thumbnails, row by row, as the projector reads it: ``(H, W[, 3])`` uint8 and
    one thumbnail's ``(height, width)`` (shrunk, by whole-pixel striding, until the sheet fits ``max_side``).

    ``images`` are ``(N, H, W)`` or ``(N, H, W, 3)`` uint8.
    """
    images = np.asarray(images)
    n = len(images)
    side = max(1, math.ceil(math.sqrt(n)))
    step = max(1, math.ceil(side * max(images.shape[1:3]) / max_side))
    thumbs = images[:, ::step, ::step]
    h, w = thumbs.shape[1:3]
    sheet = np.zeros((side * h, side * w, *thumbs.shape[3:]), np.uint8)
    for i, t in enumerate(thumbs):
        r, c = divmod(i, side)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = t
    return sheet, (h, w)


def write_projector(out: str | os.PathLike, vectors: np.ndarray, metadata: dict[str, Sequence[Any]], *,
                    images: np.ndarray | None = None, tensor_name: str = "latent") -> list[Path]:
    """Write ``vectors`` (N, D) with one metadata row each into folder ``out`` for the projector.

    Parameters
    ----------
    metadata
        Column name → N values (``sample``, ``label``, ``filename``...). One column is written
        without a header line, as the projector expects; several with one.
    images
        (N, H, W) or (N, H, W, 3) uint8 thumbnails for a ``sprite.png``; None: no sprite.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    vectors = np.asarray(vectors, np.float64).reshape(len(vectors), -1)
    n = len(vectors)
    bad = {k: len(v) for k, v in metadata.items() if len(v) != n}
    if bad:
        raise ValueError(f"metadata columns {bad} do not have one value per vector ({n})")
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "tensors.tsv", out / "metadata.tsv", out / "projector_config.pbtxt"]
    np.savetxt(files[0], vectors, delimiter="\t", fmt="%.7g")
    cols = list(metadata)
    lines = ["\t".join(cols)] if len(cols) > 1 else []
    lines += ["\t".join(_cell(metadata[c][i]) for c in cols) for i in range(n)]
    files[1].write_text("\n".join(lines) + "\n")
    config = [f'embeddings {{\n  tensor_name: "{tensor_name}"\n  tensor_path: "tensors.tsv"\n'
              f'  metadata_path: "metadata.tsv"\n']
    if images is not None and len(images):
        sheet, (h, w) = sprite(images)
        Image.fromarray(sheet).save(out / "sprite.png")
        files.append(out / "sprite.png")
        config.append(f'  sprite {{\n    image_path: "sprite.png"\n    single_image_dim: {w}\n'
                      f'    single_image_dim: {h}\n  }}\n')
    config.append("}\n")
    files[2].write_text("".join(config))
    return files
