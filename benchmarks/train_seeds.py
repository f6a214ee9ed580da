"""Training seeds: a benchmark row of a trained model is one draw, so the science tables read it over several.

On one machine a training is a function of its seed, its data and its thread count (docs/training.md, "What
repeats"): trained again with the same three it gives the same weights to the bit, but another seed is another
model, and on the science maps that moved a score by up to ±0.1 (science map 2024, ``--window auto``: pixel
sub-grain ARI 0.893–0.929 over seeds 0–2). The science benchmarks train each model at every seed of
``--train-seeds`` (:data:`TRAIN_SEEDS` for the spread, ``0`` alone by default: the rows before) and their tables
report, for a row with several draws, the median over the seeds and the worst draw.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import median

#: The seeds a row's spread is read over (``--train-seeds 0 1 2``).
TRAIN_SEEDS = (0, 1, 2)


def seeded(name: str, train_seed: int) -> str:
    """The name of a variable or run folder of the model trained at ``train_seed``: seed 0 keeps the name it had
    before there were seeds (stored latents and runs read as they are), another seed adds ``_s<seed>``."""
    return name if int(train_seed) == 0 else f"{name}_s{int(train_seed)}"


def train_seed(row: dict) -> int:
    """A result row's training seed (a row from before the seeds were recorded: 0, what it was trained with)."""
    return int(row.get("train_seed", 0))


def median_worst(values: Iterable, low_is_worse: bool | None = True) -> tuple[float, float] | None:
    """The median and the worst of ``values`` (None left out; None when nothing is left). The worst is the smallest
    where ``low_is_worse``, the largest where it is False, and the farthest from 1 (by ratio) where it is None: a
    ratio of boundary pixels marked to true ones, as bad at 0.8× as at 1.25×."""
    v = [float(x) for x in values if x is not None]
    if not v:
        return None
    if low_is_worse is None:
        worst = max(v, key=lambda x: max(x, 1 / x) if x > 0 else float("inf"))
    else:
        worst = min(v) if low_is_worse else max(v)
    return median(v), worst


def spread_cell(values: Iterable, low_is_worse: bool | None = True, fmt: str = ".3f") -> str:
    """A table cell of one row's draws: the value where there is one, ``median (worst w)`` where there are several,
    ``–`` where there is none."""
    v = [x for x in values if x is not None]
    mw = median_worst(v, low_is_worse)
    if mw is None:
        return "–"
    if len(v) == 1:
        return format(mw[0], fmt)
    return f"{format(mw[0], fmt)} (worst {format(mw[1], fmt)})"


def seeds_label(seeds: Iterable[int]) -> str:
    """``0–2`` for consecutive seeds, ``0, 3`` otherwise."""
    s = sorted(set(int(x) for x in seeds))
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}–{s[-1]}"
    return ", ".join(map(str, s))
