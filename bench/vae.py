"""Variational autoencoder training: Avalon against PyTorch (CPU), measured in one run.

The model of ``examples/vae.py``: encoder Linear(784, 500) + tanh to a 5-dimensional
Gaussian (two Linear(500, 5) heads: mean and log-variance), a sample by the
reparameterisation trick, decoder Linear(5, 500) + tanh, Linear(500, 784) + sigmoid; loss
binary cross-entropy (sum) plus KL divergence to N(0, I), divided by the batch; batch 100,
float32, Adam(lr=1e-3). Data are synthetic pixels in [0, 1). Each side draws its own normal
noise (Avalon inside the compiled step, PyTorch with ``torch.randn``), so the losses agree
only in distribution. See ``bench/modelbench.py`` for what each row measures::

    python bench/vae.py
    python bench/vae.py --rounds 9 --steps 20
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from modelbench import ModelSpec, run

LAYERS = {"enc": (784, 500), "mean": (500, 5), "log_var": (500, 5), "dec1": (5, 500),
          "dec2": (500, 784)}


def make_weights(seed: int) -> dict[str, np.ndarray]:
    """PyTorch's default Linear initialisation bounds, U(±1/sqrt(in_features))."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (n_in, n_out) in LAYERS.items():
        bound = 1.0 / np.sqrt(n_in)
        out[f"{name}.weight"] = rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32)
        out[f"{name}.bias"] = rng.uniform(-bound, bound, n_out).astype(np.float32)
    return out


def make_data(batch: int, seed: int) -> tuple[np.ndarray, None]:
    return np.random.default_rng(seed).random((batch, 784), dtype=np.float32), None


class AvalonSide:
    """The compiled train step exactly as ``avalon.fit`` calls it (unsupervised, with the
    noise seed as model state), and compiled predict (reconstruction from the mean)."""

    def __init__(self, weights: dict[str, np.ndarray], x: np.ndarray, y: Any) -> None:
        import avalon
        from avalon import optim
        from avalon.frontend.ops import random_normal, seed_array
        from avalon.frontend.pytree import flatten
        from avalon.nn import Linear, Module, binary_cross_entropy, sigmoid, tanh, update_state
        from avalon.nn.module import get_state, set_state
        from avalon.nn.train import _trainable_positions, make_train_step, testmode

        class VAE(Module):
            state_attrs: ClassVar[tuple[str, ...]] = ("seed",)
            rng_attrs: ClassVar[tuple[str, ...]] = ("seed",)

            def __init__(self) -> None:
                for name, (n_in, n_out) in LAYERS.items():
                    setattr(self, name, Linear(n_in, n_out))
                self.seed = seed_array(0)
                self.training = True

            def __call__(self, x: Any) -> tuple[Any, Any, Any]:
                h = tanh(self.enc(x))
                mu, log_var = self.mean(h), self.log_var(h)
                if self.training:
                    noise = random_normal(self.seed, tuple(mu.shape), mu.dtype)
                    update_state(self, "seed", self.seed + 1)
                    z = mu + np.exp(0.5 * log_var) * noise
                else:
                    z = mu
                return sigmoid(self.dec2(tanh(self.dec1(z)))), mu, log_var

        def vae_loss(model: VAE, x: Any) -> Any:
            recon, mu, log_var = model(x)
            bce = binary_cross_entropy(recon, x, reduction="sum")
            kl = -0.5 * np.sum(1.0 + log_var - mu * mu - np.exp(log_var))
            return (bce + kl) / x.shape[0]

        self.model, self.train_model = VAE(), VAE()
        for model in (self.model, self.train_model):
            for name, value in weights.items():
                layer, attr = name.split(".")
                getattr(getattr(model, layer), attr)[...] = value
        testmode(self.model)
        self.opt = optim.Adam(lr=1e-3)
        self.opt.init(self.train_model)
        self.step = make_train_step(vae_loss, self.opt, False, with_prediction=False,
                                    with_state=bool(get_state(self.train_model)))
        self.forward = avalon.jit(lambda m, x: m(x)[0])
        self.x = x
        self.positions = _trainable_positions(self.train_model)
        self.flatten, self.set_state = flatten, set_state

    def train_step(self) -> float:
        loss, _, params, state, self.opt.state = self.step(
            self.train_model, self.opt.state, self.opt.hyperparams(), self.x, None)
        leaves = self.flatten(self.train_model)[0]
        for i, value in zip(self.positions, params, strict=True):
            leaves[i][...] = value
        if state:
            self.set_state(self.train_model, state)
        return float(loss)

    def predict(self, x: np.ndarray) -> Any:
        return self.forward(self.model, x)


class TorchSide:
    """The same model, loss and optimizer in PyTorch, eager mode."""

    def __init__(self, weights: dict[str, np.ndarray], x: np.ndarray, y: Any,
                 threads: int) -> None:
        import torch
        import torch.nn.functional as F
        from torch import nn

        torch.set_num_threads(threads)
        torch.manual_seed(0)

        class VAE(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                for name, (n_in, n_out) in LAYERS.items():
                    setattr(self, name, nn.Linear(n_in, n_out))

            def forward(self, x: Any) -> tuple[Any, Any, Any]:
                h = torch.tanh(self.enc(x))
                mu, log_var = self.mean(h), self.log_var(h)
                z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu) if self.training \
                    else mu
                return torch.sigmoid(self.dec2(torch.tanh(self.dec1(z)))), mu, log_var

        self.torch, self.F = torch, F
        self.model, self.train_model = VAE(), VAE()
        with torch.no_grad():
            for model in (self.model, self.train_model):
                for name, p in model.named_parameters():
                    p.copy_(torch.from_numpy(weights[name]))
        self.model.eval()
        self.opt = torch.optim.Adam(self.train_model.parameters(), lr=1e-3)
        self.x = torch.from_numpy(x)

    def train_step(self) -> float:
        torch, F = self.torch, self.F
        self.opt.zero_grad()
        recon, mu, log_var = self.train_model(self.x)
        bce = F.binary_cross_entropy(recon, self.x, reduction="sum")
        kl = -0.5 * torch.sum(1 + log_var - mu * mu - torch.exp(log_var))
        loss = (bce + kl) / self.x.shape[0]
        loss.backward()
        self.opt.step()
        return float(loss.item())

    def predict(self, x: np.ndarray) -> Any:
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(x))[0].numpy()


SPEC = ModelSpec(
    name="vae",
    description="VAE 784-500-5 / 5-500-784, batch 100, Adam(lr=1e-3), float32",
    batch=100, make_weights=make_weights, make_data=make_data,
    avalon_side=AvalonSide, torch_side=TorchSide)

if __name__ == "__main__":
    run(SPEC, __file__)
