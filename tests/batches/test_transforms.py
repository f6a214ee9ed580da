"""vaearr.transforms: the batch transforms' own rules, against numpy and scipy: the dtype ranges a scale takes, the
standardisation and the rescale it undoes (fused), backgrounds, the Gaussian blur, the detector's circle, the
evaluation form of a pipeline and the one-line errors.

The transforms' values against numpy for scale, crop, resize, static background, 3D patches, flips and affine are in
tests/batches/test_batches.py ("transforms against numpy")."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from vaearr import transforms as T
from vaearr.errors import InputError


def _batch(shape=(3, 1, 9, 8), seed=0, lo=0.5, hi=2.0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32))


@pytest.mark.parametrize(("dtype", "in_range"), [
    (np.uint8, (0.0, 255.0)), (np.int8, (-128.0, 127.0)), (np.uint16, (0.0, 65535.0)), (np.bool_, (0.0, 1.0)),
])
def test_a_scale_takes_the_stored_dtypes_range(dtype, in_range):
    assert T.scale((-1, 1)).prepare(np.dtype(dtype)).in_range == in_range
    assert T.scale(in_range=(2, 4)).prepare(np.dtype(dtype)).in_range == (2, 4)  # given: kept


def test_a_scale_of_floats_needs_a_range_said_in_one_line():
    with pytest.raises(InputError, match=r"scale\(\): the data are float64, which has no fixed range; give "
                                         r"in_range=\(min, max\) or in_range='sample'"):
        T.scale().prepare(np.dtype("float64"))
    with pytest.raises(InputError, match=r"scale\(\): float input needs in_range"):
        T.scale()(torch.zeros(1, 1, 2))
    i16 = torch.tensor([[[-32768, 32767]]], dtype=torch.int16)  # unprepared: the tensor's own dtype
    assert torch.allclose(T.scale((0, 1))(i16), torch.tensor([[[0.0, 1.0]]]))


def test_a_constant_sample_scaled_by_its_own_range_stays_finite():
    x = torch.full((2, 1, 3, 3), 7.0)
    assert torch.equal(T.scale((0, 1), "sample")(x), torch.zeros_like(x))


def test_standardized_leaves_its_input_alone_and_takes_integers():
    x = _batch()
    before = x.clone()
    y = T.standardized(x)
    assert torch.equal(x, before)
    flat = y.reshape(len(y), -1).double()
    np.testing.assert_allclose(flat.mean(1).numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(flat.std(1, correction=0).numpy(), 1, atol=1e-5)
    u8 = torch.tensor([[[0, 2, 4, 6]]], dtype=torch.uint8)
    np.testing.assert_allclose(T.standardized(u8).numpy(), (np.array([[[0, 2, 4, 6]]]) - 3) / np.sqrt(5), rtol=1e-6)
    constant = T.standardized(torch.full((1, 1, 4), 3.0), eps=0.5)  # the spread is 0: eps divides
    assert torch.equal(constant, torch.zeros(1, 1, 4))


def test_a_sample_standardised_alone_is_the_same_as_in_a_batch():
    x = _batch((64, 1, 12, 12), seed=3, lo=0, hi=255)
    assert torch.equal(T.standardized(x[5:6]), T.standardized(x)[5:6])


@pytest.mark.parametrize(("step", "fused"), [
    (T.scale((0, 1), "sample"), True),
    (T.scale((0, 1), (0, 255)), True),
    (T.scale((0, 1)), True),  # the stored dtype's range: a fixed a x + b
    (T.scale((1, 0), "sample"), False),  # a < 0: the standardisation would flip the sign
    (T.scale((0, 1), (5, 5)), False),
    (T.subtract_background(np.ones((9, 8))), True),
    (T.center_crop(4), False),
    (T.random_flip(-1), False),
])
def test_a_per_sample_rescale_before_standardize_is_fused_with_it(step, fused):
    assert T.affine_per_sample(step) is (fused and not step.random)
    steps = T.fuse_standardize([step, T.standardize(1e-3)])
    if fused:
        assert len(steps) == 1 and isinstance(steps[0], T.RemoveAndStandardize)
        assert steps[0].before is step and steps[0].eps == 1e-3
    else:
        assert [type(s) for s in steps] == [type(step), T.Standardize]


def test_the_fused_step_gives_what_the_two_steps_give():
    x = _batch((4, 1, 9, 8), seed=1, lo=10, hi=200)
    bg = np.random.default_rng(2).uniform(50, 100, (9, 8)).astype(np.float32)
    for before in (T.scale((0, 1), "sample"), T.SubtractBackground(bg, (0.0, 1.0), "divide"),
                   T.SubtractBackground(bg, (-1.0, 1.0), "subtract")):
        (fused,) = T.fuse_standardize([before, T.standardize()])
        np.testing.assert_allclose(fused(x).numpy(), T.standardize()(before(x)).numpy(), atol=2e-5)
    u8 = torch.randint(0, 256, (2, 1, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    prepared = T.RemoveAndStandardize(T.scale((0, 1))).prepare(np.dtype(np.uint8))
    assert prepared.before.in_range == (0.0, 255.0)
    np.testing.assert_allclose(prepared(u8).numpy(), T.standardize()(u8.float() / 255).numpy(), atol=2e-5)


def test_a_background_divided_then_stretched_and_one_that_does_not_fit():
    x = _batch((2, 1, 4, 5), seed=4)
    bg = np.random.default_rng(5).uniform(1, 2, (4, 5)).astype(np.float32)
    d = x.numpy() / bg
    want = (d - d.min((1, 2, 3), keepdims=True)) / np.ptp(d, (1, 2, 3), keepdims=True) * 2 - 1
    got = T.SubtractBackground(bg, (-1.0, 1.0), "divide")(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    with pytest.raises(InputError, match=r"subtract_background\(\): background of shape \(4, 4\) does not fit "
                                         r"samples \(1, 4, 5\)"):
        T.subtract_background(np.ones((4, 4)))(x)


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.0])
def test_the_gaussian_blur_is_scipys(sigma):
    x = np.random.default_rng(6).random((2, 3, 17, 13))
    got = T.gaussian_blur(torch.from_numpy(x), sigma).numpy()
    want = np.stack([[ndimage.gaussian_filter(c, sigma, mode="reflect") for c in s] for s in x])
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_a_gaussian_wider_than_the_sample_is_one_line():
    with pytest.raises(InputError, match=r"a Gaussian of σ = 2 px needs samples wider than 16 px, got \(17, 8\)"):
        T.gaussian_blur(torch.zeros(1, 1, 17, 8), 2.0)


@pytest.mark.parametrize("operation", ["subtract", "divide"])
def test_the_dynamic_background_removes_each_samples_blur_then_stretches(operation):
    x = _batch((2, 1, 16, 16), seed=7).double()
    blur = np.stack([[ndimage.gaussian_filter(c, 1.5, mode="reflect") for c in s] for s in x.numpy()])
    d = x.numpy() - blur if operation == "subtract" else x.numpy() / blur
    want = (d - d.min((1, 2, 3), keepdims=True)) / np.ptp(d, (1, 2, 3), keepdims=True)
    got = T.DynamicBackground(1.5, operation)(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_the_circle_is_the_inscribed_one_and_the_mask_fills_outside_it():
    c = T.circle((5, 5)).numpy()
    yy, xx = np.mgrid[:5, :5] - 2
    np.testing.assert_array_equal(c, (yy / 2.5) ** 2 + (xx / 2.5) ** 2 <= 1)
    assert c[2].all() and not c[0, 0] and c[0, 2]
    wide = T.circle((4, 8)).numpy()  # an ellipse in a non-square detector
    yy, xx = np.mgrid[:4, :8] - np.array([1.5, 3.5])[:, None, None]
    np.testing.assert_array_equal(wide, (yy / 2) ** 2 + (xx / 4) ** 2 <= 1)
    assert not wide[0, 0] and wide[1, 0]
    x = torch.ones(2, 1, 5, 5, dtype=torch.uint8)
    out = T.CircularMask(fill=-1.0)(x)
    assert out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), np.where(c, 1.0, -1.0)[None, None].repeat(2, 0))


def test_size_errors_of_crop_and_resize():
    x = torch.zeros(1, 1, 6, 6)
    with pytest.raises(InputError, match=r"size \(2, 2, 2\) has more dims than the 2 spatial dims of a \(1, 1, 6, 6\) "
                                         r"batch"):
        T.center_crop((2, 2, 2))(x)
    with pytest.raises(InputError, match=r"center_crop\(\(7, 2\)\): a sample is only 6 wide"):
        T.center_crop((7, 2))(x)
    with pytest.raises(InputError, match=r"resize\(\(3,\)\): give a size for each of the 2 spatial dims"):
        T.resize((3,))(x)
    assert T.center_crop((2,))(torch.arange(6.0).reshape(1, 1, 6)).tolist() == [[[2.0, 3.0]]]
    assert T.resize(3, mode="nearest")(torch.arange(6.0).reshape(1, 1, 6)).tolist() == [[[0.0, 2.0, 4.0]]]


def test_random_steps_say_their_wrong_input_in_one_line():
    with pytest.raises(InputError, match=r"random_patch_3d\(\) needs \(B, C, Z, Y, X\) batches, got \(1, 1, 4, 4\)"):
        T.random_patch_3d(2)(torch.zeros(1, 1, 4, 4))
    with pytest.raises(InputError, match=r"random_flip\(\): dim 0 is the batch dim"):
        T.random_flip((0,))(torch.zeros(2, 1, 3))
    with pytest.raises(InputError, match=r"random_flip\(\): dim 0 is the batch dim"):
        T.random_flip(-3, p=1.0)(torch.zeros(2, 1, 3))
    with pytest.raises(InputError, match=r"affine\(\) needs \(B, C, H, W\) or \(B, C, D, H, W\), got \(2, 1, 3\)"):
        T.affine(torch.zeros(2, 1, 3), 0.0, (0.0,))


def test_a_random_step_without_a_generator_repeats_from_its_seed():
    x = torch.arange(32 * 4, dtype=torch.float32).reshape(32, 1, 4)
    first = [T.random_flip(-1, seed=3)(x) for _ in range(2)]
    assert torch.equal(first[0], first[1])
    flip = T.random_flip(-1, seed=3)
    assert not torch.equal(flip(x), flip(x))  # one step's own generator goes on drawing
    assert not torch.equal(T.random_flip(-1, seed=4)(x), first[0])


def test_a_pipeline_prepares_each_step_and_drops_the_augmentations_to_evaluate():
    pipeline = T.compose(T.random_patch_3d((2, 2, 2)), T.random_flip(-1), T.scale((0, 1)), abs)
    assert pipeline.random
    prepared = pipeline.prepare(np.dtype(np.uint8))
    assert prepared.transforms[2].in_range == (0.0, 255.0) and prepared.transforms[3] is abs
    evaluate = pipeline.for_eval()
    assert [type(t) for t in evaluate.transforms] == [T.CenterCrop, T.Scale, type(abs)]
    assert not evaluate.random
    assert repr(T.compose(T.standardize())) == "Compose([Standardize(eps=1e-06)])"
    v = torch.arange(2 * 4 * 4 * 4, dtype=torch.uint8).reshape(2, 1, 4, 4, 4)
    out = prepared.for_eval()(v)
    np.testing.assert_allclose(out.numpy(), v[:, :, 1:3, 1:3, 1:3].numpy() / 255, rtol=1e-6)
    g = [torch.Generator().manual_seed(5) for _ in range(2)]
    assert torch.equal(prepared(v, generator=g[0]), prepared(v, generator=g[1]))
