"""Decomposition methods by name (:data:`DECOMPOSITIONS`): PCA, NMF and constrained NMF, each fitting components and projecting every pixel.

A method is a :class:`Decomposition` subclass registered with ``@DECOMPOSITIONS.register("name")``: its
:meth:`~Decomposition.fit` gets the fit sample and the pixels (a :class:`Fit`) and returns the
components, the projection of every masked pixel and the number of components; class
attributes say whether it needs non-negative intensities and whether it takes reference
pixels. :func:`vaearr.maps.decomposition.decompose.decompose` does the checks, the automatic number of
components and the attrs around it, so a new method is one class here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.decomposition import NMF, PCA
from sklearn.exceptions import ConvergenceWarning

from vaearr.errors import VaearrWarning
from vaearr.maps.decomposition.cnmf import cnmf_fit, nn_weights
from vaearr.maps.decomposition.masked import MaskedPixels, Projection, Sample
from vaearr.maps.decomposition.references import gmm_partition
from vaearr.registry import Registry


@dataclass
class Fit:
    """What a method fits on and projects, made by :func:`~vaearr.maps.decomposition.decompose.decompose`.

    Attributes
    ----------
    px, sample
        Every masked pixel (read chunk by chunk) and the seeded fit sample of them.
    x_fit
        The sample as the method fits it (shifted to be non-negative for a ``nonnegative`` method).
    n
        Components asked for; None when automatic and the method chooses (cNMF's references).
    scree
        The PCA of the automatic choice of ``n``, when one was made.
    attrs
        The attrs being written; a method adds what it chose.
    references
        Reference pixels ``[(row, col), ...]``, ``"auto"`` or None (methods that take references).
    transform
        Applied to each chunk of pixels before projecting (the shift), or None.
    """

    px: MaskedPixels
    sample: Sample
    x_fit: np.ndarray
    n: int | None
    scree: PCA | None
    attrs: dict
    references: Sequence[tuple[int, int]] | str | None
    k_range: tuple[int, int]
    seed: int
    component_dim: str
    var: str
    transform: Callable[[np.ndarray], np.ndarray] | None


class Decomposition:
    """A decomposition method (subclass it and register the subclass)."""

    #: Fit on intensities shifted to be non-negative (NMF-like methods).
    nonnegative: ClassVar[bool] = False
    #: Takes reference pixels (``--references``).
    takes_references: ClassVar[bool] = False
    #: How the intensities are used, for the ``nonnegative`` attr of a method that does not shift them.
    intensities: ClassVar[str] = ""

    def fit(self, f: Fit) -> tuple[np.ndarray, Projection, int]:
        """``(components (n, features), projection of every masked pixel, n)``."""
        raise NotImplementedError

    def finish(self, attrs: dict) -> None:
        """Add attrs that need the whole result (after the reconstruction error)."""

    def headline(self, method: str, a: dict) -> str:
        """The summary's first line."""
        return (f"{method} of '{a['var']}' in mask '{a['in_mask']}' ({a['n_pixels']} pixels): "
                f"{a['n_components']} components")

    def summary_lines(self, a: dict) -> list[str]:
        """Lines the summary adds after the automatic choices."""
        return []


#: Decomposition methods by name.
DECOMPOSITIONS: Registry[type[Decomposition]] = Registry("decomposition method")


def project_nonnegative(px: MaskedPixels, comps: np.ndarray, n: int, cdim: str, transform) -> Projection:
    """Non-negative least-squares weights of every masked pixel on fixed components."""
    h = np.asarray(comps, dtype=np.float64)
    return px.project(lambda x: nn_weights(x, h).astype(np.float32), n, component_dim=cdim,
                      reconstruct=lambda s: s.astype(np.float64) @ h, transform=transform)


@DECOMPOSITIONS.register("pca")
class PCADecomposition(Decomposition):
    """PCA (randomised SVD) of the raw intensities, centred by the sample mean."""

    intensities = "PCA of the raw intensities (centred by the sample mean)"

    def fit(self, f: Fit) -> tuple[np.ndarray, Projection, int]:
        pca = PCA(f.n, svd_solver="randomized", random_state=f.seed).fit(f.sample.x)
        proj = f.px.project(lambda x: pca.transform(x).astype(np.float32), f.n, component_dim=f.component_dim,
                            reconstruct=lambda s: pca.inverse_transform(s).astype(np.float64))
        f.attrs["explained_variance_ratio"] = [float(v) for v in pca.explained_variance_ratio_]
        return pca.components_, proj, f.n


@DECOMPOSITIONS.register("nmf")
class NMFDecomposition(Decomposition):
    """NMF (scikit-learn, NNDSVDa start) of the non-negative intensities."""

    nonnegative = True

    def fit(self, f: Fit) -> tuple[np.ndarray, Projection, int]:
        model = NMF(f.n, init="nndsvda", random_state=f.seed, max_iter=400, tol=1e-4)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(f.x_fit)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            warnings.warn(f"NMF of '{f.var}' stopped at {model.max_iter} iterations before its tolerance; "
                          "the components are kept as they are", VaearrWarning, stacklevel=3)
        comps = model.components_.astype(np.float32)
        return comps, project_nonnegative(f.px, comps, f.n, f.component_dim, f.transform), f.n


@DECOMPOSITIONS.register("cnmf")
class CNMFDecomposition(Decomposition):
    """Constrained NMF: components fixed to the patterns at reference pixels, plus free ones
    (:func:`~vaearr.maps.decomposition.cnmf.cnmf_fit`); references given, or medoids of a Gaussian mixture of
    the PCA scores."""

    nonnegative = True
    takes_references = True

    def fit(self, f: Fit) -> tuple[np.ndarray, Projection, int]:
        attrs, n = f.attrs, f.n
        if f.references in (None, "auto"):
            refs, n = self.auto_references(f)
        else:
            refs = [(int(y), int(x)) for y, x in f.references]
            attrs["references_auto"] = False
            if n is None:
                n = len(refs)
                attrs["components_rule"] = f"one component per reference given ({n}), no free components"
        px = f.px
        shift32 = np.float32(attrs["shift"])
        fixed = np.stack([px.pixel(y, x) + shift32 if attrs["shift"] else px.pixel(y, x) for y, x in refs])
        n_free = n - len(refs)
        _, comps, info = cnmf_fit(f.x_fit, fixed, n_free, seed=f.seed)
        attrs.update(references=[[y, x] for y, x in refs], n_fixed=len(refs), n_free=int(n_free),
                     fit_iterations=int(info["iterations"]),
                     references_coords=[[float(px.coords[px.dims[0]].values[y]) if px.dims[0] in px.coords else y,
                                         float(px.coords[px.dims[1]].values[x]) if px.dims[1] in px.coords else x]
                                        for y, x in refs])
        return comps, project_nonnegative(px, comps, n, f.component_dim, f.transform), n

    @staticmethod
    def auto_references(f: Fit) -> tuple[list[tuple[int, int]], int]:
        """One medoid pixel per cluster of a Gaussian mixture of the fit sample's PCA scores."""
        sample, attrs, n, seed = f.sample, f.attrs, f.n, f.seed
        pca = f.scree if f.scree is not None else PCA(min(max(n, 2), f.x_fit.shape[1], sample.x.shape[0] - 1),
                                                      svd_solver="randomized", random_state=seed).fit(sample.x)
        d = max(2, n)
        scores = pca.transform(sample.x)[:, :min(d, pca.n_components_)]
        k_rng = (n, n) if not attrs["components_auto"] else (f.k_range[0], min(f.k_range[1], sample.x.shape[0] - 1))
        part = gmm_partition(scores, k_rng, seed=seed, standardize=False)
        picks = []
        for c in range(part.k):
            members = np.flatnonzero(part.labels == c)
            if members.size:
                centre = scores[members].mean(0)
                picks.append(members[np.argmin(((scores[members] - centre) ** 2).sum(1))])
        refs = [(int(y), int(x)) for y, x in f.px.positions(sample.index[picks])]
        attrs["references_auto"] = True
        attrs["references_rule"] = (f"Gaussian mixture of the first {scores.shape[1]} PCA scores of the fit sample, "
                                    f"k = {part.k}" + (" by lowest BIC" if attrs["components_auto"] else " (components)")
                                    + "; one medoid per cluster (the pixel nearest the cluster's mean score)")
        if attrs["components_auto"]:
            attrs["components_rule"] = f"one component per BIC-chosen cluster (k = {part.k}); " + attrs.get("components_rule", "")
            attrs["bic_k"] = [int(k) for k in part.scores]
            attrs["bic"] = [float(v) for v in part.scores.values()]
        return refs, len(refs)

    def finish(self, attrs: dict) -> None:
        attrs["component_kind"] = ["fixed"] * attrs["n_fixed"] + ["free"] * attrs["n_free"]

    def headline(self, method: str, a: dict) -> str:
        return (f"{method} of '{a['var']}' in mask '{a['in_mask']}' ({a['n_pixels']} pixels): "
                f"{a['n_components']} components ({a['n_fixed']} fixed, {a['n_free']} free)")

    def summary_lines(self, a: dict) -> list[str]:
        how = f"auto ({a['references_rule']})" if a.get("references_auto") else "given"
        return [f"  references ({how}): " + "; ".join(f"{y},{x}" for y, x in a["references"])]
