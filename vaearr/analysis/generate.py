"""Decoding latents: reconstructions, prior samples, interpolation, traversals and 2D manifolds (plain arrays in and out).

A 2D manifold is Cartesian: the first chosen dim grows to the right, the second **upward**
(the top row of the grid holds the largest value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from types import MappingProxyType

import numpy as np
import torch

# --------------------------------------------------------------------------------------------
# decoding, generation and interpolation


def decode(model: Any, z: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Decode latents ``z`` (N, *latent_shape) to data space: (N, *input_shape), float32, no gradients."""

    param = next(model.parameters())
    z = np.asarray(z, dtype=np.float32)
    out = []
    with torch.no_grad():
        for start in range(0, len(z), batch_size):
            t = torch.from_numpy(z[start:start + batch_size]).to(param.device, param.dtype)
            out.append(model.decode(t).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, *model.config.input_shape), np.float32)


def reconstruct(model: Any, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Reconstructions of inputs ``x`` (N, *input_shape) through the posterior mean."""

    param = next(model.parameters())
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            t = torch.as_tensor(np.asarray(x[start:start + batch_size], np.float32)).to(param.device, param.dtype)
            mu, _ = model.encode(t)
            out.append(model.decode(mu).float().cpu().numpy())
    return np.concatenate(out)


def prior_samples(model: Any, n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` latents from the prior N(0, I) and decode them.

    Returns
    -------
    tuple of numpy.ndarray
        ``z`` (n, *latent_shape) and the images (n, *input_shape). The same seed gives the same draws.
    """
    z = np.random.default_rng(seed).standard_normal((n, *model.latent_shape)).astype(np.float32)
    return z, decode(model, z)


def slerp(z0: np.ndarray, z1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation between two latents (flattened), falling back to linear when they are parallel.

    Parameters
    ----------
    z0, z1
        Latents of the same shape.
    t
        Fractions in [0, 1]; 0 gives ``z0``, 1 gives ``z1``.

    Returns
    -------
    numpy.ndarray
        (len(t), *z0.shape).

    Examples
    --------
    >>> z = slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), [0.0, 0.5, 1.0])
    >>> np.round(z, 4).tolist()
    [[1.0, 0.0], [0.7071, 0.7071], [0.0, 1.0]]
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.atleast_1d(np.asarray(t, np.float64))
    a, b = z0.ravel(), z1.ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return linear_interpolation(z0, z1, t)
    omega = np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel: the great circle is not defined, lerp is the limit
        return linear_interpolation(z0, z1, t)
    w0 = np.sin((1 - t) * omega) / np.sin(omega)
    w1 = np.sin(t * omega) / np.sin(omega)
    return (w0[:, None] * a + w1[:, None] * b).reshape(len(t), *z0.shape)


def linear_interpolation(z0: np.ndarray, z1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """``(1 - t) z0 + t z1`` for each fraction ``t``: (len(t), *z0.shape)."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.atleast_1d(np.asarray(t, np.float64)).reshape(-1, *([1] * z0.ndim))
    return (1 - t) * z0 + t * z1


#: Interpolations between two latents by name: ``(z0, z1, t) -> z`` at each ``t`` in [0, 1].
INTERPOLATIONS: Mapping[str, Callable[[np.ndarray, np.ndarray, Any], np.ndarray]] = MappingProxyType({
    "linear": linear_interpolation, "slerp": slerp})


def interpolate(model: Any, z0: np.ndarray, z1: np.ndarray, *, steps: int = 8,
                method: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Decode ``steps`` latents between ``z0`` and ``z1`` (both ends included).

    Parameters
    ----------
    method
        ``"linear"`` or ``"slerp"`` (spherical: keeps the norm typical of Gaussian latents).

    Returns
    -------
    tuple of numpy.ndarray
        The latents (steps, *latent_shape) and their images (steps, *input_shape).
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
    t = np.linspace(0.0, 1.0, steps)
    z = INTERPOLATIONS[method](z0, z1, t).astype(np.float32)
    return z, decode(model, z)



# --------------------------------------------------------------------------------------------
# traversals and manifolds


def traversal(model: Any, base: np.ndarray, dims: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """Sweep each of ``dims`` over ``values`` from ``base`` with the other dims fixed, and decode.

    Returns
    -------
    numpy.ndarray
        (len(dims), len(values), *input_shape): row ``r`` varies ``dims[r]``.
    """
    base = np.asarray(base, np.float32).ravel()
    dims = [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < base.size]
    if bad:
        raise ValueError(f"latent dims {bad} out of range 0..{base.size - 1}")
    values = np.asarray(values, np.float32)
    z = np.repeat(base[None, None], len(dims), 0).repeat(len(values), 1)  # (R, V, D)
    for r, d in enumerate(dims):
        z[r, :, d] = values
    images = decode(model, z.reshape(-1, base.size))
    return images.reshape(len(dims), len(values), *images.shape[1:])


def manifold(model: Any, base: np.ndarray, dims: tuple[int, int], x_values: Sequence[float],
             y_values: Sequence[float]) -> np.ndarray:
    """Decode a grid over two latent dims, laid out Cartesian: x to the right, y upward.

    Parameters
    ----------
    base
        (latent_dim,) values of the other dims.
    dims
        ``(i, j)``: dim ``i`` varies along x (columns), dim ``j`` along y (rows).
    x_values, y_values
        Values of dims ``i`` and ``j``, any order; they are sorted ascending.

    Returns
    -------
    numpy.ndarray
        (len(y_values), len(x_values), *input_shape); row 0 is the **largest** y value and
        column 0 the smallest x value, as on a plot with y growing upward.
    """
    base = np.asarray(base, np.float32).ravel()
    i, j = (int(d) for d in dims)
    if i == j or not (0 <= i < base.size and 0 <= j < base.size):
        raise ValueError(f"manifold needs two different dims in 0..{base.size - 1}, got {dims}")
    xs = np.sort(np.asarray(x_values, np.float32))
    ys = np.sort(np.asarray(y_values, np.float32))[::-1]  # top row = largest y
    z = np.repeat(base[None, None], len(ys), 0).repeat(len(xs), 1)
    z[:, :, i] = xs[None, :]
    z[:, :, j] = ys[:, None]
    images = decode(model, z.reshape(-1, base.size))
    return images.reshape(len(ys), len(xs), *images.shape[1:])
