"""The digits data set for the examples: scikit-learn's 8x8 handwritten digits, resized.

scikit-learn ships the 1,797 images of its ``load_digits`` set inside the package, so the
examples need no download. Images are scaled to [0, 1], resized to MNIST's 28x28 with
bilinear interpolation written in numpy, and split into train and test sets with a fixed seed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
    """Images ``[N, 1, size, size]`` (float32 in [0, 1]) and labels ``[N]`` (int64)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``W [n_out, n_in]`` such that ``W @ v`` resamples ``v`` bilinearly.

    Pixel centres are aligned as in PIL and PyTorch's ``align_corners=False``: output pixel
    ``i`` samples the input at ``(i + 0.5) * n_in / n_out - 0.5``, clamped to the edges.
    """
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    w = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(w, (rows, lo), 1.0 - frac)
    np.add.at(w, (rows, hi), frac)
    return w


def resize_bilinear(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``[..., H, W]`` images to ``[..., size[0], size[1]]`` (separable bilinear)."""
    h, w = images.shape[-2:]
    wy = interpolation_matrix(h, size[0])
    wx = interpolation_matrix(w, size[1])
    out = np.einsum("oh,...hw,pw->...op", wy, images.astype(np.float64), wx)
    return out.astype(np.float32)


def load_digits(size: int = 28, test_fraction: float = 0.2, seed: int = 0,
                limit: int | None = None) -> Split:
    """The digits as a train/test :class:`Split`; ``limit`` keeps only the first samples
    of the shuffled set (for quick runs)."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as e:
        raise SystemExit("the examples need scikit-learn for the digits data: "
                         "pip install scikit-learn") from e
    digits = sklearn_digits()
    images = digits.images.astype(np.float32) / 16.0
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(images))
    if limit is not None:
        order = order[:limit]
    images = images[order]
    labels = labels[order]
    if size != images.shape[-1]:
        images = resize_bilinear(images, (size, size))
    images = images[:, None, :, :]
    n_test = max(1, round(len(images) * test_fraction))
    return Split(images[n_test:], labels[n_test:], images[:n_test], labels[:n_test])
