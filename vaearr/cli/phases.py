"""``vaearr quality``, ``vaearr master-pattern`` and ``vaearr phases``: pattern quality maps, a phase's master pattern, phases found in the data."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vaearr.cli.common import app, figure_command, typer_parameters, out_parameter
from vaearr.maps.options import PhasesOptions, QualityOptions
from vaearr.options import FigureOptions, check_values, made, writable_folders


def quality(**given: Any) -> None:
    """Image quality and the average neighbour dot product map from the patterns alone (kikuchipy): iq(y, x), adp(y, x)."""
    options = made(QualityOptions, given)
    from vaearr.maps.roi.pattern_quality import quality_store

    typer.echo(quality_store(options.store, options).summary())


quality.__signature__ = inspect.Signature(typer_parameters(QualityOptions))  # type: ignore[attr-defined]
app.command()(quality)


@app.command("master-pattern")
def master_pattern(
    phase: Annotated[str, typer.Argument(help="A phase as 'vaearr index --phase' takes it: fcc, bcc, hcp, ni, a .cif "
                                              "file, an EMsoft file or NAME:SPACEGROUP:a[,b,c,α,β,γ]:ATOMS.")],
    energy: Annotated[float, typer.Option(help="Beam energy (kV) of a kinematical master pattern.")] = 20.0,
    out: Annotated[Optional[Path], typer.Option(help="Folder for NAME_master_pattern.png (both hemispheres, square "
                                                     "Lambert) and .npz (the arrays and the phase).")] = None,
) -> None:
    """A phase's master pattern: kinematical from its structure (computed once, cached) or read from kikuchipy/EMsoft."""
    check_values(energy=(energy, {"above": 0, "max": 1000}))
    writable_folders(out=out)
    from vaearr.crystals import resolve_phase
    from vaearr.crystals.master_patterns import cached_path, save_master_pattern

    src = resolve_phase(phase)
    mp = src.master_pattern(energy)
    lines = [f"phase '{src.name}' ({src.phase.point_group.name}, space group "
             f"{src.phase.space_group.number if src.phase.space_group else '?'}) from {src.source}",
             f"master pattern: {' × '.join(map(str, mp.data.shape))}, square Lambert, both hemispheres"]
    if src.kinematical:
        lines.append(f"kinematical at {energy:g} kV, cached in {cached_path(src.phase, energy)}")
    if out is not None:
        lines += [f"wrote {p}" for p in save_master_pattern(mp, out, src.name).values()]
    typer.echo("\n".join(lines))


def phases(figure_options: FigureOptions, **given: Any) -> None:
    """Group a segmentation's regions into phases from their mean patterns (no crystallography): writes phases(y, x)."""
    out = given.pop("out")
    options = made(PhasesOptions, given)
    writable_folders(out=out)  # before the store is written
    from vaearr.maps.phases.phases import phases_store

    result = phases_store(options.store, options)
    typer.echo(result.summary())
    if out is not None:
        from vaearr.viz.phases import phase_figure

        for path in phase_figure(options.store, out, name=options.name, figures=figure_options).values():
            typer.echo(f"figure: {path}")


OUT = out_parameter("Folder for the phase map figure (HTML + PNG); none drawn without it.")
phases.__signature__ = inspect.Signature([*typer_parameters(PhasesOptions), OUT])  # type: ignore[attr-defined]
app.command()(figure_command(phases))
