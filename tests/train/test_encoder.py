"""vaearr.encoder: a run's samples read in the loader's layout, through its input pipeline, into its model: the
checks of a dataset against the run, the samples' order and inputs, the encoded batches and their reconstruction
error, the decoder's chunks, the worker threads and the in-place activations.

A run trained and encoded end to end is in tests/train/test_encode.py; here a small linear model of our own stands in
for a trained one, so each number can be computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from vaearr.batches import DataSpec
from vaearr.encoder import (
    DECODE_CHUNK,
    EncodedBatch,
    Encoder,
    decoded,
    encode_batch,
    in_place,
    in_workers,
)
from vaearr.errors import StoreError
from vaearr.preprocess import Preprocess
from vaearr.transforms import Scale


class Linear(torch.nn.Module):
    """A 16-pixel pattern → 2 latent dims and back, by fixed weights; counts the decoder's calls."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.enc = torch.nn.Linear(16, 2, bias=False)
        self.dec = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU())
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.rand(p.shape, generator=g) - 0.5)
        self.decoded_rows: list[int] = []

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.enc(x.reshape(len(x), -1))
        return mu, torch.full_like(mu, -1.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        self.decoded_rows.append(len(z))
        return self.dec(z).reshape(len(z), 1, 4, 4)


@pytest.fixture
def scan() -> xr.Dataset:
    """A 3 × 5 map of 4 × 4 uint8 patterns, an roi of 7 pixels."""
    rng = np.random.default_rng(1)
    roi = rng.random((3, 5)) < 0.5
    roi[0, 0] = True
    return xr.Dataset({"patterns": (("y", "x", "sy", "sx"), rng.integers(0, 256, (3, 5, 4, 4), dtype=np.uint8)),
                       "roi": (("y", "x"), roi), "edge": (("x", "y"), ~roi.T)})


def _encoder(mask: str | None = "roi") -> tuple[Encoder, Linear]:
    model = Linear()
    spec = DataSpec("unused.zarr", "patterns", ("y", "x"), ("sy", "sx"), mask)
    pre = Preprocess([Scale((0.0, 1.0))], source_dtype=np.uint8, sample_shape=(1, 4, 4))
    return Encoder(spec, pre, lambda checkpoint, device: model, name="run-1"), model


def test_the_samples_inside_the_mask_in_order_through_the_pipeline(scan):
    encoder, _ = _encoder()
    got = list(encoder.inputs(scan, batch_size=3))
    flat = scan["patterns"].values.reshape(15, 1, 4, 4)
    inside = np.flatnonzero(scan["roi"].values.ravel())
    assert [len(i) for i, _ in got] == [3, 3, len(inside) - 6]
    np.testing.assert_array_equal(np.concatenate([i for i, _ in got]), inside)
    x = torch.cat([x for _, x in got])
    assert x.dtype == torch.float32 and x.shape == (len(inside), 1, 4, 4)
    np.testing.assert_allclose(x.numpy(), flat[inside] / 255, rtol=1e-6)
    every = np.concatenate([i for i, _ in encoder.inputs(scan, mask=None, batch_size=4)])
    np.testing.assert_array_equal(every, np.arange(15))
    some = np.concatenate([i for i, _ in encoder.inputs(scan, mask=None, samples=np.array([14, 2, 9]), batch_size=4)])
    np.testing.assert_array_equal(some, [2, 9, 14])


def test_a_mask_given_by_name_is_read_in_the_runs_dim_order(scan):
    encoder, _ = _encoder()
    m = encoder.check(scan, mask="edge")
    assert m.dims == ("y", "x")
    np.testing.assert_array_equal(m.values, ~scan["roi"].values)
    assert encoder.check(scan, mask=None) is None
    np.testing.assert_array_equal(encoder.check(scan).values, scan["roi"].values)


def test_a_dataset_without_the_runs_variable_or_mask_is_one_line(scan):
    encoder, _ = _encoder()
    with pytest.raises(StoreError, match=r"no variable 'patterns'.*\(the run run-1 was trained on it\)"):
        encoder.check(scan.drop_vars("patterns"), where="the dataset")
    with pytest.raises(StoreError, match=r"^the dataset: .*\(the run run-1 was trained inside it\)"):
        encoder.check(scan.drop_vars("roi"))  # no `where`: said as the dataset (a TypeError before)
    with pytest.raises(StoreError, match=r"mask variable 'border'"):
        encoder.check(scan, mask="border")


def test_the_latents_and_reconstructions_are_the_models_of_each_sample(scan):
    encoder, model = _encoder()
    batches = list(encoder.encode(scan, batch_size=4))
    index = np.concatenate([b.index for b in batches])
    x = torch.from_numpy(scan["patterns"].values.reshape(15, 16)[index] / 255).float()
    with torch.no_grad():
        mu = x @ model.enc.weight.T
        recon = model.dec(mu)
    np.testing.assert_allclose(torch.cat([b.mu for b in batches]).numpy(), mu.numpy(), atol=1e-6)
    assert torch.equal(torch.cat([b.logvar for b in batches]), torch.full_like(mu, -1.0))
    np.testing.assert_allclose(torch.cat([b.recon for b in batches]).reshape(-1, 16).numpy(), recon.numpy(),
                               atol=1e-6)
    err = np.concatenate([b.recon_error() for b in batches])
    np.testing.assert_allclose(err, ((recon - x) ** 2).mean(1).numpy(), rtol=1e-5)
    i, m, lv, r = batches[0]  # unpacks as index, mu, logvar, recon
    assert i is batches[0].index and r is batches[0].recon


def test_only_the_rows_asked_for_are_decoded(scan):
    encoder, model = _encoder(mask=None)
    even = [b for b in encoder.encode(scan, mask=None, batch_size=5, decode=lambda index: index % 2 == 0)]
    assert [len(b.recon) for b in even] == [3, 2, 3]  # 0..4, 5..9, 10..14
    full = {int(i): e for b in encoder.encode(scan, mask=None, batch_size=15) for i, e in zip(b.index, b.recon_error())}
    got = {int(i): e for b in even for i, e in zip(b.index[b.decoded], b.recon_error())}
    assert sorted(got) == list(range(0, 15, 2))
    np.testing.assert_allclose([got[i] for i in got], [full[i] for i in got], rtol=1e-5)
    none = next(encoder.encode(scan, mask=None, batch_size=5, decode=lambda index: index > 100))
    assert len(none.recon) == 0 and none.recon_error().shape == (0,)
    latents_only = next(encoder.encode(scan, mask=None, reconstruct=False))
    assert latents_only.recon is None
    with pytest.raises(ValueError, match=r"the batch was encoded without its reconstruction"):
        latents_only.recon_error()


def test_the_reconstruction_error_is_the_mean_squared_difference():
    x = torch.tensor([[[1.0, 2.0]], [[0.0, 0.0]], [[3.0, 3.0]]])
    recon = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]])
    b = EncodedBatch(np.arange(3), torch.zeros(3, 1), torch.zeros(3, 1), recon, x, np.array([True, False, True]))
    np.testing.assert_allclose(b.recon_error(), [2.0, 4.0])


def test_a_cpu_decoder_takes_its_chunks_and_gives_the_whole_batch():
    model = Linear()
    z = torch.randn(70, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model.dec(z).reshape(70, 1, 4, 4)
        got = decoded(model, z)
    assert model.decoded_rows == [DECODE_CHUNK["cpu"]] * 2 + [70 - 2 * DECODE_CHUNK["cpu"]]
    np.testing.assert_allclose(got.numpy(), whole.numpy(), rtol=1e-6)
    decoded(model, z[:5])
    assert model.decoded_rows[-1] == 5


def test_work_in_threads_comes_back_in_order_and_the_thread_count_is_restored():
    threads = torch.get_num_threads()
    seen = []

    def square(i: int, j: int) -> tuple[int, int]:
        seen.append(torch.get_num_threads())
        return i, i * j

    assert list(in_workers(square, iter((i, i) for i in range(9)), 2)) == [(i, i * i) for i in range(9)]
    assert set(seen) == {1} and torch.get_num_threads() == threads


def test_batch_sizes_by_device():
    assert encode_batch("cpu") == 128
    assert encode_batch(torch.device("cuda:1")) == 1024
    assert encode_batch("meta") == 128
    assert encode_batch("cuda", 7) == 7


def test_an_activation_after_a_layer_runs_in_place_and_gives_the_same_numbers():
    model = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 3), torch.nn.ReLU(), torch.nn.Sequential(
        torch.nn.Linear(3, 3), torch.nn.LeakyReLU(), torch.nn.Sigmoid()))
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(x)
        in_place(model)
        after = model(x)
    assert [getattr(m, "inplace", None) for m in model.modules() if not isinstance(m, torch.nn.Sequential)] == [
        False, None, True, None, True, None]
    np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-6)
