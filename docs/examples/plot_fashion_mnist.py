"""
# Fashion-MNIST: a VAE's latent space, explored

Debian's `dataset-fashion-mnist` package ships Fashion-MNIST as IDX files (28 × 28 clothing images in ten classes).
This example ingests the test set, trains a small conv-VAE for two epochs on a seeded subset of 2000 images, and looks at what it
learned with `vaearr explore`: reconstructions, class prototypes, a traversal of the most active latent dims and a
PCA of the latents. See [Images and Fashion-MNIST](../../images.md) for the full settings. Where the Debian package
is missing, the example writes scikit-learn's 8 × 8 digits (shipped with scikit-learn) as IDX files and runs on those.
"""

# %%
# ## The commands, run in this process
import atexit
import contextlib
import gzip
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from vaearr.cli import run

os.environ["VAEARR_PROGRESS"] = "off"


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file (the MNIST format): magic, dims, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))

work = Path(tempfile.mkdtemp(prefix="vaearr-fashion-"))


def vaearr(line: str) -> None:
    """``vaearr("info x.zarr")`` runs `vaearr info x.zarr` as a shell in the work folder would."""
    with contextlib.chdir(work):
        run(line, echo=True)


atexit.register(shutil.rmtree, work, ignore_errors=True)  # the work folder goes when the build ends
FASHION = Path("/usr/share/datasets/fashion-mnist")
if (FASHION / "t10k-images-idx3-ubyte.gz").exists():
    images, labels = FASHION / "t10k-images-idx3-ubyte.gz", FASHION / "t10k-labels-idx1-ubyte.gz"
else:  # no Debian package here: the digits shipped with scikit-learn, written in the same format
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = work / "digits-images-idx3-ubyte.gz", work / "digits-labels-idx1-ubyte.gz"
    write_idx(images, digits.images * 255 / 16)
    write_idx(labels, digits.target)

# %%
# ## Ingest and train
# `--subset` trains on a seeded share of the store; `-o decoder=transpose` is the fast decoder.
vaearr(f"ingest idx {images} fm.zarr --labels {labels}")
print(xr.open_zarr(work / "fm.zarr"))
vaearr("train fm.zarr --run runs/fm --var images --latent-dim 8 --epochs 2 --subset 2000 --batch-size 64 "
       "--lr 3e-3 -o channels=[16,32] -o decoder=transpose --no-tensorboard --previews 0")

# %%
# ## Explore the latent space
# Each part writes an offline HTML figure and a PNG; `--serve` would serve one slider per latent dim instead.
vaearr("explore fm.zarr --run runs/fm --out out/explore --n 500 "
       "--parts quality,prototypes,traversal,embeddings --embeddings pca")
out = work / "out" / "explore"
print(sorted(p.name for p in out.glob("*.png")))

# %%
# The figures `explore` wrote, as PNG (each has an interactive HTML twin beside it):
for png, title in [("reconstruction_grid", "inputs and reconstructions"),
                   ("prototypes_decoded", "class prototypes (the mean latent of each class), decoded"),
                   ("traversal", "traversal of the most active latent dims"),
                   ("pca", "PCA of the latents, coloured by class")]:
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    ax.imshow(plt.imread(out / f"{png}.png"))
    ax.set_title(title)
    ax.axis("off")
