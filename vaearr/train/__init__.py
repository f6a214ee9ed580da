"""Training a VAE on a store: options declared once, a short loop with callbacks, exact resume.

:mod:`~vaearr.train.config` declares every option (:class:`TrainConfig`; the CLI and the
flow derive theirs from it), :mod:`~vaearr.train.loaders` builds the run's loaders,
:mod:`~vaearr.train.step` holds one optimisation step and the evaluation pass,
:mod:`~vaearr.train.callbacks` what happens around the loop (checkpoints, history, previews,
progress, loggers), and :mod:`~vaearr.train.trainer` the loop (:class:`Trainer`,
:class:`AdversarialTrainer`) and :func:`fit`.

The options are importable without torch (``vaearr train --help`` reads them); the rest of
this package's names load on first use (PEP 562).

The notebook's step ``vaearr.train(store, run, epochs=3)`` is the function :func:`vaearr.api.train` (which runs
:func:`~vaearr.train.trainer.train_store`): ``vaearr``'s attribute ``train`` is that function, and this package is
``sys.modules["vaearr.train"]``, so ``from vaearr.train import TrainConfig`` and ``import vaearr.train.x`` work
as ever (``import vaearr`` loads this package first: it is light, and its import cannot replace the step).
"""

import importlib
from types import MappingProxyType

from vaearr.train.config import TrainConfig, TrainingError

#: Name → the module that defines it, imported when the name is first used.
LAZY = MappingProxyType({
    "Callback": "callbacks", "default_callbacks": "callbacks",
    "build_loaders": "loaders",
    "autocast_for": "step", "evaluate": "step", "to_device": "step", "train_step": "step",
    "AdversarialTrainer": "trainer", "FitResult": "trainer", "Trainer": "trainer", "fit": "trainer",
    "model_config": "trainer", "open_or_create_run": "trainer", "seed_everything": "trainer", "train_store": "trainer",
})


def __getattr__(name: str):
    if name == "model_options_from_file":  # the old name (it reads a model's config): goes in vaearr 0.3
        return importlib.import_module("vaearr.models").options_from_file
    if name in LAZY:
        return getattr(importlib.import_module(f"vaearr.train.{LAZY[name]}"), name)
    raise AttributeError(f"module 'vaearr.train' has no attribute {name!r}")


__all__ = ["TrainConfig", "TrainingError", *LAZY]

