"""RNN, LSTM and GRU against PyTorch (weights loaded by name) or explicit numpy equations."""

from __future__ import annotations

import numpy as np
import pytest

import avalon
from avalon import nn
from tests.nn import reference as R
from tests.nn.checks import check, rand

CASES = [
    # (kind, num_layers, bidirectional, batch_first, bias, with_initial_state)
    ("RNN", 1, False, False, True, False),
    ("RNN", 2, True, True, True, True),
    ("LSTM", 1, False, True, True, True),
    ("LSTM", 2, True, False, False, False),
    ("GRU", 1, False, False, True, True),
    ("GRU", 2, False, True, True, False),
]


@pytest.mark.parametrize("case", CASES)
def test_recurrent_layers(case):
    kind, layers, bidir, batch_first, bias, with_state = case
    inp, hid, steps, batch = 3, 4, 3, 2
    kw = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first, bias=bias)
    layer = getattr(nn, kind)(inp, hid, **kw)
    rng = np.random.default_rng(0)
    x = rand(rng, batch, steps, inp) if batch_first else rand(rng, steps, batch, inp)
    dirs = 2 if bidir else 1
    h0 = rand(rng, layers * dirs, batch, hid)
    c0 = rand(rng, layers * dirs, batch, hid)
    lstm = kind == "LSTM"
    inputs = [x] + ([h0] + ([c0] if lstm else []) if with_state else [])

    def run(module, x, *state):
        if not state:
            return module(x)
        return module(x, tuple(state) if lstm else state[0])

    def ref(p, x, *state):
        h, c = (state + (None, None))[:2]
        out, hn, cn = R.recurrent(kind.lower(), p, x, layers, hid, bidir, batch_first, h, c)
        return (out, (hn, cn)) if lstm else (out, hn)

    out = check(run, inputs, layer=layer,
                torch_layer=lambda tnn: getattr(tnn, kind)(inp, hid, **kw), torch_fn=run,
                ref=ref)
    expected_out = (batch, steps, dirs * hid) if batch_first else (steps, batch, dirs * hid)
    assert out[0].shape == expected_out


def test_parameter_names_and_shapes_follow_pytorch():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    shapes = {k: v.shape for k, v in nn.named_parameters(lstm)}
    assert shapes["weight_ih_l0"] == (20, 3) and shapes["weight_hh_l0"] == (20, 5)
    assert shapes["weight_ih_l1_reverse"] == (20, 10) and shapes["bias_hh_l1"] == (20,)
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                "weight_ih_l0_reverse"]
    bound = 1 / np.sqrt(5)
    assert all(np.abs(v).max() <= bound for _, v in nn.named_parameters(lstm))
    assert nn.GRU(2, 3).weight_ih_l0.shape == (9, 2) and nn.RNN(2, 3).weight_hh_l0.shape == (3, 3)


def test_unbatched_input_relu_rnn_and_jit():
    rnn = nn.RNN(2, 3, nonlinearity="relu")
    x = rand(np.random.default_rng(1), 4, 2)
    out, h = rnn(x)
    assert out.shape == (4, 3) and h.shape == (1, 3)
    p = {k: v.astype(float) for k, v in nn.state_dict(rnn).items() if k != "seed"}
    ref_out, ref_h, _ = R.recurrent("rnn", p, x[:, None].astype(float), 1, 3,
                                    nonlinearity="relu")
    np.testing.assert_allclose(out, ref_out[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, ref_h[:, 0], rtol=1e-5, atol=1e-6)
    jout, jh = avalon.jit(lambda m, x: m(x))(rnn, x)
    np.testing.assert_allclose(jout, out, rtol=1e-6)
    np.testing.assert_allclose(jh, h, rtol=1e-6)
    with pytest.raises(ValueError, match="input features"):
        rnn(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(2, 3, nonlinearity="sigmoid")


def test_dropout_between_layers_only_in_training():
    gru = nn.GRU(2, 3, num_layers=2, dropout=0.5)
    x = rand(np.random.default_rng(2), 3, 2, 2)
    seed = int(gru.seed)
    a, _ = gru(x)
    assert int(gru.seed) == seed + 1  # one mask between the two layers
    gru.eval()
    b, _ = gru(x)
    c, _ = gru(x)
    np.testing.assert_array_equal(b, c)
    assert int(gru.seed) == seed + 1
    assert not np.allclose(a, b)
