"""``vaearr explore``: encode samples with a run and write every exploration figure, table and ``summary.json``.

The analyses are :mod:`vaearr.analysis.latents`, :mod:`~vaearr.analysis.generate`,
:mod:`~vaearr.analysis.embedding` and :mod:`~vaearr.analysis.quality`; this module draws them
(HTML + PNG, see :func:`vaearr.viz.save_figure`) into one folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaearr.analysis import quality as Q
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

#: Parts :func:`explore` can write, in the order it writes them.
PARTS = ("quality", "prior", "interpolation", "stats", "activations", "prototypes", "traversal", "manifold",
         "pairwise", "embeddings", "projector")

# --------------------------------------------------------------------------------------------
# the whole exploration


@dataclass
class ExploreResult:
    """What :func:`explore` wrote."""

    out: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    quality: Q.QualityReport | None = None

    def describe(self) -> str:
        if "files" in self.summary:
            return self._describe_files()
        lines = [f"explored {self.summary.get('n_samples')} samples of {self.summary.get('store')} "
                 f"with {self.summary.get('run')} → {self.out}"]
        if self.quality is not None:
            lines.append(f"  reconstruction: {self.quality.describe()}")
        s = self.summary.get("stats")
        if s:
            lines.append(f"  active units: {s['active_units']}/{s['latent_dim']}, KL {s['kl_total']:.4g} nats")
        lines += [f"  {p}" for p in self.figures]
        return "\n".join(lines)

    def _describe_files(self) -> str:
        lines = [f"reconstructed {len(self.summary['files'])} file(s) with {self.summary['run']} → {self.out}"]
        for row in self.summary["per_file"]:
            parts = [f"MSE {row['mse']:.4g}"]
            if "psnr" in row:
                parts.append(f"PSNR {row['psnr']:.3g} dB, SSIM {row['ssim']:.3g} (float)")
            if "psnr_uint8" in row:
                parts.append(f"PSNR {row['psnr_uint8']:.3g} dB, SSIM {row['ssim_uint8']:.3g} (uint8)")
            lines.append(f"  {row['file']}: {', '.join(parts)}")
        q = self.summary["quality"]
        lines.append(f"  compression: {q['input_bytes']} B per input sample → {q['latent_bytes']} B per latent "
                     f"(float32): {q['compression_ratio_bytes']:.3g}× in bytes, {q['compression_ratio']:.3g}× in values")
        lines += [f"  {p}" for p in self.figures]
        return "\n".join(lines)


def explore(
    store: str | os.PathLike,
    run: str | os.PathLike,
    out: str | os.PathLike,
    *,
    n: int | None = 2000,
    seed: int = 0,
    label: str | None = "auto",
    parts: Sequence[str] = PARTS,
    embeddings: Sequence[str] = ("pca", "tsne", "umap"),
    n_prior: int = 8,
    steps: int = 9,
    traversal_dims: Sequence[int] | None = None,
    traversal_range: tuple[float, float] = (-3.0, 3.0),
    base: str | Sequence[float] | None = None,
    manifold_dims: tuple[int, int] | None = None,
    manifold_size: int = 9,
    manifold_range: tuple[float, float] | None = None,
    metric_range: str = "both",
    sprite: bool = True,
    pairwise_dims: Sequence[int] | None = None,
    line: tuple[Sequence[float], Sequence[float]] | None = None,
    n_line: int = 8,
    threshold: float = 0.5,
    n_grid: int = 8,
    slices: Sequence[int] | None = None,
    perceptual_weights: str | os.PathLike | None = None,
    checkpoint: str = "best",
    device: str = "cpu",
) -> ExploreResult:
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
        Prior samples to draw; interpolation and traversal steps.
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
    out = Path(out)
    check_ranges(traversal_range=traversal_range, manifold_range=manifold_range, steps=steps,
                 manifold_size=manifold_size, n_prior=n_prior)
    if metric_range not in Q.METRIC_RANGES:
        raise InputError(None, f"--metric-range must be one of {', '.join(Q.METRIC_RANGES)}, got {metric_range!r}")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise InputError(None, f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    bad = sorted(set(embeddings) - set(EMBEDDINGS))
    if bad:
        raise InputError(None, f"unknown embedding(s) {', '.join(bad)}; known: {', '.join(EMBEDDINGS)}")
    lr, enc = encode_samples(store, run, n=n, seed=seed, label=label, device=device, checkpoint=checkpoint)
    model = lr.model
    clim = lr.data_range
    if slices is not None:
        if enc.x.ndim != 5:
            raise InputError(None, "--slices is for 3D runs (volumes); this run's samples are 2D")
        slices = Q.check_slices(slices, enc.x.shape[-3:])
    if perceptual_weights is not None:
        weights_file(perceptual_weights)  # a missing file fails before anything is written
    result = ExploreResult(out=out)
    out.mkdir(parents=True, exist_ok=True)
    skipped: dict[str, str] = {}
    summary: dict[str, Any] = {
        "store": str(store), "run": str(lr.path), "checkpoint": str(lr.checkpoint), "n_samples": int(len(enc.index)),
        "seed": seed, "label": enc.label_name, "latent_shape": list(model.latent_shape),
        **({"slices_zyx": list(slices)} if slices is not None else {}),
    }
    mu = enc.mu.reshape(len(enc.mu), -1)
    vector = lr.vector_latent
    rng = np.random.default_rng(seed)

    def save(obj: Any, stem: str) -> None:
        html, _ = save_figure(obj, out / stem)
        result.figures.append(Path(html))

    def table(df: pd.DataFrame, name: str, index: bool = True) -> None:
        df.to_csv(out / name, index=index)
        result.tables.append(out / name)

    if "quality" in parts:
        recon = reconstruct(model, enc.x)
        report = Q.run_quality(lr, enc.x, recon, metric_range=metric_range)
        result.quality = report
        per = report.per_sample.copy()
        per.insert(0, "sample", enc.index)
        table(per, "reconstruction_quality.csv", index=False)
        (out / "reconstruction_quality.json").write_text(json.dumps(report.summary(), indent=2) + "\n")
        result.tables.append(out / "reconstruction_quality.json")
        summary["quality"] = report.summary()
        fig, _ = reconstruction_grid(enc.x, recon, n=n_grid, seed=seed, threshold=threshold, clim=clim,
                                       sample_labels=enc.index, slices=slices)
        save(fig, "reconstruction_grid")
        if len(lr.feature_dims) == 3 and "subject" in lr.sample_dims:
            written = volume_reconstructions(store, lr, out / "volumes", encoded=enc, recon=recon, slices=slices,
                                             perceptual_weights=perceptual_weights)
            summary["volumes"] = [str(p) for p in written]

    if "prior" in parts:
        z, images = prior_samples(model, n_prior, seed=seed)
        grid = image_grid(images[:, None], title="samples from the prior", row_labels=[f"#{i}" for i in range(n_prior)],
                          clim=clim, cell_px=90)
        if vector:
            vec = heatmap(z, rows=[f"#{i}" for i in range(n_prior)], cols=dim_names(z.shape[1]),
                          title="their latent vectors", ylabel="sample")
            save(side_by_side(grid, vec), "prior_samples")
        else:
            save(grid, "prior_samples")

    if "interpolation" in parts and len(enc.index) >= 2:
        a, b = rng.choice(len(enc.index), 2, replace=False)
        rows = []
        for method in ("linear", "slerp"):
            _, images = interpolate(model, enc.mu[a], enc.mu[b], steps=steps, method=method)
            rows.append(images)
        fracs = [f"{t:.2f}" for t in np.linspace(0, 1, steps)]
        save(image_grid(np.stack(rows), title=f"interpolation: sample {enc.index[a]} → sample {enc.index[b]}",
                        row_labels=["linear", "spherical"], col_labels=fracs, xlabel="t", clim=clim),
             "interpolation")
        summary["interpolation"] = {"from": int(enc.index[a]), "to": int(enc.index[b]), "steps": steps}

    stats = None
    if vector:
        stats = latent_stats(enc.mu, enc.logvar)
    if "stats" in parts:
        if stats is None:
            skipped["stats"] = "spatial latent"
        else:
            table(stats, "latent_stats.csv")
            summary["stats"] = {"active_units": stats.attrs["active_units"], "latent_dim": int(len(stats)),
                                "kl_total": stats.attrs["kl_total"]}
            kl = stats["kl"].rename(index=lambda i: f"z{i}")
            save(bar_chart(kl, title=f"KL per latent dim (active units in red: {stats.attrs['active_units']})",
                           xlabel="latent dim", ylabel="KL (nats)", highlight=stats["active"].tolist()),
                 "latent_kl_per_dim")

    if "activations" in parts:
        if not vector:
            skipped["activations"] = "spatial latent"
        else:
            acts = activations(enc.mu, enc.labels, sample=enc.index)
            table(acts, "activations.csv", index=False)
            table(describe(acts), "activations_describe.csv")

    protos = prototypes(enc.mu, enc.labels) if (vector and enc.labels is not None) else None
    if "prototypes" in parts:
        if protos is None:
            skipped["prototypes"] = "no labels" if vector else "spatial latent"
        else:
            table(protos.to_pandas(), "prototypes.csv")
            labels = [str(v) for v in protos["label"].values]
            save(heatmap(protos.values, rows=labels, cols=dim_names(protos.sizes["latent_dim"]),
                         title="class prototypes (mean latent per label)", ylabel=enc.label_name or "label"),
                 "prototypes_heatmap")
            images = decode(model, protos.values)
            save(image_grid(images[None], title="decoded prototypes", col_labels=labels,
                            xlabel=enc.label_name or "label", clim=clim, cell_px=80), "prototypes_decoded")

    base_vec, base_name = (base_vector(base, protos, enc.mu) if vector else (None, ""))
    order = (stats["activity"].sort_values(ascending=False).index.to_numpy() if stats is not None else np.array([]))
    if "traversal" in parts:
        if not vector:
            skipped["traversal"] = "spatial latent"
        else:
            dims = list(traversal_dims) if traversal_dims is not None else sorted(order[:min(10, len(order))].tolist())
            values = np.linspace(*traversal_range, steps)
            grid = traversal(model, base_vec, dims, values)
            save(image_grid(grid, title=f"traversal from the {base_name}", row_labels=[f"z{d}" for d in dims],
                            col_labels=[f"{v:.2g}" for v in values], xlabel="value", ylabel="latent dim", clim=clim),
                 "traversal")
            summary["traversal"] = {"dims": [int(d) for d in dims], "values": values.tolist(), "base": base_name}

    if "manifold" in parts:
        if not vector or enc.mu.shape[1] < 2:
            skipped["manifold"] = "needs a vector latent with 2+ dims"
        else:
            i, j = manifold_dims if manifold_dims is not None else (int(order[0]), int(order[1]))
            values = np.linspace(*(manifold_range or traversal_range), manifold_size)
            grid = manifold(model, base_vec, (i, j), values, values)
            save(image_grid(grid, title=f"2D manifold over z{i} (→) and z{j} (↑) from the {base_name}",
                            row_labels=[f"{v:.2g}" for v in values[::-1]], col_labels=[f"{v:.2g}" for v in values],
                            xlabel=f"z{i}", ylabel=f"z{j}", clim=clim), f"manifold_z{i}_z{j}")
            summary["manifold"] = {"dims": [i, j], "values": values.tolist()}

    if "pairwise" in parts:
        if not vector:
            skipped["pairwise"] = "spatial latent"
        else:
            dims = list(pairwise_dims) if pairwise_dims is not None else sorted(order[:min(4, len(order))].tolist())
            save(pairwise_scatter(enc.mu, enc.labels, dims), "pairwise_scatter")

    if "embeddings" in parts:
        rows = []
        for method in embeddings:
            if len(mu) < 5:
                skipped[method] = "fewer than 5 samples"
                continue
            try:
                emb = embed(mu, method, seed=seed)
            except ImportError as exc:  # an optional package (umap-learn) missing: skip with the reason
                skipped[method] = str(exc)
                continue
            idx, points = sample_embedding(emb, line=line, n=n_line)
            save(embedding_figure(emb, enc.labels, sampled=idx, points=points), method)
            images = decode(model, enc.mu[idx])
            save(image_grid(images[None], title=f"decoded nearest neighbours along the line in {method}",
                            col_labels=[f"{k}: #{enc.index[s]}" for k, s in enumerate(idx)], clim=clim),
                 f"{method}_samples")
            for k, (s, p) in enumerate(zip(idx, points, strict=True)):
                rows.append({"method": method, "point": k, "x": p[0], "y": p[1], "sample": int(enc.index[s]),
                             "label": None if enc.labels is None else enc.labels[s]})
            if method == "pca":
                evr = pd.Series(emb.explained_variance_ratio, index=[f"PC{k + 1}" for k in range(len(emb.explained_variance_ratio))])
                save(bar_chart(evr, title="PCA: explained variance ratio", xlabel="component", ylabel="fraction"),
                     "pca_explained_variance")
                k = min(len(emb.loadings), 10)
                save(heatmap(emb.loadings[:k], rows=[f"PC{c + 1}" for c in range(k)], cols=dim_names(mu.shape[1]),
                             title="PCA loadings", ylabel="component"), "pca_loadings")
                summary["pca"] = {"explained_variance_ratio": emb.explained_variance_ratio.tolist()}
        if rows:
            table(pd.DataFrame(rows), "embedding_samples.csv", index=False)

    if "projector" in parts:
        meta: dict[str, Any] = {"sample": enc.index.tolist()}
        if enc.labels is not None:
            meta["label"] = list(enc.labels)
        names = sample_filenames(store, lr, enc.index)
        if names is not None:
            meta["filename"] = names
        thumbs = thumbnails(enc.x, clim) if sprite and len(lr.feature_dims) == 2 else None
        files = write_projector(out / "projector", mu, meta, images=thumbs)
        result.tables += files
        summary["projector"] = {"folder": "projector", "files": [f.name for f in files], "dims": int(mu.shape[1])}

    summary["skipped"] = skipped
    summary["figures"] = [p.name for p in result.figures]
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    result.summary = summary
    return result


def check_ranges(*, traversal_range: tuple[float, float] = (-3.0, 3.0),
                 manifold_range: tuple[float, float] | None = None, steps: int = 9, manifold_size: int = 9,
                 n_prior: int = 8) -> None:
    """One line for a range that runs backwards or a count below its minimum."""
    for name, r in (("--traversal-range", traversal_range), ("--manifold-range", manifold_range)):
        if r is not None and not (len(r) == 2 and np.all(np.isfinite(r)) and r[0] < r[1]):
            raise InputError(None, f"{name} must be two finite values low:high with low < high, got {r}")
    for name, v, least in (("--steps", steps, 2), ("--grid", manifold_size, 2), ("--num-samples", n_prior, 1)):
        if v < least:
            raise InputError(None, f"{name} must be >= {least}, got {v}")


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
                  checkpoint: str = "best", device: str = "cpu") -> ExploreResult:
    """``vaearr explore --run RUN --image A [--image B]`` / ``--interpolate A B``: image files through a run.

    Writes into ``out``: ``files_reconstruction`` (HTML + PNG: each file, its reconstruction),
    ``files_quality.csv`` (MSE, PSNR, SSIM per file: float and/or 8-bit), with two files and
    ``interpolate_pair`` ``files_interpolation`` (linear and spherical rows, ``steps`` columns),
    and ``summary.json``. Files are read as :mod:`vaearr.analysis.files` says; a file that
    cannot be used stops everything before a file is written.
    """
    if metric_range not in Q.METRIC_RANGES:
        raise InputError(None, f"--metric-range must be one of {', '.join(Q.METRIC_RANGES)}, got {metric_range!r}")
    lr = load_run(run, checkpoint=checkpoint, device=device)
    res = files_through_run(lr, images, interpolate_pair=interpolate_pair, steps=steps, metric_range=metric_range)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = ExploreResult(out=out, quality=res.quality)
    clim = lr.data_range
    fig = image_grid(np.stack([res.x, res.recon], 1), title="image files and their reconstructions",
                     row_labels=res.names, col_labels=["input", "reconstruction"], clim=clim, cell_px=160)
    result.figures.append(Path(save_figure(fig, out / "files_reconstruction")[0]))
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
        result.figures.append(Path(save_figure(grid, out / "files_interpolation")[0]))
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
