"""Which NIfTI volumes to read (a list, a folder, or a CSV of subject,path) and the labels of their subjects;
:mod:`vaearr.io.nifti` gives them too."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaearr.errors import InputError


_SUFFIXES = (".nii.gz", ".nii")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _from_csv(csv_path: Path) -> list[tuple[str, Path]]:
    try:
        with open(csv_path, newline="") as f:
            reader = csv.DictReader(f)
            fields = [(h or "").strip() for h in (reader.fieldnames or [])]
            if not {"subject", "path"} <= set(fields):
                raise InputError(csv_path, f"needs columns 'subject' and 'path'; has {fields}")
            reader.fieldnames = fields
            rows = []
            for line, row in enumerate(reader, start=2):
                subject, rel = (row.get("subject") or "").strip(), (row.get("path") or "").strip()
                if not subject or not rel:
                    raise InputError(csv_path, f"line {line}: empty subject or path")
                p = Path(rel)
                rows.append((subject, p if p.is_absolute() else csv_path.parent / p))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(csv_path, f"cannot be read as CSV: {exc}") from None
    if not rows:
        raise InputError(csv_path, "lists no subjects")
    return rows


def read_labels(csv_path: str | os.PathLike, column: str, subjects: Sequence[str]) -> np.ndarray:
    """The ``column`` of a subjects CSV (a ``subject`` column and any others), one string per subject.

    Raises
    ------
    InputError
        An unreadable CSV, no ``subject`` or ``column`` column, a subject listed twice, or an
        ingested subject the CSV does not list — naming the CSV.
    """
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="") as f:
            reader = csv.DictReader(f)
            fields = [(h or "").strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = fields
            if "subject" not in fields or column not in fields:
                raise InputError(csv_path, f"needs columns 'subject' and '{column}' (`label_column`); has {fields}")
            table: dict[str, str] = {}
            for line, row in enumerate(reader, start=2):
                subject = (row.get("subject") or "").strip()
                if subject in table:
                    raise InputError(csv_path, f"line {line}: subject '{subject}' is listed twice")
                table[subject] = (row.get(column) or "").strip()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(csv_path, f"cannot be read as CSV: {exc}") from None
    missing = [s for s in subjects if s not in table]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(csv_path, f"has no row for subject(s) {shown} ({len(missing)} of {len(subjects)})")
    return np.array([table[s] for s in subjects], dtype=str)


def resolve_sources(sources: str | os.PathLike | Sequence[str | os.PathLike]) -> list[tuple[str, Path]]:
    """Turn ``sources`` into ``(subject, file)`` pairs.

    Parameters
    ----------
    sources
        A list of NIfTI files; or one folder (its ``*.nii`` and ``*.nii.gz``, sorted, not
        recursive); or one CSV with columns ``subject,path`` (relative paths are relative to
        the CSV). Subjects are the CSV's names, else the file names without ``.nii``/``.nii.gz``.

    Raises
    ------
    InputError
        Nothing given, a missing file, an empty folder, a bad CSV, or a subject named twice.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    paths = [Path(s) for s in sources]
    if not paths:
        raise InputError(None, "no NIfTI files given")
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        files = sorted(
            p for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(_SUFFIXES)
        )  # fmt: skip
        if not files:
            raise InputError(folder, "holds no .nii or .nii.gz files")
        pairs = [(_stem(p), p) for p in files]
    elif len(paths) == 1 and paths[0].suffix.lower() == ".csv":
        if not paths[0].is_file():
            raise InputError(paths[0], "no such file")
        pairs = _from_csv(paths[0])
    else:
        pairs = [(_stem(p), p) for p in paths]
    seen: dict[str, Path] = {}
    for subject, p in pairs:
        if not p.is_file():
            raise InputError(p, "no such file")
        if subject in seen:
            raise InputError(p, f"subject '{subject}' is named twice (also {seen[subject]})")
        seen[subject] = p
    return pairs
