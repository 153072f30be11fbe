"""LeNet training on MNIST-shaped data: Avalon against PyTorch (CPU), measured in one run.

The README's network: Conv2d(1, 20, 5), max-pool 2, Conv2d(20, 50, 5), max-pool 2,
Linear(800, 500), ReLU, Linear(500, 10), log-softmax and the NLL loss; batch 100, float32,
SGD(lr=0.01, momentum=0.9). The data are synthetic (uniform pixels, random labels): speed
does not depend on the values. See ``bench/modelbench.py`` for what each row measures::

    python bench/lenet.py                       # 5 alternating rounds of 10 steps
    python bench/lenet.py --rounds 9 --steps 20 --torch-threads 2
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from modelbench import ModelSpec, run

SHAPES = {
    "conv1.weight": (20, 1, 5, 5), "conv1.bias": (20,),
    "conv2.weight": (50, 20, 5, 5), "conv2.bias": (50,),
    "fc1.weight": (500, 800), "fc1.bias": (500,),
    "fc2.weight": (10, 500), "fc2.bias": (10,),
}


def make_weights(seed: int) -> dict[str, np.ndarray]:
    """PyTorch's default initialisation bounds, U(±1/sqrt(fan_in)) for weights and biases."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in SHAPES.items():
        fan_in = int(np.prod(SHAPES[name.replace("bias", "weight")][1:]))
        bound = 1.0 / np.sqrt(fan_in)
        out[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    return out


def make_data(batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random((batch, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, batch).astype(np.int64))


class AvalonSide:
    """The compiled train step exactly as ``avalon.fit`` calls it, and compiled predict."""

    def __init__(self, weights: dict[str, np.ndarray], x: np.ndarray, y: Any) -> None:
        import avalon
        from avalon import optim
        from avalon.frontend.pytree import flatten
        from avalon.nn import Conv2d, Linear, logsoftmax, maxpool2d, nll_loss, relu
        from avalon.nn.train import _trainable_positions, make_train_step, testmode

        class Net:
            def __init__(self) -> None:
                self.conv1 = Conv2d(1, 20, 5)
                self.conv2 = Conv2d(20, 50, 5)
                self.fc1 = Linear(800, 500)
                self.fc2 = Linear(500, 10)

            def __call__(self, x: Any) -> Any:
                x = maxpool2d(relu(self.conv1(x)), 2)
                x = maxpool2d(relu(self.conv2(x)), 2)
                x = x.reshape(x.shape[0], 800)
                return logsoftmax(self.fc2(relu(self.fc1(x))), axis=1)

        self.model = Net()
        self.train_model = Net()
        for model in (self.model, self.train_model):
            for name, value in weights.items():
                layer, attr = name.split(".")
                getattr(getattr(model, layer), attr)[...] = value
        testmode(self.model)
        self.opt = optim.SGD(lr=0.01, momentum=0.9)
        self.opt.init(self.train_model)
        self.step = make_train_step(nll_loss, self.opt, True, with_prediction=False,
                                    with_state=False)
        self.forward = avalon.jit(lambda m, x: m(x))
        self.x, self.y = x, y
        self.positions = _trainable_positions(self.train_model)
        self.flatten = flatten

    def train_step(self) -> float:
        loss, _, params, _, self.opt.state = self.step(
            self.train_model, self.opt.state, self.opt.hyperparams(), self.x, self.y)
        leaves = self.flatten(self.train_model)[0]
        for i, value in zip(self.positions, params, strict=True):
            leaves[i][...] = value
        return float(loss)

    def predict(self, x: np.ndarray) -> Any:
        return self.forward(self.model, x)


class TorchSide:
    """The same network and update in PyTorch, eager mode."""

    def __init__(self, weights: dict[str, np.ndarray], x: np.ndarray, y: Any,
                 threads: int) -> None:
        import torch
        import torch.nn.functional as F
        from torch import nn

        torch.set_num_threads(threads)

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv1 = nn.Conv2d(1, 20, 5)
                self.conv2 = nn.Conv2d(20, 50, 5)
                self.fc1 = nn.Linear(800, 500)
                self.fc2 = nn.Linear(500, 10)

            def forward(self, x: Any) -> Any:
                x = F.max_pool2d(F.relu(self.conv1(x)), 2)
                x = F.max_pool2d(F.relu(self.conv2(x)), 2)
                x = x.reshape(x.shape[0], 800)
                return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)

        self.torch, self.F = torch, F
        self.model, self.train_model = Net(), Net()
        with torch.no_grad():
            for model in (self.model, self.train_model):
                for name, p in model.named_parameters():
                    p.copy_(torch.from_numpy(weights[name]))
        self.model.eval()
        self.opt = torch.optim.SGD(self.train_model.parameters(), lr=0.01, momentum=0.9)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def train_step(self) -> float:
        self.opt.zero_grad()
        loss = self.F.nll_loss(self.train_model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return float(loss.item())

    def predict(self, x: np.ndarray) -> Any:
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(x)).numpy()


SPEC = ModelSpec(
    name="lenet",
    description="LeNet (README), batch 100, SGD(lr=0.01, momentum=0.9), float32",
    batch=100, make_weights=make_weights, make_data=make_data,
    avalon_side=AvalonSide, torch_side=TorchSide)

if __name__ == "__main__":
    run(SPEC, __file__)
