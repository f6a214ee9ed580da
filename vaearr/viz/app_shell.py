"""The app shell both explorers share: a header, a sidebar, one stylesheet, and serving on 127.0.0.1.

``vaearr explore --serve`` (:class:`vaearr.viz.latent_explorer.Explorer`) and ``vaearr explore-map``
(:class:`vaearr.viz.map_explorer.MapExplorer`) build their views inside :func:`shell` and serve
them with :func:`serve`: bound to 127.0.0.1 only, on the port given or a free one, with every
resource (BokehJS, Panel) served by the app itself, so they work offline.
"""

from __future__ import annotations

import html
import re
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from vaearr.errors import require

#: One look for both explorers (Panel scopes each stylesheet to the component it is given to).
CSS = """
:host { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933; }
:host(.vaearr-sidebar) { background: #f3f5f8; border-right: 1px solid #d9dee5; padding: 8px 10px; }
:host(.vaearr-card) { border: 1px solid #d9dee5; border-radius: 6px; padding: 4px; margin: 4px; background: white; }
.vaearr-header { background: #1f3a5f; color: white; padding: 8px 16px; display: flex; align-items: baseline;
                 gap: 14px; border-radius: 4px; }
.vaearr-header .brand { font-weight: 700; font-size: 18px; letter-spacing: 0.5px; }
.vaearr-header .title { font-size: 16px; }
.vaearr-header .subtitle { font-size: 12px; opacity: 0.8; margin-left: auto; }
.vaearr-note { font-size: 12px; color: #52606d; }
table.vaearr-values { border-collapse: collapse; font-size: 12px; }
table.vaearr-values td { padding: 1px 6px; border-bottom: 1px solid #eef1f4; vertical-align: top; }
table.vaearr-values td:first-child { color: #52606d; }
"""


def header(title: str, subtitle: str = "") -> Any:
    """The bar across the top: ``vaearr · title`` and a subtitle (the store and run, say)."""
    pn = require("panel", "viz")
    return pn.pane.HTML(
        f'<div class="vaearr-header"><span class="brand">vaearr</span><span class="title">{html.escape(title)}</span>'
        f'<span class="subtitle">{html.escape(subtitle)}</span></div>',
        sizing_mode="stretch_width", stylesheets=[CSS], margin=(4, 4, 8, 4))


def card(*objects: Any, **kwargs: Any) -> Any:
    """A bordered column (one panel of a view)."""
    pn = require("panel", "viz")
    return pn.Column(*objects, css_classes=["vaearr-card"], stylesheets=[CSS], **kwargs)


def note(text: str, **kwargs: Any) -> Any:
    """A line of small grey text (HTML)."""
    pn = require("panel", "viz")
    return pn.pane.HTML(f'<div class="vaearr-note">{text}</div>', stylesheets=[CSS], **kwargs)


def shell(title: str, main: Any, *, sidebar: Sequence[Any] = (), subtitle: str = "", sidebar_width: int = 250) -> Any:
    """The app: the header, the sidebar (widgets) on the left, ``main`` on the right."""
    pn = require("panel", "viz")
    side = pn.Column(*sidebar, width=sidebar_width, css_classes=["vaearr-sidebar"], stylesheets=[CSS])
    return pn.Column(header(title, subtitle), pn.Row(side, main), stylesheets=[CSS])


def free_port(address: str = "127.0.0.1") -> int:
    """A port nobody listens on at ``address`` now (the OS's choice)."""
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def serve(app: Callable[[], Any] | Any, *, title: str, port: int | None = None, address: str = "127.0.0.1",
          show: bool = False, announce: Callable[[str], None] | None = print, **kwargs: Any) -> Any:
    """Serve ``app`` (a function building the view per browser session, or a view) at ``address``.

    ``port`` None or 0 takes a free one; the URL is handed to ``announce`` before serving
    (blocks until stopped).
    """
    pn = require("panel", "viz")
    port = int(port) if port else free_port(address)
    server = pn.serve(app, port=port, address=address, show=show, title=f"vaearr {title}", start=False, **kwargs)
    # before Bokeh's and Panel's own routes (add_handlers puts them first): malformed paths are a 404, never a
    # 500, and no module named in a URL is imported
    server._tornado.add_handlers(r".*", guarded_routes())  # noqa: SLF001 - Panel has no public way to do it
    if announce is not None:
        announce(f"serving the {title} on http://{address}:{port} (Ctrl-C stops)")
    server.start()
    server.io_loop.start()
    return server


#: a module name as Panel's component URLs give it: dotted identifiers
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def guarded_routes() -> list[tuple]:
    """Routes for Bokeh's static files and Panel's component resources that answer a malformed path (a NUL byte,
    ``..``, a module name that is not one) with 404 instead of a server error, and that serve the resources of
    modules already imported only: Panel's handler imports the module a ``/components/<module>/...`` URL names,
    so any URL could import any module of the environment."""
    web = require("tornado.web", "viz")
    panel_server = require("panel.io.server", "viz")
    bokeh_static = require("bokeh.server.views.static_handler", "viz")

    def checked(handler: type) -> type:
        class Checked(handler):
            async def get(self, path: str, include_body: bool = True) -> None:
                parts = path.split("/")
                if "\0" in path or "\\" in path or any(p in ("..", "") for p in parts[:-1]) or ".." in parts:
                    raise web.HTTPError(404)
                if handler is panel_server.ComponentResourceHandler and not (
                        _MODULE.fullmatch(parts[0]) and parts[0] in sys.modules):
                    raise web.HTTPError(404)  # never import a module because a URL names it
                try:
                    await super().get(path, include_body)
                except web.HTTPError:
                    raise
                except (OSError, ValueError, TypeError, AttributeError, KeyError, ImportError):
                    raise web.HTTPError(404) from None

        Checked.__name__ = f"Checked{handler.__name__}"
        return Checked

    return [(r"/components/(.*)", checked(panel_server.ComponentResourceHandler), {}),
            (r"/static/(?!extensions/)(.*)", checked(bokeh_static.StaticHandler), {})]


__all__ = ["CSS", "card", "free_port", "guarded_routes", "header", "note", "serve", "shell"]
