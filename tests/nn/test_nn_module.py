"""Walking plain model objects: names, roles, state, training flags, state dicts."""

from __future__ import annotations

import numpy as np
import pytest

import avalon
from avalon import nn
from avalon.frontend.pytree import flatten
from tests.nn.checks import HAVE_TORCH, check, rand


class Block:
    """A user's plain class (no base class) mixing layers, lists, dicts and statics."""

    def __init__(self):
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.drop = nn.Dropout(0.5)
        self.extras = {"scale": np.ones(4, np.float32), "name": "block"}
        self.heads = [nn.Linear(4, 2), nn.Linear(4, 1, bias=False)]
        self.steps = np.zeros((), np.int64)
        self.act = nn.relu

    def __call__(self, x):
        h = self.drop(nn.relu(self.bn(self.fc(x)))) * self.extras["scale"]
        return [head(h) for head in self.heads]


def test_named_parameters_use_pytorch_style_paths():
    names = [k for k, _ in nn.named_parameters(Block())]
    assert names == ["fc.weight", "fc.bias", "bn.weight", "bn.bias", "extras.scale",
                     "heads.0.weight", "heads.0.bias", "heads.1.weight"]
    assert len(nn.parameters(Block())) == 8


def test_trainable_flags_line_up_with_pytree_leaves():
    block = Block()
    leaves = flatten(block)[0]
    flags = nn.trainable_flags(block)
    assert len(flags) == len(leaves)
    trainable = [leaf for leaf, f in zip(leaves, flags) if f]
    assert all(a is b for a, b in zip(trainable, nn.parameters(block)))
    sd = nn.state_dict(block)
    assert all(a is b for a, b in zip(sd.values(), leaves))
    assert not any(f for leaf, f in zip(leaves, flags) if leaf is block.bn.running_mean)


def test_state_roles_and_set_state():
    block = Block()
    state = nn.get_state(block)
    assert list(state) == ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
                           "drop.seed"]
    before = block.bn.running_mean
    nn.set_state(block, {"bn.running_mean": np.full(4, 2.0, np.float32)})
    assert block.bn.running_mean is before and np.all(before == 2.0)
    with pytest.raises(KeyError, match=r"fc\.weight"):
        nn.set_state(block, {"fc.weight": np.zeros((4, 3), np.float32)})


def test_state_dict_round_trip_and_strictness():
    a, b = Block(), Block()
    nn.load_state_dict(b, nn.state_dict(a))
    for (k, va), vb in zip(nn.state_dict(a).items(), nn.state_dict(b).values()):
        np.testing.assert_array_equal(va, vb, err_msg=k)
    partial = {k: v for k, v in nn.state_dict(a).items() if k != "drop.seed"}
    nn.load_state_dict(b, partial)  # seeds are optional: PyTorch has none
    with pytest.raises(KeyError, match="missing"):
        nn.load_state_dict(b, {k: v for k, v in partial.items() if k != "fc.bias"})
    with pytest.raises(KeyError, match="unexpected"):
        nn.load_state_dict(b, {**partial, "fc.gamma": np.zeros(1)})
    nn.load_state_dict(b, {"fc.bias": np.arange(4.0)}, strict=False)
    assert b.fc.bias.dtype == np.float32 and b.fc.bias[3] == 3
    with pytest.raises(ValueError, match="shape"):
        nn.load_state_dict(b, {"fc.bias": np.zeros(5)}, strict=False)


def test_training_flags_and_module_conveniences():
    block = Block()
    assert block.bn.training and block.drop.training
    assert nn.set_training(block, False) is block
    assert not block.bn.training and not block.drop.training
    assert not hasattr(block, "training")  # plain user objects are left alone
    assert block.fc.eval() is block.fc
    bn = nn.BatchNorm1d(2).eval()
    assert not bn.training and bn.train().training
    assert [k for k, _ in bn.named_parameters()] == ["weight", "bias"]
    assert len(bn.parameters()) == 2 and "running_var" in bn.state_dict()
    assert "BatchNorm1d(2" in repr(bn)
    nn.trainmode(block)
    assert block.bn.training
    nn.testmode(block)
    assert not block.drop.training


def test_gradients_of_a_plain_model_come_back_model_shaped():
    block = Block()
    nn.set_training(block, False)
    x = rand(np.random.default_rng(0), 5, 3)

    def loss(model, x):
        a, b = model(x)
        return (a**2).mean() + b.sum()

    g = avalon.grad(loss)(block, x)
    assert isinstance(g, Block) and g.fc.weight.shape == (4, 3)
    assert g.steps is None and g.drop.seed is None
    np.testing.assert_array_equal(g.bn.running_mean, 0)  # state: no gradient flows into it
    assert np.any(g.heads[0].weight != 0)


def test_closed_over_model_state_is_not_updated_while_tracing():
    bn = nn.BatchNorm1d(2)
    x = rand(np.random.default_rng(1), 4, 2)
    with pytest.warns(RuntimeWarning, match="not updated"):
        avalon.jit(lambda x: bn(x))(x)
    np.testing.assert_array_equal(bn.running_mean, 0)
    assert int(bn.num_batches_tracked) == 0


def test_check_helper_detects_wrong_gradients():
    """The comparison used by every test fails on a forward that is right but whose
    gradient is not (stop_gradient hides half of d(x·x)/dx)."""
    x = rand(np.random.default_rng(2), 3)

    def wrong(_, x):
        return avalon.stop_gradient(x) * x

    def torch_square(_, x):
        return x * x

    with pytest.raises(AssertionError, match="gradient of input 0"):
        check(wrong, [x], torch_fn=torch_square, ref=lambda _, x: x * x)
    with pytest.raises(AssertionError, match="numpy reference"):
        check(lambda _, x: x * 2, [x], ref=lambda _, x: x * x)
    if HAVE_TORCH:
        with pytest.raises(AssertionError, match="vs torch"):
            check(lambda _, x: x * x, [x], torch_fn=lambda _, x: x * 3)


def test_module_list_and_dict_behave_like_list_and_dict():
    class Stack:
        def __init__(self):
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1)})

        def __call__(self, x):
            for blk in self.blocks:
                x = nn.tanh(blk(x))
            return self.heads["a"](x)

    model = Stack()
    names = [k for k, _ in nn.named_parameters(model)]
    assert names == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
                     "heads.a.weight", "heads.a.bias"]
    x = rand(np.random.default_rng(3), 3, 2)
    np.testing.assert_allclose(avalon.jit(lambda m, x: m(x))(model, x), model(x), rtol=1e-6)
    g = avalon.grad(lambda m, x: m(x).sum())(model, x)
    assert isinstance(g.blocks, nn.ModuleList) and isinstance(g.heads, nn.ModuleDict)
    assert g.blocks[1].weight.shape == (2, 2)
