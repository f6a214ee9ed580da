"""Errors a user sees as one line: the file and what is wrong with it.

A reader that cannot read a file says what the file is and what it is not (``README.md: a Markdown text file
beginning '# vaearr', not EBSD patterns …``: :func:`unreadable`, :func:`what_file`), in vaearr's words: a library's
own message (kikuchipy's "If the file format is supported, please report this error", nibabel's "Cannot work out
file type of …") never reaches the user as it is (:func:`reason` keeps what it says about the file).

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
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from types import MappingProxyType


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


#: characters that would end or break the one line (a name or path that holds a line break, a tab, a bell)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    r"""``text`` with its control characters written as escapes, so a message that quotes what a user gave (a phase
    name with a line break) stays one line.

    Examples
    --------
    >>> one_line("phase 'a\n# b'\tc")
    "phase 'a\\n# b'\\tc"
    """
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class VaearrWarning(UserWarning):
    """What vaearr warns a user of (data it skipped or filled, a fallback it took, a run that may have collapsed): a
    ``UserWarning`` of its own class, so that a caller can single it out (vaearr's test suite makes it an error)."""


class VaearrDeprecationWarning(DeprecationWarning):
    """An old spelling vaearr still takes, until the release the message names (the old name of an option, a
    keyword or a module)."""


class VaearrError(Exception):
    """Base class for errors vaearr reports to users as a single line."""


class InputError(VaearrError, ValueError):
    """A file a user handed in cannot be used.

    The message always starts with the file, so the CLI can print it as one line.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(one_line(f"{self.path}: {problem}" if self.path else problem))


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
        super().__init__(one_line(f"{self.store}: {problem}"))


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


# -- what a file is, for the line of a reader that cannot read it ----------------------------------------

#: The first bytes of the formats a user may hand to the wrong reader, and what each file is.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (.zip, .npz, .docx…)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"\x93NUMPY", "a NumPy .npy array"),
)
#: Text files by their suffix (any other text file is "a text file").
TEXT_KINDS = MappingProxyType({".md": "a Markdown text file", ".markdown": "a Markdown text file", ".rst": "a reStructuredText file",
                               ".txt": "a text file", ".csv": "a CSV text file", ".tsv": "a TSV text file", ".json": "a JSON text file",
                               ".toml": "a TOML text file", ".yaml": "a YAML text file", ".yml": "a YAML text file",
                               ".py": "a Python source file", ".html": "an HTML page", ".htm": "an HTML page",
                               ".xml": "an XML text file", ".cif": "a CIF text file", ".ang": "an .ang text file",
                               ".ctf": "a .ctf text file", ".ipynb": "a Jupyter notebook"})
#: Bytes read to tell what a file is.
HEAD = 4096
#: Characters of a text file's first line quoted in the line.
QUOTED = 32
#: What libraries add to their messages that says nothing about the file: dropped from the reason given.
BOILERPLATE = re.compile(r"If the file format is supported, please report this error\.?|"
                         r"Could not read '[^']*'\.?|Cannot work out file type of \"[^\"]*\"\.?|"
                         r"Unable to (?:synchronously )?open file \([^)]*\)", re.IGNORECASE)


#: Errors a library raises from its own code on a file it did not expect (``'NoneType' object has no attribute
#: 'file_reader'``): they say nothing about the file, so the line leaves them out.
LIBRARY_FAULTS = (AttributeError, TypeError, KeyError, IndexError, NameError, AssertionError)


def _text(head: bytes) -> str | None:
    """``head`` as text when it is (UTF-8, else Latin-1, without NULs and with hardly a control byte), else None."""
    if not head or b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut = exc.start >= len(head) - 3  # only a character cut at the end of the bytes read
        text = head[:exc.start].decode("utf-8") if cut else head.decode("latin-1")
    controls = sum(1 for c in text if (ord(c) < 32 and c not in "\t\n\r\f") or 0x7F <= ord(c) < 0xA0)
    return text if controls <= len(text) // 100 else None


def _hdf5_after_user_block(path: Path, size: int) -> bool:
    """Whether HDF5's signature sits after a user block (at 512, 1024, 2048… bytes), as h5py.is_hdf5 finds it."""
    offset = 512
    with open(path, "rb") as f:
        while offset + 8 <= size:
            f.seek(offset)
            if f.read(8) == SIGNATURES[0][0]:
                return True
            offset *= 2
    return False


def what_file(path: str | os.PathLike) -> str:
    """What ``path`` is, in a few words: ``a folder``, ``an empty file``, ``an HDF5 file``, ``a PNG image``, ``a
    Markdown text file beginning '# vaearr'``, ``binary data (3,000 bytes) of no format vaearr knows``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "notes.md").write_text("# My notes\\n\\nsome text\\n")
    >>> what_file(folder / "notes.md"), what_file(folder)
    ("a Markdown text file beginning '# My notes'", 'a folder')
    """
    p = Path(path)
    if p.is_dir():
        return "a folder"
    if not p.exists():
        return "no such file"
    size = p.stat().st_size
    if size == 0:
        return "an empty file (0 bytes)"
    try:
        with open(p, "rb") as f:
            head = f.read(HEAD)
    except OSError as exc:
        return f"a file that cannot be opened ({exc.strerror or type(exc).__name__})"
    for signature, what in SIGNATURES:
        if head.startswith(signature):
            return what
    if _hdf5_after_user_block(p, size):
        return "an HDF5 file"
    text = _text(head)
    if text is None:
        return f"binary data ({size:,} bytes) of no format vaearr knows"
    kind = TEXT_KINDS.get(p.suffix.lower(), "a text file")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = first.replace("`", "'")  # a message's backticks name keywords (vaearr.errors.KEYWORD)
    if not first:
        return f"{kind} of blank lines"
    return f"{kind} beginning '{first[:QUOTED]}{'…' if len(first) > QUOTED else ''}'"


def reason(exc: BaseException | None, path: str | os.PathLike | None = None) -> str | None:
    """What a library's error says about the file, in one line: its first line without the words that say nothing
    (:data:`BOILERPLATE`, the path it repeats); None when nothing is left, or for a fault of the library's own code
    (:data:`LIBRARY_FAULTS`).

    >>> reason(OSError("Could not read 'a.md'. If the file format is supported, please report this error."))
    >>> reason(ValueError("header: 12 columns, expected 10\\nmore"))
    'header: 12 columns, expected 10'
    """
    if exc is None or isinstance(exc, LIBRARY_FAULTS):  # the library's own fault: nothing about the file
        return None
    text = str(exc).splitlines()[0] if str(exc).strip() else ""
    text = BOILERPLATE.sub("", text)
    if path is not None:
        text = text.replace(f"'{os.fspath(path)}'", "").replace(f'"{os.fspath(path)}"', "").replace(os.fspath(path), "")
    text = re.sub(r"\s+", " ", text).strip(" .;:,")
    return text or None


def unreadable(path: str | os.PathLike, expected: str, exc: BaseException | None = None, *,
               suffixes: Collection[str] = (), then: str = "") -> InputError:
    """The line for a file a reader cannot read as ``expected`` (``"a crystal map orix reads (.ang, .ctf…)"``): binary
    data of no other format under a suffix the reader takes (``suffixes``) cannot be read, truncated or corrupt?; any
    other file is said by what it is (:func:`what_file`) — each with what the library's ``exc`` says about it
    (:func:`reason`), then ``then`` (what to do instead).

    >>> import tempfile, pathlib
    >>> md = pathlib.Path(tempfile.mkdtemp()) / "README.md"
    >>> _ = md.write_text("# vaearr\\n")
    >>> str(unreadable(md, "EBSD patterns", OSError(f"Could not read '{md}'. If the file format is supported, please "
    ...                                              "report this error."))).split(": ", 1)[1]
    "a Markdown text file beginning '# vaearr', not EBSD patterns"
    """
    why, what = reason(exc, path), what_file(path)
    if Path(path).suffix.lower() in {s.lower() for s in suffixes} and what.startswith("binary data"):
        line = f"cannot be read as {expected}: truncated or corrupt?"  # named as the reader's, of no other format
    else:
        line = f"{what}, not {expected}"
    return InputError(path, line + (f" ({why})" if why else "") + (f"; {then}" if then else ""))
