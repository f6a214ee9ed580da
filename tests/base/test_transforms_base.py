"""Tests of vaearr.transforms_base: what every batch transform shares (its own seeded draws, its evaluation form)."""

from __future__ import annotations

import numpy as np
import torch

from vaearr.transforms import random_flip, scale
from vaearr.transforms_base import Transform, as_float


def test_a_random_transform_without_a_generator_draws_from_its_own_seeded_one() -> None:
    x = torch.arange(64 * 3, dtype=torch.float32).reshape(64, 1, 3)
    first = [random_flip(p=0.5, seed=3)(x) for _ in range(2)]
    assert torch.equal(first[0], first[1])  # a fresh transform of one seed draws the same
    assert not torch.equal(first[0], random_flip(p=0.5, seed=4)(x))
    t = random_flip(p=0.5, seed=3)
    assert torch.equal(t(x), first[0]) and not torch.equal(t(x), first[0])  # its stream goes on
    given = torch.Generator().manual_seed(0)
    assert torch.equal(t(x, generator=given), random_flip(p=0.5, seed=99)(x, generator=torch.Generator().manual_seed(0)))


def test_the_evaluation_form_drops_augmentations_and_prepare_binds_nothing_by_default() -> None:
    flip, s = random_flip(), scale()
    assert flip.random and flip.for_eval() is None
    assert not s.random and s.for_eval() is s
    assert Transform.prepare(flip, np.dtype("uint8")) is flip


def test_as_float() -> None:
    u8 = torch.tensor([0, 7, 255], dtype=torch.uint8)
    assert as_float(u8).dtype == torch.float32 and as_float(u8).tolist() == [0.0, 7.0, 255.0]
    f64 = torch.tensor([0.5], dtype=torch.float64)
    assert as_float(f64) is f64
