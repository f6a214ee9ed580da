"""Names a user gives that become store variables or file-name parts (:mod:`vaearr.store.names`): what is safe, and
the one line for what is not, naming the option or the field."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from vaearr.errors import InputError, OptionError
from vaearr.store.names import check_field_name, check_name, is_safe_name


@pytest.mark.parametrize("name", ["a", "_x", "0", "latent_v2", "run-1.b", "A.b-c_D", "x" * 128, "zarr.jsonx"])
def test_safe_names(name) -> None:
    assert is_safe_name(name) and check_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "../x", "a..b", "a/b", "a b", "é", "x" * 129, "zarr.json",
                                  "ZARR.JSON", "a\nb", None, 3, b"abc"])
def test_unsafe_names_are_one_line_naming_what_they_are(name) -> None:
    assert not is_safe_name(name)
    with pytest.raises(InputError, match=r"^`tag` .* is not a safe name: use 1-128 of A-Z a-z 0-9 _ \. -"):
        check_name(name, "`tag`")


@dataclass
class Named:
    name: str = "ok"
    tag: str = "a/b"


def test_a_fields_name_error_names_the_field() -> None:
    assert check_field_name(Named(), "name") == "ok"
    with pytest.raises(OptionError, match=r"tag 'a/b' is not a safe name") as err:
        check_field_name(Named(), "tag")
    assert err.value.owner is Named and [f for f, _ in err.value.problems] == ["tag"]
