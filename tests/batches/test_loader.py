"""Tests of vaearr.batches.loader (ZarrBatches, make_loaders) and the transforms it runs, on real small data
(kikuchipy's Ni scan, sklearn digits, a nibabel volume) and on synthetic stores whose values name their sample, where
many chunks are needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from vaearr import batches as B
from vaearr import transforms as T
from vaearr.errors import InputError, StoreError
from vaearr.maps.patterns.background import static_background
from vaearr.store import open_store, write_variables

# ----------------------------------------------------------------------------------------------
# stores


GRID = (40, 30)  # synthetic sample grid (y, x)
CHUNK = (3, 7)  # uneven at the edges: 14 x 5 = 70 chunks


def _synthetic_mask() -> np.ndarray:
    rng = np.random.default_rng(1)
    mask = rng.random(GRID) < 0.6
    mask[:6, :14] = False  # whole chunks with no sample inside: never read
    return mask


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """``v(y, x, a, b)`` float32: ``v[..., 0, 0]`` is the sample's flat index; ``roi(y, x)``."""
    path = tmp_path_factory.mktemp("synth") / "s.zarr"
    ids = np.arange(np.prod(GRID), dtype=np.float32).reshape(GRID)
    v = ids[..., None, None] + np.arange(6, dtype=np.float32).reshape(2, 3) / 8
    coords = {"y": np.arange(GRID[0]) * 0.5, "x": np.arange(GRID[1]) * 0.5}
    write_variables(
        path,
        {"v": xr.DataArray(v, dims=("y", "x", "a", "b"), coords=coords),
         "roi": xr.DataArray(_synthetic_mask(), dims=("y", "x"), coords=coords),
         "notbool": xr.DataArray(ids, dims=("y", "x"), coords=coords)},
        chunks={"v": (*CHUNK, 2, 3), "roi": GRID, "notbool": GRID},
    )
    return path


@pytest.fixture(scope="module")
def ni(tmp_path_factory):
    """kikuchipy's real Ni scan as ``patterns(y, x, py, px)`` with a ``roi`` leaving out two pixels."""
    kp = pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
    s = kp.data.nickel_ebsd_small()
    path = tmp_path_factory.mktemp("ni") / "ni.zarr"
    roi = np.ones((3, 3), bool)
    roi[0, 0] = roi[2, 1] = False
    coords = {"y": np.arange(3) * 1.5, "x": np.arange(3) * 1.5}
    write_variables(
        path,
        {"patterns": xr.DataArray(s.data, dims=("y", "x", "py", "px"), coords=coords),
         "roi": xr.DataArray(roi, dims=("y", "x"), coords=coords)},
        chunks={"patterns": (1, 2, 60, 60)},
    )
    return path, s, roi


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """sklearn's 8x8 digits as ``images(sample, row, col)`` uint8 with a ``label`` coord."""
    sk = pytest.importorskip("sklearn.datasets", reason="needs scikit-learn")
    d = sk.load_digits()
    imgs = (d.images * 15).astype(np.uint8)  # 0..16 → 0..240
    path = tmp_path_factory.mktemp("digits") / "digits.zarr"
    da = xr.DataArray(imgs, dims=("sample", "row", "col"), coords={"label": ("sample", d.target.astype(str))})
    write_variables(path, {"images": da}, chunks={"images": (100, 8, 8)})
    return path, imgs


@pytest.fixture(scope="module")
def volumes(tmp_path_factory):
    """nibabel's small anatomical volume (33x41x25) as ``volumes(subject, z, y, x)``: it and its mirror."""
    nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")
    nii = Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"
    vol = np.asarray(nib.load(nii).dataobj, dtype=np.float32)
    vols = np.stack([vol, vol[::-1]])
    path = tmp_path_factory.mktemp("vol") / "vol.zarr"
    write_variables(path, {"volumes": xr.DataArray(vols, dims=("subject", "z", "y", "x"))},
                    chunks={"volumes": (1, *vol.shape)})
    return path, vols


def _synth_loader(path, **kw) -> B.ZarrBatches:
    kw = {"var": "v", "sample_dims": ("y", "x"), "feature_dims": ("a", "b"), "mask": "roi", "batch_size": 37,
          "buffer_chunks": 4, "return_index": True, **kw}
    return B.ZarrBatches(path, **kw)


def _collect(loader) -> tuple[list[torch.Tensor], np.ndarray]:
    xs, ids = [], []
    for x, i in loader:
        xs.append(x)
        ids.append(i.numpy())
    return xs, np.concatenate(ids) if ids else np.zeros(0, np.int64)


def _chunk_of(ids: np.ndarray) -> np.ndarray:
    y, x = np.unravel_index(ids, GRID)
    return (y // CHUNK[0]) * (-(-GRID[1] // CHUNK[1])) + x // CHUNK[1]


# ----------------------------------------------------------------------------------------------
# what an epoch holds


def test_every_masked_sample_once_and_nothing_outside(synth):
    mask = _synthetic_mask()
    loader = _synth_loader(synth)
    xs, ids = _collect(loader)
    assert np.array_equal(np.sort(ids), np.flatnonzero(mask))  # each masked sample exactly once
    assert mask.ravel()[ids].all()
    x = torch.cat(xs)
    assert x.shape == (mask.sum(), 1, 2, 3) and x.dtype == torch.float32
    assert np.array_equal(x[:, 0, 0, 0].numpy(), ids.astype(np.float32))  # data belong to their index
    assert np.allclose(x[:, 0].numpy() - ids[:, None, None], np.arange(6).reshape(2, 3) / 8)
    assert [len(b) for b in xs] == [37] * (len(xs) - 1) + [mask.sum() - 37 * (len(xs) - 1)]
    assert len(loader) == len(xs) and loader.n_samples == mask.sum()
    pos = loader.positions(ids[:5])
    assert np.array_equal(np.ravel_multi_index((pos["y"], pos["x"]), GRID), ids[:5])
    # shuffled: neither in order nor chunk by chunk
    assert not np.all(np.diff(ids) > 0)


def test_ebsd_ni_patterns_inside_roi(ni):
    path, s, roi = ni
    loader = B.ZarrBatches(path, var="patterns", sample_dims=("y", "x"), feature_dims=("py", "px"), mask="roi",
                           batch_size=4, dtype=None, return_index=True, buffer_chunks=2)
    xs, ids = _collect(loader)
    assert np.array_equal(np.sort(ids), np.flatnonzero(roi))
    x = torch.cat(xs)
    assert x.shape == (7, 1, 60, 60) and x.dtype == torch.uint8
    assert np.array_equal(x[:, 0].numpy(), s.data.reshape(9, 60, 60)[ids])
    assert loader.sample_shape == (1, 60, 60) and loader.grid_shape == (3, 3)


def test_drop_last_and_no_shuffle_order(synth):
    mask = _synthetic_mask()
    loader = _synth_loader(synth, drop_last=True, shuffle=False, buffer_chunks=1)
    xs, ids = _collect(loader)
    assert all(len(x) == 37 for x in xs) and len(xs) == mask.sum() // 37 == len(loader)
    # without shuffle: chunk by chunk in chunk order, C order inside a chunk
    chunks = _chunk_of(ids)
    assert np.all(np.diff(chunks) >= 0)


def test_split_by_chunk_disjoint_and_covering(synth):
    mask = _synthetic_mask()
    train, val = B.make_loaders(synth, "v", ("y", "x"), ("a", "b"), mask="roi", batch_size=50, val_fraction=0.25,
                                seed=3, return_index=True, buffer_chunks=4)
    _, tr = _collect(train)
    _, va = _collect(val)
    assert not set(tr) & set(va)
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.flatnonzero(mask))
    assert not set(_chunk_of(tr)) & set(_chunk_of(va))  # whole chunks go to validation
    assert 0.2 < len(va) / mask.sum() < 0.35
    assert train.n_samples == len(tr) and val.n_samples == len(va)
    # the split depends on the seed only, not on batch settings; another seed, another split
    _, va2 = _collect(_synth_loader(synth, split="val", val_fraction=0.25, seed=3, batch_size=7, shuffle=True))
    assert np.array_equal(np.sort(va2), np.sort(va))
    _, va3 = _collect(_synth_loader(synth, split="val", val_fraction=0.25, seed=4))
    assert set(va3) != set(va)
    # validation reads in order
    assert np.all(np.diff(_chunk_of(va)) >= 0)


def test_shuffle_per_epoch_reproducible_and_independent_of_workers(synth):
    aug = [T.random_flip((-1,), p=0.5), T.scale((0, 1), in_range=(0, 1200))]
    ref = _synth_loader(synth, transforms=aug, num_workers=0)
    ref.set_epoch(5)
    xs5, ids5 = _collect(ref)
    assert ref.epoch == 6  # iter() ran epoch 5 and moved on
    xs6, ids6 = _collect(ref)
    assert not np.array_equal(ids5, ids6)  # another epoch, another order
    assert np.array_equal(np.sort(ids5), np.sort(ids6))
    ref.set_epoch(5)
    again, ids5b = _collect(ref)
    assert np.array_equal(ids5, ids5b)
    assert all(torch.equal(a, b) for a, b in zip(xs5, again))
    for kw in ({"num_workers": 2}, {"num_workers": 2, "prefetch": 0}, {"prefetch": 0}):
        other = _synth_loader(synth, transforms=aug, **kw)
        other.set_epoch(5)
        xs, ids = _collect(other)
        assert np.array_equal(ids, ids5), kw
        assert len(xs) == len(xs5) and all(torch.equal(a, b) for a, b in zip(xs, xs5)), kw
    # the flips really happened, and only on some samples
    flipped = [not torch.allclose(x, _expected(i)) for x, i in zip(torch.cat(xs5), ids5)]
    assert 0.3 < np.mean(flipped) < 0.7


def _expected(i: int) -> torch.Tensor:
    v = (i + np.arange(6, dtype=np.float32).reshape(1, 2, 3) / 8) / 1200
    return torch.from_numpy(v.astype(np.float32))


def test_early_break_stops_cleanly(synth):
    loader = _synth_loader(synth, num_workers=2, prefetch=2, batch_size=5)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    _, ids = _collect(loader)  # the next epoch still runs in full
    assert len(ids) == _synthetic_mask().sum()


# ----------------------------------------------------------------------------------------------
# layout


def test_channels_first_gray_rgb_and_volumes(digits, volumes, tmp_path):
    path, imgs = digits
    loader = B.ZarrBatches(path, var="images", sample_dims="sample", feature_dims=("row", "col"), batch_size=64,
                           shuffle=False, return_index=True)
    x, idx = next(iter(loader))
    assert x.shape == (64, 1, 8, 8) and torch.equal(x[:, 0], torch.from_numpy(imgs[idx.numpy()]).float())
    assert len(loader) == -(-1797 // 64)
    labels = open_store(path)["label"].values[idx.numpy()]  # indices write back / look up coords
    assert labels.shape == (64,)

    rgb = np.random.default_rng(0).integers(0, 256, (20, 5, 6, 3), dtype=np.uint8)
    p = tmp_path / "rgb.zarr"
    write_variables(p, {"images": xr.DataArray(rgb, dims=("sample", "row", "col", "channel"),
                                               coords={"channel": ["R", "G", "B"]})}, chunks={"images": (8, 5, 6, 3)})
    kw = dict(var="images", sample_dims=("sample",), feature_dims=("row", "col", "channel"), batch_size=20,
              shuffle=False, dtype=None)
    x = next(iter(B.ZarrBatches(p, **kw)))  # channel found from its named coordinate
    assert x.shape == (20, 3, 5, 6) and torch.equal(x, torch.from_numpy(np.moveaxis(rgb, -1, 1)))
    x = next(iter(B.ZarrBatches(p, **kw, channels_first=False)))
    assert x.shape == (20, 5, 6, 3) and torch.equal(x, torch.from_numpy(rgb))
    x = next(iter(B.ZarrBatches(p, **{**kw, "feature_dims": ("channel", "row", "col")}, channel_dim=None)))
    assert x.shape == (20, 1, 3, 5, 6) and torch.equal(x[:, 0], torch.from_numpy(np.moveaxis(rgb, -1, 1)))
    # shuffled, cast and with the channel moved: each sample lands on its row in one copy
    x, idx = next(iter(B.ZarrBatches(p, **{**kw, "shuffle": True, "dtype": "float32", "batch_size": 16},
                                     return_index=True)))
    assert not np.array_equal(idx.numpy(), np.arange(16)) and len(set(idx.tolist())) == 16
    assert x.dtype == torch.float32 and torch.equal(x, torch.from_numpy(np.moveaxis(rgb[idx.numpy()], -1, 1)).float())

    vpath, vols = volumes
    vl = B.ZarrBatches(vpath, var="volumes", sample_dims=("subject",), feature_dims=("z", "y", "x"), batch_size=2,
                       shuffle=False)
    x = next(iter(vl))
    assert x.shape == (2, 1, 33, 41, 25) and torch.equal(x[:, 0], torch.from_numpy(vols))
    # feature dims in another order than stored: the tensor follows the caller's order
    x = next(iter(B.ZarrBatches(vpath, var="volumes", sample_dims=("subject",), feature_dims=("x", "y", "z"),
                                batch_size=2, shuffle=False)))
    assert torch.equal(x[:, 0], torch.from_numpy(vols.transpose(0, 3, 2, 1).copy()))


# ----------------------------------------------------------------------------------------------
# transforms against numpy


def test_scale_and_standardize():
    u8 = torch.tensor([[[0, 51, 255]]], dtype=torch.uint8)
    assert np.allclose(T.scale()(u8).numpy(), u8.numpy() / 255)
    assert np.allclose(T.scale((-1, 1))(u8).numpy(), u8.numpy() / 255 * 2 - 1)
    f = torch.tensor([[[2.0, 4.0, 6.0]], [[1.0, 1.5, 3.0]]])
    assert np.allclose(T.scale((0, 1), (2, 6))(f).numpy(), (f.numpy() - 2) / 4)
    per = T.scale((0, 1), "sample")(f).numpy()
    ref = (f.numpy() - f.numpy().min((1, 2), keepdims=True)) / np.ptp(f.numpy(), (1, 2), keepdims=True)
    assert np.allclose(per, ref)
    with pytest.raises(InputError, match="in_range"):
        T.scale().prepare(np.dtype("float32"))
    assert T.scale().prepare(np.dtype("uint16")).in_range == (0.0, 65535.0)

    x = torch.from_numpy(np.random.default_rng(0).normal(3, 2, (4, 1, 6, 5)).astype(np.float32))
    out = T.standardize()(x).numpy()
    xn = x.numpy()
    ref = (xn - xn.mean((1, 2, 3), keepdims=True)) / xn.std((1, 2, 3), keepdims=True)
    assert np.allclose(out, ref, atol=1e-5)


def test_static_background_and_subtraction(ni):
    path, s, roi = ni
    pats = s.data.astype(np.float64)
    bg = static_background(path, "patterns", ("y", "x"), mask="roi")
    assert bg.shape == (60, 60) and np.allclose(bg, pats[roi].mean(0))
    assert np.allclose(static_background(path, "patterns", ("y", "x")), pats.reshape(9, 60, 60).mean(0))

    x = torch.from_numpy(s.data.reshape(9, 1, 60, 60).astype(np.float32))
    out = T.subtract_background(bg)(x).numpy()
    d = s.data.reshape(9, 60, 60) - bg.astype(np.float32)
    ref = (d - d.min((1, 2), keepdims=True)) / np.ptp(d, (1, 2), keepdims=True)
    assert np.allclose(out[:, 0], ref, atol=1e-5)
    # kikuchipy's own static-background removal, with its stored background, agrees
    kbg = s.static_background
    kp_out = s.remove_static_background(operation="subtract", static_bg=kbg, inplace=False, show_progressbar=False)
    ours = T.subtract_background(kbg)(x).numpy()[:, 0] * 255
    assert np.all(np.abs(ours - kp_out.data.reshape(9, 60, 60)) <= 1.0 + 1e-3)


def test_random_patch_3d(volumes):
    _, vols = volumes
    x = torch.from_numpy(vols[:, None])
    t = T.random_patch_3d((16, 12, 10), seed=4)
    out = t(x, generator=torch.Generator().manual_seed(9))
    offs = t.offsets(x.shape, torch.Generator().manual_seed(9)).numpy()
    assert out.shape == (2, 1, 16, 12, 10)
    for i, (z, y, w) in enumerate(offs):
        assert np.array_equal(out[i, 0].numpy(), vols[i, z:z + 16, y:y + 12, w:w + 10])
    same = t(x, generator=torch.Generator().manual_seed(9))
    assert torch.equal(out, same)
    assert isinstance(t.for_eval(), T.CenterCrop)
    with pytest.raises(InputError):
        T.random_patch_3d(40)(x)


# ----------------------------------------------------------------------------------------------
# distributed shards, loaders, errors


@pytest.mark.parametrize("world_size,drop_last", [(2, False), (3, True)])
def test_ddp_shards_disjoint_equal_length(synth, world_size, drop_last):
    mask = _synthetic_mask()
    shards = []
    for rank in range(world_size):
        loader = _synth_loader(synth, rank=rank, world_size=world_size, drop_last=drop_last, batch_size=16)
        loader.set_epoch(2)
        n = len(loader)
        xs, ids = _collect(loader)
        assert len(xs) == n
        shards.append((n, ids))
    assert len({n for n, _ in shards}) == 1  # same number of steps on every rank
    all_ids = np.concatenate([ids for _, ids in shards])
    assert len(np.unique(all_ids)) == len(all_ids)  # disjoint
    assert mask.ravel()[all_ids].all()
    assert len(all_ids) > 0.9 * mask.sum()
    chunk_sets = [set(_chunk_of(ids)) for _, ids in shards]
    assert all(not (a & b) for i, a in enumerate(chunk_sets) for b in chunk_sets[i + 1:])  # each reads its own


def test_make_loaders_eval_transforms(volumes):
    path, vols = volumes
    transforms = [T.random_patch_3d(8, seed=1), T.random_flip(-1), T.scale((0, 1), in_range="sample")]
    train, val = B.make_loaders(path, "volumes", ("subject",), ("z", "y", "x"), batch_size=1, val_fraction=0.5,
                                transforms=transforms)
    assert train.sample_shape == val.sample_shape == (1, 8, 8, 8)
    assert [type(t).__name__ for t in val.transforms] == ["CenterCrop", "Scale"]
    x = next(iter(val))
    assert x.shape == (1, 1, 8, 8, 8) and float(x.min()) == 0.0 and float(x.max()) == 1.0
    train, none = B.make_loaders(path, "volumes", ("subject",), ("z", "y", "x"), val_fraction=0)
    assert none is None and train.n_samples == 2


def test_run_preprocessing_and_augmentations_in_a_loader(ni, tmp_path):
    from vaearr.preprocess import PreprocessOptions
    from vaearr.run import DataSpec, fit_preprocess
    from vaearr.train import TrainConfig
    from vaearr.train.loaders import augmentations

    path, s, roi = ni
    pre = fit_preprocess(DataSpec.resolve(path, "patterns", mask="roi"),
                         PreprocessOptions(subtract_background=True, crop=50))
    ts = pre.transforms(training=True) + augmentations(TrainConfig(store=str(path), run=str(tmp_path), augment=True))
    assert [type(t).__name__ for t in ts] == ["SubtractBackground", "CenterCrop", "RandomFlip", "RandomAffine"]
    loader = B.ZarrBatches(path, var="patterns", sample_dims=("y", "x"), feature_dims=("py", "px"), mask="roi",
                           transforms=ts, batch_size=7)
    x = next(iter(loader))
    assert x.shape == (7, 1, 50, 50) and loader.sample_shape == (1, 50, 50)


def test_errors(synth, tmp_path):
    with pytest.raises(StoreError, match="no variable 'nope'"):
        _synth_loader(synth, var="nope")
    with pytest.raises(InputError, match="must name each once"):
        _synth_loader(synth, feature_dims=("a",))
    with pytest.raises(InputError, match="must be boolean"):
        _synth_loader(synth, mask="notbool")
    with pytest.raises(StoreError, match="no mask variable"):
        _synth_loader(synth, mask="nomask")
    with pytest.raises(InputError, match="batch_size"):
        _synth_loader(synth, batch_size=0)
    with pytest.raises(InputError, match="val_fraction"):
        _synth_loader(synth, split="val")
    with pytest.raises(InputError, match="rank"):
        _synth_loader(synth, rank=2, world_size=2)
    with pytest.raises(StoreError):
        _synth_loader(tmp_path / "absent.zarr")
    one = tmp_path / "one.zarr"
    write_variables(one, {"v": xr.DataArray(np.zeros((4, 2), np.float32), dims=("s", "f"))})
    with pytest.raises(InputError, match="cannot split"):
        B.ZarrBatches(one, var="v", sample_dims=("s",), feature_dims=("f",), val_fraction=0.5, split="train")


def test_chunk_files_read_as_zarr_does(synth, tmp_path):
    """Chunks decoded straight from their files (edge chunks, mask, stored order != caller's
    order, chunks zarr never wrote) give exactly what zarr's own read path gives."""
    def epoch(loader, zarr_reads: bool):
        if zarr_reads:
            loader.source._files = False  # noqa: SLF001 - what a store the files path does not handle gets
        else:
            assert loader.source.files is not None
        return _collect(loader)

    for kw in ({}, {"feature_dims": ("b", "a")}, {"mask": None, "dtype": "float64"}):
        (xa, ia), (xb, ib) = (epoch(_synth_loader(synth, **kw), z) for z in (False, True))
        assert np.array_equal(ia, ib) and all(torch.equal(a, b) for a, b in zip(xa, xb)), kw

    # sample dims stored after the feature dims, and a chunk without a file: a store another program wrote
    # (zarr leaves out a chunk of fill values; it reads as the fill value, 0)
    v = np.random.default_rng(2).integers(1, 255, (3, 4, 10, 7), dtype=np.uint8)  # (row, col, y, x)
    v[:, :, :4, :3] = 0
    path = tmp_path / "t.zarr"
    xr.Dataset({"v": (("row", "col", "y", "x"), v)}).to_zarr(path, zarr_format=3, consolidated=True,
                                                              encoding={"v": {"chunks": (3, 4, 4, 3)}})
    assert not (path / "v" / "c" / "0" / "0" / "0" / "0").exists()
    kw = dict(var="v", sample_dims=("y", "x"), feature_dims=("row", "col"), batch_size=9, dtype=None,
              return_index=True)
    (xa, ia), (xb, ib) = (epoch(B.ZarrBatches(path, **kw), z) for z in (False, True))
    assert np.array_equal(ia, ib) and all(torch.equal(a, b) for a, b in zip(xa, xb))
    y, x = np.unravel_index(ia, (10, 7))
    assert torch.equal(torch.cat(xa)[:, 0], torch.from_numpy(np.ascontiguousarray(v[:, :, y, x].transpose(2, 0, 1))))

    # in a store vaearr wrote every chunk was written: one without its file is damage, refused before a batch
    whole = tmp_path / "w.zarr"
    write_variables(whole, {"v": xr.DataArray(v, dims=("row", "col", "y", "x"))}, chunks={"v": (3, 4, 4, 3)})
    running = B.ZarrBatches(whole, **kw)  # a chunk lost while a loader reads: its read fails, naming the file
    (whole / "v" / "c" / "0" / "0" / "0" / "0").unlink()
    with pytest.raises(StoreError, match=r"v/c/0/0/0/0: chunk file absent: vaearr writes every chunk"):
        epoch(running, False)
    with pytest.raises(StoreError, match=r"variable 'v' is damaged: 1 of 9 chunk files absent \(chunk \(0, 0, 0, 0\)"):
        B.ZarrBatches(whole, **kw)

    # a store in memory (not files): zarr reads it, same batches as on disk
    url = "memory://vaearr-batches/d.zarr"
    write_variables(url, {"v": xr.DataArray(v, dims=("row", "col", "y", "x"))}, chunks={"v": (3, 4, 4, 3)})
    mem = B.ZarrBatches(url, **kw)
    assert mem.source.files is None
    xm, im = _collect(mem)
    assert np.array_equal(im, ia) and all(torch.equal(a, b) for a, b in zip(xm, xa))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_flipped_byte_is_an_error(tmp_path, num_workers):
    path = tmp_path / "c.zarr"
    v = np.random.default_rng(0).integers(0, 255, (12, 4, 4), dtype=np.uint8)
    write_variables(path, {"v": xr.DataArray(v, dims=("s", "r", "c"))}, chunks={"v": (3, 4, 4)})
    chunk = next(p for p in (path / "v" / "c").rglob("*") if p.is_file())
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    loader = B.ZarrBatches(path, var="v", sample_dims="s", feature_dims=("r", "c"), batch_size=4,
                           num_workers=num_workers)
    with pytest.raises(Exception, match="(?i)checksum|crc"):
        list(loader)
    loader.close()
