"""Errors a user sees as one line: the file and what is wrong with it.

A message names an option as the keyword a Python caller passes, in backticks: ``pass `overwrite=True` to replace
it``, ``use `mask='none'` for every pixel``, ```window` needs a (y, x) map`` (:data:`KEYWORD`). A Python step and a
flow take those keywords; the command line says each as its flag (``--overwrite``, ``--mask none``, ``--window``:
:func:`vaearr.interface.in_flags`), so the library never spells a flag.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
from collections.abc import Iterable, Sequence


#: an option named in a message: ``name`` or ``name=value`` (a Python literal) in backticks
KEYWORD = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:=([^`]*))?`")


def one_of(words: Sequence[str]) -> str:
    """``words`` as a sentence says them: ``a``, ``a or b``, ``a, b or c``.

    >>> one_of(["'roi'"]), one_of(["--var", "--vars", "--overwrite"])
    ("'roi'", '--var, --vars or --overwrite')
    """
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def did_you_mean(word: str, choices: Iterable[str], *, quote: str = "'") -> str | None:
    """``did you mean 'roi'?``: the ``choices`` closest to a misspelt ``word`` (difflib's ratio of 0.6 or more; the
    best and at most two others nearly as close), each in ``quote``; None when none is close. The one rule every lookup of a name a user typed
    follows (a store's variables, a command's options).

    >>> did_you_mean("rois", ["patterns", "roi", "latent"]), did_you_mean("--overwrit", ["--overwrite"], quote="")
    ("did you mean 'roi'?", 'did you mean --overwrite?')
    >>> did_you_mean("zzz", ["roi"]) is None
    True
    """
    near = difflib.get_close_matches(str(word), sorted({str(c) for c in choices} - {str(word)}), n=3)
    ratios = [difflib.SequenceMatcher(None, str(word), n).ratio() for n in near]
    near = [n for n, r in zip(near, ratios, strict=True) if r >= ratios[0] - 0.05]  # the best, and as good as it
    return f"did you mean {one_of([f'{quote}{n}{quote}' for n in near])}?" if near else None


class VaearrError(Exception):
    """Base class for errors vaearr reports to users as a single line."""


class InputError(VaearrError, ValueError):
    """A file a user handed in cannot be used.

    The message always starts with the file, so the CLI can print it as one line.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class OptionError(InputError):
    """Options out of what they allow, each said by its field's name: ``k must be at least 1, got 0``.

    An interface says them in its own words: the command line names the flag (``--k must be at least 1, got 0``,
    :func:`vaearr.cli.common.flagged`); a flow's parameters and a Python step's keywords are the field names.

    Attributes
    ----------
    owner
        The options dataclass the fields are of (None: keywords of a function that has none).
    problems
        ``(field, what is wrong)`` pairs, in order: ``("k", "must be at least 1, got 0")``.
    """

    def __init__(self, owner: type | None, problems: Sequence[tuple[str, str]]):
        self.owner = owner
        self.problems = tuple(problems)
        super().__init__(None, "; ".join(f"{name} {text}" for name, text in self.problems))


class StoreError(VaearrError):
    """A store cannot be read or written as asked (exists, busy, missing variable...)."""

    def __init__(self, store: str | os.PathLike, problem: str):
        self.store = os.fspath(store)
        self.problem = problem
        super().__init__(f"{self.store}: {problem}")


class StoreBusyError(StoreError):
    """Another process holds the store's write lock."""


class StoreConflictError(StoreError):
    """Another writer committed to an object-storage store first; this write changed nothing."""


class MissingExtraError(VaearrError, ImportError):
    """An optional extra is needed for this feature."""

    def __init__(self, extra: str, package: str):
        super().__init__(
            f"this needs the '{extra}' extra ({package} is not installed): "
            f"pip install 'vaearr[{extra}]'"
        )


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra.

    It only imports: a module that imports a package whose numba gufuncs are cached on disk (kikuchipy, orix,
    pyebsdindex, diffsims) calls :func:`vaearr.numba_cache.guard_gufunc_cache` first, where it imports it.
    """

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(extra, module.split(".")[0]) from exc
