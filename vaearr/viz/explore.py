"""``vaearr explore``: encode samples with a run and write every exploration figure, table and ``summary.json``.

The analyses are :mod:`vaearr.analysis.latents`, :mod:`~vaearr.analysis.generate`,
:mod:`~vaearr.analysis.embedding` and :mod:`~vaearr.analysis.quality`; this module draws them
(HTML + PNG, see :func:`vaearr.viz.save_figure`) into one folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from types import MappingProxyType

import numpy as np
import pandas as pd

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.analysis import quality as Q
from vaearr.analysis.options import PARTS, ExploreOptions
from vaearr.analysis.embedding import EMBEDDINGS, embed, sample_embedding
from vaearr.analysis.files import explore_files as files_through_run
from vaearr.analysis.generate import (
    decode,
    interpolate,
    manifold,
    prior_samples,
    reconstruct,
    traversal,
)
from vaearr.analysis.latents import (
    activations,
    base_vector,
    describe,
    dim_names,
    encode_samples,
    latent_stats,
    load_run,
    prototypes,
)
from vaearr.analysis.perceptual import weights_file
from vaearr.errors import InputError
from vaearr.options import check_values
from vaearr.store import open_store
from vaearr.viz.core import save_figure
from vaearr.viz.grids import (
    bar_chart,
    embedding_figure,
    heatmap,
    image_grid,
    pairwise_scatter,
    side_by_side,
)
from vaearr.viz.projector import write_projector
from vaearr.viz.quality import reconstruction_grid, volume_reconstructions
# moved to vaearr.viz.explore_result; importable from here too
from vaearr.viz.explore_result import (  # noqa: F401
    ExploreResult,
)


# --------------------------------------------------------------------------------------------
# the whole exploration


def explore(store: str | os.PathLike, run: str | os.PathLike, out: str | os.PathLike,
            options: ExploreOptions | None = None, /, *, figures: FigureOptions = DEFAULT_FIGURES,
            **fields: Any) -> ExploreResult:
    """Encode samples of a store with a run and write the exploration figures and tables into ``out``.

    Files (HTML + PNG for figures; names say what each is):

    * ``quality``: ``reconstruction_quality.csv`` (MSE, PSNR, SSIM per sample),
      ``reconstruction_quality.json`` (means, compression ratio), ``reconstruction_grid``
      (input | reconstruction | both binarised at ``threshold``); for volumes also
      ``volumes/`` (NIfTI with the input's affine, mid-slice views);
    * ``prior``: ``prior_samples`` (decoded draws beside their vectors);
    * ``interpolation``: ``interpolation`` (linear and spherical, between two samples);
    * ``stats``: ``latent_stats.csv``, ``latent_kl_per_dim`` (active units in red);
    * ``activations``: ``activations.csv``, ``activations_describe.csv``;
    * ``prototypes``: ``prototypes.csv``, ``prototypes_heatmap``, ``prototypes_decoded``;
    * ``traversal``: ``traversal`` (rows: dims; columns: values);
    * ``manifold``: ``manifold_z{i}_z{j}`` (the two most active dims by default; y upward);
    * ``pairwise``: ``pairwise_scatter`` (KDE diagonals);
    * ``embeddings``: per method ``{method}`` (embedding with the sampled line) and
      ``{method}_samples`` (decoded nearest neighbours); PCA also ``pca_explained_variance``
      and ``pca_loadings``; ``embedding_samples.csv``;
    * ``projector``: ``projector/`` for TensorBoard's Embedding Projector (the posterior means,
      one metadata row per sample: index, label, file name; a sprite of the inputs with
      ``sprite``; see :mod:`vaearr.viz.projector`).

    Parts that need labels (prototypes) or a vector latent (stats, prototypes, traversal,
    manifold, pairwise) are skipped otherwise, and listed under ``skipped`` in ``summary.json``.

    Parameters
    ----------
    store, run, out
        Store, run folder, output folder.
    figures
        The figures' static formats and dpi (``--format``, ``--dpi``).
    options, **fields
        An :class:`~vaearr.analysis.options.ExploreOptions`, or its fields (``store``, ``run``,
        ``out`` aside):

    n, seed
        Number of samples to encode (None: all) and the seed that picks them (and the prior
        draws, the interpolation pair and the grid's samples).
    label
        Label variable/coordinate (see :func:`encode_samples`).
    parts
        Which of :data:`PARTS` to write.
    embeddings
        Which of :data:`EMBEDDINGS` to compute.
    base
        Traversal and manifold base: ``"mean"`` (default), a label (its prototype), or values.
    line
        Two points (start, end) in each embedding's coordinates; default through its bulk.
    threshold
        Binarisation threshold of the reconstruction grid, in data units.
    n_prior, steps
        Prior samples to draw; interpolation and traversal steps (default 9).
    traversal_range, manifold_range, manifold_size
        Values each traversed dim takes (``steps`` of them); the manifold's range on both axes
        (default ``traversal_range``) and its grid side.
    metric_range
        PSNR/SSIM on the network's floats, on 8-bit images, or both
        (:func:`~vaearr.analysis.quality.reconstruction_quality`).
    slices
        Volumes: ``(z, y, x)`` slice indices the reconstruction grid (axial ``z``) and the
        ``volumes/`` views show, instead of the middle slices; checked before anything is written.
    """
    if options is not None and fields:
        raise TypeError("give an ExploreOptions or its fields, not both")
    o = options if options is not None else ExploreOptions(store=os.fspath(store), run=str(run), out=Path(out), **fields)
    o.check()
    bad = sorted(set(o.embeddings) - set(EMBEDDINGS))
    if bad:
        raise InputError(None, f"unknown embedding(s) {', '.join(bad)}; known: {', '.join(EMBEDDINGS)}")
    ex = _Exploration(store, run, Path(out), o, figures)
    for part in PARTS:
        if part in o.parts:
            STEPS[part](ex)
    return ex.finish()


class _Exploration:
    """One ``explore``: the encoded samples, what is written, and one method per part (:data:`STEPS`)."""

    def __init__(self, store: Any, run: Any, out: Path, o: ExploreOptions, figures: FigureOptions):
        self.store, self.out, self.o, self.figures = store, out, o, figures
        self.steps = 9 if o.steps is None else o.steps
        lr, enc = encode_samples(store, run, n=o.n, seed=o.seed, label=o.label, device=o.device,
                                 checkpoint=o.checkpoint)
        self.lr, self.enc, self.model, self.clim = lr, enc, lr.model, lr.data_range
        self.slices = o.slices
        if self.slices is not None:
            if enc.x.ndim != 5:
                raise InputError(None, "`slices` is for 3D runs (volumes); this run's samples are 2D")
            self.slices = Q.check_slices(self.slices, enc.x.shape[-3:])
        if o.perceptual_weights is not None:
            weights_file(o.perceptual_weights)  # a missing file fails before anything is written
        self.result = ExploreResult(out=out)
        out.mkdir(parents=True, exist_ok=True)
        self.skipped: dict[str, str] = {}
        self.summary: dict[str, Any] = {
            "store": str(store), "run": str(lr.path), "checkpoint": str(lr.checkpoint),
            "n_samples": int(len(enc.index)), "seed": o.seed, "label": enc.label_name,
            "latent_shape": list(self.model.latent_shape),
            **({"slices_zyx": list(self.slices)} if self.slices is not None else {}),
        }
        self.mu = enc.mu.reshape(len(enc.mu), -1)
        self.vector = lr.vector_latent
        self.rng = np.random.default_rng(o.seed)
        # what several parts share: per-dim statistics (the most active dims), prototypes, the base vector
        self.stats = latent_stats(enc.mu, enc.logvar) if self.vector else None
        self.protos = prototypes(enc.mu, enc.labels) if (self.vector and enc.labels is not None) else None
        self.base_vec, self.base_name = (base_vector(o.base, self.protos, enc.mu) if self.vector else (None, ""))
        self.order = (self.stats["activity"].sort_values(ascending=False).index.to_numpy() if self.stats is not None
                      else np.array([]))

    def save(self, obj: Any, stem: str) -> None:
        html, _ = save_figure(obj, self.out / stem, figures=self.figures)
        self.result.figures.append(Path(html))

    def table(self, df: pd.DataFrame, name: str, index: bool = True) -> None:
        df.to_csv(self.out / name, index=index)
        self.result.tables.append(self.out / name)

    def quality(self) -> None:
        enc, lr, o = self.enc, self.lr, self.o
        recon = reconstruct(self.model, enc.x)
        report = Q.run_quality(lr, enc.x, recon, metric_range=o.metric_range)
        self.result.quality = report
        per = report.per_sample.copy()
        per.insert(0, "sample", enc.index)
        self.table(per, "reconstruction_quality.csv", index=False)
        (self.out / "reconstruction_quality.json").write_text(json.dumps(report.summary(), indent=2) + "\n")
        self.result.tables.append(self.out / "reconstruction_quality.json")
        self.summary["quality"] = report.summary()
        fig, _ = reconstruction_grid(enc.x, recon, n=o.n_grid, seed=o.seed, threshold=o.threshold, clim=self.clim,
                                     sample_labels=enc.index, slices=self.slices)
        self.save(fig, "reconstruction_grid")
        if len(lr.feature_dims) == 3 and "subject" in lr.sample_dims:
            written = volume_reconstructions(self.store, lr, self.out / "volumes", encoded=enc, recon=recon,
                                             slices=self.slices, perceptual_weights=o.perceptual_weights, figures=self.figures)
            self.summary["volumes"] = [str(p) for p in written]

    def prior(self) -> None:
        n_prior = self.o.n_prior
        z, images = prior_samples(self.model, n_prior, seed=self.o.seed)
        grid = image_grid(images[:, None], title="samples from the prior", row_labels=[f"#{i}" for i in range(n_prior)],
                          clim=self.clim, cell_px=90)
        if self.vector:
            vec = heatmap(z, rows=[f"#{i}" for i in range(n_prior)], cols=dim_names(z.shape[1]),
                          title="their latent vectors", ylabel="sample")
            self.save(side_by_side(grid, vec), "prior_samples")
        else:
            self.save(grid, "prior_samples")

    def interpolation(self) -> None:
        enc, steps = self.enc, self.steps
        if len(enc.index) < 2:
            return
        a, b = self.rng.choice(len(enc.index), 2, replace=False)
        rows = []
        for method in ("linear", "slerp"):
            _, images = interpolate(self.model, enc.mu[a], enc.mu[b], steps=steps, method=method)
            rows.append(images)
        fracs = [f"{t:.2f}" for t in np.linspace(0, 1, steps)]
        self.save(image_grid(np.stack(rows), title=f"interpolation: sample {enc.index[a]} → sample {enc.index[b]}",
                             row_labels=["linear", "spherical"], col_labels=fracs, xlabel="t", clim=self.clim),
                  "interpolation")
        self.summary["interpolation"] = {"from": int(enc.index[a]), "to": int(enc.index[b]), "steps": steps}

    def stats_part(self) -> None:
        stats = self.stats
        if stats is None:
            self.skipped["stats"] = "spatial latent"
            return
        self.table(stats, "latent_stats.csv")
        self.summary["stats"] = {"active_units": stats.attrs["active_units"], "latent_dim": int(len(stats)),
                                 "kl_total": stats.attrs["kl_total"]}
        kl = stats["kl"].rename(index=lambda i: f"z{i}")
        self.save(bar_chart(kl, title=f"KL per latent dim (active units in red: {stats.attrs['active_units']})",
                            xlabel="latent dim", ylabel="KL (nats)", highlight=stats["active"].tolist()),
                  "latent_kl_per_dim")

    def activations(self) -> None:
        if not self.vector:
            self.skipped["activations"] = "spatial latent"
            return
        acts = activations(self.enc.mu, self.enc.labels, sample=self.enc.index)
        self.table(acts, "activations.csv", index=False)
        self.table(describe(acts), "activations_describe.csv")

    def prototypes(self) -> None:
        protos, enc = self.protos, self.enc
        if protos is None:
            self.skipped["prototypes"] = "no labels" if self.vector else "spatial latent"
            return
        self.table(protos.to_pandas(), "prototypes.csv")
        labels = [str(v) for v in protos["label"].values]
        self.save(heatmap(protos.values, rows=labels, cols=dim_names(protos.sizes["latent_dim"]),
                          title="class prototypes (mean latent per label)", ylabel=enc.label_name or "label"),
                  "prototypes_heatmap")
        images = decode(self.model, protos.values)
        self.save(image_grid(images[None], title="decoded prototypes", col_labels=labels,
                             xlabel=enc.label_name or "label", clim=self.clim, cell_px=80), "prototypes_decoded")

    def traversal(self) -> None:
        if not self.vector:
            self.skipped["traversal"] = "spatial latent"
            return
        o, order = self.o, self.order
        dims = list(o.traversal_dims) if o.traversal_dims is not None else sorted(order[:min(10, len(order))].tolist())
        values = np.linspace(*o.traversal_range, self.steps)
        grid = traversal(self.model, self.base_vec, dims, values)
        self.save(image_grid(grid, title=f"traversal from the {self.base_name}", row_labels=[f"z{d}" for d in dims],
                             col_labels=[f"{v:.2g}" for v in values], xlabel="value", ylabel="latent dim",
                             clim=self.clim), "traversal")
        self.summary["traversal"] = {"dims": [int(d) for d in dims], "values": values.tolist(), "base": self.base_name}

    def manifold(self) -> None:
        if not self.vector or self.enc.mu.shape[1] < 2:
            self.skipped["manifold"] = "needs a vector latent with 2+ dims"
            return
        o = self.o
        i, j = o.manifold_dims if o.manifold_dims is not None else (int(self.order[0]), int(self.order[1]))
        values = np.linspace(*(o.manifold_range or o.traversal_range), o.manifold_size)
        grid = manifold(self.model, self.base_vec, (i, j), values, values)
        self.save(image_grid(grid, title=f"2D manifold over z{i} (→) and z{j} (↑) from the {self.base_name}",
                             row_labels=[f"{v:.2g}" for v in values[::-1]], col_labels=[f"{v:.2g}" for v in values],
                             xlabel=f"z{i}", ylabel=f"z{j}", clim=self.clim), f"manifold_z{i}_z{j}")
        self.summary["manifold"] = {"dims": [i, j], "values": values.tolist()}

    def pairwise(self) -> None:
        if not self.vector:
            self.skipped["pairwise"] = "spatial latent"
            return
        order, dims = self.order, self.o.pairwise_dims
        dims = list(dims) if dims is not None else sorted(order[:min(4, len(order))].tolist())
        self.save(pairwise_scatter(self.enc.mu, self.enc.labels, dims), "pairwise_scatter")

    def embeddings(self) -> None:
        rows: list[dict] = []
        for method in self.o.embeddings:
            if len(self.mu) < 5:
                self.skipped[method] = "fewer than 5 samples"
                continue
            try:
                emb = embed(self.mu, method, seed=self.o.seed)
            except ImportError as exc:  # an optional package (umap-learn) missing: skip with the reason
                self.skipped[method] = str(exc)
                continue
            rows += self.embedding(method, emb)
        if rows:
            self.table(pd.DataFrame(rows), "embedding_samples.csv", index=False)

    def embedding(self, method: str, emb: Any) -> list[dict]:
        """One embedding's figures (and, for one with principal axes, their variance and loadings); its sampled rows."""
        enc = self.enc
        idx, points = sample_embedding(emb, line=self.o.line, n=self.o.n_line)
        self.save(embedding_figure(emb, enc.labels, sampled=idx, points=points), method)
        images = decode(self.model, enc.mu[idx])
        self.save(image_grid(images[None], title=f"decoded nearest neighbours along the line in {method}",
                             col_labels=[f"{k}: #{enc.index[s]}" for k, s in enumerate(idx)], clim=self.clim),
                  f"{method}_samples")
        rows = [{"method": method, "point": k, "x": p[0], "y": p[1], "sample": int(enc.index[s]),
                 "label": None if enc.labels is None else enc.labels[s]}
                for k, (s, p) in enumerate(zip(idx, points, strict=True))]
        if emb.explained_variance_ratio is not None:  # principal axes (PCA): their variance and loadings
            evr = emb.explained_variance_ratio
            self.save(bar_chart(pd.Series(evr, index=[f"PC{k + 1}" for k in range(len(evr))]),
                                title="PCA: explained variance ratio", xlabel="component", ylabel="fraction"),
                      f"{method}_explained_variance")
            k = min(len(emb.loadings), 10)
            self.save(heatmap(emb.loadings[:k], rows=[f"PC{c + 1}" for c in range(k)], cols=dim_names(self.mu.shape[1]),
                              title="PCA loadings", ylabel="component"), f"{method}_loadings")
            self.summary[method] = {"explained_variance_ratio": evr.tolist()}
        return rows

    def projector(self) -> None:
        enc, lr = self.enc, self.lr
        meta: dict[str, Any] = {"sample": enc.index.tolist()}
        if enc.labels is not None:
            meta["label"] = list(enc.labels)
        names = sample_filenames(self.store, lr, enc.index)
        if names is not None:
            meta["filename"] = names
        thumbs = thumbnails(enc.x, self.clim) if self.o.sprite and len(lr.feature_dims) == 2 else None
        files = write_projector(self.out / "projector", self.mu, meta, images=thumbs)
        self.result.tables += files
        self.summary["projector"] = {"folder": "projector", "files": [f.name for f in files],
                                     "dims": int(self.mu.shape[1])}

    def finish(self) -> ExploreResult:
        """``summary.json`` (with what was skipped and why) and the result."""
        self.summary["skipped"] = self.skipped
        self.summary["figures"] = [p.name for p in self.result.figures]
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=2, default=_json_default) + "\n")
        self.result.summary = self.summary
        return self.result


#: What each part of :data:`~vaearr.analysis.options.PARTS` runs, in that order.
STEPS: Mapping[str, Callable[[_Exploration], None]] = MappingProxyType({
    "quality": _Exploration.quality, "prior": _Exploration.prior, "interpolation": _Exploration.interpolation,
    "stats": _Exploration.stats_part, "activations": _Exploration.activations, "prototypes": _Exploration.prototypes,
    "traversal": _Exploration.traversal, "manifold": _Exploration.manifold, "pairwise": _Exploration.pairwise,
    "embeddings": _Exploration.embeddings, "projector": _Exploration.projector,
})


def thumbnails(x: np.ndarray, clim: tuple[float, float] | None) -> np.ndarray:
    """2D network inputs (N, C, H, W) as 8-bit thumbnails (N, H, W[, 3]) for a sprite."""
    u8 = Q.to_uint8(x, clim).astype(np.uint8)
    return u8[:, 0] if u8.shape[1] == 1 else np.moveaxis(u8[:, :3], 1, -1)


def sample_filenames(store: Any, lr: Any, index: np.ndarray) -> list[str] | None:
    """The ``filename`` coordinate of the samples at flat ``index`` (image stores), or None."""
    da = open_store(store)[lr.run.data.var]
    if "filename" not in da.coords or da.coords["filename"].dims != tuple(lr.sample_dims[:1]) \
            or len(lr.sample_dims) != 1:
        return None
    return [str(v) for v in da.coords["filename"].values[np.asarray(index)]]


# --------------------------------------------------------------------------------------------
# image files


def explore_files(run: Any, images: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                  interpolate_pair: bool = True, steps: int = 10, metric_range: str = "both",
                  checkpoint: str = "best", device: str = "cpu", figures: FigureOptions = DEFAULT_FIGURES) -> ExploreResult:
    """``vaearr explore --run RUN --image A [--image B]`` / ``--interpolate A B``: image files through a run.

    Writes into ``out``: ``files_reconstruction`` (HTML + PNG: each file, its reconstruction),
    ``files_quality.csv`` (MSE, PSNR, SSIM per file: float and/or 8-bit), with two files and
    ``interpolate_pair`` ``files_interpolation`` (linear and spherical rows, ``steps`` columns),
    and ``summary.json``. Files are read as :mod:`vaearr.analysis.files` says; a file that
    cannot be used stops everything before a file is written.
    """
    check_values(metric_range=(metric_range, {"choices": Q.METRIC_RANGES}))
    lr = load_run(run, checkpoint=checkpoint, device=device)
    res = files_through_run(lr, images, interpolate_pair=interpolate_pair, steps=steps, metric_range=metric_range)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = ExploreResult(out=out, quality=res.quality)
    clim = lr.data_range
    fig = image_grid(np.stack([res.x, res.recon], 1), title="image files and their reconstructions",
                     row_labels=res.names, col_labels=["input", "reconstruction"], clim=clim, cell_px=160)
    result.figures.append(Path(save_figure(fig, out / "files_reconstruction", figures=figures)[0]))
    res.quality.per_sample.to_csv(out / "files_quality.csv", index=False)
    result.tables.append(out / "files_quality.csv")
    summary: dict[str, Any] = {"run": str(lr.path), "checkpoint": str(lr.checkpoint), "files": [str(p) for p in images],
                               "n_samples": len(res.names), "quality": res.quality.summary(),
                               "per_file": res.quality.per_sample.to_dict(orient="records")}
    if res.interpolation is not None:
        fracs = [f"{t:.2f}" for t in np.linspace(0, 1, res.steps)]
        grid = image_grid(np.stack([res.interpolation["linear"], res.interpolation["slerp"]]),
                          title=f"interpolation: {res.names[0]} → {res.names[1]}", row_labels=["linear", "spherical"],
                          col_labels=fracs, xlabel="t", clim=clim)
        result.figures.append(Path(save_figure(grid, out / "files_interpolation", figures=figures)[0]))
        summary["interpolation"] = {"from": str(images[0]), "to": str(images[1]), "steps": res.steps}
    summary["figures"] = [p.name for p in result.figures]
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    result.summary = summary
    return result


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
