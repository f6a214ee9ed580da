"""
# MRI: a 3D VAE on brain volumes

nilearn ships the MNI152 (ICBM 2009a) templates in its package: a T1 brain and its grey- and white-matter
probability maps. This example ingests the three volumes as three subjects of a volume store (resampled to a
common 16 × 20 × 16 grid, the affine kept), trains the MAISI-style 3D KL autoencoder (`vae3d`) for 25
steps, and shows the mid slices of each input beside its reconstruction. See [MRI and NIfTI](../../mri.md) for
the real settings (Colin27 from Debian's `mricron-data`, 96³ crops, hundreds of epochs).
"""

# %%
# ## The commands, run in this process
import atexit
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import nilearn
import numpy as np
import xarray as xr

from vaearr.cli import run

os.environ["VAEARR_PROGRESS"] = "off"

work = Path(tempfile.mkdtemp(prefix="vaearr-mri-"))


def vaearr(line: str) -> None:
    """``vaearr("info x.zarr")`` runs `vaearr info x.zarr` as a shell in the work folder would."""
    with contextlib.chdir(work):
        run(line, echo=True)


atexit.register(shutil.rmtree, work, ignore_errors=True)  # the work folder goes when the build ends
templates = Path(nilearn.__file__).parent / "datasets" / "data"
(work / "brains").mkdir()
for kind in ("t1", "gm", "wm"):  # one folder of NIfTI files: each file a subject
    shutil.copy(templates / f"mni_icbm152_{kind}_tal_nlin_sym_09a_converted.nii.gz", work / "brains" / f"mni_{kind}.nii.gz")

# %%
# ## Ingest
# `--method resample` brings every volume onto the common shape (`crop` centre-crops or pads instead).
vaearr("ingest nifti brains brains.zarr --shape 16x20x16 --method resample")
print(xr.open_zarr(work / "brains.zarr"))

# %%
# ## Train the 3D VAE
vaearr("train brains.zarr --run runs/brains --var volumes --model vae3d --epochs 25 --checkpoint-every 25 --batch-size 3 --lr 5e-3 "
       "--val-fraction 0 -o channels=[8,8] -o norm_num_groups=4 -o latent_channels=2 -o backbone=monai --no-tensorboard --previews 0")

# %%
# ## Reconstructions, written as NIfTI with the input's affine
# `vaearr explore` on a volume store writes each subject's input and reconstruction as `.nii.gz` (they overlay in
# any viewer), their PSNR/SSIM, and mid-slice figures.
vaearr("explore brains.zarr --run runs/brains --out out/explore --parts quality")
volumes = work / "out" / "explore" / "volumes"
print(sorted(p.name for p in volumes.iterdir()))

fig, axes = plt.subplots(2, 3, figsize=(9, 6))
for row, kind in enumerate(("input", "recon")):
    vol = np.asarray(nib.load(volumes / f"mni_t1_{kind}.nii.gz").dataobj)
    for col, (name, cut) in enumerate(zip(("axial", "coronal", "sagittal"),
                                          (vol[:, :, vol.shape[2] // 2], vol[:, vol.shape[1] // 2], vol[vol.shape[0] // 2]))):
        axes[row, col].imshow(np.rot90(cut), cmap="gray")
        axes[row, col].set_title(f"T1 {kind}, {name}")
        axes[row, col].axis("off")
