"""Names that become store variables or parts of file names (``--name``, ``--tag``): one check for all.

A variable name is a folder inside the store and a tag is part of a file name in ``--out``, so
``../x`` would point outside them. :func:`check_name` keeps both to a safe set of characters.
"""

from __future__ import annotations

import re
from typing import Any

from vaearr.errors import InputError, OptionError

#: Letters, digits, ``_``, ``.`` and ``-``; the first character a letter, digit or ``_``.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
#: Names a store keeps for itself.
RESERVED = frozenset({"zarr.json"})


def is_safe_name(name: object) -> bool:
    """Whether ``name`` can become a store variable or a file-name part (see :func:`check_name`).

    Examples
    --------
    >>> is_safe_name("latent_v2"), is_safe_name("run-1.b"), is_safe_name("../x"), is_safe_name(".hidden")
    (True, True, False, False)
    """
    return (isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None and ".." not in name
            and name.lower() not in RESERVED)


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` when it is safe as a variable or in a file name; else raise one clear line.

    Safe: 1–128 characters from ``A-Z a-z 0-9 _ . -``, starting with a letter, digit or ``_``,
    without ``..``.

    Parameters
    ----------
    name
        The name a user gave.
    what
        What it is, for the message (``"`tag`"``, ``"variable name"``...).

    Raises
    ------
    InputError
        ``name`` has other characters, starts with ``.`` or ``-``, holds ``..``, or is empty.

    Examples
    --------
    >>> check_name("cluster_run")
    'cluster_run'
    >>> check_name("../x", "`tag`")
    Traceback (most recent call last):
    ...
    vaearr.errors.InputError: `tag` '../x' is not a safe name: use 1-128 of A-Z a-z 0-9 _ . - starting with a letter, digit or _ (no '..', no '/')
    """
    if not is_safe_name(name):
        raise InputError(None, f"{what} {name!r} is not a safe name: use 1-128 of A-Z a-z 0-9 _ . - "
                               "starting with a letter, digit or _ (no '..', no '/')")
    return name  # type: ignore[return-value]


def check_field_name(options: Any, field: str) -> str:
    """:func:`check_name` of the field ``field`` of an options dataclass: the error names the field (an
    :class:`~vaearr.errors.OptionError`; the command line says its flag).

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Named:
    ...     name: str = "../x"
    >>> check_field_name(Named(), "name")
    Traceback (most recent call last):
    ...
    vaearr.errors.OptionError: name '../x' is not a safe name: use 1-128 of A-Z a-z 0-9 _ . - starting with a letter, digit or _ (no '..', no '/')
    """
    value = getattr(options, field)
    if not is_safe_name(value):
        raise OptionError(type(options), [(field, f"{value!r} is not a safe name: use 1-128 of A-Z a-z 0-9 _ . - "
                                                  "starting with a letter, digit or _ (no '..', no '/')")])
    return value

