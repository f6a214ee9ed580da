"""Servers that stay small (issue 42, part 4): the map explorer drops a session's view when the session ends (its page
closed, or a page that never connected), answers malformed paths with 404 (never a server error), and imports no
module because a URL names it. The memory of 1,000 page loads is measured in ``benchmarks/bench_explore_sessions.py``
(BENCHMARKS.md)."""

from __future__ import annotations

import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.helpers import READY_JS, free_port, served_page

pytest.importorskip("panel", reason="needs the 'viz' extra")


@pytest.fixture(scope="module")
def served(map_run):
    """The map explorer served in this process (a thread), unused sessions ended after 1 s (Bokeh: 15 s)."""
    from vaearr.viz.map_explorer import MapExplorer

    store, run, _ = map_run
    app = MapExplorer(store, run)
    port = free_port()
    threading.Thread(target=lambda: app.serve(port, announce=None, unused_session_lifetime_milliseconds=1000,
                                              check_unused_sessions_milliseconds=300), daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            _status(url)
            break
        except OSError:
            time.sleep(0.5)
    return app, url


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _settle(app, most: int = 0, seconds: float = 20) -> int:
    end = time.monotonic() + seconds
    while len(app.views) > most and time.monotonic() < end:
        time.sleep(0.2)
    return len(app.views)


def test_a_view_is_dropped_when_its_session_ends(served):
    """30 page loads that never connect: the views they made are gone once Bokeh ends their sessions (today all 30
    stay in ``MapExplorer.views`` for the server's life, about 1 MB each on a 500 × 500 map)."""
    app, url = served
    _settle(app)
    for _ in range(30):
        assert _status(url) == 200
    assert 0 < len(app.views) <= 30
    assert _settle(app) == 0


def test_a_page_closed_in_the_browser_drops_its_view(served, chromium):
    app, url = served
    _settle(app)
    context, page, blocked, errors = served_page(chromium, url, {"width": 1200, "height": 900})
    try:
        page.goto(url)
        page.wait_for_function(READY_JS, timeout=60000)
        time.sleep(2)  # connected: the session is in use and its view stays
        assert len(app.views) == 1 and not errors, errors
    finally:
        context.close()
    assert _settle(app) == 0


#: paths a scanner sends: a NUL byte, a path out of the folder, a module that is not one, modules never imported
MALFORMED = ["/components/..%2f..", "/components/..%2f..%2f..%2fetc%2fpasswd", "/components/%00/x/__css__/a.css",
             "/components/../../x/y/z", "/components/tabnanny/Foo/__css__/a.css", "/components/os/path/__css__/x",
             "/components/panel/Foo/__css__/..%2f..%2fsetup.py", "/static/%00", "/static/..%2f..%2f..%2fetc%2fpasswd",
             "/static/js/%00bokeh.min.js", "/static/extensions/%00", "/%00", "/components/"]


def test_malformed_paths_are_404_and_import_nothing(served):
    """Today ``/static/%00`` answers 500 and ``/components/<module>/…`` imports the module the URL names."""
    _, url = served
    assert "tabnanny" not in sys.modules
    for path in MALFORMED:
        code = _status(url.rstrip("/") + path)
        assert code in (400, 403, 404), (path, code)
    assert "tabnanny" not in sys.modules  # never imported because a URL named it
    assert _status(url) == 200  # and the app still serves
