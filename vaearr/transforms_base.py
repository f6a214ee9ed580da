"""The base of vaearr's batch transforms (:class:`Transform`), which :mod:`vaearr.transforms` and
:mod:`vaearr.transforms_geometry` build on."""

from __future__ import annotations

import numpy as np
import torch


class Transform:
    """Base of the batch transforms: a callable on a batch tensor ``(B, C, *spatial)``.

    Spatial transforms act on the dims after the first two (batch, channel), as
    ``channels_first=True`` lays batches out. Random ones set ``random = True`` and take
    ``generator``; without one they draw from their own generator seeded by ``seed``.
    """

    random: bool = False

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, source_dtype: np.dtype) -> Transform:
        """A copy bound to what the loader knows (the stored dtype); default: self."""
        return self

    def for_eval(self) -> Transform | None:
        """The form used for validation: self, or None to drop it (augmentations)."""
        return None if self.random else self

    def _generator(self, generator: torch.Generator | None) -> torch.Generator:
        if generator is not None:
            return generator
        if getattr(self, "_own", None) is None:
            self._own = torch.Generator().manual_seed(int(getattr(self, "seed", 0) or 0))
        return self._own


def as_float(x: torch.Tensor) -> torch.Tensor:
    """``x`` as it is where it is floating point, else as float32."""
    return x if x.is_floating_point() else x.float()
