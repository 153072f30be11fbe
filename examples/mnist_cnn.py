"""Train the README's convolutional network on handwritten digits and report test accuracy.

The data are scikit-learn's 8x8 digits resized to MNIST's 28x28 (see ``data.py``), so the
network is exactly LeNet as in the README: two 5x5 convolutions with max pooling, two linear
layers, log-softmax and the negative log-likelihood loss. Each batch is one compiled call
(forward, backward and the SGD update)::

    python examples/mnist_cnn.py                     # full run, prints the test accuracy
    python examples/mnist_cnn.py --epochs 1 --limit 300   # a quick smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import avalon
from avalon import nn, optim
from avalon.nn import Conv2d, Linear, logsoftmax, maxpool2d, nll_loss, relu
from avalon.nn.train import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import load_digits


class Net:
    """LeNet: conv(1->20, 5) pool conv(20->50, 5) pool linear(800->500) linear(500->10)."""

    def __init__(self) -> None:
        self.conv1 = Conv2d(1, 20, 5)
        self.conv2 = Conv2d(20, 50, 5)
        self.fc1 = Linear(800, 500)
        self.fc2 = Linear(500, 10)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = maxpool2d(relu(self.conv1(x)), 2)
        x = maxpool2d(relu(self.conv2(x)), 2)
        x = x.reshape(x.shape[0], 800)
        x = relu(self.fc1(x))
        return logsoftmax(self.fc2(x), axis=1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--limit", type=int, default=None, help="use only this many images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None, help="write the trained weights (safetensors)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv)
    nn.init.manual_seed(args.seed)
    data = load_digits(size=28, seed=args.seed, limit=args.limit)
    model = Net()
    opt = optim.SGD(lr=args.lr, momentum=args.momentum)
    start = time.perf_counter()
    history = avalon.fit(model, data.x_train, data.y_train, nll_loss, epochs=args.epochs,
                         batch_size=args.batch_size, optimizer=opt,
                         seed=args.seed, verbose=not args.quiet)
    elapsed = time.perf_counter() - start
    result = evaluate(model, data.x_test, data.y_test, nll_loss,
                      batch_size=args.batch_size, metrics=["accuracy"])
    epoch_times = history["time"]
    print(f"trained on {len(data.x_train)} images for {len(history)} epochs in {elapsed:.1f}s "
          f"(first epoch {epoch_times[0]:.1f}s incl. compilation, "
          f"later epochs {np.median(epoch_times[1:] or epoch_times):.1f}s)")
    print(f"test loss: {result['loss']:.4f}")
    print(f"test accuracy: {result['accuracy']:.4f} ({len(data.x_test)} images)")
    if args.save:
        avalon.save(model, args.save)
        print(f"saved weights to {args.save}")
    return result["accuracy"]


if __name__ == "__main__":
    main()
