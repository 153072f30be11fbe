"""A variational autoencoder on handwritten digits; saves a PNG of reconstructions.

Encoder 784-500 (tanh) to a 5-dimensional Gaussian (mean and log-variance), a sample drawn
with the reparameterisation trick from seeded normal noise, decoder 5-500 (tanh)-784
(sigmoid); the loss is binary cross-entropy plus the KL divergence to N(0, I), minimised by
Adam(1e-3). The noise seed is model state: every compiled train step draws fresh noise and
hands the advanced seed back, so training is random yet exactly repeatable::

    python examples/vae.py                                  # writes examples/out/...png
    python examples/vae.py /tmp/recon.png --epochs 1 --limit 300
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from avalon import nn, optim
from avalon.frontend.ops import random_normal, seed_array
from avalon.nn import Linear, Module, binary_cross_entropy, sigmoid, tanh, update_state
from avalon.nn.train import evaluate, fit, predict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import load_digits
from png import grid, write_png

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "vae_reconstructions.png"


class VAE(Module):
    """``model(x) -> (reconstruction, mean, log_variance)``; the latent code is sampled in
    training mode and is the mean otherwise."""

    state_attrs: ClassVar[tuple[str, ...]] = ("seed",)
    rng_attrs: ClassVar[tuple[str, ...]] = ("seed",)

    def __init__(self, n_in: int = 784, hidden: int = 500, latent: int = 5,
                 seed: int = 0) -> None:
        self.enc = Linear(n_in, hidden)
        self.mean = Linear(hidden, latent)
        self.log_var = Linear(hidden, latent)
        self.dec1 = Linear(latent, hidden)
        self.dec2 = Linear(hidden, n_in)
        self.seed = seed_array(seed)
        self.training = True

    def encode(self, x: Any) -> tuple[Any, Any]:
        h = tanh(self.enc(x))
        return self.mean(h), self.log_var(h)

    def decode(self, z: Any) -> Any:
        return sigmoid(self.dec2(tanh(self.dec1(z))))

    def __call__(self, x: Any) -> tuple[Any, Any, Any]:
        mu, log_var = self.encode(x)
        if self.training:
            noise = random_normal(self.seed, tuple(mu.shape), mu.dtype)
            update_state(self, "seed", self.seed + 1)
            z = mu + np.exp(0.5 * log_var) * noise
        else:
            z = mu
        return self.decode(z), mu, log_var


def vae_loss(model: VAE, x: Any) -> Any:
    """Negative evidence lower bound per image: reconstruction BCE + KL(q(z|x) || N(0, I))."""
    recon, mu, log_var = model(x)
    bce = binary_cross_entropy(recon, x, reduction="sum")
    kl = -0.5 * np.sum(1.0 + log_var - mu * mu - np.exp(log_var))
    return (bce + kl) / x.shape[0]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", nargs="?", default=str(DEFAULT_OUT),
                   help=f"PNG to write (default {DEFAULT_OUT})")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--limit", type=int, default=None, help="use only this many images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv)
    nn.init.manual_seed(args.seed)
    data = load_digits(size=28, seed=args.seed, limit=args.limit)
    x_train = data.x_train.reshape(len(data.x_train), 784)
    x_test = data.x_test.reshape(len(data.x_test), 784)
    model = VAE(seed=args.seed)
    history = fit(model, x_train, vae_loss, epochs=args.epochs, batch_size=args.batch_size,
                  optimizer=optim.Adam(lr=args.lr), validation=x_test, seed=args.seed,
                  verbose=not args.quiet)
    test_loss = evaluate(model, x_test, loss_fn=vae_loss, batch_size=args.batch_size)["loss"]
    shown = x_test[:16]
    recon = predict(model, shown)[0]
    rows = np.concatenate([shown[:8], recon[:8], shown[8:], recon[8:]]).reshape(32, 28, 28)
    write_png(args.output, grid(rows, columns=8))
    print(f"trained for {len(history)} epochs; train loss {history['loss'][-1]:.2f}, "
          f"test loss {test_loss:.2f} (nats per image)")
    print(f"wrote reconstructions (rows: originals, reconstructions) to {args.output}")
    return test_loss


if __name__ == "__main__":
    main()
