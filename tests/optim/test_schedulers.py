"""Learning-rate schedules: PyTorch's formulas, optimizer coupling, momentum cycling."""

import itertools
import math

import numpy as np
import pytest

from avalon import optim


def run(scheduler, steps):
    """The learning rate in use at steps 0..steps-1 (PyTorch's convention)."""
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.optimizer.lr)
        scheduler.step()
    return lrs


def ref_step(base, step_size, gamma, t):
    return base * gamma ** (t // step_size)


def ref_cosine(base, t_max, eta_min, t):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2


def ref_one_cycle(t, max_lr, total, pct=0.3, div=25.0, final_div=1e4, strategy="cos",
                  three_phase=False):
    """Piecewise schedule written from the 1cycle description."""
    start_lr = max_lr / div
    end_lr = start_lr / final_div
    up = pct * total - 1
    if three_phase:
        points = [(0, start_lr), (up, max_lr), (2 * pct * total - 2, start_lr),
                  (total - 1, end_lr)]
    else:
        points = [(0, start_lr), (up, max_lr), (total - 1, end_lr)]
    for (s0, v0), (s1, v1) in itertools.pairwise(points):
        if t <= s1 or s1 == points[-1][0]:
            frac = (t - s0) / (s1 - s0)
            if strategy == "linear":
                return v0 + (v1 - v0) * frac
            return v1 + (v0 - v1) * (1 + math.cos(math.pi * frac)) / 2
    raise AssertionError


def test_step_lr():
    opt = optim.SGD(lr=0.5)
    lrs = run(optim.StepLR(opt, step_size=3, gamma=0.5), 10)
    np.testing.assert_allclose(lrs, [ref_step(0.5, 3, 0.5, t) for t in range(10)])


def test_cosine_annealing_goes_down_and_back_up():
    opt = optim.Adam(lr=0.1)
    lrs = run(optim.CosineAnnealingLR(opt, T_max=8, eta_min=0.01), 20)
    np.testing.assert_allclose(lrs, [ref_cosine(0.1, 8, 0.01, t) for t in range(20)])
    assert min(lrs) == pytest.approx(0.01) and lrs[16] == pytest.approx(0.1)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle(strategy, three_phase):
    opt = optim.SGD(lr=1.0, momentum=0.9)
    sched = optim.OneCycleLR(opt, max_lr=0.2, total_steps=40, anneal_strategy=strategy,
                             three_phase=three_phase)
    lrs = run(sched, 40)
    expected = [ref_one_cycle(t, 0.2, 40, strategy=strategy, three_phase=three_phase)
                for t in range(40)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert lrs[0] == pytest.approx(0.2 / 25)
    with pytest.raises(ValueError, match="total_steps is 40"):
        sched.step()


def test_one_cycle_from_epochs_and_cycles_adam_beta1():
    opt = optim.Adam(lr=1.0)
    sched = optim.OneCycleLR(opt, max_lr=0.01, epochs=2, steps_per_epoch=5)
    assert sched.total_steps == 10 and sched.interval == "batch"
    assert opt.betas[0] == pytest.approx(0.95)
    sched.step()
    sched.step()  # at the peak of the rate (step 2 = 0.3 * 10 - 1) momentum is lowest
    assert opt.lr == pytest.approx(0.01) and opt.betas[0] == pytest.approx(0.85)


def test_one_cycle_needs_momentum():
    with pytest.raises(ValueError, match="neither momentum nor betas"):
        optim.OneCycleLR(optim.Adagrad(), max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="momentum > 0"):
        optim.OneCycleLR(optim.SGD(), max_lr=0.1, total_steps=10)
    sched = optim.OneCycleLR(optim.SGD(), max_lr=0.1, total_steps=10, cycle_momentum=False)
    assert sched.optimizer.hyper["momentum"] == 0.0
    with pytest.raises(ValueError, match="total_steps, or epochs"):
        optim.OneCycleLR(optim.SGD(), max_lr=0.1)


def test_resume_from_state_dict():
    opt = optim.SGD(lr=0.3)
    sched = optim.StepLR(opt, step_size=2, gamma=0.1)
    run(sched, 5)
    saved = sched.state_dict()
    other_opt = optim.SGD(lr=0.3)
    other = optim.StepLR(other_opt, step_size=2, gamma=0.1)
    other.load_state_dict(saved)
    assert other_opt.lr == pytest.approx(opt.lr) and other.get_last_lr() == sched.get_last_lr()
    resumed = optim.StepLR(opt, step_size=2, gamma=0.1, last_epoch=sched.last_epoch)
    assert opt.lr == pytest.approx(ref_step(0.3, 2, 0.1, 6))
    assert resumed.last_epoch == 6
    with pytest.raises(ValueError, match="initial_lr"):
        optim.StepLR(optim.SGD(), step_size=2, last_epoch=3)


def test_rejects_foreign_optimizers_and_bad_arguments():
    with pytest.raises(TypeError, match=r"not an avalon\.optim optimizer"):
        optim.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size"):
        optim.StepLR(optim.SGD(), step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        optim.CosineAnnealingLR(optim.SGD(), T_max=0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        optim.OneCycleLR(optim.Adam(), max_lr=1, total_steps=5, anneal_strategy="exp")


def _torch_lrs(torch, make_sched, steps, lr=0.1, opt="SGD", **opt_kw):
    p = torch.zeros(1, requires_grad=True)
    t_opt = getattr(torch.optim, opt)([p], lr=lr, **opt_kw)
    sched = make_sched(torch.optim.lr_scheduler, t_opt)
    out, moms = [], []
    for _ in range(steps):
        group = t_opt.param_groups[0]
        out.append(group["lr"])
        moms.append(group["betas"][0] if "betas" in group else group["momentum"])
        t_opt.step()
        sched.step()
    return out, moms


@pytest.mark.parametrize("kind", ["step", "cosine", "onecycle", "onecycle3", "onecycle-adam"])
def test_matches_pytorch(kind):
    torch = pytest.importorskip("torch")
    steps = 30
    if kind == "step":
        t_lrs, _ = _torch_lrs(torch, lambda s, o: s.StepLR(o, 4, gamma=0.7), steps)
        ours = run(optim.StepLR(optim.SGD(lr=0.1), 4, gamma=0.7), steps)
    elif kind == "cosine":
        t_lrs, _ = _torch_lrs(torch, lambda s, o: s.CosineAnnealingLR(o, 12, eta_min=1e-3),
                              steps)
        ours = run(optim.CosineAnnealingLR(optim.SGD(lr=0.1), 12, eta_min=1e-3), steps)
    else:
        three = kind == "onecycle3"
        which = "Adam" if kind == "onecycle-adam" else "SGD"
        kw = {} if which == "Adam" else {"momentum": 0.9}
        t_lrs, t_moms = _torch_lrs(
            torch, lambda s, o: s.OneCycleLR(o, max_lr=0.5, total_steps=steps,
                                              three_phase=three, anneal_strategy="linear"
                                              if three else "cos"),
            steps, opt=which, **kw)
        opt = getattr(optim, which)(lr=0.1, **kw)
        sched = optim.OneCycleLR(opt, max_lr=0.5, total_steps=steps, three_phase=three,
                                 anneal_strategy="linear" if three else "cos")
        ours, moms = [], []
        for _ in range(steps):
            ours.append(opt.lr)
            moms.append(opt.betas[0] if which == "Adam" else opt.hyper["momentum"])
            if len(ours) < steps:
                sched.step()
        np.testing.assert_allclose(moms, t_moms, rtol=1e-9)
    np.testing.assert_allclose(ours, t_lrs, rtol=1e-9)
