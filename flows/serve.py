"""Serve every vaearr flow as a deployment named 'local' (run by `make serve`).

Then, from another shell with the same PREFECT_API_URL:
    prefect deployment run 'train-vae/local' -p store=stores/ni.zarr -p run=runs/ni -p epochs=5
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import serve  # noqa: E402

from flows.pipeline import FLOWS  # noqa: E402


def all_flows() -> list:
    """Every flow of the project; analysis flows are added when their modules are present."""
    import importlib

    flows = list(FLOWS)
    for module in ("flows.analysis", "flows.explore"):
        try:
            flows += list(importlib.import_module(module).FLOWS)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return flows


if __name__ == "__main__":
    serve(*(f.to_deployment(name="local") for f in all_flows()), limit=1)
