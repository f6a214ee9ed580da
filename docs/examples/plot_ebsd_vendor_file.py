"""
# An EBSD map: from the vendor file to the report

kikuchipy ships a real 3 × 3 scan of Ni (60 × 60 patterns, NORDIF detector) in the kikuchipy h5ebsd layout,
the same file `kikuchipy.data.nickel_ebsd_small()` opens. This example takes it through the EBSD path of the
[walkthrough](../../ebsd.md): ingest, train, encode, a PCA of the patterns, boundaries, segmentation, Hough
indexing, export to `.ang` (read back by orix) and a CSV of the latents, and the
one-page report. The map is tiny, so the VAE here learns little: the point is the path and what each step writes.
"""

# %%
# ## The commands, run in this process
# `vaearr(...)` runs one command line exactly as the shell would (`vaearr.cli.run`), so every step below is a
# line you can type.
import atexit
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import kikuchipy
import matplotlib.pyplot as plt
import xarray as xr

from vaearr.cli import run

os.environ["VAEARR_PROGRESS"] = "off"  # no progress bars in the page


def show(png: Path, title: str) -> None:
    """Show a PNG that a command wrote."""
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    ax.imshow(plt.imread(png))
    ax.set_title(title)
    ax.axis("off")

work = Path(tempfile.mkdtemp(prefix="vaearr-ebsd-"))


def vaearr(line: str) -> None:
    """``vaearr("info x.zarr")`` runs `vaearr info x.zarr` as a shell in the work folder would."""
    with contextlib.chdir(work):
        run(line, echo=True)


atexit.register(shutil.rmtree, work, ignore_errors=True)  # the work folder goes when the build ends
vendor_file = Path(kikuchipy.__file__).parent / "data" / "kikuchipy_h5ebsd" / "patterns.h5"

# %%
# ## Ingest
# Any format kikuchipy reads goes in the same way (EDAX/Bruker h5ebsd, Oxford H5OINA and `.ebsp`, NORDIF `.dat`,
# EDAX `.up1/.up2`); the patterns are read lazily and written chunk by chunk into a zarr v3 store.
vaearr(f"ingest ebsd {vendor_file} ni.zarr")
ds = xr.open_zarr(work / "ni.zarr")
print(ds)

# %%
# The scan's patterns, as recorded:
fig, axes = plt.subplots(3, 3, figsize=(6, 6))
for (iy, ix), ax in zip([(i, j) for i in range(3) for j in range(3)], axes.flat):
    ax.imshow(ds.patterns[iy, ix], cmap="gray")
    ax.set_title(f"y={float(ds.y[iy]):g}, x={float(ds.x[ix]):g} µm", fontsize=8)
    ax.axis("off")
fig.suptitle("patterns(y, x, py, px)")

# %%
# ## Train and encode
# The EBSD defaults: each pattern averaged with the neighbours that look like it, static background division,
# standardisation, Gaussian likelihood. Three epochs on nine patterns: a demonstration, not a model.
vaearr("train ni.zarr --run runs/ni --epochs 3 --latent-dim 4 --batch-size 9 -o free_bits=0.5 --no-tensorboard")
vaearr("encode ni.zarr --run runs/ni --out fig/maps")
show(work / "fig" / "maps" / "latent_maps.png", "latent(y, x, latent_dim)")

# %%
# ## Map science: PCA, boundaries, segmentation
vaearr("decompose ni.zarr --method pca --components 3")
vaearr("boundaries ni.zarr --var patterns --out fig/boundaries")
vaearr("segment ni.zarr --var latent")
show(work / "fig" / "boundaries" / "boundaries_patterns.png", "boundary strength from the patterns")

# %%
# ## Indexing, and the orientations out to MTEX, OIM and AZtec
# The file's detector (projection centre, tilts) is in the store's attrs; Hough indexing (PyEBSDIndex) against
# kikuchipy's Ni master pattern writes `orientation(y, x, quaternion)`, `phase_id` and the quality maps.
# Hough on nine 60 × 60 patterns is rough: `--method dictionary` finds the scan's two grains (about 30 s here).
pc = ",".join(f"{v:.4f}" for v in ds.patterns.attrs["detector_pc"])
vaearr(f"index ni.zarr --pc {pc} --tilt {ds.patterns.attrs['detector_sample_tilt']:g} --phase ni")
vaearr("export ni.zarr --out out/ni.ang")  # .ctf for AZtec, .h5 for orix; --phase-from/--grain-from for labels
vaearr("export ni.zarr --out out/latents.csv --vars latent,pca_weights")

# %%
# What orix (and so MTEX or OIM) reads back from the `.ang`:
from orix import io as orix_io  # noqa: E402

print(orix_io.load(work / "out" / "ni.ang"))

# %%
# ## The report
# One self-contained HTML page (it opens offline from disk) with the store, the run, every map with shared zoom,
# and the analyses. The store now holds every result beside the patterns, each with its provenance:
vaearr("report ni.zarr --out out/report")
print(sorted(xr.open_zarr(work / "ni.zarr").data_vars))
print("report:", (work / "out" / "report" / "report.html").stat().st_size // 1024, "KiB")
