"""MultiheadAttention against PyTorch (weights loaded by name) or per-head numpy loops."""

from __future__ import annotations

import numpy as np
import pytest

import avalon
from avalon import nn
from tests.nn import reference as R
from tests.nn.checks import check, rand

E, HEADS, N, L, S = 6, 2, 2, 3, 4


def _inputs(batch_first, rng):
    def t(n, length):
        return rand(rng, n, length, E) if batch_first else rand(rng, length, n, E)

    return t(N, L), t(N, S), t(N, S)


def _to_batch_first(x, batch_first):
    return x if batch_first else np.swapaxes(x, 0, 1)


@pytest.mark.parametrize("batch_first,bias,masks,average", [
    (True, True, None, True),
    (False, True, "bool", True),
    (True, False, "float", False),
    (False, True, "per_head", True),
])
def test_multihead_attention(batch_first, bias, masks, average):
    rng = np.random.default_rng(0)
    q, k, v = _inputs(batch_first, rng)
    layer = nn.MultiheadAttention(E, HEADS, bias=bias, batch_first=batch_first)
    attn_mask = kpm = None
    if masks == "bool":
        attn_mask = np.triu(np.ones((L, S), bool), k=2)
        kpm = np.zeros((N, S), bool)
        kpm[1, 0] = True
    elif masks == "float":
        attn_mask = rand(rng, L, S)
        kpm = rand(rng, N, S)
    elif masks == "per_head":
        attn_mask = rng.random((N * HEADS, L, S)) < 0.3
        attn_mask[..., 0] = False  # every query keeps a key
    extra = [m for m in (attn_mask, kpm) if m is not None]

    def run(module, q, k, v, *masks):
        am = masks[0] if masks else None
        km = masks[1] if len(masks) > 1 else None
        return module(q, k, v, key_padding_mask=km, attn_mask=am,
                      average_attn_weights=average)

    def ref(p, q, k, v, *masks):
        am = masks[0] if masks else None
        km = masks[1] if len(masks) > 1 else None
        out, w = R.multihead_attention(p, _to_batch_first(q, batch_first),
                                       _to_batch_first(k, batch_first),
                                       _to_batch_first(v, batch_first), HEADS, am, km, average)
        return _to_batch_first(out, batch_first), w

    out, weights = check(
        run, [q, k, v, *extra], layer=layer, grad_inputs=[0, 1, 2],
        torch_layer=lambda tnn: tnn.MultiheadAttention(E, HEADS, bias=bias,
                                                       batch_first=batch_first),
        torch_fn=run, ref=ref)
    assert out.shape == q.shape
    assert weights.shape == ((N, L, S) if average else (N, HEADS, L, S))


def test_parameters_unbatched_input_and_need_weights():
    layer = nn.MultiheadAttention(4, 2)
    names = [k for k, _ in nn.named_parameters(layer)]
    assert names == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert np.all(layer.in_proj_bias == 0) and np.all(layer.out_proj.bias == 0)
    rng = np.random.default_rng(1)
    x = rand(rng, 3, 4)
    out, w = layer(x, x, x)
    assert out.shape == (3, 4) and w.shape == (3, 3)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    batched, _ = layer(x[:, None], x[:, None], x[:, None])
    np.testing.assert_allclose(out, batched[:, 0], rtol=1e-5, atol=1e-6)
    out2, none = avalon.jit(lambda m, x: m(x, x, x, need_weights=False))(layer, x)
    assert none is None
    np.testing.assert_allclose(out2, out, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(5, 2)


def test_attention_dropout_uses_and_advances_the_seed():
    layer = nn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True)
    x = rand(np.random.default_rng(2), 2, 5, 4)
    seed = int(layer.seed)
    _, w = layer(x, x, x, average_attn_weights=False)
    assert int(layer.seed) == seed + 1
    assert np.any(w == 0) and not np.allclose(w.sum(-1), 1.0)  # dropped and rescaled
    layer.eval()
    _, w_eval = layer(x, x, x)
    np.testing.assert_allclose(w_eval.sum(-1), 1.0, rtol=1e-5)
