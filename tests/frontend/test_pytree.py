"""Pytrees: flatten/unflatten of plain objects, containers and arrays."""

from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import pytest

from avalon.frontend.pytree import assign_leaves, flatten, tree_map, unflatten


class Layer:
    def __init__(self, n: int) -> None:
        self.w = np.ones((n, n), np.float32)
        self.b = np.zeros(n, np.float32)
        self.activation = "relu"

    def __call__(self, x):
        return x @ self.w + self.b


class Model:
    def __init__(self) -> None:
        self.layers = [Layer(2), Layer(3)]
        self.config = {"dropout": 0.5, "scale": np.float32(2.0)}


@dataclass
class Point:
    x: np.ndarray
    label: str


def test_object_leaves_in_attribute_order_and_static_values_in_structure():
    m = Model()
    leaves, td = flatten(m)
    assert [leaf.shape for leaf in leaves] == [(2, 2), (2,), (3, 3), (3,), ()]
    assert "activation='relu'" in str(td) and "dropout=0.5" in str(td)
    hash(td)


def test_unflatten_rebuilds_model_shaped_object_without_init():
    m = Model()
    leaves, td = flatten(m)
    m2 = unflatten(td, [leaf * 0 + 7 for leaf in leaves], m)
    assert type(m2) is Model and type(m2.layers[1]) is Layer
    assert m2.layers[1].w.shape == (3, 3) and (m2.layers[1].w == 7).all()
    assert m2.layers[0].activation == "relu" and m2.config["dropout"] == 0.5
    assert m2.layers[0](np.ones((1, 2), np.float32)).shape == (1, 2)


def test_structure_changes_with_static_values():
    a, b = Model(), Model()
    b.config["dropout"] = 0.1
    assert flatten(a)[1] != flatten(b)[1]
    assert flatten(a)[1] == flatten(Model())[1]


def test_namedtuple_dataclass_and_nested_containers():
    P = namedtuple("P", "a b")
    tree = (P(np.arange(2), [np.ones(1)]), {"k": Point(np.zeros(3), "pt")}, None, 3)
    leaves, td = flatten(tree)
    assert len(leaves) == 3
    back = unflatten(td, leaves)
    assert isinstance(back[0], P) and back[1]["k"].label == "pt" and back[3] == 3


def test_tree_map_and_structure_mismatch():
    m = Model()
    doubled = tree_map(lambda a, b: a + b, m, m)
    assert (doubled.layers[0].w == 2).all()
    with pytest.raises(ValueError, match="structures differ"):
        tree_map(lambda a, b: a, m, Layer(2))


def test_cycles_are_rejected_with_a_path():
    m = Model()
    m.layers.append(m)
    with pytest.raises(ValueError, match="reference cycle"):
        flatten(m)


def test_assign_leaves_updates_arrays_in_place():
    m = Model()
    del m.config["scale"]  # a numpy scalar leaf cannot be updated in place
    w = m.layers[0].w
    leaves, _ = flatten(m)
    assign_leaves(m, [leaf + 1 for leaf in leaves])
    assert m.layers[0].w is w and (w == 2).all()
    with pytest.raises(ValueError):
        assign_leaves(m, [])
    with pytest.raises(TypeError, match="in place"):
        assign_leaves(Model(), flatten(Model())[0])
