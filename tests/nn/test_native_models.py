"""Whole models through the native path (cpu-pipeline + LLVM) agree with the interpreter."""

import warnings

import numpy as np

import avalon
from avalon.frontend.executable import CompilationWarning
from avalon.nn import Conv2d, Linear, logsoftmax, maxpool2d, nll_loss, relu


class Net:
    def __init__(self):
        self.conv1, self.conv2 = Conv2d(1, 20, 5), Conv2d(20, 50, 5)
        self.fc1, self.fc2 = Linear(4 * 4 * 50, 500), Linear(500, 10)

    def __call__(self, x):
        x = maxpool2d(relu(self.conv1(x)), (2, 2))
        x = maxpool2d(relu(self.conv2(x)), (2, 2))
        x = x.reshape(x.shape[0], -1)
        return logsoftmax(self.fc2(relu(self.fc1(x))))


def test_readme_network_forward_and_gradient_natively():
    avalon.nn.init.manual_seed(0)
    net = Net()
    rng = np.random.default_rng(0)
    x = rng.random((2, 1, 28, 28), dtype=np.float32)
    y = np.array([3, 7])

    def loss(m, x, y):
        return nll_loss(m(x), y)

    step = avalon.value_and_grad(loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompilationWarning)
        native_value, native_grads = avalon.jit(step, backend="cpu")(net, x, y)
    ref_value, ref_grads = avalon.jit(step, backend="interpreter")(net, x, y)
    np.testing.assert_allclose(native_value, ref_value, rtol=1e-5)
    for name in ("conv1", "conv2", "fc1", "fc2"):
        for p in ("weight", "bias"):
            np.testing.assert_allclose(getattr(getattr(native_grads, name), p),
                                       getattr(getattr(ref_grads, name), p),
                                       rtol=2e-4, atol=1e-6)
