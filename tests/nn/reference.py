"""Plain numpy (float64) reference implementations of the nn layers, functions and losses.

They are written for obviousness, not speed — explicit loops over kernel offsets, output
windows, time steps and heads — and share no code with Avalon, so agreement means something
even where PyTorch is not installed.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

_erf = np.vectorize(math.erf)


# ------------------------------------------------------------------------------ activations


def relu(x):
    return np.where(x > 0, x, 0.0)


def leakyrelu(x, slope=0.01):
    return np.where(x > 0, x, slope * x)


def elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))


def gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def logsigmoid(x):
    return -np.logaddexp(0, -x)


def softplus(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.logaddexp(0, beta * x) / beta)


def softsign(x):
    return x / (1 + np.abs(x))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def logsoftmax(x, axis=-1):
    return np.log(softmax(x, axis))


# ------------------------------------------------------------------------- conv and pooling


def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """N-d cross-correlation: a loop over kernel offsets and groups, each a contraction."""
    n = x.ndim - 2
    st = (stride,) * n if isinstance(stride, int) else tuple(stride)
    dil = (dilation,) * n if isinstance(dilation, int) else tuple(dilation)
    if isinstance(padding, int):
        pads = [(padding, padding)] * n
    else:
        pads = [(p, p) if isinstance(p, int) else tuple(p) for p in padding]
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    k = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - dil[i] * (k[i] - 1) - 1) // st[i] + 1 for i in range(n)]
    cin_g, cout_g = x.shape[1] // groups, w.shape[0] // groups
    out = np.zeros((x.shape[0], w.shape[0], *out_sp))
    for g in range(groups):
        xs = xp[:, g * cin_g:(g + 1) * cin_g]
        ws = w[g * cout_g:(g + 1) * cout_g]
        for off in itertools.product(*(range(kk) for kk in k)):
            sl = tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                       for o, d, s, m in zip(off, dil, st, out_sp))
            patch = xs[(slice(None), slice(None), *sl)]  # [N, Cg, out...]
            wk = ws[(slice(None), slice(None), *off)]  # [Og, Cg]
            out[:, g * cout_g:(g + 1) * cout_g] += np.einsum("nc...,oc->no...", patch, wk)
    if b is not None:
        out += b.reshape((1, -1) + (1,) * n)
    return out


def pool(x, kind, kernel, stride=None, padding=0, count_include_pad=True):
    """Max/avg pooling over the trailing len(kernel) dims, one output window at a time."""
    n = len(kernel)
    st = tuple(kernel) if stride is None else tuple(stride)
    pad = (padding,) * n if isinstance(padding, int) else tuple(padding)
    lead = x.shape[:x.ndim - n]
    sp = x.shape[x.ndim - n:]
    out_sp = [(sp[i] + 2 * pad[i] - kernel[i]) // st[i] + 1 for i in range(n)]
    out = np.zeros((*lead, *out_sp))
    for idx in itertools.product(*(range(m) for m in out_sp)):
        lo = [idx[i] * st[i] - pad[i] for i in range(n)]
        hi = [lo[i] + kernel[i] for i in range(n)]
        clo = [max(v, 0) for v in lo]
        chi = [min(h, s) for h, s in zip(hi, sp)]
        win = x[(..., *(slice(a, b) for a, b in zip(clo, chi)))]
        axes = tuple(range(x.ndim - n, x.ndim))
        if kind == "max":
            out[(..., *idx)] = win.max(axis=axes)
        else:
            count = math.prod(kernel) if count_include_pad else math.prod(
                b - a for a, b in zip(clo, chi))
            out[(..., *idx)] = win.sum(axis=axes) / count
    return out


# ---------------------------------------------------------------------------- normalisation


def batch_norm_train(x, weight, bias, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    return y * weight.reshape(shape) + bias.reshape(shape)


def batch_norm_eval(x, mean, var, weight, bias, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return y * weight.reshape(shape) + bias.reshape(shape)


def layer_norm(x, ndims, weight=None, bias=None, eps=1e-5):
    axes = tuple(range(x.ndim - ndims, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


# -------------------------------------------------------------------------------- recurrent


def _cell(kind, x, h, c, p, sfx, nonlinearity="tanh"):
    w_ih, w_hh = p[f"weight_ih_{sfx}"], p[f"weight_hh_{sfx}"]
    b_ih = p.get(f"bias_ih_{sfx}", np.zeros(w_ih.shape[0]))
    b_hh = p.get(f"bias_hh_{sfx}", np.zeros(w_hh.shape[0]))
    gi = x @ w_ih.T + b_ih
    gh = h @ w_hh.T + b_hh
    hs = h.shape[-1]
    if kind == "rnn":
        pre = gi + gh
        return (np.tanh(pre) if nonlinearity == "tanh" else relu(pre)), None
    if kind == "lstm":
        g = gi + gh
        i, f = sigmoid(g[:, :hs]), sigmoid(g[:, hs:2 * hs])
        gg, o = np.tanh(g[:, 2 * hs:3 * hs]), sigmoid(g[:, 3 * hs:])
        c2 = f * c + i * gg
        return o * np.tanh(c2), c2
    r = sigmoid(gi[:, :hs] + gh[:, :hs])
    z = sigmoid(gi[:, hs:2 * hs] + gh[:, hs:2 * hs])
    n = np.tanh(gi[:, 2 * hs:] + r * gh[:, 2 * hs:])
    return (1 - z) * n + z * h, None


def recurrent(kind, p, x, num_layers, hidden, bidirectional=False, batch_first=False,
              h0=None, c0=None, nonlinearity="tanh"):
    """(output, h_n, c_n) of a stacked (bi)directional RNN/LSTM/GRU; x batched."""
    if batch_first:
        x = x.transpose(1, 0, 2)
    steps, batch = x.shape[:2]
    dirs = 2 if bidirectional else 1
    if h0 is None:
        h0 = np.zeros((num_layers * dirs, batch, hidden))
    if c0 is None:
        c0 = np.zeros((num_layers * dirs, batch, hidden))
    hn, cn = [], []
    inp = x
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"l{layer}" + ("_reverse" if d else "")
            h, c = h0[layer * dirs + d], c0[layer * dirs + d]
            seq = np.zeros((steps, batch, hidden))
            order = range(steps) if d == 0 else range(steps - 1, -1, -1)
            for t in order:
                h, c2 = _cell(kind, inp[t], h, c, p, sfx, nonlinearity)
                c = c2 if c2 is not None else c
                seq[t] = h
            outs.append(seq)
            hn.append(h)
            cn.append(c)
        inp = np.concatenate(outs, axis=-1)
    out = inp.transpose(1, 0, 2) if batch_first else inp
    return out, np.stack(hn), np.stack(cn)


# -------------------------------------------------------------------------------- attention


def multihead_attention(p, q, k, v, num_heads, attn_mask=None, key_padding_mask=None,
                        average=True):
    """Batch-first ``[N, L, E]`` inputs; loops over batch and heads."""
    e = q.shape[-1]
    hd = e // num_heads
    w, b = p["in_proj_weight"], p.get("in_proj_bias", np.zeros(3 * e))
    qp = q @ w[:e].T + b[:e]
    kp = k @ w[e:2 * e].T + b[e:2 * e]
    vp = v @ w[2 * e:].T + b[2 * e:]
    n, tgt, src = q.shape[0], q.shape[1], k.shape[1]
    out = np.zeros((n, tgt, e))
    weights = np.zeros((n, num_heads, tgt, src))
    for bi in range(n):
        for h in range(num_heads):
            sl = slice(h * hd, (h + 1) * hd)
            scores = qp[bi, :, sl] @ kp[bi, :, sl].T / math.sqrt(hd)
            if attn_mask is not None:
                m = attn_mask if attn_mask.ndim == 2 else attn_mask[bi * num_heads + h]
                scores = np.where(m, -np.inf, scores) if m.dtype == bool else scores + m
            if key_padding_mask is not None:
                kpm = key_padding_mask[bi]
                scores = np.where(kpm[None, :], -np.inf, scores) if kpm.dtype == bool \
                    else scores + kpm[None, :]
            a = softmax(scores, -1)
            weights[bi, h] = a
            out[bi, :, sl] = a @ vp[bi, :, sl]
    out = out @ p["out_proj.weight"].T + p.get("out_proj.bias", 0.0)
    return out, (weights.mean(axis=1) if average else weights)


# ----------------------------------------------------------------------------------- losses


def _reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum}.get(reduction, lambda a: a)(loss)


def nll_loss(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    """Per-element loop over [N, C, d...] inputs."""
    c = logp.shape[1]
    w = np.ones(c) if weight is None else weight
    lp = np.moveaxis(logp, 1, -1).reshape(-1, c)
    t = target.reshape(-1)
    losses, weights = np.zeros(len(t)), np.zeros(len(t))
    for i, cls in enumerate(t):
        if cls != ignore_index:
            losses[i] = -lp[i, cls] * w[cls]
            weights[i] = w[cls]
    if reduction == "none":
        return losses.reshape(target.shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / weights.sum()


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    logp = logsoftmax(logits, 1)
    c = logits.shape[1]
    w = np.ones(c) if weight is None else weight
    wshape = (1, c) + (1,) * (logits.ndim - 2)
    if target.dtype.kind == "f":
        t = target * (1 - label_smoothing) + label_smoothing / c
        return _reduce(-(logp * t * w.reshape(wshape)).sum(axis=1), reduction)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll
    valid = target != ignore_index
    smooth = -(logp * w.reshape(wshape)).sum(axis=1) * valid
    if reduction == "none":
        red = smooth
    elif reduction == "sum":
        red = smooth.sum()
    else:
        red = smooth.sum() / (w[np.where(valid, target, 0)] * valid).sum()
    return (1 - label_smoothing) * nll + label_smoothing / c * red


def binary_cross_entropy(p, t, weight=None, reduction="mean"):
    loss = -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100))
    return _reduce(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(x, t, weight=None, reduction="mean", pos_weight=None):
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * t * np.log(sigmoid(x)) + (1 - t) * np.log(1 - sigmoid(x)))
    return _reduce(loss if weight is None else loss * weight, reduction)


def smooth_l1_loss(x, t, reduction="mean", beta=1.0):
    d = np.abs(x - t)
    loss = np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta) if beta > 0 else d
    return _reduce(loss, reduction)


def kl_div(logq, t, reduction="mean", log_target=False):
    if log_target:
        loss = np.exp(t) * (t - logq)
    else:
        loss = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - logq), 0.0)
    if reduction == "batchmean":
        return loss.sum() / logq.shape[0]
    return _reduce(loss, reduction)
