"""The README's network, exactly as written there, end to end on a batch."""

from __future__ import annotations

import numpy as np

import avalon
from avalon.nn import Conv2d, Linear, logsoftmax, maxpool2d, relu
from tests.nn import reference as R
from tests.nn.checks import check


class Net:
    def __init__(self):
        self.conv1, self.conv2 = Conv2d(1, 20, 5), Conv2d(20, 50, 5)
        self.fc1, self.fc2 = Linear(4 * 4 * 50, 500), Linear(500, 10)

    def __call__(self, x):
        x = maxpool2d(relu(self.conv1(x)), (2, 2))
        x = maxpool2d(relu(self.conv2(x)), (2, 2))
        x = x.reshape(x.shape[0], -1)
        return logsoftmax(self.fc2(relu(self.fc1(x))))


def _torch_net(tnn):
    import torch

    class TorchNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = tnn.Conv2d(1, 20, 5), tnn.Conv2d(20, 50, 5)
            self.fc1, self.fc2 = tnn.Linear(800, 500), tnn.Linear(500, 10)

        def forward(self, x):
            f = torch.nn.functional
            x = f.max_pool2d(f.relu(self.conv1(x)), (2, 2))
            x = f.max_pool2d(f.relu(self.conv2(x)), (2, 2))
            return f.log_softmax(self.fc2(f.relu(self.fc1(x.flatten(1)))), dim=-1)

    return TorchNet()


def _ref(p, x):
    h = R.pool(R.relu(R.conv(x, p["conv1.weight"], p["conv1.bias"])), "max", (2, 2))
    h = R.pool(R.relu(R.conv(h, p["conv2.weight"], p["conv2.bias"])), "max", (2, 2))
    h = R.relu(h.reshape(x.shape[0], -1) @ p["fc1.weight"].T + p["fc1.bias"])
    return R.logsoftmax(h @ p["fc2.weight"].T + p["fc2.bias"])


def test_readme_network_forward_and_gradients():
    net = Net()
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    out = net(x)
    assert out.shape == (2, 10) and out.dtype == np.float32
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(avalon.jit(net)(x), out, rtol=1e-5, atol=1e-6)
    target = np.array([3, 7])

    def loss(model, x, y):
        return -np.take_along_axis(model(x), y[:, None], axis=1).mean()

    value, g = avalon.value_and_grad(loss)(net, x, target)
    assert type(g) is Net
    for name in ("conv1", "conv2", "fc1", "fc2"):
        layer, grad = getattr(net, name), getattr(g, name)
        assert grad.weight.shape == layer.weight.shape and grad.bias.shape == layer.bias.shape
        assert np.all(np.isfinite(grad.weight)) and np.any(grad.weight != 0)
    assert np.isclose(value, -out[[0, 1], target].mean(), rtol=1e-5)


def test_readme_network_matches_references():
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
    check(lambda m, x: m(x), [x], layer=Net(), torch_layer=_torch_net,
          torch_fn=lambda m, x: m(x), ref=_ref, grad_inputs=[], grad_rtol=2e-3, grad_atol=2e-4,
          numeric_grads=False)


def test_readme_network_learns_with_plain_sgd():
    rng = np.random.default_rng(2)
    net = Net()
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 8)

    def loss(model, x, y):
        return -np.take_along_axis(model(x), y[:, None], axis=1).mean()

    step = avalon.value_and_grad(loss)
    losses = []
    for _ in range(4):
        value, g = step(net, x, y)
        losses.append(float(value))
        for layer, grad in ((net.conv1, g.conv1), (net.conv2, g.conv2), (net.fc1, g.fc1),
                            (net.fc2, g.fc2)):
            layer.weight -= 0.05 * grad.weight
            layer.bias -= 0.05 * grad.bias
    assert losses[-1] < losses[0]
