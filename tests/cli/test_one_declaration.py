"""One declaration per command (issue 62): the command line, the Prefect flow and the Python step of each command
declared once as an options dataclass take the same options, by the same names, with the same defaults.

The command line's parameters are read from typer's click command (``typer.main.get_command``), the flow's and the
Python step's from their signatures (``inspect.signature``). Each interface may add parameters that are not options
of the dataclass (the figure options ``format``/``dpi``, ``quiet``, ``dask``…): they are listed here, so that a
hand-written parameter that ought to be a field is seen.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import pytest
from pathlib import Path
import typer

from vaearr.options import declared, parsed

pytest.importorskip("prefect", reason="needs the 'flows' extra")

FIGURES = {"format", "dpi"}  # vaearr.options.FigureOptions: every command and flow that draws


@dataclass(frozen=True)
class Command:
    """One command: its options dataclass (``module:Class``), its command line, its flow (``module:name``, or None
    where it has none: a server, the demo, a look at one store), its Python step (``module:name``, or None where it has
    none) and what each adds to the fields."""

    options: str
    cli: str
    flow: str | None
    api: str | None = None
    cli_skip: tuple[str, ...] = ()  # fields the command line gives in another form (train's model_options: --option)
    cli_extra: set[str] = field(default_factory=set)
    flow_extra: set[str] = field(default_factory=set)
    api_extra: set[str] = field(default_factory=set)


COMMANDS = {
    "ingest ebsd": Command("vaearr.io.options:IngestEbsdOptions", "ingest ebsd", "flows.pipeline:ingest",
                           "vaearr.api:READERS.ebsd", flow_extra={"roi_otsu"}, api_extra={"quiet"}),
    "ingest tables": Command("vaearr.io.options:IngestTablesOptions", "ingest tables", "flows.ingest:ingest_tables_flow",
                             "vaearr.api:ingest_tables", api_extra={"quiet"}),
    "ingest images": Command("vaearr.io.options:IngestImagesOptions", "ingest images", "flows.ingest:ingest_images_flow",
                             "vaearr.api:READERS.images", api_extra={"quiet"}),
    "ingest idx": Command("vaearr.io.options:IngestIdxOptions", "ingest idx", "flows.ingest:ingest_idx_flow",
                          "vaearr.api:READERS.idx", api_extra={"quiet"}),
    "ingest nifti": Command("vaearr.io.options:IngestNiftiOptions", "ingest nifti", "flows.ingest:ingest_nifti_flow",
                            "vaearr.api:READERS.nifti", api_extra={"quiet"}),
    "ingest orientations": Command("vaearr.io.options:IngestOrientationsOptions", "ingest orientations",
                                   "flows.ingest:ingest_orientations_flow", "vaearr.api:READERS.orientations",
                                   api_extra={"quiet"}),
    "roi": Command("vaearr.maps.options:RoiOptions", "roi", "flows.pipeline:roi", "vaearr.api:roi",
                   cli_extra=FIGURES, flow_extra=FIGURES, api_extra={"quiet"}),
    "boundaries": Command("vaearr.maps.options:BoundariesOptions", "boundaries", "flows.analysis:boundaries_flow",
                          "vaearr.api:boundaries", cli_extra=FIGURES, flow_extra=FIGURES, api_extra={"quiet"}),
    "report": Command("vaearr.analysis.options:ReportOptions", "report", "flows.pipeline:report", "vaearr.api:report",
                      api_extra={"quiet"}),
    "segment": Command("vaearr.maps.options:SegmentOptions", "segment", "flows.analysis:segment_map",
                       "vaearr.api:segment", cli_extra={"out"} | FIGURES, flow_extra={"out"} | FIGURES,
                       api_extra={"out", "quiet"}),
    "spread": Command("vaearr.maps.options:SpreadOptions", "spread", "flows.analysis:spread_map", "vaearr.api:spread",
                      cli_extra={"out"} | FIGURES, flow_extra={"out"} | FIGURES, api_extra={"out", "quiet"}),
    "decompose": Command("vaearr.maps.options:DecomposeOptions", "decompose", "flows.analysis:decompose_patterns",
                         "vaearr.api:decompose", cli_extra={"dask"}, api_extra={"quiet"}),
    "index": Command("vaearr.maps.options:IndexOptions", "index", "flows.phases:index_map", "vaearr.api:index",
                     api_extra={"quiet"}),
    "encode": Command("vaearr.encoding_options:EncodeOptions", "encode", "flows.pipeline:encode", "vaearr.api:encode",
                      cli_extra={"dask"} | FIGURES, flow_extra={"dask", "report"} | FIGURES,
                      api_extra={"dask", "quiet"}),
    "export": Command("vaearr.io.options:ExportOptions", "export", "flows.pipeline:export", "vaearr.api:export",
                      api_extra={"quiet"}),
    "train": Command("vaearr.train.config:TrainConfig", "train", "flows.pipeline:train_vae",
                     "vaearr.api:train", cli_skip=("model_options",),
                     cli_extra={"config", "option", "resume"}, flow_extra={"resume"}, api_extra={"resume", "quiet"}),
    "cluster": Command("vaearr.analysis.options:ClusterOptions", "cluster", "flows.analysis:cluster_latents",
                       cli_extra={"dask"} | FIGURES, flow_extra={"dask"} | FIGURES),
    "rank": Command("vaearr.analysis.options:RankOptions", "rank", "flows.analysis:analyze_latents",
                    cli_extra={"dask", "more"} | FIGURES, flow_extra={"dask", "block_dims"} | FIGURES),
    "explore": Command("vaearr.analysis.options:ExploreOptions", "explore", "flows.explore:explore_latents",
                       cli_extra={"image", "interpolate", "serve", "port", "base"} | FIGURES, flow_extra=FIGURES),
    "quality": Command("vaearr.maps.options:QualityOptions", "quality", "flows.phases:pattern_quality"),
    "orientation-maps": Command("vaearr.maps.options:OrientationMapsOptions", "orientation-maps",
                                "flows.phases:orientation_maps", cli_extra=FIGURES, flow_extra=FIGURES),
    "phases": Command("vaearr.maps.options:PhasesOptions", "phases", "flows.phases:phases",
                      cli_extra={"out"} | FIGURES, flow_extra={"out"} | FIGURES),
    "master-pattern": Command("vaearr.crystals.options:MasterPatternOptions", "master-pattern", None,
                              "vaearr.api:master_pattern", api_extra={"quiet"}),
    "import-weights": Command("vaearr.train.options:ImportWeightsOptions", "import-weights", None,
                              "vaearr.api:import_weights", api_extra={"quiet"}),
    "layers": Command("vaearr.analysis.options:LayersOptions", "layers", "flows.explore:compare_layers",
                      cli_extra=FIGURES, flow_extra=FIGURES),
    "explore-map": Command("vaearr.analysis.options:ExploreMapOptions", "explore-map", None),
    "demo": Command("vaearr.demo_options:DemoOptions", "demo", None, cli_extra=FIGURES),
    "info": Command("vaearr.store.options:InfoOptions", "info", None, "vaearr.api:info"),
    "verify": Command("vaearr.store.options:VerifyOptions", "verify", None, "vaearr.api:verify", api_extra={"quiet"}),
}


def _load(where: str) -> Any:
    """``module:name``, or ``module:REGISTRY.key`` (``vaearr.api:READERS.ebsd``: ``vaearr.ingest(kind="ebsd")``)."""
    module, name = where.split(":")
    name, _, key = name.partition(".")
    found = getattr(importlib.import_module(module), name)
    return found[key] if key else found


def _cli_command(words: str) -> Any:
    """The click command of ``words`` (``segment``, ``ingest ebsd``)."""
    from vaearr.cli import app

    command = typer.main.get_command(app)
    for word in words.split():
        command = command.commands[word]
    return command


def _same(a: Any, b: Any) -> bool:
    """Equal defaults; a sequence equals the same items in a list or a tuple (a flow's JSON, a typer option's list)."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b or (a is None and b is None) or (
        isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool) and a == b)


def _signature_defaults(fn: Any) -> dict[str, Any]:
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_command_line_the_flow_and_the_python_step_take_the_same_options(name: str) -> None:
    """Each interface takes every field of the command's options dataclass (the command line but ``cli_skip``) by the
    field's name, and
    nothing else but its listed extras; the flow and the Python step with the field's default, the command line
    with the default that its parse turns into the field's (``"2:8"`` → ``(2, 8)``)."""
    c = COMMANDS[name]
    cls = _load(c.options)
    fields = {d.name: d for d in declared(cls)}
    cli = {p.name: p for p in _cli_command(c.cli).params}
    interfaces = [("command line", set(cli) | set(c.cli_skip), c.cli_extra)]
    if c.flow is not None:
        flow = _signature_defaults(_load(c.flow).fn)
        interfaces.append(("flow", set(flow), c.flow_extra))
    if c.api is not None:
        api = _signature_defaults(_load(c.api))
        interfaces.append(("Python step", set(api), c.api_extra))
    for where, names, extra in interfaces:
        assert names - {"help"} == set(fields) | extra, (name, where, sorted(names ^ (set(fields) | extra)))
    for n, d in fields.items():
        if d.default is dataclasses.MISSING:  # the store of most commands: given, never defaulted
            assert (c.flow is None or flow[n] is inspect.Parameter.empty) and cli[n].required, (name, n)
            continue
        if c.flow is not None:
            assert _same(flow[n], d.default), (name, "flow", n, flow[n], d.default)
        if c.api is not None:
            assert _same(api[n], d.default), (name, "Python step", n, api[n], d.default)
        if n in c.cli_skip:
            continue
        # the command line's default is text its parse reads ("2:8"), or None where the field's is made from nothing
        made = parsed(cls, {n: cli[n].default})[n]
        assert _same(made, d.default), (name, "command line", n, cli[n].default, made, d.default)
    # what two interfaces both add is taken alike too (out: None everywhere)
    for n in c.cli_extra & c.flow_extra if c.flow is not None else ():
        assert _same(cli[n].default, flow[n]), (name, n, cli[n].default, flow[n])


def test_the_commands_declared_once_are_all_here() -> None:
    """Every options dataclass a command line is made from (``typer_parameters(...)`` in ``vaearr/cli``) is held to
    the rule above, and each of roi, boundaries, report, encode, the ingest commands, info and verify… takes its options
    from its dataclass alone."""
    import re
    from pathlib import Path

    import vaearr.cli

    sources = "".join(p.read_text() for p in Path(vaearr.cli.__file__).parent.glob("*.py"))
    made_from = set(re.findall(r"typer_parameters\((\w+)", sources)) - {"cls", "FigureOptions"}
    assert made_from == {c.options.split(":")[1] for c in COMMANDS.values()}
    for where in ("store:roi", "boundaries:boundaries", "report:report", "encode:encode", "ingest:ingest_ebsd",
                  "ingest:ingest_images", "ingest:ingest_idx", "ingest:ingest_nifti", "ingest:ingest_orientations",
                  "orientations:orientation_maps", "export:export", "store:info", "store:verify",
                  "ingest:ingest_tables", "phases:master_pattern",
                  "weights:import_weights", "explore:layers", "explore:explore_map", "demo:demo"):
        body = inspect.getsource(_load(f"vaearr.cli.{where}"))
        assert "typer.Option(" not in body and "made(" in body, where


def test_encode_options_are_the_library_keywords() -> None:
    """:meth:`~vaearr.encoding_options.EncodeOptions.keywords` are the keywords of :func:`vaearr.encoding.encode` (but
    ``progress`` and ``dask``, which each interface gives), with the same defaults: the library keeps its typed
    signature, and it cannot drift from the one declaration."""
    from vaearr.encoding import encode
    from vaearr.encoding_options import EncodeOptions

    library = {n: d for n, d in _signature_defaults(encode).items() if n not in ("store", "run", "progress", "dask")}
    fields = {d.name: d.default for d in declared(EncodeOptions)}
    keywords = EncodeOptions(store="s.zarr", run=Path("r")).keywords()
    assert set(keywords) == set(library)
    assert all(_same(library[n], fields[n]) for n in library), {n: (library[n], fields[n]) for n in library}
