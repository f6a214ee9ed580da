"""Bad input, every command: one ``error:`` line naming the option or file, a non-zero exit (2 for usage), no
traceback, and every store byte-identical (issue 30). The cases are data (:data:`CASES`); ``RELIABILITY.md``
("Bad input") gives their counts per command group, which ``python -m tests.cli.test_bad_input`` prints."""

from __future__ import annotations

import collections
import os
import shlex
from pathlib import Path

import pytest

from tests.helpers import cli, make_places, tree_hash, vaearr_cli

pytest.importorskip("kikuchipy", reason="needs the 'ebsd' extra")
nib = pytest.importorskip("nibabel", reason="needs the 'nifti' extra")

#: ``needle | command line``: the line must name the needle (an option, or a file by its placeholder). Placeholders:
#: {map} {img} {vol} the three stores (an EBSD map, an image set, a volume set); {none} an absent path; {file} a
#: text file; {dir} an empty folder; {under} a path under a regular file (no folder can be made there); {trunc} a
#: truncated HDF5; {junk} random bytes; {png} a folder of images; {badpng} a folder with a broken image; {nii} a 3-D
#: NIfTI; {idx} an IDX file cut short; {csv} an empty CSV; {bc} the map's band-contrast CSV; {ang} a broken .ang;
#: {run} a folder that is no run; {cif} a CIF file that does not parse.
CASES = """
# --- rank
--top | rank {map} --top 0
--top | rank {map} --top -1
--top | rank {map} --top abc
--components | rank {map} --components 0
--components | rank {map} --components -3
--trend-order | rank {map} --trend-order -1
--per-page | rank {map} --per-page 0
--seed | rank {map} --seed -1
--seed | rank {map} --seed 4294967296
--criterion | rank {map} --criterion xyz
--k-range | rank {map} --k-range 0:3
--k-range | rank {map} --k-range 5:2
--k-range | rank {map} --k-range abc
--dims | rank {map} --dims a,b
{under} | rank {map} --out {under}
--bogus | rank {map} --bogus
# --- cluster
--k | cluster {map} --k 0
--k | cluster {map} --k -2
--eps | cluster {map} --eps 0
--eps | cluster {map} --eps -1
--min-samples | cluster {map} --min-samples 0
--min-cluster-size | cluster {map} --min-cluster-size 1
--cluster-selection-epsilon | cluster {map} --cluster-selection-epsilon -1
--seed | cluster {map} --seed -1
--dim | cluster {map} --dim -1
--dim | cluster {map} --dim x
--criterion | cluster {map} --criterion foo
--shade-clip | cluster {map} --shade-clip 50:10
--shade-clip | cluster {map} --shade-clip 0:200
--k-range | cluster {map} --k-range 3:1
{under} | cluster {map} --out {under}
--tag | cluster {map} --tag a/b
# --- decompose
--components | decompose {map} --components 0
--components | decompose {map} --components -2
--components | decompose {map} --components abc
--max-components | decompose {map} --max-components 0
--max-fit | decompose {map} --max-fit 0
--seed | decompose {map} --seed -1
--references | decompose {map} --references a,b
--k-range | decompose {map} --k-range x
nope | decompose {map} --method nope
# --- index
--tilt | index {map} --tilt 70 --pc 0.4,0.2,0.5 --tilt 91
--tilt | index {map} --tilt 70 --pc 0.4,0.2,0.5 --tilt -91
--detector-tilt | index {map} --tilt 70 --pc 0.4,0.2,0.5 --detector-tilt 100
--px-size | index {map} --tilt 70 --pc 0.4,0.2,0.5 --px-size 0
--resolution | index {map} --tilt 70 --pc 0.4,0.2,0.5 --resolution 0
--energy | index {map} --tilt 70 --pc 0.4,0.2,0.5 --energy 0
--pc | index {map} --tilt 70 --pc 2,0,0
--pc | index {map} --tilt 70 --pc abc
--pc | index {map} --tilt 70 --pc 0.4,0.2
--pc-convention | index {map} --tilt 70 --pc 0.4,0.2,0.5 --pc-convention foo
--method | index {map} --tilt 70 --pc 0.4,0.2,0.5 --method foo
unobtainium | index {map} --tilt 70 --pc 0.4,0.2,0.5 --phase fcc --phase unobtainium
fcc | index {map} --tilt 70 --pc 0.4,0.2,0.5 --phase fcc --phase fcc
{cif} | index {map} --tilt 70 --pc 0.4,0.2,0.5 --phase fcc --phase {cif}
x:999:3:Fe | index {map} --tilt 70 --pc 0.4,0.2,0.5 --phase x:999:3:Fe
# --- phases, quality, master-pattern
seg | phases {map} --regions seg
--max-phases | phases {map} --regions seg --max-phases 0
--method | phases {map} --regions seg --method magic
--min-regions | phases {map} --regions seg --min-regions 0
--pc | phases {map} --regions seg --pc 2,0,0
--name | phases {map} --regions seg --name a/b
{under} | phases {map} --regions seg --out {under}
--iq | quality {map} --iq a/b
--adp | quality {map} --iq q --adp q
nope | quality {map} --mask nope
unobtainium | master-pattern unobtainium
{cif} | master-pattern {cif}
--energy | master-pattern fcc --energy 0
phase name '/tmp/evil' holds '/' | master-pattern /tmp/evil:225:3.524:Ni --out {tmp}/mp
lattice lengths must be at least 1 Å | master-pattern tiny:225:0.001:Ni
more than the 50000 a kinematical master pattern | master-pattern big:225:1000000:Ni
{file} | master-pattern {file}
{file} | index {map} --tilt 70 --pc 0.4,0.2,0.5 --phase {file}
{under} | master-pattern fcc --out {under}
# --- segment
--boundary-cost | segment {map} --boundary-cost -1
--min-size | segment {map} --min-size 0
--min-contrast | segment {map} --min-contrast 1
--min-contrast | segment {map} --min-contrast -0.1
--grain-angle | segment {map} --grain-angle 0
--grain-angle | segment {map} --grain-angle 200
--grain-threshold | segment {map} --grain-threshold 0
--seed | segment {map} --seed -1
{under} | segment {map} --out {under}
# --- spread
--radius | spread {map} --radius 0
--radius | spread {map} --radius 11
--level | spread {map} --level pixels
--regions | spread {map} --regions ../x
--name | spread {map} --name ../x
--recrystallised | spread {map} --recrystallised ../x
'latent' | spread {map}
'segments' | spread {map} --var bandcontrast
'nope' | spread {map} --var nope
{under} | spread {map} --out {under}
# --- explore
--n | explore {map} --run {run} --n -5
--num-samples | explore {map} --run {run} --num-samples 0
--steps | explore {map} --run {run} --steps 1
--grid | explore {map} --run {run} --grid 1
--metric-range | explore {map} --run {run} --metric-range foo
part | explore {map} --run {run} --parts foo
--traversal-range | explore {map} --run {run} --traversal-range 3:-3
--manifold-range | explore {map} --run {run} --manifold-range 1:1
--seed | explore {map} --run {run} --seed -1
{under} | explore {map} --run {run} --out {under}
--port | explore {map} --run {run} --port -1
--port | explore {map} --run {run} --port 70000
--manifold-dims | explore {map} --run {run} --manifold-dims 1
--line | explore {map} --run {run} --line 1,2
--traversal-dims | explore {map} --run {run} --traversal-dims a
--run | explore {map}
# --- train
--epochs | train {map} --run {tmp}/r --epochs 0
--latent-dim | train {map} --run {tmp}/r --latent-dim 0
--batch-size | train {map} --run {tmp}/r --batch-size 0
--lr | train {map} --run {tmp}/r --lr 0
--lr | train {map} --run {tmp}/r --lr -1
--lr | train {map} --run {tmp}/r --lr nan
--weight-decay | train {map} --run {tmp}/r --weight-decay -1
--optimizer | train {map} --run {tmp}/r --optimizer sgd
--lr-schedule | train {map} --run {tmp}/r --lr-schedule foo
--schedule-per | train {map} --run {tmp}/r --schedule-per foo
--kl-warmup | train {map} --run {tmp}/r --kl-warmup -1
--kl-cycles | train {map} --run {tmp}/r --kl-cycles -1
--grad-clip | train {map} --run {tmp}/r --grad-clip -1
--amp | train {map} --run {tmp}/r --amp foo
--seed | train {map} --run {tmp}/r --seed -1
--val-fraction | train {map} --run {tmp}/r --val-fraction 1
--val-fraction | train {map} --run {tmp}/r --val-fraction -0.1
--split-by | train {map} --run {tmp}/r --split-by foo
--checkpoint-every | train {map} --run {tmp}/r --checkpoint-every 0
--num-workers | train {map} --run {tmp}/r --num-workers -1
--scale | train {map} --run {tmp}/r --scale foo
--crop | train {map} --run {tmp}/r --crop 1
--resize | train {map} --run {tmp}/r --resize 1
--resize | train {map} --run {tmp}/r --resize -4
--preprocess | train {map} --run {tmp}/r --preprocess foo
--background-operation | train {map} --run {tmp}/r --background-operation foo
--dynamic-background | train {map} --run {tmp}/r --dynamic-background -1
--dynamic-operation | train {map} --run {tmp}/r --dynamic-operation foo
--average-neighbours | train {map} --run {tmp}/r --average-neighbours 4
--window 0:5,0:2 lies outside the 3 × 3 map | train {map} --run {tmp}/r --window 0:5,0:2
--window 0:2,0:2 is 2 × 2 pixels, smaller than a pattern neighbourhood | train {map} --run {tmp}/r --window 0:2,0:2
--window must be | train {map} --run {tmp}/r --window sideways
--window takes scan pixels from 0 to 1000000, got 99999999999999999999999 | train {map} --run {tmp}/r --window 99999999999999999999999
--window takes scan pixels from 0 to 1000000, got -1 | train {map} --run {tmp}/r --window 0:2,-1:2
--neighbour-weights | train {map} --run {tmp}/r --neighbour-weights foo
--previews | train {map} --run {tmp}/r --previews -1
--patience | train {map} --run {tmp}/r --patience -1
--min-delta | train {map} --run {tmp}/r --min-delta -1
--ema | train {map} --run {tmp}/r --ema 1
--ema | train {map} --run {tmp}/r --ema -0.5
--cosine-t0 | train {map} --run {tmp}/r --cosine-t0 0
--cosine-t-mult | train {map} --run {tmp}/r --cosine-t-mult 0
--subset | train {map} --run {tmp}/r --subset 0
--max-steps | train {map} --run {tmp}/r --max-steps 0
--patch | train {map} --run {tmp}/r --patch 0x1x2
--preview-slices | train {map} --run {tmp}/r --preview-slices a
--epochs | train {map} --run {tmp}/r --epochs x
{under} | train {map} --run {under}
--run | train {map}
# --- encode
--batch-size | encode {map} --run {run} --batch-size 0
{under} | encode {map} --run {run} --export {under}
{under} | encode {map} --run {run} --out {under}
{under} | encode {map} --run {run} --per-subject {under}
{run} | encode {map} --run {run}
{none} | encode {map} --run {none}
# --- boundaries
--sigma | boundaries {map} --sigma -1
--sigma | boundaries {map} --sigma abc
--lagb-min-length | boundaries {map} --lagb-min-length -1
--lagb-min-length | boundaries {map} --lagb-min-length 0
--lagb-low | boundaries {map} --lagb-low -1
--lagb-threshold | boundaries {map} --lagb-threshold -1
--gb-threshold | boundaries {map} --gb-threshold -1
--lagb-method | boundaries {map} --lagb-method foo
{under} | boundaries {map} --out {under}
nope | boundaries {map} --var nope
# --- roi
--top-percent | roi {map} --top-percent 0
--top-percent | roi {map} --top-percent 150
bin width | roi {map} --bin-width 0 --out {tmp}/f
row -1 | roi {map} --profile-row -1 --out {tmp}/f
{under} | roi {map} --otsu --export {under}
{under} | roi {map} --otsu --out {under}
abc | roi {map} --x abc
5:1 | roi {map} --y 5:1
--out | roi {map} --bin-width 2
nope | roi {map} --otsu --var nope
--min | roi {map} --min x
--keep | roi {map} --otsu --keep sideways
--min | roi {map} --threshold 100 --min 50
# --- orientation-maps
--grain-angle | orientation-maps {map} --grain-angle 0
--grain-angle | orientation-maps {map} --grain-angle 200
--direction | orientation-maps {map} --direction w
{under} | orientation-maps {map} --out {under}
orientation | orientation-maps {map}
# --- report, layers, explore-map, import-weights
{under} | report {map} --out {under}
--top | layers --out {tmp}/l --run {run} --top 0
--size | layers --out {tmp}/l --weights {file} --size 4
{under} | layers --out {under} --run {run} --img1 {file} --img2 {file}
--run | layers --out {tmp}/l
--port | explore-map {map} --run {run} --port 70000
--box-cap | explore-map {map} --run {run} --box-cap 0
--resize | import-weights {file} --from ebsd-script {map} --run {tmp}/w --resize 1
--crop | import-weights {file} --from ebsd-script {map} --run {tmp}/w --crop 1
{under} | import-weights {file} --from ebsd-script {map} --run {under}
--from | import-weights {file} {map} --run {tmp}/w
{under} | demo --out {under}
{under} | demo --out {tmp}/d --data {under}
--epochs | demo --out {tmp}/d --epochs 0
--latent-dim | demo --out {tmp}/d --latent-dim 0
{none} | export {none} --out {tmp}/m.ang
{under} | export {map} --out {under}/m.ang
orientation | export {map} --out {tmp}/m.ang
nope | export {map} --out {tmp}/t.csv --vars nope
--out | export {map}
.xyz | export {map} --out {tmp}/m.xyz
--dpi | rank {map} --dpi 0
--format | rank {map} --format gif
--dpi | boundaries {map} --dpi 5000
--format | roi {map} --otsu --out {tmp}/f --format bmp
# --- ingest ebsd
--step | ingest ebsd {trunc} {tmp}/n.zarr --step -1
--step | ingest ebsd {trunc} {tmp}/n.zarr --step 0
--crop | ingest ebsd {trunc} {tmp}/n.zarr --crop 0
--binning | ingest ebsd {trunc} {tmp}/n.zarr --binning 0
--scan-shape | ingest ebsd {trunc} {tmp}/n.zarr --scan-shape 0x3
{none} | ingest ebsd {none} {tmp}/n.zarr
{trunc} | ingest ebsd {trunc} {tmp}/n.zarr
{junk} | ingest ebsd {junk} {tmp}/n.zarr
{file} | ingest ebsd {file} {tmp}/n.zarr
{img} | ingest ebsd {trunc} {img}
{vol} | ingest ebsd {trunc} {vol}
STORE | ingest ebsd {trunc}
# --- ingest images
--size | ingest images {png} {tmp}/n.zarr --size 0
--size | ingest images {png} {tmp}/n.zarr --size -5
mode | ingest images {png} {tmp}/n.zarr --mode CMYKX
{none} | ingest images {none} {tmp}/n.zarr
{badpng} | ingest images {badpng} {tmp}/n.zarr
{dir} | ingest images {dir} {tmp}/n.zarr
{map} | ingest images {png} {map}
{vol} | ingest images {png} {vol}
# --- ingest idx
{none} | ingest idx {none} {tmp}/n.zarr
{idx} | ingest idx {idx} {tmp}/n.zarr
{junk} | ingest idx {junk} {tmp}/n.zarr
{map} | ingest idx {idx} {map}
{vol} | ingest idx {idx} {vol}
# --- ingest nifti
--volume | ingest nifti {nii} {tmp}/n.zarr --volume 5
--volume | ingest nifti {nii} {tmp}/n.zarr --volume -1
--shape | ingest nifti {nii} {tmp}/n.zarr --shape 0x1x1
--shape | ingest nifti {nii} {tmp}/n.zarr --shape 4x4
method | ingest nifti {nii} {tmp}/n.zarr --method foo
{none} | ingest nifti {none} {tmp}/n.zarr
{junk} | ingest nifti {junk} {tmp}/n.zarr
{map} | ingest nifti {nii} {map}
{img} | ingest nifti {nii} {img}
# --- ingest tables, orientations
{img} | ingest tables {img} --bandcontrast {csv}
{vol} | ingest tables {vol} --bandcontrast {csv}
{none} | ingest tables {map} --elements {none}
{csv} | ingest tables {map} --elements {csv}
--overwrite | ingest tables {map} --bandcontrast {bc}
--xy-units | ingest tables {map} --elements {bc} --xy-units foo
--composite-mask | ingest tables {map} --composite-mask roi
{none} | ingest orientations {none} {tmp}/n.zarr
{ang} | ingest orientations {ang} {tmp}/n.zarr
--grain-angle | ingest orientations {ang} {tmp}/n.zarr --grain-angle 0
--direction | ingest orientations {ang} {tmp}/n.zarr --direction w
{img} | ingest orientations {ang} {img}
# --- info
{none} | info {none}
{file} | info {file}
{dir} | info {dir}
"""

#: Commands that take a store first: each is also given an absent store, a file, an empty folder, an unknown option.
STORE_COMMANDS = {
    "rank": "", "cluster": "", "decompose": "", "index": "--tilt 70 --pc 0.4,0.2,0.5", "segment": "",
    "explore": "--run {run} --out {tmp}/e", "train": "--run {tmp}/r", "encode": "--run {run}", "boundaries": "",
    "roi": "--otsu", "orientation-maps": "", "report": "--out {tmp}/rep", "info": "", "verify": "", "spread": "",
    "phases": "--regions seg", "quality": "",
}


def cases() -> list[tuple[str, str]]:
    """Every (needle, command line) of :data:`CASES` and the generated store cases."""
    out = [tuple(part.strip() for part in line.split(" | ", 1)) for line in CASES.splitlines()
           if line.strip() and not line.startswith("#")]
    for command, rest in STORE_COMMANDS.items():
        for bad in ("{none}", "{file}", "{dir}"):
            # the run is read before the store: its line names the run folder
            out.append(("{run}" if "{run}" in rest else bad, f"{command} {bad} {rest}".strip()))
        if command != "info":
            out.append(("--bogus", f"{command} {{map}} {rest} --bogus".strip()))
    return out  # type: ignore[return-value]


def group(command_line: str) -> str:
    """The command group a case counts under in RELIABILITY.md (``ingest ebsd``, ``rank``...)."""
    words = command_line.split()
    return " ".join(words[:2]) if words[0] == "ingest" else words[0]


@pytest.fixture(scope="module")
def places(tmp_path_factory, kikuchipy_data_dir: Path) -> dict[str, str]:
    """The three small stores and the broken files, made once for the module."""
    return make_places(tmp_path_factory.mktemp("bad_input"), kikuchipy_data_dir)


def assert_clean(capsys, places: dict[str, str], command_line: str, needle: str) -> str:
    """Run one bad command line; every promise of issue 30 checked; the error line returned."""
    stores = [places[k] for k in ("map", "img", "vol")]
    before = [tree_hash(s) for s in stores]
    args = shlex.split(command_line.format(**places))
    code, out, err = vaearr_cli(*args)
    lines = err.strip().splitlines()
    assert code != 0, (command_line, out[-500:])
    assert "Traceback" not in err, (command_line, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), (command_line, err)
    assert needle.format(**places) in lines[0], (command_line, lines[0])
    assert "unexpected" not in lines[0], (command_line, lines[0])
    assert code == 2, (command_line, code, lines[0])
    assert [tree_hash(s) for s in stores] == before, (command_line, "a store changed")
    return lines[0]


@pytest.mark.parametrize("needle, command_line", cases(), ids=[c[1] for c in cases()])
def test_bad_input_is_one_line_and_leaves_every_store_as_it_was(capsys, places, needle, command_line) -> None:
    assert_clean(capsys, places, command_line, needle)


def test_there_are_at_least_250_cases_over_every_command() -> None:
    from vaearr.cli.common import app

    found = cases()
    assert len(found) >= 250, len(found)
    commands = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    covered = {group(line).split()[0] for _, line in found}
    assert commands <= covered, commands - covered


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("command_line", ["rank {map} --out {ro}/rank", "cluster {map} --out {ro}",
                                          "roi {map} --otsu --export {ro}", "boundaries {map} --out {ro}",
                                          "train {map} --run {ro}/run", "report {map} --out {ro}/rep"])
def test_a_read_only_output_folder_is_refused_before_the_store_is_written(capsys, places, tmp_path, command_line):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        line = assert_clean(capsys, {**places, "ro": str(ro)}, command_line, "{ro}")
    finally:
        ro.chmod(0o755)
    assert "cannot write there" in line


if __name__ == "__main__":  # the counts of RELIABILITY.md
    counts = collections.Counter(group(line) for _, line in cases())
    for name, n in sorted(counts.items()):
        print(f"| {name} | {n} |")
    print(f"| all | {sum(counts.values())} |")


@pytest.mark.parametrize("flow_name, params, needle", [
    ("analysis:analyze_latents", dict(out="{under}", dask=None, block_dims=8), "{under}"),
    ("analysis:analyze_latents", dict(top=0, dask=None, block_dims=8), "top must be at least 1"),
    ("analysis:cluster_latents", dict(out="{under}", dask=None), "{under}"),
    ("analysis:cluster_latents", dict(min_cluster_size=1, dask=None), "min_cluster_size must be at least 2, got 1"),
    ("explore:explore_latents", dict(run="{run}", out="{under}"), "{under}"),
    ("pipeline:report", dict(out="{under}"), "{under}"),
    ("pipeline:roi", dict(otsu=True, out="{under}"), "{under}"),
    ("pipeline:roi", dict(top_percent=0), "top_percent must be in (0, 100], got 0"),
    ("analysis:boundaries_flow", dict(out="{under}"), "{under}"),
    ("analysis:boundaries_flow", dict(lagb_min_length=0), "lagb_min_length must be at least 1, got 0"),
])
def test_the_flows_hold_the_same_ranges_and_outputs(places, flow_name, params, needle) -> None:
    """The flows' bodies (``Flow.fn``: no Prefect server) refuse what the command line refuses, before a write."""
    pytest.importorskip("prefect", reason="needs the 'flows' extra")
    import importlib

    from vaearr.errors import InputError

    module, name = flow_name.split(":")
    flow = getattr(importlib.import_module(f"flows.{module}"), name)
    before = tree_hash(places["map"])
    given = {k: v.format(**places) if isinstance(v, str) else v for k, v in params.items()}
    with pytest.raises(InputError) as info:
        flow.fn(store=places["map"], **given)
    assert needle.format(**places) in str(info.value)
    assert tree_hash(places["map"]) == before


@pytest.mark.parametrize("args, python, flag", [
    (["--min-cluster-size", "1"], dict(min_cluster_size=1), "--min-cluster-size must be at least 2, got 1"),
    (["--k", "0"], dict(k=0), "--k must be at least 1, got 0"),
    (["--shade-clip", "50:10"], dict(shade_clip=(50.0, 10.0)), "--shade-clip 50:10: need 0 ≤ low < high ≤ 100"),
])
def test_the_library_names_the_field_and_the_command_line_the_flag(places, args, python, flag) -> None:
    """One declaration, two wordings: ClusterOptions.check raises an OptionError naming the field, the adapter of the
    command line (vaearr.cli.common.flagged) says the flag, in one line, exit 2."""
    from vaearr.analysis.options import ClusterOptions
    from vaearr.errors import OptionError

    with pytest.raises(OptionError) as info:
        ClusterOptions(store=str(places["map"]), **python).check()
    field = next(iter(python))
    assert str(info.value).startswith(f"{field} ") and "--" not in str(info.value)
    proc = cli("cluster", places["map"], *args)
    err = proc.stderr.strip()
    assert proc.returncode == 2 and err.splitlines() == [err] and err.startswith(f"error: {flag}"), proc.stderr


@pytest.mark.parametrize("owner, kwargs, field, flag", [
    ("IndexOptions", {"phase": "ni", "pc": "0.4,0.2,0.5", "method": "radon"}, "method", "--method"),
    ("IndexOptions", {"phase": "ni", "pc": "0.4,0.2", "method": "hough"}, "pc", "--pc"),
    ("IndexOptions", {"phase": "ni", "pc": "0.4,0.2,0.5", "pc_convention": "nordif"}, "pc_convention",
     "--pc-convention"),
    ("QualityOptions", {"iq": "q", "adp": "q"}, "adp", "--adp"),
])
def test_index_and_quality_checks_name_the_field(places, owner, kwargs, field, flag) -> None:
    """The PC, method and name checks of the map options say the field; the command line's adapter, the flag."""
    import vaearr.maps.options as options
    from vaearr.errors import OptionError
    from vaearr.interface import flagged

    with pytest.raises(OptionError) as info:
        getattr(options, owner)(store=str(places["map"]), **kwargs).check()
    assert str(info.value).startswith(f"{field} ") and "--" not in str(info.value)
    assert str(flagged(info.value)).startswith(f"{flag} ")


# --- no command replaces an input (issue 63): every command that writes under a name the user gives


#: Each command that writes a variable under a name the user gives (``--name``, ``--iq``, ``--adp``, ``--recrystallised``,
#: a decomposition's prefix, an ingest's ``--name``), given the name of an input an ingest read: the patterns, the band
#: contrast, PCA weights ingested from a table, with and without ``--overwrite``.
INPUT_NAMES = [
    ("patterns", "phases {inputs} --regions segments --method features --name patterns --overwrite"),
    ("patterns", "phases {inputs} --regions segments --method features --name patterns"),
    ("patterns", "quality {inputs} --iq patterns --overwrite"),
    ("bandcontrast", "quality {inputs} --adp bandcontrast"),
    ("patterns", "spread {inputs} --level regions --recrystallised patterns --overwrite"),
    ("patterns", "segment {inputs} --name patterns --overwrite"),
    ("patterns", "cluster {inputs} --k 2 --name patterns --overwrite"),
    ("bandcontrast", "roi {inputs} --otsu --name bandcontrast --overwrite"),
    ("patterns", "encode {inputs} --run {inputs_run} --name patterns --overwrite"),
    ("pca_weights", "decompose {inputs} --method pca --overwrite"),
    ("patterns", "index {inputs} --tilt 70 --pc 0.4,0.2,0.5 --name patterns --overwrite"),
    ("patterns", "ingest orientations {inputs_ang} {inputs} --name patterns --overwrite"),
]


@pytest.fixture(scope="module")
def inputs_store(places, tmp_path_factory) -> dict[str, str]:
    """The EBSD map of :func:`places` with a latent, a segmentation, PCA weights ingested from a table, an ``.ang``
    of its grid and a run that encodes it."""
    import shutil

    import numpy as np
    import xarray as xr
    from orix import io as orix_io
    from orix.crystal_map import CrystalMap, Phase, PhaseList
    from orix.quaternion import Rotation

    from tests.helpers import MAP_MODEL, make_run
    from vaearr.store import open_store, write_variables

    root = tmp_path_factory.mktemp("inputs")
    store = root / "map.zarr"
    shutil.copytree(places["map"], store)
    ds = open_store(store)
    coords = {"y": ds.y.values, "x": ds.x.values}
    rng = np.random.default_rng(0)
    write_variables(store, {
        "latent": xr.DataArray(rng.normal(size=(3, 3, 2)).astype(np.float32), dims=("y", "x", "latent_dim"),
                               coords=coords),
        "segments": xr.DataArray(np.array([[0, 0, 1], [0, 1, 1], [2, 2, 1]]), dims=("y", "x"), coords=coords)})
    xs, ys = np.meshgrid(ds.x.values, ds.y.values)
    rows = [f"{x:g},{y:g},{a:.3f},{b:.3f}" for x, y, a, b in zip(xs.ravel(), ys.ravel(), *rng.normal(size=(2, 9)))]
    (root / "pca.csv").write_text("x,y,PCA_1,PCA_2\n" + "\n".join(rows) + "\n")
    cli("ingest", "tables", store, "--pca-weights", root / "pca.csv", check=True)
    xmap = CrystalMap(Rotation(rng.normal(size=(9, 4))).unit, x=xs.ravel(), y=ys.ravel(), phase_id=np.zeros(9, int),
                      phase_list=PhaseList([Phase("ni", point_group="m-3m")], ids=[0]))
    orix_io.save(root / "map.ang", xmap)
    make_run(root / "run", store, model=MAP_MODEL, sample_dims=("y", "x"), feature_dims=("py", "px"), var="patterns",
             resize=8, standardize=True)
    return {"inputs": str(store), "inputs_run": str(root / "run"), "inputs_ang": str(root / "map.ang")}


@pytest.mark.parametrize("name, command_line", INPUT_NAMES, ids=[c for _, c in INPUT_NAMES])
def test_no_command_replaces_an_input(inputs_store, name, command_line) -> None:
    """`phases --name patterns --overwrite` replaced the map's patterns with a 2-D phase map (the input gone); now the
    store's one write path refuses it for every command, in one line, before any work, the store byte-identical."""
    from vaearr.store import is_input, open_store

    store = inputs_store["inputs"]
    assert is_input(open_store(store), name)
    before = tree_hash(store)
    code, _, err = vaearr_cli(*shlex.split(command_line.format(**inputs_store)))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (command_line, err)
    assert lines[0].startswith(f"error: {store}: variable '{name}' is an input"), lines[0]
    assert "no command replaces it" in lines[0] or "not orientations" in lines[0], lines[0]
    assert tree_hash(store) == before, command_line


def test_an_ingest_replaces_its_own_input_and_commands_their_own_maps(inputs_store, tmp_path) -> None:
    """The rule keeps what worked: an input read again replaces itself (with --overwrite), and stays an input; a
    command's map is replaced by the command (--overwrite) and is no input."""
    import shutil

    import numpy as np

    from vaearr.store import INGESTED, is_input, open_store

    store = tmp_path / "map.zarr"
    shutil.copytree(inputs_store["inputs"], store)
    pca = Path(inputs_store["inputs"]).parent / "pca.csv"
    cli("ingest", "tables", store, "--pca-weights", pca, "--overwrite", check=True)
    cli("quality", store, check=True)
    cli("quality", store, "--overwrite", check=True)
    ds = open_store(store)
    assert INGESTED in ds.pca_weights.attrs and is_input(ds, "pca_weights")
    assert not is_input(ds, "iq") and not is_input(ds, "adp") and INGESTED not in ds.iq.attrs
    assert np.isfinite(ds.iq.values).all()


# --- the reliability campaign of issue 63: each defect it found, through the command


@pytest.fixture(scope="module")
def hollow(places, tmp_path_factory) -> str:
    """The EBSD map of :func:`places` with a one-pixel mask, an all-NaN latent and a segmentation."""
    import shutil

    import numpy as np
    import xarray as xr

    from vaearr.store import open_store, write_variables

    store = tmp_path_factory.mktemp("hollow") / "map.zarr"
    shutil.copytree(places["map"], store)
    ds = open_store(store)
    coords = {"y": ds.y.values, "x": ds.x.values}
    one = np.zeros((3, 3), bool)
    one[1, 1] = True
    write_variables(store, {
        "one": xr.DataArray(one, dims=("y", "x"), coords=coords),
        "latent": xr.DataArray(np.full((3, 3, 2), np.nan, np.float32), dims=("y", "x", "latent_dim"), coords=coords),
        "segments": xr.DataArray(np.array([[0, 0, 1], [0, 1, 1], [2, 2, 1]]), dims=("y", "x"), coords=coords)})
    return str(store)


@pytest.mark.parametrize("command_line, words", [
    ("quality {s} --mask one", "mask 'one' holds 1 pixel"),
    ("phases {s} --regions segments --method features", "variable 'latent' is NaN at every pixel of the 3 regions"),
    ("spread {s} --regions segments --level regions", "variable 'latent' is NaN at every pixel of the 3 regions"),
    ("segment {s} --name s2", "variable 'latent' is NaN at every pixel inside the mask"),
])
def test_nothing_to_measure_is_one_line(hollow, command_line, words) -> None:
    """`quality` on a one-pixel mask ended in `unexpected ZeroDivisionError`; `phases` grouped all-NaN latents as
    zeros (one phase, exit 0). One line naming the mask or the variable, exit 2, the store byte-identical."""
    before = tree_hash(hollow)
    code, _, err = vaearr_cli(*shlex.split(command_line.format(s=hollow)))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {hollow}: ") and words in lines[0], err
    assert tree_hash(hollow) == before


def test_a_phase_named_by_a_path_writes_nothing_outside_the_folder(tmp_path) -> None:
    """`master-pattern /abs/evil:225:3.524:Ni --out F` wrote /abs/evil_master_pattern.png and .npz (path traversal):
    one line now, nothing written anywhere; the same structure under a plain name writes into F."""
    outside = tmp_path / "outside"
    outside.mkdir()
    code, _, err = vaearr_cli("master-pattern", f"{outside}/evil:225:3.524:Ni", "--out", tmp_path / "mp")
    assert code == 2 and err.count("\n") == 1 and f"phase name '{outside}/evil' holds '/'" in err, err
    assert not any(outside.iterdir()) and not (tmp_path / "mp").exists()
    code, out, err = vaearr_cli("master-pattern", "evil:225:3.524:Ni", "--out", tmp_path / "mp")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "mp").iterdir()) == ["evil_master_pattern.npz", "evil_master_pattern.png"]
