"""What tests share: the CLI driven in this process or as a real process, store hashes, small real data makers,
a served page in Chromium, the digit and map runs' makers. Fixtures are in ``conftest.py``; no test module imports
another (``tests/test_layout.py``)."""

from __future__ import annotations

import contextlib
import contextvars
import gzip
import hashlib
import html as htmllib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import traceback
import urllib.request
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

#: the repository's root (tests/helpers.py sits one floor below it)
REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"  # Debian's chromium, driven by playwright (its own download needs the network)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def served_page(chromium, url: str, viewport: dict):
    """A page of ``chromium`` in a context of its own that may load only ``url`` (and blob:/data:): any other
    request (a CDN) is aborted and listed in ``blocked``; page and console errors go to ``errors``. Returns
    ``(context, page, blocked, errors)``; close the context when done."""
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith((url, "blob:", "data:")):
            r.continue_()
        else:  # a served app brings its own BokehJS and Panel bundles
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return context, page, blocked, errors


def tree_hash(path: str | os.PathLike) -> str:
    """SHA-256 over every file's relative path and bytes under ``path`` (empty string if absent)."""
    root = Path(path)
    if not root.exists():
        return ""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0")
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def run_cli(*args: str, check: bool = False, env: dict | None = None, cwd: str | os.PathLike | None = None):
    """Run the real ``vaearr`` command in a subprocess; returns the CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", "vaearr", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "VAEARR_PROGRESS": "off", **(env or {})},
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"vaearr {' '.join(map(str, args))} failed (exit {proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def cli(*args, env: dict | None = None, cwd: str | os.PathLike | None = None,
        check: bool = False) -> subprocess.CompletedProcess:
    """The ``vaearr`` command run in this process (``vaearr.cli.execute`` of its arguments), as :func:`run_cli` runs it in
    a new one: exit code, stdout and stderr in a CompletedProcess; ``env`` and ``cwd`` hold while it runs.

    What a test of a command's output, files and exit code needs, without a new interpreter's start (seconds of
    imports each); :func:`run_cli` stays for what only a process shows (signals, kills, limits, several processes).
    What the command sets for its own run (other libraries' context variables, warning filters, environment, working
    folder) is put back after it, so one call does not leak into the next test.
    """
    from vaearr.cli import execute

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update({"VAEARR_PROGRESS": os.environ.get("VAEARR_PROGRESS", "off"), **(env or {})})
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            try:
                contextvars.copy_context().run(execute, argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # noqa: BLE001 - what ``--debug`` lets through: a process would print the traceback and exit 1
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    proc = subprocess.CompletedProcess(["vaearr", *argv], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"vaearr {' '.join(argv)} failed (exit {code}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def vaearr_cli(*args) -> tuple[int, str, str]:
    """:func:`cli` as a tuple: exit code, stdout, stderr."""
    proc = cli(*args)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """A usage error: exit 2 and one ``error:`` line holding every one of ``needles``."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


#: the small conv-VAE of the digit tests (8 × 8 inputs, 3 latent dims)
DIGITS_MODEL = {"name": "conv-vae", "input_shape": [1, 8, 8], "latent_dim": 3, "channels": [8, 16]}


def make_run(run: Path, store: Path, *, model: dict, sample_dims: tuple[str, ...], feature_dims: tuple[str, ...],
             var: str = "images", mask: str | None = None, train_on: np.ndarray | None = None, steps: int = 0,
             seed: int = 0, **train) -> object:
    """A run folder as :func:`vaearr.train.fit` writes it (through :class:`vaearr.run.Run`), trained ``steps``
    Adam steps, with the input pipeline ``train``'s options ask for.

    fit() itself is tested in tests/train/test_train.py; here a short plain loop keeps the fixture fast
    while giving latents that depend on the input.
    """
    import dataclasses

    import torch

    from vaearr.models import build_model, save_model
    from vaearr.preprocess import Preprocess, PreprocessOptions
    from vaearr.run import DataSpec, Run, fit_preprocess
    from vaearr.train import TrainConfig
    from vaearr.transforms import Scale

    torch.manual_seed(seed)
    net = build_model(model)
    threads = torch.get_num_threads()
    # one thread: on a shared CI machine two threads spin against other jobs for tiny convs
    torch.set_num_threads(1)
    if steps:
        x_all = torch.as_tensor(train_on, dtype=torch.float32)
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(steps):
            x = x_all[torch.randint(len(x_all), (128,), generator=g)]
            loss = net(x).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    torch.set_num_threads(threads)
    net.eval()
    cfg = TrainConfig(store=str(store), run=str(run), var=var, mask=mask, model=model["name"], **train)
    if Path(store).exists():  # the pipeline fit() would fit on it
        data = DataSpec.resolve(store, var, sample_dims=sample_dims, feature_dims=feature_dims, mask=mask)
        pre = fit_preprocess(data, PreprocessOptions.of(cfg))
    else:  # a run whose store is gone: inputs scaled from uint8
        data = DataSpec(str(Path(store).resolve()), var, tuple(sample_dims), tuple(feature_dims), mask)
        pre = Preprocess([Scale((0.0, 1.0))], source_dtype="uint8", sample_shape=tuple(model["input_shape"]))
    Run.create(run, data=data, train=dataclasses.asdict(cfg), model=net.config.to_dict(), preprocess=pre)
    save_model(net, run / "best")
    return net


def association_pairs():
    """(case, x, y) pairs the association metrics are checked on: continuous, tied in x, y or both, float32."""
    rng = np.random.default_rng(1)
    n = 240
    x = rng.normal(size=n)
    y = np.sin(2 * x) + 0.4 * rng.normal(size=n)
    yield "continuous", x, y
    yield "ties", np.round(x, 1), np.round(y, 1)  # many ties in both, some pairs tied in both
    yield "x-ties", np.round(x, 1), y
    yield "y-ties", x, np.round(y, 1)
    yield "float32", x.astype(np.float32), np.float32(y)  # what a latent from the store holds


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, seconds: float) -> None:
    """Wait until ``url`` answers 200; fail with the tail of ``log`` if ``proc`` exits or time runs out."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the explorer exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the explorer did not answer on {url} in {seconds} s:\n{log.read_text()[-3000:]}")


MAP_NY, MAP_NX, MAP_P = 12, 16, 16
#: the conv-VAE of the map explorer tests
MAP_MODEL = {"name": "conv-vae", "input_shape": [1, 8, 8], "latent_dim": 3, "channels": [8, 16], "data_range": "standardized"}
MAP_STEP = 0.5  # µm: map coordinates differ from indices
#: true once the map explorer's page has drawn its map
READY_JS = ("() => window.Bokeh && Bokeh.documents.length > 0 && Array.from(Bokeh.documents[0].all_models)"
            ".some(m => m.name === 'map')")


def map_patterns(seed: int = 0) -> np.ndarray:
    """Two 'grains' with a bright band in different places, a smooth background and noise per pixel."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[0:MAP_P, 0:MAP_P]
    bg = 60 + 60 * np.exp(-((r - MAP_P / 2) ** 2 + (c - MAP_P / 2) ** 2) / (2 * 5.0**2))
    band_a = 80 * (np.abs(r - c) < 2)
    band_b = 80 * (np.abs(r + c - MAP_P) < 2)
    yy, xx = np.mgrid[0:MAP_NY, 0:MAP_NX]
    grain = (xx + 0.5 * yy) > 9
    out = bg + np.where(grain[..., None, None], band_b, band_a) + rng.normal(0, 12, (MAP_NY, MAP_NX, MAP_P, MAP_P))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def make_places(root: Path, kikuchipy_data_dir: Path) -> dict[str, str]:
    """The three small stores and the broken files under ``root``: placeholder → path."""
    import nibabel as nib  # the 'nifti' extra: callers skip without it
    from PIL import Image

    from vaearr.io.ebsd import ingest_ebsd
    from vaearr.io.images import ingest_images
    from vaearr.io.nifti import ingest_nifti
    from vaearr.io.tables import ingest_tables

    rng = np.random.default_rng(0)
    src = kikuchipy_data_dir / "kikuchipy_h5ebsd" / "patterns.h5"
    ds = ingest_ebsd(src, root / "map.zarr")
    xs, ys = np.meshgrid(ds["x"].values, ds["y"].values)
    rows = [f"{x:g},{y:g},{v}" for x, y, v in zip(xs.ravel(), ys.ravel(), rng.integers(50, 200, xs.size))]
    (root / "bc.csv").write_text("x,y,bandcontrast\n" + "\n".join(rows) + "\n")
    ingest_tables(root / "map.zarr", bandcontrast=root / "bc.csv")
    png = root / "png"
    for label in ("a", "b"):
        (png / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(png / label / f"{i}.png")
    ingest_images(png, root / "img.zarr", size=8)
    nii = root / "vol0.nii.gz"
    nib.save(nib.Nifti1Image(rng.random((6, 6, 6)).astype(np.float32), np.eye(4)), nii)
    ingest_nifti([nii], root / "vol.zarr")
    (root / "text.txt").write_text("not data\n")
    (root / "empty").mkdir()
    (root / "trunc.h5").write_bytes(src.read_bytes()[:4096])
    (root / "junk.h5").write_bytes(rng.integers(0, 255, 3000, dtype=np.uint8).tobytes())
    badpng = root / "badpng"
    shutil.copytree(png, badpng)
    (badpng / "a" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    head = bytes([0, 0, 0x08, 3]) + np.asarray([10, 28, 28], dtype=">u4").tobytes()
    with gzip.open(root / "short-idx3-ubyte.gz", "wb") as f:
        f.write(head + bytes(100))
    (root / "empty.csv").write_text("")
    (root / "broken.ang").write_text("# not an ang file\n1 2 3\n")
    (root / "norun").mkdir()
    (root / "broken.cif").write_text("data_x\n_cell_length_a abc\nloop_\n_foo\n")
    return {"map": str(root / "map.zarr"), "img": str(root / "img.zarr"), "vol": str(root / "vol.zarr"),
            "none": str(root / "absent.zarr"), "file": str(root / "text.txt"), "dir": str(root / "empty"),
            "under": str(root / "text.txt" / "sub"), "trunc": str(root / "trunc.h5"), "junk": str(root / "junk.h5"),
            "png": str(png), "badpng": str(badpng), "nii": str(nii), "idx": str(root / "short-idx3-ubyte.gz"),
            "csv": str(root / "empty.csv"), "ang": str(root / "broken.ang"), "run": str(root / "norun"),
            "tmp": str(root / "out"), "bc": str(root / "bc.csv"), "cif": str(root / "broken.cif")}


_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C,
          np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}  # fmt: skip


def write_idx(path: Path, arr: np.ndarray, *, gz: bool = False) -> Path:
    """A minimal IDX writer: magic, big-endian dims, big-endian values."""
    arr = np.asarray(arr)
    head = bytes([0, 0, _CODES[arr.dtype], arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    raw = head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


#: ferrite (BCC iron) as a CIF file's text
FERRITE_CIF = """data_ferrite
_symmetry_space_group_name_H-M 'I m -3 m'
_symmetry_Int_Tables_number 229
_cell_length_a 2.8665
_cell_length_b 2.8665
_cell_length_c 2.8665
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Fe1 Fe 0 0 0 1
"""


def bokeh_doc(path: Path) -> dict:
    """The Bokeh document JSON embedded in a standalone page."""
    text = path.read_text()
    found = re.findall(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', text, re.S)
    assert len(found) == 1
    (doc,) = json.loads(htmllib.unescape(found[0])).values()
    return doc


def objects(node, name: str) -> list[dict]:
    """Every model ``name`` (in document order) with its attributes."""
    out = []
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("name") == name:
            out.append(node)
        for v in node.values():
            out += objects(v, name)
    elif isinstance(node, list):
        for v in node:
            out += objects(v, name)
    return out


# a command run with a file-size limit (RLIMIT_FSIZE: what a full disk does to a write, without root to mount a
# small tmpfs); SIGXFSZ ignored, so a write past the limit fails with EFBIG. ``python -c LIMITED LIMIT ARGS...``
LIMITED = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sys.argv = ["vaearr", *sys.argv[2:]]
    from vaearr.cli import main
    main()
""")


def stop_server(server: subprocess.Popen) -> None:
    """Terminate a server process the test started, killing it if it does not end within 15 s."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=15)


#: The grid of :func:`column_map`: the stand-in pattern maps of the tests of what reads neighbouring patterns (grain
#: cuts, set-aside pixels).
COLUMN_MAP_SHAPE = (24, 32)


def picture(rng: np.random.Generator, side: int = 20) -> np.ndarray:
    """A smooth random picture standing for one orientation's pattern (unrelated to another drawn alike)."""
    from scipy import ndimage as ndi

    return ndi.gaussian_filter(rng.normal(size=(side, side)), 1.5)


def unit_patterns(block: np.ndarray) -> np.ndarray:
    """Each pattern of a (rows, columns, py, px) block as a unit vector of zero mean."""
    v = block.reshape(*block.shape[:2], -1).astype(np.float64)
    v = v - v.mean(-1, keepdims=True)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def column_map(columns: np.ndarray, noise: float = 0.6, seed: int = 1) -> np.ndarray:
    """Patterns (ny, nx, py, px) of :data:`COLUMN_MAP_SHAPE`: column x holds ``columns[x]`` (a picture), each pixel
    with its own noise (``noise`` × the pictures' mean standard deviation)."""
    rng = np.random.default_rng(seed)
    pats = np.broadcast_to(columns[None], (COLUMN_MAP_SHAPE[0], *columns.shape)).copy()
    scale = columns.reshape(len(columns), -1).std(-1).mean()
    return pats + noise * scale * rng.normal(size=pats.shape)


#: The detector of :func:`turned_map`: 60 × 60 patterns at the patchwork family's projection centre (Bruker).
TURNED_PC = (0.51, 0.31, 0.62)


def turned_map(path: Path, turns: np.ndarray, *, shape: tuple[int, int], counts: float = 60.0, seed: int = 0,
               features: np.ndarray | None = None, pc_attrs: bool = True) -> Path:
    """A store of simulated Ni patterns (kikuchipy's master pattern, :func:`benchmarks.data.patchwork.kikuchi_scaled`)
    whose pixel ``(y, x)`` is one orientation turned by the rotation vector ``turns[y, x]`` (degrees), recorded at
    ``counts`` (Poisson) on a vignetted screen; with ``features`` (y, x, d) a feature map ``feat`` beside them, and
    the detector's PC in the patterns' attrs (``pc_attrs``)."""
    import xarray as xr

    from benchmarks.data.patchwork import kikuchi_scaled, vignetting
    from benchmarks.data.rotations import quat_multiply, rotvec_quat
    from vaearr.store import write_variables

    rng = np.random.default_rng(seed)
    base = np.array([0.8, 0.2, -0.4, 0.4])
    base /= np.linalg.norm(base)
    q = quat_multiply(np.broadcast_to(base, (*shape, 4)), rotvec_quat(np.radians(np.asarray(turns, float))))
    k = kikuchi_scaled(q.reshape(-1, 4), (60, 60), TURNED_PC)
    lam = counts * vignetting((60, 60)) * (0.35 + 0.65 * k)
    patterns = rng.poisson(lam).astype(np.uint16).reshape(*shape, 60, 60)
    coords = {"y": np.arange(shape[0], dtype=float), "x": np.arange(shape[1], dtype=float)}
    attrs = {"pc": list(TURNED_PC), "pc_convention": "bruker", "sample_tilt": 70.0, "pc_source": "the simulation"}
    variables = {"patterns": xr.DataArray(patterns, dims=("y", "x", "py", "px"), coords=coords,
                                          attrs=attrs if pc_attrs else {})}
    if features is not None:
        variables["feat"] = xr.DataArray(np.asarray(features, np.float32), dims=("y", "x", "feat_dim"), coords=coords)
    write_variables(path, variables, source=["tests.helpers.turned_map"], config={"counts": counts},
                    group_attrs={"kind": "ebsd-map", "grid": "square", "step": [1.0, 1.0], "step_units": "µm",
                                 "scan_shape": list(shape)})
    return path


#: The detector of :func:`band_patterns`: 40 × 40 pixels, the projection centre in the middle (Bruker).
BAND_PC, BAND_SHAPE = (0.5, 0.5, 0.7), (40, 40)


def band_patterns(turns: np.ndarray, *, counts: float = 100.0, seed: int = 0) -> np.ndarray:
    """Patterns ``(..., 40, 40)`` float32 of one crystal of twelve random bands (a Gaussian profile of each plane
    normal's angle to the direction seen) turned by the rotation vectors ``turns`` ``(..., 3)`` (degrees), recorded at
    ``counts`` (Poisson): the gnomonic projection of :data:`BAND_PC`, written out, so a rotation is known exactly and
    no master pattern is simulated (a few milliseconds, where :func:`turned_map`'s Ni takes seconds)."""
    from scipy.spatial.transform import Rotation

    from vaearr.maps.patterns.misorientation import Geometry

    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(12, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    rows, cols = np.mgrid[0:BAND_SHAPE[0], 0:BAND_SHAPE[1]]
    d = Geometry(BAND_PC, BAND_SHAPE).directions(rows.ravel(), cols.ravel())
    turns = np.asarray(turns, float)
    q = Rotation.from_rotvec(np.radians(turns.reshape(-1, 3))).as_matrix()  # (n, 3, 3)
    v = np.einsum("pj,nij->npi", d, q)  # each direction turned: q d
    bands = np.exp(-((v @ normals.T) / 0.05) ** 2).sum(-1) + 1.0
    return rng.poisson(counts * bands).astype(np.float32).reshape(*turns.shape[:-1], *BAND_SHAPE)


def coins_bandcontrast(stride: int, nan_block: tuple[slice, slice], *, step: float = 0.5, y0: float = 0.0) -> xr.DataArray:
    """A real micrograph (skimage's coins, every ``stride``-th pixel) as a band-contrast map of ``step`` µm with a NaN
    block at ``nan_block``, its y coordinates starting at ``y0``."""
    import xarray as xr
    from skimage.data import coins

    v = coins()[::stride, ::stride].astype(np.float32)
    v[nan_block] = np.nan
    ny, nx = v.shape
    return xr.DataArray(v, dims=("y", "x"), name="bandcontrast",
                        coords={"y": np.arange(ny) * step + y0, "x": np.arange(nx) * step})
