"""mkdocs hooks: pages made at build time from what the repository already holds.

The command-line reference is typer's own Markdown for the ``vaearr`` app (so it cannot drift from the
commands), and ARCHITECTURE.md, BENCHMARKS.md, CHANGELOG.md and RELIABILITY.md are taken from the repository root as they are.
"""

from __future__ import annotations

import re
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
([object storage](scale.md)).

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
    """Add the generated pages to the site."""
    files.append(File.generated(config, "cli.md", content=cli_reference()))
    for page, source in ROOT_PAGES.items():
        files.append(File.generated(config, page, content=root_page(source)))
    return files
