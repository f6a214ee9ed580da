"""Decoder layer analysis: where in the decoder two inputs' activations part ways (L2 and 1 − cosine per layer).

Every leaf module the model's ``decode`` runs (linear, conv, norm, activation, upsample...) gets
a forward hook; two inputs are encoded to their posterior means and decoded, and each layer's
outputs are compared by the L2 distance ``‖a − b‖₂`` and the cosine dissimilarity
``1 − a·b / (‖a‖ ‖b‖)`` of the flattened activations (float64). Identical activations give
exactly 0 for both; a layer whose outputs are all zero for both inputs has dissimilarity 0, for
one input only 1. A module called more than once in one decode is listed once per call
(``name#2``...).

Inputs are image files (PNG/JPG/TIFF..., through Pillow) or ``.npy`` arrays, prepared as the
network expects them: converted to its channels (gray or RGB), resized to its input size
(bilinear), and scaled to the run's range — 8-bit images by their dtype range, other arrays
each by its own min..max.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from vaearr.errors import InputError
from vaearr.preprocess import Preprocess

#: File suffixes folder mode looks at.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".npy")


# --------------------------------------------------------------------------------------------
# hooks


def _leaves(model: Any) -> list[tuple[str, Any]]:
    """Leaf modules, without pass-throughs (``Identity``, empty ``Sequential``: a copy of the layer before)."""
    return [(name, m) for name, m in model.named_modules()
            if name and not list(m.children()) and not isinstance(m, torch.nn.Identity | torch.nn.Sequential)]


def layer_outputs(model: Any, x: Any, *, z: Any = None,
                  on_output: Callable[[str, Any], None] | None = None) -> tuple[dict[str, Any], Any]:
    """Every decoder layer's output for a batch ``x`` (decoded from its posterior mean), in call order.

    Parameters
    ----------
    model
        A vaearr model (``encode``/``decode``).
    x
        (B, *input_shape) tensor or array; ignored when ``z`` is given.
    z
        Latents to decode instead of encoding ``x``.
    on_output
        Called with ``(layer name, output)`` as each layer runs, instead of keeping the outputs
        (the returned dict then holds only the names, mapped to None): bounded memory for large
        networks (an SD decoder at 512² has gigabytes of activations).

    Returns
    -------
    tuple
        ``{layer name: output tensor (detached, CPU)}`` in the order ``decode`` ran them, and the
        reconstruction.
    """

    outputs: dict[str, Any] = {}
    handles = []

    def hook(name: str):
        def record(_module: Any, _inputs: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor):  # some blocks return tuples; their leaves are hooked
                return
            key, k = name, 1
            while key in outputs:  # the same module run again in one decode
                k += 1
                key = f"{name}#{k}"
            if on_output is None:
                outputs[key] = output.detach().float().cpu()
            else:
                outputs[key] = None
                on_output(key, output.detach())

        return record

    param = next(model.parameters())
    with torch.no_grad():
        if z is None:
            xt = torch.as_tensor(np.asarray(x, np.float32)) if not isinstance(x, torch.Tensor) else x
            z, _ = model.encode(xt.to(param.device, param.dtype))
        else:
            z = torch.as_tensor(np.asarray(z, np.float32)).to(param.device, param.dtype)
        try:
            # hooks only around decode, so encoder layers never record
            handles = [m.register_forward_hook(hook(name)) for name, m in _leaves(model)]
            recon = model.decode(z)
        finally:
            for h in handles:
                h.remove()
    return outputs, recon.float().cpu()


def decoder_layers(model: Any) -> list[str]:
    """Names of the layers ``decode`` runs, in call order (found by decoding one zero latent)."""
    outputs, _ = layer_outputs(model, None, z=np.zeros((1, *model.latent_shape), np.float32))
    return list(outputs)


def distances(a: Any, b: Any) -> tuple[float, float]:
    """L2 distance and cosine dissimilarity (1 − cosine) of two activations (flattened, float64).

    Examples
    --------
    >>> distances(np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    (0.0, 0.0)
    >>> l2, cos = distances(np.array([1.0, 0.0]), np.array([0.0, 2.0]))
    >>> round(l2, 4), cos
    (2.2361, 1.0)
    """
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"activations differ in size: {a.size} vs {b.size}")
    if np.array_equal(a, b):
        return 0.0, 0.0  # exact: rounding in the cosine must not make identical inputs differ
    l2 = float(np.linalg.norm(a - b))
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return l2, 0.0
    if na == 0 or nb == 0:
        return l2, 1.0
    cos = float(np.clip(a @ b / (na * nb), -1.0, 1.0))
    return l2, 1.0 - cos


@dataclass
class LayerComparison:
    """Per-layer differences between two inputs' decoder activations.

    Attributes
    ----------
    layers
        Layer names in decode order.
    l2, cosine
        (n_layers,) L2 distance and cosine dissimilarity per layer.
    shapes
        Output shape of each layer (without the batch dim).
    x1, x2, recon1, recon2
        The two inputs and their reconstructions, (1, *input_shape) arrays.
    names
        The inputs' names (file names).
    """

    layers: list[str]
    l2: np.ndarray
    cosine: np.ndarray
    shapes: list[tuple[int, ...]]
    x1: np.ndarray
    x2: np.ndarray
    recon1: np.ndarray
    recon2: np.ndarray
    names: tuple[str, str] = ("input 1", "input 2")

    def top(self, k: int = 5, by: str = "cosine") -> list[str]:
        """The ``k`` layers that differ most by ``"cosine"`` or ``"l2"`` (largest first)."""
        values = self.cosine if by == "cosine" else self.l2
        order = np.argsort(-values, kind="stable")
        return [self.layers[i] for i in order[:k]]

    def to_dict(self, top: int = 5) -> dict[str, Any]:
        """What ``layer_differences.json`` holds."""
        return {
            "inputs": list(self.names),
            "layers": [{"layer": n, "shape": list(s), "l2": float(a), "cosine_dissimilarity": float(c)}
                       for n, s, a, c in zip(self.layers, self.shapes, self.l2, self.cosine, strict=True)],
            "top_layers": {"cosine_dissimilarity": self.top(top, "cosine"), "l2": self.top(top, "l2")},
        }


def compare_layers(model: Any, x1: Any, x2: Any, *, names: tuple[str, str] = ("input 1", "input 2")) -> LayerComparison:
    """Compare every decoder layer's output for two single inputs (1, *input_shape) each."""
    x1 = np.asarray(x1, np.float32)
    x2 = np.asarray(x2, np.float32)
    if x1.shape != x2.shape or x1.shape[0] != 1:
        raise ValueError(f"compare_layers takes two (1, *input_shape) inputs, got {x1.shape} and {x2.shape}")
    out1, r1 = layer_outputs(model, x1)
    found: dict[str, tuple[float, float]] = {}

    def compare(name: str, output: Any) -> None:  # the second input's layers, compared as they run
        if name in out1:
            found[name] = distances(out1[name].numpy(), output.float().cpu().numpy())
            out1[name] = out1[name][:0]  # keep the name and dims, free the values
            shapes[name] = tuple(output.shape[1:])

    shapes: dict[str, tuple[int, ...]] = {}
    _, r2 = layer_outputs(model, x2, on_output=compare)
    layers = [n for n in out1 if n in found]
    pairs = [found[n] for n in layers]
    return LayerComparison(
        layers=layers, l2=np.array([p[0] for p in pairs]), cosine=np.array([p[1] for p in pairs]),
        shapes=[shapes[n] for n in layers], x1=x1, x2=x2, recon1=r1.numpy(), recon2=r2.numpy(),
        names=names,
    )


# --------------------------------------------------------------------------------------------
# inputs from files


def _image_file(path: Path, c: int, h: int, w: int, dtype: np.dtype) -> np.ndarray:
    """An image file as a stored sample: the run's channels (gray or RGB) and size, its dtype's range."""
    try:
        with Image.open(path) as im:
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            arr = np.asarray(im, np.float64)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(path, f"not a readable image ({exc})") from None
    return _to_dtype((arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)) / 255.0, dtype)


def _to_dtype(unit: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Values in [0, 1] onto an integer dtype's range (rounded), or kept as floats."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.rint(unit * (info.max - info.min) + info.min).astype(dtype)
    return unit.astype(dtype)


def _array_file(path: Path, c: int, h: int, w: int, dtype: np.dtype) -> np.ndarray:
    """A ``.npy`` array as a stored sample: as it is when it already is one (shape and values), else
    resized (bilinear), with the run's channels, and its min..max stretched over the dtype's range."""
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy raises several types for bad files
        raise InputError(path, f"not a readable .npy array ({exc})") from None
    if arr.ndim == 3 and arr.shape[-1] in (1, 3) and arr.shape[0] not in (1, 3):
        arr = np.moveaxis(arr, -1, 0)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(path, f"expected a 2D image array (H, W) or (C, H, W), got shape {arr.shape}")
    if arr.shape == (c, h, w) and np.array_equal(arr, arr.astype(dtype)):
        return arr.astype(dtype)  # a sample as stored (e.g. exported from the store)
    arr = np.asarray(arr, np.float64)
    if arr.shape[0] != c:
        arr = np.repeat(arr.mean(0, keepdims=True), c, 0) if c in (1, 3) else arr[:c]
    t = F.interpolate(torch.from_numpy(arr[None]).float(), size=(h, w), mode="bilinear", align_corners=False)
    arr = t[0].numpy().astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    return _to_dtype((arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr), dtype)


def load_scaled(path: str | os.PathLike, shape: tuple[int, int, int], lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """An image file or ``.npy`` array as (1, C, H, W) float32 in [lo, hi], for a network with no run (a pretrained VAE).

    Images: the network's channels (gray or RGB), resized to (H, W) with PIL's bilinear filter
    (as torchvision's ``Resize`` on PIL images), ``lo + (hi - lo) * pixel / 255`` — for SD,
    ``ToTensor`` + ``Normalize(0.5, 0.5)``. ``.npy`` arrays: 8-bit arrays as images, others
    stretched min..max (:func:`_array_file`).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    read = _array_file if path.suffix.lower() == ".npy" else _image_file
    sample = read(path, *shape, np.dtype(np.uint8)).astype(np.float32)
    return (lo + (hi - lo) * sample / 255.0)[None].astype(np.float32)


def load_input(path: str | os.PathLike, preprocess: Preprocess) -> np.ndarray:
    """An image file or ``.npy`` array as the model input of a run: (1, C, H, W) float32.

    The file becomes a sample as the run's store holds them (its channels, size and dtype; see
    :func:`_image_file`, :func:`_array_file`), then goes through the run's own preprocessing
    (:class:`~vaearr.preprocess.Preprocess`: background, crop, resize, scaling or
    standardisation), so the decoder sees the kind of input it was trained on.

    Raises
    ------
    InputError
        Unreadable file, wrong number of dims, or a 3D network.
    """
    path = Path(path)
    shape = preprocess.sample_shape
    if len(shape) != 3:
        raise InputError(path, f"layer analysis from files needs a 2D model (C, H, W); this one takes {tuple(shape)}")
    if not path.is_file():
        raise InputError(path, "no such file")
    read = _array_file if path.suffix.lower() == ".npy" else _image_file
    sample = read(path, *shape, preprocess.source_dtype)
    return preprocess(torch.from_numpy(np.ascontiguousarray(sample[None]))).numpy()


@dataclass
class FolderComparison:
    """What :func:`compare_folder` found and wrote.

    Attributes
    ----------
    pairs
        File name → its :class:`LayerComparison` (positive vs negative).
    unmatched
        ``{"positive": [...], "negative": [...]}``: names with no partner in the other folder.
    layers
        Layer names; ``mean_l2``, ``std_l2``, ``mean_cosine``, ``std_cosine`` per layer over pairs.
    """

    pairs: dict[str, LayerComparison]
    unmatched: dict[str, list[str]]
    layers: list[str]
    mean_l2: np.ndarray
    std_l2: np.ndarray
    mean_cosine: np.ndarray
    std_cosine: np.ndarray
    files: list[Path] = field(default_factory=list)

    def to_dict(self, top: int = 5) -> dict[str, Any]:
        """What ``aggregated_results.json`` holds."""
        order_cos = np.argsort(-self.mean_cosine, kind="stable")[:top]
        order_l2 = np.argsort(-self.mean_l2, kind="stable")[:top]
        return {
            "n_pairs": len(self.pairs),
            "pairs": sorted(self.pairs),
            "unmatched": self.unmatched,
            "layers": [{"layer": n, "l2_mean": float(a), "l2_std": float(b), "cosine_dissimilarity_mean": float(c),
                        "cosine_dissimilarity_std": float(d)}
                       for n, a, b, c, d in zip(self.layers, self.mean_l2, self.std_l2, self.mean_cosine,
                                                self.std_cosine, strict=True)],
            "top_layers": {"cosine_dissimilarity": [self.layers[i] for i in order_cos],
                           "l2": [self.layers[i] for i in order_l2]},
        }


def match_pairs(folder: str | os.PathLike) -> tuple[list[tuple[Path, Path]], dict[str, list[str]]]:
    """Files of ``folder/positive`` and ``folder/negative`` matched by file name.

    Returns
    -------
    tuple
        The ``(positive, negative)`` pairs sorted by name, and the unmatched names per side.

    Raises
    ------
    InputError
        A side is missing, or no name occurs on both sides.
    """
    folder = Path(folder)
    sides = {}
    for side in ("positive", "negative"):
        d = folder / side
        if not d.is_dir():
            raise InputError(folder, f"no '{side}/' folder (folder mode needs positive/ and negative/ with files of the same names)")
        sides[side] = {p.name: p for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    common = sorted(set(sides["positive"]) & set(sides["negative"]))
    unmatched = {side: sorted(set(files) - set(common)) for side, files in sides.items()}
    if not common:
        raise InputError(folder, f"no file name occurs in both positive/ ({len(sides['positive'])} files) and "
                                 f"negative/ ({len(sides['negative'])} files)")
    return [(sides["positive"][n], sides["negative"][n]) for n in common], unmatched


def aggregate(pairs: dict[str, LayerComparison], unmatched: dict[str, list[str]]) -> FolderComparison:
    """Mean and standard deviation per layer over the compared pairs."""
    layers = next(iter(pairs.values())).layers
    l2 = np.stack([c.l2 for c in pairs.values()])
    cos = np.stack([c.cosine for c in pairs.values()])
    return FolderComparison(pairs=pairs, unmatched=unmatched, layers=layers, mean_l2=l2.mean(0), std_l2=l2.std(0),
                            mean_cosine=cos.mean(0), std_cosine=cos.std(0))
