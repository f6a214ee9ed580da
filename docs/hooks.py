"""mkdocs hooks: pages made at build time from what the repository already holds.

The command-line reference is typer's own Markdown for the ``vaearr`` app (so it cannot drift from the
commands), and ARCHITECTURE.md, BENCHMARKS.md, CHANGELOG.md and RELIABILITY.md are taken from the repository root as they are.
The walkthrough notebooks of :data:`NOTEBOOKS` are executed (nbclient, a fresh kernel, in a folder of their own) and
their cells and outputs become pages; ``python docs/hooks.py`` (``make notebooks``) executes them the same way and
stores them with their outputs in notebooks/.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

import typer
from mkdocs.structure.files import File, Files
from typer.cli import get_docs_for_click

ROOT = Path(__file__).resolve().parents[1]
# page in the site: file at the repository root
ROOT_PAGES = {"architecture.md": "ARCHITECTURE.md", "benchmarks.md": "BENCHMARKS.md", "changelog.md": "CHANGELOG.md",
              "reliability.md": "RELIABILITY.md"}
CLI_INTRO = """# Command line

Every `vaearr` command with its options, generated from the command itself when the site is built (the same
text as `vaearr COMMAND --help`). A store argument may be `s3://bucket/path.zarr` everywhere
([object storage](scale.md)). The options' names follow one vocabulary, with the old spellings each still takes
([command-line vocabulary](vocabulary.md)).

"""


def cli_reference() -> str:
    """The ``vaearr`` app's commands as Markdown, one section per command."""
    from vaearr.cli import app  # the command modules register their commands on import

    command = typer.main.get_command(app)
    with command.make_context("vaearr", [], resilient_parsing=True) as ctx:
        text = get_docs_for_click(obj=command, ctx=ctx, name="vaearr")
    # typer writes the app as the page's title: the commands become its sections
    text = re.sub(r"\A# `vaearr`\n", "## `vaearr`\n", text)
    # typer lists the groups after the commands; ingest comes first on the command line's own --help
    top, *sections = re.split(r"(?m)^(?=## `vaearr )", text.replace("&#x27;", "'"))
    groups = [s for s in sections if re.match(r"## `vaearr ingest`", s)]
    return CLI_INTRO + top + "".join(groups + [s for s in sections if s not in groups])


def root_page(name: str) -> str:
    """A Markdown file of the repository root, its links to other root files and to docs/ pointed into the site."""
    text = (ROOT / name).read_text(encoding="utf-8")
    for page, source in ROOT_PAGES.items():
        text = text.replace(f"]({source})", f"]({page})")
    return re.sub(r"\]\(docs/", "](", text)


# Sphinx cross-reference roles in the docstrings (:mod:`~vaearr.io.write`) as Markdown renders them
ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|obj|exc):<code>(~?)([\w.]+)(\(\))?</code>")
# mkdocs-gallery writes for directory URLs: thumbnails link to "plot_x" and figures point to "../images/...";
# the site's pages are files (plot_x.html, beside images/)
GALLERY_LINK = re.compile(r'href="(plot_\w+)"')
GALLERY_IMAGES = re.compile(r'(src|srcset)="\.\./images/')


def role_link(match: re.Match) -> str:
    """A role as a link to the object's entry in the API reference where there is one, as code otherwise."""
    short, name, call = match.groups()
    shown = (name.rsplit(".", 1)[-1] if short else name) + (call or "")
    return f'<autoref identifier="{name}" optional><code>{shown}</code></autoref>'


def on_page_content(html: str, page, config, files) -> str:
    """Docstrings' roles become links (mkdocs-autorefs resolves them, or leaves code); gallery links get .html."""
    html = ROLE.sub(role_link, html)
    if page.file.src_uri.startswith("generated/gallery/"):
        html = GALLERY_IMAGES.sub(r'\1="images/', GALLERY_LINK.sub(r'href="\1.html"', html))
    return html


def on_files(files: Files, config) -> Files:
    """Add the generated pages to the site: the command-line reference, the root files and the executed notebooks."""
    files.append(File.generated(config, "cli.md", content=cli_reference()))
    for page, source in ROOT_PAGES.items():
        files.append(File.generated(config, page, content=root_page(source)))
    for name in NOTEBOOKS:
        files.append(File.generated(config, f"notebooks/{name}.md", content=notebook_page(execute_notebook(name), name)))
    return files


# --------------------------------------------------------------------------------------------
# the walkthrough notebooks, executed

#: Notebooks (in notebooks/) executed at build time and shown as pages (notebooks/NAME.md): those on data that
#: ships with the packages (kikuchipy's real Ni scan).
NOTEBOOKS = ("ebsd_walkthrough",)


@contextlib.contextmanager
def _environment(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute_notebook(name: str):
    """``notebooks/NAME.ipynb`` run top to bottom in a fresh kernel, in a temporary folder (its files under ``out``,
    so the outputs show relative paths); an error in a cell stops with that cell's error."""
    import nbclient
    import nbformat
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    with tempfile.TemporaryDirectory(prefix=f"vaearr-{name}-") as work, \
            _environment(VAEARR_NOTEBOOK_OUT="out", VAEARR_PROGRESS="off", MPLBACKEND="module://matplotlib_inline.backend_inline"):
        # sockets in the folder, not TCP ports: nothing listens on the network (and the kernel says nothing of it)
        km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(work, "kernel"))
        try:
            nbclient.NotebookClient(nb, km=km, timeout=900, resources={"metadata": {"path": work}}).execute()
        finally:
            if km.has_kernel:  # a kernel handed to nbclient is ours to stop
                km.shutdown_kernel()
    return nb


def _output_markdown(out) -> str:
    data = out.get("data", {})
    if out.output_type == "stream":
        return f"```text\n{out.text.rstrip()}\n```\n"
    if "image/png" in data:
        return f'<img alt="output" src="data:image/png;base64,{"".join(data["image/png"].split())}">\n'
    if "text/html" in data and "<script" not in data["text/html"]:
        return f'<div class="nb-output">\n{data["text/html"]}\n</div>\n'
    if "text/plain" in data:
        return f"```text\n{data['text/plain'].rstrip()}\n```\n"
    return ""


def notebook_page(nb, name: str) -> str:
    """An executed notebook as a Markdown page: its Markdown cells, each code cell and its outputs (text, tables,
    figures as embedded PNG), and where to find the notebook."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source + "\n")
        elif cell.cell_type == "code":
            parts.append(f"```python\n{cell.source}\n```\n")
            parts += [_output_markdown(o) for o in cell.get("outputs", [])]
    parts.append(f"\n*This page is `notebooks/{name}.ipynb`, executed when the site was built "
                 f"(`make docs`); the notebook is stored with its outputs (`make notebooks`).*\n")
    return "\n".join(p for p in parts if p)


def store_notebooks() -> None:
    """Execute each notebook of :data:`NOTEBOOKS` and write it back with its outputs (``make notebooks``)."""
    import nbformat

    for name in NOTEBOOKS:
        nb = execute_notebook(name)
        nbformat.write(nb, ROOT / "notebooks" / f"{name}.ipynb")
        print(f"executed and stored notebooks/{name}.ipynb")


if __name__ == "__main__":
    sys.exit(store_notebooks())
