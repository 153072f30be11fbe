"""Layers against PyTorch modules (weights loaded by name) or numpy references."""

from __future__ import annotations

import numpy as np
import pytest

import avalon
from avalon import nn
from tests.nn import reference as R
from tests.nn.checks import HAVE_TORCH, check, rand


def call(layer, *xs):
    return layer(*xs)


def test_linear():
    layer = nn.Linear(5, 3)
    x = rand(np.random.default_rng(0), 4, 5)
    check(call, [x], layer=layer, torch_layer=lambda tnn: tnn.Linear(5, 3), torch_fn=call,
          ref=lambda p, x: x @ p["weight"].T + p["bias"])
    no_bias = nn.Linear(5, 3, bias=False)
    assert no_bias.bias is None
    check(call, [x], layer=no_bias, torch_layer=lambda tnn: tnn.Linear(5, 3, bias=False),
          torch_fn=call, ref=lambda p, x: x @ p["weight"].T)


@pytest.mark.parametrize("n,kw,shape", [
    (1, dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1), (2, 2, 9)),
    (2, dict(in_channels=4, out_channels=2, kernel_size=(3, 2), dilation=(1, 2), groups=2),
     (1, 4, 6, 6)),
    (2, dict(in_channels=3, out_channels=3, kernel_size=3, padding="same", bias=False),
     (2, 3, 5, 4)),
    (3, dict(in_channels=2, out_channels=2, kernel_size=2, padding=(1, 0, 1)), (1, 2, 3, 3, 3)),
])
def test_conv_layers(n, kw, shape):
    cls = getattr(nn, f"Conv{n}d")
    layer = cls(**kw)
    x = rand(np.random.default_rng(1), *shape)

    def ref(p, x):
        pad = layer.padding
        if pad == "same":  # dilation 1: k - 1 zeros in all, the odd one on the high side
            pad = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in layer.kernel_size]
        return R.conv(x, p["weight"], p.get("bias"), layer.stride, pad, layer.dilation,
                      layer.groups)

    check(call, [x], layer=layer,
          torch_layer=lambda tnn: getattr(tnn, f"Conv{n}d")(**kw), torch_fn=call, ref=ref)


def test_conv_constructor_validation():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="stride 1"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")


@pytest.mark.parametrize("cls,args,shape", [
    ("MaxPool1d", (3, 2, 1), (2, 3, 8)),
    ("MaxPool2d", ((2, 3),), (1, 2, 6, 6)),
    ("AvgPool1d", (2,), (2, 3, 8)),
    ("AvgPool2d", (3, 2, 1), (1, 2, 7, 6)),
])
def test_pooling_layers(cls, args, shape):
    layer = getattr(nn, cls)(*args)
    x = rand(np.random.default_rng(2), *shape)
    kind = "max" if cls.startswith("Max") else "avg"
    check(call, [x], layer=layer, torch_layer=lambda tnn: getattr(tnn, cls)(*args),
          torch_fn=call,
          ref=lambda p, x: R.pool(x, kind, layer.kernel_size, layer.stride, layer.padding))


def test_avgpool_count_include_pad_flag():
    layer = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    x = rand(np.random.default_rng(3), 1, 1, 4, 4)
    check(call, [x], layer=layer,
          torch_layer=lambda tnn: tnn.AvgPool2d(3, 1, 1, count_include_pad=False),
          torch_fn=call, ref=lambda p, x: R.pool(x, "avg", (3, 3), (1, 1), 1, False))


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (5, 3)), ("BatchNorm1d", (4, 3, 2)),
                                       ("BatchNorm2d", (2, 3, 2, 3)),
                                       ("BatchNorm3d", (2, 3, 2, 1, 2))])
def test_batchnorm_train_and_eval_outputs(cls, shape):
    rng = np.random.default_rng(4)
    x = rand(rng, *shape, scale=2.0) + 1.0
    layer = getattr(nn, cls)(3)
    layer.weight[:] = rand(rng, 3)
    layer.bias[:] = rand(rng, 3)

    def torch_layer(tnn):
        m = getattr(tnn, cls)(3)
        m.weight.data[:] = m.weight.data.new_tensor(layer.weight)
        m.bias.data[:] = m.bias.data.new_tensor(layer.bias)
        return m

    # training mode: batch statistics (the state dict also carries the running ones)
    check(call, [x], layer=layer, torch_layer=torch_layer, torch_fn=call,
          ref=lambda p, x: R.batch_norm_train(x, p["weight"], p["bias"]))
    layer.running_mean[:] = rand(rng, 3)
    layer.running_var[:] = np.abs(rand(rng, 3)) + 0.5
    layer.eval()

    def torch_eval(tnn):
        m = torch_layer(tnn)
        m.running_mean[:] = m.running_mean.new_tensor(layer.running_mean)
        m.running_var[:] = m.running_var.new_tensor(layer.running_var)
        return m.eval()

    check(call, [x], layer=layer, torch_layer=torch_eval, torch_fn=call,
          ref=lambda p, x: R.batch_norm_eval(x, p["running_mean"], p["running_var"],
                                             p["weight"], p["bias"]))
    with pytest.raises(ValueError, match="rank"):
        layer(np.zeros((2, 3, 1, 1, 1, 1), np.float32))


def _torch_running_stats(xs, momentum):
    import torch

    m = torch.nn.BatchNorm2d(3, momentum=momentum)
    for x in xs:
        m(torch.tensor(x))
    return m.running_mean.numpy(), m.running_var.numpy(), int(m.num_batches_tracked)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batchnorm_running_statistics_follow_pytorch(momentum):
    rng = np.random.default_rng(5)
    xs = [rand(rng, 4, 3, 2, 2, scale=3.0) + i for i in range(3)]
    layer = nn.BatchNorm2d(3, momentum=momentum)
    rm, rv = layer.running_mean, layer.running_var
    for x in xs:
        layer(x)
    assert layer.running_mean is rm and layer.running_var is rv  # updated in place
    assert int(layer.num_batches_tracked) == 3
    # numpy recurrence: the same rule as PyTorch's
    exp_m, exp_v = np.zeros(3), np.ones(3)
    for i, x in enumerate(xs, start=1):
        m = 1.0 / i if momentum is None else momentum
        x64 = x.astype(np.float64)
        exp_m = (1 - m) * exp_m + m * x64.mean((0, 2, 3))
        exp_v = (1 - m) * exp_v + m * x64.var((0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.running_mean, exp_m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.running_var, exp_v, rtol=1e-5, atol=1e-6)
    if HAVE_TORCH:
        tm, tv, tn = _torch_running_stats(xs, momentum)
        np.testing.assert_allclose(layer.running_mean, tm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.running_var, tv, rtol=1e-5, atol=1e-6)
        assert tn == 3


def test_batchnorm_running_statistics_through_a_compiled_step():
    rng = np.random.default_rng(6)
    x = rand(rng, 4, 3, scale=2.0)
    eager, compiled = nn.BatchNorm1d(3, momentum=0.3), nn.BatchNorm1d(3, momentum=0.3)
    y_eager = eager(x)

    @avalon.jit
    def step(model, x):
        y = model(x)
        return y, nn.get_state(model)

    y, state = step(compiled, x)
    assert set(state) == {"running_mean", "running_var", "num_batches_tracked"}
    np.testing.assert_array_equal(compiled.running_mean, np.zeros(3))  # pure until assigned
    nn.set_state(compiled, state)
    np.testing.assert_allclose(y, y_eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compiled.running_mean, eager.running_mean, rtol=1e-6)
    np.testing.assert_allclose(compiled.running_var, eager.running_var, rtol=1e-6)
    assert int(compiled.num_batches_tracked) == 1

    def loss(model, x):
        return (model(x) ** 2).mean(), nn.get_state(model)

    (value, state), g = avalon.value_and_grad(loss, has_aux=True)(compiled, x)
    nn.set_state(compiled, state)
    assert np.isfinite(value) and int(compiled.num_batches_tracked) == 2
    assert g.num_batches_tracked is None and g.weight.shape == (3,)


def test_batchnorm_without_running_stats_and_affine():
    layer = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert layer.weight is None and layer.running_mean is None
    x = rand(np.random.default_rng(7), 6, 3)
    layer.eval()  # still normalises with the batch statistics
    np.testing.assert_allclose(layer(x), R.batch_norm_train(x.astype(float), np.ones(3),
                                                            np.zeros(3)), rtol=1e-4, atol=1e-5)
    assert nn.get_state(layer) == {}


def test_layernorm():
    layer = nn.LayerNorm((2, 3))
    rng = np.random.default_rng(8)
    layer.weight[:] = rand(rng, 2, 3)
    layer.bias[:] = rand(rng, 2, 3)
    x = rand(rng, 4, 2, 3)

    def torch_layer(tnn):
        m = tnn.LayerNorm((2, 3))
        m.weight.data[:] = m.weight.data.new_tensor(layer.weight)
        m.bias.data[:] = m.bias.data.new_tensor(layer.bias)
        return m

    check(call, [x], layer=layer, torch_layer=torch_layer, torch_fn=call,
          ref=lambda p, x: R.layer_norm(x, 2, p["weight"], p["bias"]))
    bare = nn.LayerNorm(3, elementwise_affine=False)
    assert bare.weight is None and nn.parameters(bare) == []
    np.testing.assert_allclose(bare(x), R.layer_norm(x.astype(float), 1), rtol=1e-4, atol=1e-5)


def test_embedding():
    layer = nn.Embedding(7, 3, padding_idx=1)
    assert np.all(layer.weight[1] == 0)
    idx = np.array([[1, 2, 6], [0, 1, 2]])
    check(call, [idx], layer=layer,
          torch_layer=lambda tnn: tnn.Embedding(7, 3, padding_idx=1), torch_fn=call,
          ref=lambda p, i: np.where((i != 1)[..., None], p["weight"][i], 0.0))
    g = avalon.grad(lambda m: m(idx).sum())(layer)
    assert np.all(g.weight[1] == 0) and np.all(g.weight[2] == 2)


def test_dropout_layer_advances_its_seed():
    layer = nn.Dropout(0.5, seed=3)
    x = np.ones((8, 8), np.float32)
    first = layer(x)
    assert int(layer.seed) == 4
    second = layer(x)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, nn.dropout(x, 0.5, True, np.int64(3)))

    @avalon.jit
    def forward(model, x):
        return model(x), nn.get_state(model)

    y, state = forward(layer, x)
    np.testing.assert_array_equal(y, nn.dropout(x, 0.5, True, np.int64(5)))
    assert int(state["seed"]) == 6 and int(layer.seed) == 5
    layer.eval()
    assert layer(x) is x
    assert nn.Dropout(0.0)(x) is x


def test_dropout_layers_draw_seeds_from_the_init_generator():
    nn.init.manual_seed(11)
    a = nn.Dropout()
    nn.init.manual_seed(11)
    b = nn.Dropout()
    assert int(a.seed) == int(b.seed) and int(nn.Dropout().seed) != int(a.seed)


def test_sequential_flatten_identity_and_activation_layers():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Identity(),
                          nn.Linear(2 * 4 * 4, 5), nn.Tanh(), nn.LogSoftmax(dim=1))
    assert len(model) == 7 and isinstance(model[0], nn.Conv2d)
    assert isinstance(model[1:3], nn.Sequential) and len(model[1:3]) == 2
    assert [type(m).__name__ for m in model][:2] == ["Conv2d", "ReLU"]
    names = [k for k, _ in nn.named_parameters(model)]
    assert names == ["0.weight", "0.bias", "4.weight", "4.bias"]
    x = rand(np.random.default_rng(9), 3, 1, 6, 6)

    def torch_layer(tnn):
        return tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.ReLU(), tnn.Flatten(), tnn.Identity(),
                              tnn.Linear(32, 5), tnn.Tanh(), tnn.LogSoftmax(dim=1))

    def ref(p, x):
        h = R.relu(R.conv(x, p["0.weight"], p["0.bias"])).reshape(3, -1)
        return R.logsoftmax(np.tanh(h @ p["4.weight"].T + p["4.bias"]), 1)

    check(call, [x], layer=model, torch_layer=torch_layer, torch_fn=call, ref=ref)
    assert "Conv2d" in repr(model)


@pytest.mark.parametrize("name,args,ref", [
    ("LeakyReLU", (0.1,), lambda x: R.leakyrelu(x, 0.1)),
    ("ELU", (0.7,), lambda x: R.elu(x, 0.7)),
    ("GELU", ("tanh",), lambda x: R.gelu(x, "tanh")),
    ("SiLU", (), R.silu), ("Sigmoid", (), R.sigmoid), ("LogSigmoid", (), R.logsigmoid),
    ("Softplus", (2.0, 5.0), lambda x: R.softplus(x, 2.0, 5.0)), ("Softsign", (), R.softsign),
    ("Softmax", (0,), lambda x: R.softmax(x, 0)),
])
def test_activation_layers(name, args, ref):
    x = rand(np.random.default_rng(10), 3, 4, scale=2.0)
    layer = getattr(nn, name)(*args)
    check(call, [x], layer=layer, torch_layer=lambda tnn: getattr(tnn, name)(*args),
          torch_fn=call, ref=lambda p, x: ref(x))
