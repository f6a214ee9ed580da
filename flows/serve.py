"""Serve every vaearr flow as a deployment named 'local' (run by `make serve`).

Then, from another shell with the same PREFECT_API_URL:
    prefect deployment run 'train-vae/local' -p store=stores/ni.zarr -p run=runs/ni -p epochs=5
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import serve  # noqa: E402

from flows import analysis, explore, ingest, phases, pipeline  # noqa: E402


def all_flows() -> list:
    """Every flow of the project."""
    return [*pipeline.FLOWS, *ingest.FLOWS, *analysis.FLOWS, *explore.FLOWS, *phases.FLOWS]


if __name__ == "__main__":
    serve(*(f.to_deployment(name="local") for f in all_flows()), limit=1)
