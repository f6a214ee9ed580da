"""The served apps' shell: a free port, the header (escaped), and the guarded routes put before Panel's own
(tests/viz/test_serve_guarded.py sends them malformed paths on a live server)."""

from __future__ import annotations

import socket

import pytest

from vaearr.viz.app_shell import free_port, guarded_routes, header


def test_free_port_can_be_bound() -> None:
    port = free_port()
    assert 1024 <= port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_header_escapes_its_text() -> None:
    pytest.importorskip("panel", reason="the viz extra builds the apps")
    text = header("map <explorer>", "a & b").object
    assert '<span class="title">map &lt;explorer&gt;</span>' in text and "a &amp; b" in text


def test_guarded_routes_wrap_panel_and_bokeh_handlers() -> None:
    pytest.importorskip("panel", reason="the viz extra builds the apps")
    from bokeh.server.views.static_handler import StaticHandler
    from panel.io.server import ComponentResourceHandler

    (components, h1, _), (static, h2, _) = guarded_routes()
    assert components == r"/components/(.*)" and static == r"/static/(?!extensions/)(.*)"
    assert issubclass(h1, ComponentResourceHandler) and h1.__name__ == "CheckedComponentResourceHandler"
    assert issubclass(h2, StaticHandler) and h2.__name__ == "CheckedStaticHandler"
