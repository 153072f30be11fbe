"""Optimizers and learning-rate schedules, with PyTorch's update equations and defaults.

``opt.update(model, grads)`` updates a model in place; ``opt.step(params, grads, state,
hyper)`` is the pure form that :func:`avalon.fit` compiles together with the forward and
backward pass.
"""

from avalon.optim.optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from avalon.optim.schedulers import CosineAnnealingLR, LRScheduler, OneCycleLR, StepLR

__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "OneCycleLR",
    "Optimizer", "RMSprop", "StepLR",
]
