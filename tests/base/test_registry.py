"""vaearr.registry: a method family by name (the user's ``--method`` word → a class or function)."""

from __future__ import annotations

import pytest

from vaearr.registry import Registry


def test_names_come_back_in_the_order_they_were_registered():
    family = Registry("shape")
    for name in ("square", "circle", "triangle"):
        family.register(name)(lambda name=name: name)
    assert family.names() == ("square", "circle", "triangle")
    assert list(family) == ["square", "circle", "triangle"]
    assert len(family) == 3
    assert family["circle"]() == "circle"
    assert "circle" in family and "oval" not in family and 3 not in family
    assert repr(family) == "Registry('shape': square, circle, triangle)"


def test_register_returns_the_item_itself_so_it_works_as_a_decorator():
    family = Registry("loss")

    @family.register("l1")
    def l1(a, b):
        return abs(a - b)

    assert family["l1"] is l1
    assert l1(1, 4) == 3


def test_an_unknown_name_is_one_line_listing_the_known_ones():
    family = Registry("clustering method")
    family.register("kmeans")(object)
    family.register("gmm")(dict)
    with pytest.raises(KeyError, match=r"unknown clustering method 'dbscan'; known: kmeans, gmm"):
        family["dbscan"]


def test_a_name_is_registered_once_but_the_same_item_again_is_harmless():
    family = Registry("decomposition")
    family.register("pca")(list)
    family.register("pca")(list)  # a module imported twice registers the same class again
    assert family.names() == ("pca",)
    with pytest.raises(TypeError, match=r"decomposition 'pca' is registered twice"):
        family.register("pca")(tuple)
    assert family["pca"] is list


def test_an_empty_registry_says_so():
    family = Registry("embedding")
    assert len(family) == 0 and family.names() == ()
    with pytest.raises(KeyError) as raised:
        family["umap"]
    assert raised.value.args[0] == "unknown embedding 'umap'; known: "
