"""The main job, end to end on shipped data: simulate an EBSD map, ingest, ROI, train, encode, maps."""

from __future__ import annotations

import html
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from vaearr.options import DEFAULT_FIGURES, FigureOptions
from vaearr.analysis.clustering import joint_cluster
from vaearr.analysis.ranking import aggregated_rank, rank_latents
from vaearr.data import build_demo_map
from vaearr.encoding import encode
from vaearr.io.ebsd import ingest_ebsd
from vaearr.maps.boundaries.boundaries import find_boundaries
from vaearr.maps.boundaries.grain_size import describe_grain_size
from vaearr.maps.decomposition.decompose import write_decomposition
from vaearr.maps.roi.roi import create_roi
from vaearr.maps.segmentation.segment import segment_store
from vaearr.maps.deformation.spread import spread_store
from vaearr.store import open_store
from vaearr.train import TrainConfig, fit
from vaearr.viz import image_map, map_grid, save_figure
from vaearr.viz.boundaries import boundary_files
from vaearr.viz.clustering import cluster_figure_files
from vaearr.viz.maps import latent_maps
from vaearr.viz.ranking import rank_figures
from vaearr.viz.report import build_report
from vaearr.viz.roi import roi_figures
from vaearr.viz.segment import segment_files
from vaearr.viz.spread import spread_files


@dataclass
class DemoResult:
    """What the demo wrote."""

    store: Path
    figures: list[Path] = field(default_factory=list)
    index: Path | None = None
    report: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


def _write_index(out: Path, pages: list[Path], title: str, report: Path | None = None, *, figures: FigureOptions = DEFAULT_FIGURES) -> Path:
    main = (f'<p><b><a href="{html.escape(report.relative_to(out).as_posix())}">the report</a></b>: everything '
            "below on one page</p>") if report is not None else ""
    def statics(p: Path) -> str:  # the static files --format asked for, beside the HTML
        return ", ".join(f'<a href="{html.escape(p.with_suffix("." + f).relative_to(out).as_posix())}">{f}</a>'
                         for f in figures.formats if p.with_suffix("." + f).exists())

    items = "\n".join(
        f'<li><a href="{html.escape(p.relative_to(out).as_posix())}">{html.escape(p.stem)}</a> ({statics(p)})</li>'
        for p in pages
    )
    index = out / "index.html"
    index.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{main}<ul>{items}</ul></body></html>\n"
    )
    return index


def _overview_figures(store: Path, figures_dir: Path, *, figures: FigureOptions = DEFAULT_FIGURES) -> list[Path]:
    """Band contrast inside the ROI, the element maps and the mean pattern intensity (HTML paths)."""
    ds = open_store(store)
    bc_in_roi = ds.bandcontrast.where(ds.roi).rename("bandcontrast in ROI")
    made = []
    for name, obj in {
        "map_bandcontrast_roi": image_map(bc_in_roi, title="band contrast inside the ROI (grey: outside)"),
        "map_elements": map_grid(ds.elements.where(ds.roi), "element", cols=3),
        "map_mean_intensity": image_map(
            ds.patterns.astype("float32").mean(("py", "px")).rename("mean intensity"),
            title="mean pattern intensity",
        ),
    }.items():
        html_path, _ = save_figure(obj, figures_dir / name, figures=figures)
        made.append(html_path)
    return made


def _boundaries(store: Path, source: str, prefix: str, figures_dir: Path, step, *, figures: FigureOptions = DEFAULT_FIGURES) -> Path:
    """Grain and low-angle boundaries from ``source`` (variables ``{prefix}...``) over every pixel (boundaries
    are where band contrast is low: the ROI would leave them out), their figure, the step's line."""
    found = find_boundaries(store, var=source, prefix=prefix)
    files = boundary_files(found, figures_dir, name=f"{prefix}boundaries",
                           title=f"boundaries from {source}: grain (red), low-angle (cyan)", figures=figures)
    a = found.attrs
    rule = (f"Otsu threshold {a['gb_threshold']:.3g}" if np.isfinite(a["gb_threshold"])
            else "the segmentation's grain level")
    degrees = (f"; classed by the misorientation across them read from the patterns: grain over "
               f"{a['grain_angle']:g}°, low-angle over {a['low_angle']:g}°" if "grain_angle" in a else "")
    step(f"boundaries from {source}: {a['grain_boundary_pixels']} grain-boundary and "
         f"{a['low_angle_boundary_pixels']} low-angle pixels (lines: {rule}, regions inside {a['grain_interiors']} "
         f"grains{degrees}), grain size {describe_grain_size(a)} (mean linear intercept)")
    return files["map_html"]


def _segment(store: Path, grains_npy: Path, figures_dir: Path, step, *, figures: FigureOptions = DEFAULT_FIGURES) -> tuple[Path, float]:
    """``vaearr segment`` of the latents: regions and grains, their figure, and the grains' ARI against the truth."""
    seg = segment_store(store, var="latent", name="segments")
    files = segment_files(seg, figures_dir, figures=figures)
    s = seg.segmentation
    inside = s.grains >= 0
    ari = float(adjusted_rand_score(np.load(grains_npy)[inside], s.grains[inside]))
    codes = s.boundaries
    o = seg.options
    pc = "/".join(f"{v:.4g}" for v in s.info.get("angle_pc", []))
    degrees = (f" (misorientations read from the patterns: grain boundaries over {o.grain_angle:g}°, low-angle ones "
               f"over {o.low_angle:g}°; projection centre {pc} (Bruker) from {s.info.get('angle_pc_source')})"
               if s.angles is not None else "")
    step(f"segmented the latents: {s.n_regions} regions in {s.n_grains} grains, {int((codes == 1).sum())} "
         f"low-angle boundary pixels{degrees}; grains against the true ones: ARI {ari:.3f}")
    return files["map_html"], ari


def _map_science(result: DemoResult, src, figures_dir: Path, seed: int, step, *, figures: FigureOptions = DEFAULT_FIGURES) -> list[Path]:
    """cNMF of the patterns, boundaries from the patterns and the latents, the latents' segmentation and spreads."""
    made = []
    dec = write_decomposition(result.store, method="cnmf", components="auto", references="auto", seed=seed)
    made.append(save_figure(map_grid(dec.weights, dec.weights.dims[-1], cols=4, title="cNMF weights"),
                            figures_dir / "map_cnmf_weights", figures=figures)[0])
    step(f"cNMF of the patterns: {dec.attrs['n_fixed']} components fixed to reference patterns "
         f"(auto: {dec.attrs['references_rule'].split(';')[0]}), relative error "
         f"{dec.attrs['reconstruction_error']:.3f} → cnmf_weights(y, x, cnmf_component)")
    for source, prefix in (("patterns", ""), ("latent", "latent_")):
        made.append(_boundaries(result.store, source, prefix, figures_dir, step, figures=figures))
    seg_html, result.scores["segment_grain_ari"] = _segment(result.store, src.grains, figures_dir, step, figures=figures)
    made.append(seg_html)
    spread = spread_store(result.store, var="latent", regions="segments")
    made.append(spread_files(spread, figures_dir, figures=figures)["map_html"])
    d = spread.decided
    info = d.info
    if spread.degrees is not None:
        step(f"deformation from the patterns in degrees (each pixel registered on its grain's reference): KAM median "
             f"{np.nanmedian(d.kernel):.3f}°, GOS {np.nanmin(d.region_domain):.3f}–{np.nanmax(d.region_domain):.3f}°, "
             f"{info['recrystallised_regions']} of {info['regions_measured']} grains at their noise floor "
             f"(recrystallised); beside them the latents' kernel and domain spreads")
    else:
        step(f"spreads of the latents over the segmentation's grains (KAM and GOS analogues): "
             f"{info['recrystallised_regions']} of {info['regions_measured']} grains at the noise floor")
    (result.store.parent / "grain_recovery.json").write_text(json.dumps(result.scores, indent=2))
    return made


def run_demo(
    out: str | Path = "out/demo",
    *,
    data_dir: str | Path | None = None,
    shape: tuple[int, int] = (40, 60),
    seed: int = 0,
    epochs: int = 10,
    latent_dim: int = 16,
    console: Console | None = None,
    figures: FigureOptions = DEFAULT_FIGURES,
) -> DemoResult:
    """Build the demo map, ingest it with its CSVs, threshold band contrast (Otsu), save maps.

    Parameters
    ----------
    out
        Folder for the store (``ni_demo.zarr``), ROI exports and figures; the store is rebuilt.
    data_dir
        Where the simulated source files go (default ``out/data``).
    shape, seed
        Scan size and random seed of the simulated map (the seed also seeds training).
    epochs, latent_dim
        Training of the conv-vae (the EBSD defaults otherwise).
    figures
        The figures' static formats and dpi (``--format``, ``--dpi``).

    Returns
    -------
    DemoResult
    """
    console = console or Console(stderr=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures_dir = out / "figures"
    result = DemoResult(store=out / "ni_demo.zarr")
    t0 = time.perf_counter()

    def step(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        result.seconds[name] = round(now - t0, 2)
        console.print(f"[green]✓[/] {name} ({now - t0:.1f} s)")
        t0 = now

    console.print(f"[bold]vaearr demo[/] → {out}")
    src = build_demo_map(Path(data_dir) if data_dir else out / "data", shape=shape, seed=seed, progress=True)
    step(f"simulated a {shape[0]}×{shape[1]} Ni map from kikuchipy's master pattern")

    for own in (result.store, out / "run", out / "rank", out / "cluster"):  # start clean so it can be re-run
        if own.exists():
            shutil.rmtree(own)
    ingest_ebsd(
        src.patterns, result.store, dataset="patterns",
        bandcontrast=src.bandcontrast, elements=src.elements, phase=src.phase, progress=True,
    )
    step("ingested patterns, band contrast, elements and phase")

    roi = create_roi(result.store, otsu=True, export=out / "roi")
    roi.files.update(roi_figures(open_store(result.store), roi.mask, roi.info, figures_dir, figures=figures))
    step("ROI from Otsu's threshold on band contrast")

    made: list[Path] = list(getattr(roi, "figures", []) or [])
    made += _overview_figures(result.store, figures_dir, figures=figures)
    step("band contrast, element and intensity maps")

    # the README's EBSD defaults: similarity-weighted 3 × 3 averaging, static background division,
    # standardisation, the detector's resolution (BENCHMARKS.md, "Preprocessing by what it keeps")
    fit_result = fit(TrainConfig(store=str(result.store), run=str(out / "run"), epochs=epochs, latent_dim=latent_dim,
                                 seed=seed))
    last = fit_result.history[-1]
    units = fit_result.active_units
    active = f", {units.active} of {units.dims} latent dims active" if units is not None else ""
    step(f"trained conv-vae ({epochs} epochs, latent {latent_dim}): val loss "
         f"{last.get('val_loss', float('nan')):.1f} nats per pattern{active}")

    enc = encode(result.store, out / "run", export=out / "latents")
    made += latent_maps(open_store(result.store), "latent", figures_dir, figures=figures)
    step(f"encoded {enc.n_encoded} ROI patterns → latent(y, x, latent_dim), NaN outside the ROI")

    result.scores = grain_recovery(result.store, src.grains, seed=seed)
    (out / "grain_recovery.json").write_text(json.dumps(result.scores, indent=2))
    step(
        f"Gaussian mixture vs true grains: ARI {result.scores['latent_ari']:.3f} on latents, "
        f"{result.scores['pca_ari']:.3f} on PCA of the patterns"
    )

    made += _map_science(result, src, figures_dir, seed, step, figures=figures)
    ranked = rank_latents(result.store, var="latent", against=["elements", "bandcontrast", "pca", "nmf"],
                          out=out / "rank", top=5, n_components=8, seed=seed)
    made += rank_figures(result.store, ranked, out / "rank", top=5, figures=figures)
    agg = aggregated_rank(ranked.association).sel(reference="bandcontrast")
    best_bc = int(ranked.association["latent_dim"].values[int(agg.values.argmin())])
    step(f"ranked {ranked.association.sizes['latent_dim']} latent dims against elements, band contrast, PCA, NMF "
         f"(7 metrics; best for band contrast: dim {best_bc})")

    clustered = joint_cluster(result.store, var="latent", dim=best_bc, with_var="bandcontrast", method="gmm",
                              mask="roi", out=out / "cluster", tag="demo", seed=seed)
    cluster_figure_files(clustered, figures=figures)
    made += [p for p in clustered.files.values() if str(p).endswith(".html")]
    step(f"clustered (latent dim {best_bc}, band contrast) in the ROI: {clustered.counts.get('clusters')} clusters (GMM, k by BIC)")

    report = build_report(result.store, out, run=out / "run", title="vaearr demo: simulated Ni EBSD map",
                          echo=lambda line: None)
    result.report = report.path
    step(f"report: {len(report.sections)} sections ({', '.join(report.sections)}), {report.size_mb:.1f} MB")

    result.figures = [Path(p) for p in made if str(p).endswith(".html")]
    result.index = _write_index(out, result.figures, "vaearr demo: simulated Ni EBSD map", result.report, figures=figures)
    console.print(f"store: {result.store}\nfigures: {result.index}\n[bold]report: {result.report}[/]")
    return result


def grain_recovery(store: str | Path, grains_npy: str | Path, *, name: str = "latent", seed: int = 0) -> dict:
    """How well a Gaussian mixture recovers the simulated grains, on latents and on PCA.

    Inside the ROI, a mixture with as many components as there are true grains is fitted to the
    latents (``name``) and, for reference, to the same number of principal components of the
    raw patterns; both partitions are scored against the true grain ids with the adjusted Rand
    index (1 = identical partitions, 0 = chance).
    """
    ds = open_store(store)
    roi = ds.roi.values
    truth = np.load(grains_npy)[roi]
    k = int(np.unique(truth).size)
    z = ds[name].values[roi]
    n_comp = z.shape[1]
    patterns = ds.patterns.values[roi].reshape(int(roi.sum()), -1).astype(np.float32)
    pcs = PCA(n_comp, random_state=seed).fit_transform(patterns)

    def ari(features):
        # one BLAS thread: a mixture's matrices are tiny, and on a busy machine more threads only wait on each
        # other (a 20-component fit took 108 s on 2 threads at load 6, 0.5 s on one)
        with threadpool_limits(1):
            labels = GaussianMixture(k, n_init=5, random_state=seed).fit_predict(features)
        return float(adjusted_rand_score(truth, labels))

    return {"latent_ari": ari(z), "pca_ari": ari(pcs), "n_grains": k, "n_pixels": int(roi.sum()),
            "components": int(n_comp)}
