"""The documentation site builds (``mkdocs build --strict``, the gallery's examples executed), shows its figures,
searches offline, and a broken example fails the build."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO

pytest.importorskip("mkdocs", reason="needs the 'docs' extra (mkdocs)")
pytest.importorskip("mkdocs_gallery", reason="needs the 'docs' extra (mkdocs-gallery)")
pytest.importorskip("mkdocstrings_handlers.python", reason="needs the 'docs' extra (mkdocstrings[python])")

EXAMPLES = ["plot_ebsd_vendor_file", "plot_fashion_mnist", "plot_mri"]


def _build(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VAEARR_PROGRESS": "off", "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "agg"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"),
                           "-d", str(root / "site")], cwd=root, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The repository's site built in a copy of its docs (the gallery writes beside its sources), every example run."""
    root = tmp_path_factory.mktemp("docs")
    shutil.copy(REPO / "mkdocs.yml", root)
    shutil.copytree(REPO / "docs", root / "docs", ignore=shutil.ignore_patterns("generated", "__pycache__"))
    for name in ("vaearr", "notebooks", "ARCHITECTURE.md", "BENCHMARKS.md", "CHANGELOG.md", "RELIABILITY.md"):
        (root / name).symlink_to(REPO / name)
    done = _build(root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "WARNING" not in done.stderr, done.stderr[-6000:]
    return root / "site"


def test_pages_and_references(site: Path) -> None:
    for page in ("index", "ebsd", "training", "analysis", "images", "mri", "scripts", "flows", "scale", "store",
                 "layout", "architecture", "reliability", "benchmarks", "changelog", "cli"):
        assert (site / f"{page}.html").stat().st_size > 5_000, page
    cli = (site / "cli.html").read_text()
    # the CLI reference comes from the app itself: every command, with its options
    for text in ("vaearr ingest ebsd", "vaearr train", "vaearr orientation-maps", "--otsu", "--latent-dim"):
        assert text in cli, text
    api = {name: (site / "api" / f"{name}.html").read_text() for name in
           ("store", "io", "maps", "train", "analysis", "viz", "options")}
    # mkdocstrings rendered the docstrings: objects with their anchors, a parameters table from numpydoc
    assert 'id="vaearr.store.write_variables"' in api["store"]
    assert 'id="vaearr.train.TrainConfig"' in api["train"] and 'id="vaearr.encoding"' in api["train"]
    assert 'id="vaearr.options.opt"' in api["options"]
    assert all("doc-section-title" in html or "Parameters" in html for html in api.values())
    # docstrings' Sphinx roles became links into the reference, not ":mod:" text
    assert ":mod:<code>" not in api["io"] and 'href="#vaearr.io.write"' in api["io"]


def test_gallery_runs_examples_with_figures(site: Path) -> None:
    from PIL import Image

    index = (site / "generated" / "gallery" / "index.html").read_text()
    for name in EXAMPLES:
        assert f'href="{name}.html"' in index  # the thumbnails link to the pages as files
        html = (site / "generated" / "gallery" / f"{name}.html").read_text()
        text = re.sub(r"<[^>]+>", "", html)  # the output blocks are highlighted: a command's words are spans
        assert "$ vaearr ingest " in text and "$ vaearr train " in text  # the commands and their output are on the page
        pngs = re.findall(rf'src="(images/mkd_glr_{name}_\d+\.png)"', html)
        assert pngs, f"{name}: no figure on the page"
        for png in pngs:
            pixels = np.asarray(Image.open(site / "generated" / "gallery" / png).convert("L"), dtype=float)
            assert pixels.std() > 5, f"{png} is blank"


def test_the_ebsd_page_leads_with_python_and_the_walkthrough_notebook_is_executed(site: Path) -> None:
    """The EBSD page shows the top-level steps and ds.vaearr first; the walkthrough notebook, executed by the build on
    kikuchipy's real Ni scan, is a page with its outputs (the steps' lines, the maps as pictures)."""
    import base64
    import io

    from PIL import Image

    ebsd = re.sub(r"<[^>]+>", "", (site / "ebsd.html").read_text())
    assert ebsd.index("vaearr.train(") < ebsd.index("vaearr train stores/ni.zarr")  # Python before the commands
    assert "ds.vaearr.map(&quot;latent&quot;, dim=3)" in ebsd or 'ds.vaearr.map("latent", dim=3)' in ebsd
    page = (site / "notebooks" / "ebsd_walkthrough.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    assert "patterns: 3 × 3 scan of 60 × 60 px uint8" in text and "indexed 9 patterns" in text  # the real scan's
    pictures = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pictures) == 4
    for data in pictures:
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"), dtype=float)
        assert pixels.std() > 5  # not blank
    assert "Traceback" not in text


def test_every_command_is_documented_beside_its_reference() -> None:
    """Every command of the app appears in the README or a walkthrough page, not only in the generated reference."""
    import typer

    from vaearr.cli import app

    group = typer.main.get_command(app)
    names = [f"{name} {sub}" if hasattr(cmd, "commands") else name
             for name, cmd in group.commands.items() for sub in (getattr(cmd, "commands", None) or [""])]
    text = "\n".join(p.read_text() for p in [REPO / "README.md", *(REPO / "docs").glob("*.md")])
    missing = [n for n in names if f"vaearr {n.strip()}" not in text]
    assert not missing, missing


def test_site_renders_and_searches_offline(site: Path, chromium) -> None:
    """Opened from disk with the network blocked: the gallery's figures load and the search answers."""
    page = chromium.new_page(viewport={"width": 1300, "height": 900})
    blocked: list[str] = []
    errors: list[str] = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://")
               else (blocked.append(r.request.url), r.abort()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    for name in EXAMPLES:
        page.goto((site / "generated" / "gallery" / f"{name}.html").as_uri())
        page.wait_for_load_state("load")
        sizes = page.evaluate("() => [...document.querySelectorAll('article img')].map(i => i.naturalWidth)")
        assert sizes and all(w > 0 for w in sizes), (name, sizes)  # every figure loaded
    page.goto((site / "index.html").as_uri())
    page.wait_for_load_state("load")
    assert page.locator("nav.md-nav--primary").first.is_visible()
    page.keyboard.press("/")  # the theme's shortcut to the search box
    page.keyboard.type("transaction")
    page.wait_for_selector(".md-search-result__item", timeout=20_000)
    assert page.locator(".md-search-result__item").count() >= 1
    page.close()
    assert blocked == [] and errors == [], (blocked, errors)


def test_broken_example_fails_the_build(tmp_path: Path) -> None:
    """mkdocs-gallery stops the build on an example that raises (``abort_on_example_error``), naming it."""
    (tmp_path / "docs" / "examples").mkdir(parents=True)
    (tmp_path / "docs" / "index.md").write_text("# x\n")
    (tmp_path / "docs" / "examples" / "README.md").write_text("# Examples\n")
    (tmp_path / "docs" / "examples" / "plot_broken.py").write_text('"""\n# Broken\n"""\nraise ValueError("on purpose")\n')
    config = (REPO / "mkdocs.yml").read_text()
    gallery = re.search(r"  - gallery:\n(?:      .*\n)+", config).group(0)  # the repository's gallery settings
    (tmp_path / "mkdocs.yml").write_text(f"site_name: t\nstrict: true\nplugins:\n{gallery}")
    done = _build(tmp_path)
    assert done.returncode != 0
    assert "plot_broken.py" in done.stderr and "on purpose" in done.stderr


def test_run_a_command_line_in_process(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``vaearr.cli.run``, which the examples use: messages to stdout, a failure raises, the folder is left alone."""
    from vaearr.cli import run

    here = os.getcwd()
    run("--version", echo=True)
    assert capsys.readouterr().out.startswith("$ vaearr --version\nvaearr ")
    with pytest.raises(RuntimeError, match="exited with status 2"):
        run(f"info {tmp_path / 'missing.zarr'}")
    out = capsys.readouterr().out
    assert out.startswith("error: ") and "missing.zarr" in out  # the command's one error line, on stdout
    assert os.getcwd() == here
