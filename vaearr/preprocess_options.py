"""What a user asks of a run's input pipeline (:class:`PreprocessOptions`, fields of ``TrainConfig`` of the same names);
:mod:`vaearr.preprocess` fits it and gives it too."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from vaearr.errors import InputError
from vaearr.maps.roi.neighbours import WEIGHTINGS


#: Kernel sizes of neighbour pattern averaging.
AVERAGE_SIZES = (0, 3, 5)
BACKGROUND_OPERATIONS = ("subtract", "divide")


@dataclass(frozen=True)
class PreprocessOptions:
    """What a user asks of the input pipeline (fields of ``TrainConfig`` of the same names)."""

    scale: str | None = "[0,1]"
    standardize: bool = False
    crop: int | tuple[int, ...] | None = None
    resize: int | tuple[int, ...] | None = None
    subtract_background: bool = False
    patch: tuple[int, ...] | None = None
    seed: int = 0
    #: a static background pattern file (.npy, or an image) instead of the scan's mean pattern
    background: str | None = None
    background_operation: str = "subtract"
    #: σ (pixels) of the Gaussian blur removed from each sample (0: none)
    dynamic_background: float = 0.0
    dynamic_operation: str = "subtract"
    #: size of the square window of neighbour pattern averaging (0: none, 3 or 5)
    average_neighbours: int = 0
    #: how neighbours are weighted: similarity (to the centre pattern) or uniform
    neighbour_weights: str = "similarity"
    detector_mask: bool = False

    def check(self, where: Any = None) -> None:
        """One clear line for an option out of range."""
        if self.average_neighbours not in AVERAGE_SIZES:
            raise InputError(where, f"average_neighbours must be 3 or 5 (0: off), got {self.average_neighbours}")
        if self.neighbour_weights not in WEIGHTINGS:
            raise InputError(where, f"neighbour_weights must be {' or '.join(WEIGHTINGS)}, "
                                    f"got {self.neighbour_weights!r}")
        for name in ("background_operation", "dynamic_operation"):
            if getattr(self, name) not in BACKGROUND_OPERATIONS:
                raise InputError(where, f"{name} must be subtract or divide, got {getattr(self, name)!r}")
        if self.dynamic_background < 0:
            raise InputError(where, f"dynamic_background (σ, pixels) must be >= 0, got {self.dynamic_background}")

    @classmethod
    def of(cls, config: Any, **chosen: Any) -> PreprocessOptions:
        """The options of any object with these attributes (a ``TrainConfig``), those in ``chosen`` (what
        ``preprocess="auto"`` made of them: :func:`vaearr.train.resolve.preprocess_choices`) as chosen.
        ``average_neighbours=None`` (``auto``, made concrete for EBSD runs) is no averaging elsewhere."""
        given = {f.name: chosen[f.name] if f.name in chosen else getattr(config, f.name)
                 for f in fields(cls) if f.name in chosen or hasattr(config, f.name)}
        if given.get("average_neighbours", 0) is None:
            given["average_neighbours"] = 0
        return cls(**given)
