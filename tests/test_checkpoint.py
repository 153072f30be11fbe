"""Checkpoints: safetensors layout, round trips, atomic writes, every error case."""

import json
import os
import struct

import numpy as np
import pytest

import avalon
from avalon.checkpoint import (
    CheckpointError,
    decode,
    encode,
    load,
    load_file,
    read_metadata,
    save,
    save_file,
)


class Layer:
    def __init__(self, n_in, n_out, seed):
        rng = np.random.default_rng(seed)
        self.weight = rng.standard_normal((n_out, n_in)).astype(np.float32)
        self.bias = rng.standard_normal(n_out).astype(np.float32)
        self.activation = np.tanh


class Net:
    def __init__(self, seed=0, width=5):
        self.layers = [Layer(3, width, seed), Layer(width, 2, seed + 1)]
        self.steps = np.zeros((), np.int64)
        self.mask = np.array([True, False])
        self.extra = {"scale": np.float64(2.0) * np.ones(1)}


def test_file_layout_is_safetensors(tmp_path):
    path = tmp_path / "net.safetensors"
    net = Net()
    save(net, path, metadata={"note": "hi"})
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0
    header = json.loads(blob[8:8 + n])
    assert header["__metadata__"] == {"note": "hi"}
    assert header["layers.0.weight"] == {"dtype": "F32", "shape": [5, 3],
                                         "data_offsets": [0, 60]}
    assert header["steps"]["dtype"] == "I64" and header["steps"]["shape"] == []
    assert header["mask"]["dtype"] == "BOOL"
    assert header["extra.scale"]["dtype"] == "F64"
    end = max(e["data_offsets"][1] for k, e in header.items() if k != "__metadata__")
    assert len(blob) == 8 + n + end
    first = header["layers.0.weight"]["data_offsets"]
    raw = np.frombuffer(blob[8 + n + first[0]:8 + n + first[1]], "<f4").reshape(5, 3)
    np.testing.assert_array_equal(raw, net.layers[0].weight)


def test_round_trip_in_place(tmp_path):
    path = tmp_path / "net.safetensors"
    src, dst = Net(seed=0), Net(seed=7)
    src.steps[...] = 41
    buffer = dst.layers[1].weight
    save(src, path)
    assert load(dst, path) is dst
    assert dst.layers[1].weight is buffer
    for a, b in zip(avalon.frontend.flatten(src)[0], avalon.frontend.flatten(dst)[0]):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert read_metadata(path) == {}


def test_all_dtypes_round_trip(tmp_path):
    tensors = {dt: (np.arange(6) % 3).astype(dt).reshape(2, 3)
               for dt in ["bool", "uint8", "int8", "int16", "uint16", "float16", "int32",
                          "uint32", "float32", "int64", "uint64", "float64"]}
    tensors["empty"] = np.zeros((0, 4), np.float32)
    save_file(tensors, tmp_path / "t.safetensors")
    back = load_file(tmp_path / "t.safetensors")
    assert list(back) == list(tensors)
    for k, v in tensors.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == v.dtype


def test_atomic_write_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    save(Net(), path)
    good = path.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save(Net(seed=3), path)
    assert path.read_bytes() == good, "a failed save must not touch the old file"
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_mismatches_are_listed_exactly(tmp_path):
    path = tmp_path / "net.safetensors"
    save(Net(width=5), path)
    wider = Net(width=6)
    wider.steps = np.zeros((), np.int32)
    del wider.extra
    wider.new = np.zeros(3, np.float32)
    before = wider.layers[0].weight.copy()
    with pytest.raises(CheckpointError) as info:
        load(wider, path)
    msg = str(info.value)
    assert "missing from the file: new" in msg
    assert "unexpected in the file (not in the model): extra.scale" in msg
    assert "shape mismatch for layers.0.weight: file has (5, 3), model has (6, 3)" in msg
    assert "shape mismatch for layers.1.weight: file has (2, 5), model has (2, 6)" in msg
    assert "dtype mismatch for steps: file has int64, model has int32" in msg
    assert "layers.1.bias" not in msg
    np.testing.assert_array_equal(wider.layers[0].weight, before)


def test_numpy_scalars_cannot_be_loaded_in_place(tmp_path):
    save({"a": np.float32(1)}, tmp_path / "s.safetensors")
    with pytest.raises(CheckpointError, match="numpy scalars"):
        load({"a": np.float32(0)}, tmp_path / "s.safetensors")


def _header_file(tmp_path, header, data=b""):
    text = json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(("header", "data", "message"), [
    ({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, "must have dtype, shape and data_off"),
    ({"a": {**ENTRY, "dtype": "Q7"}}, b"\0" * 8, "unsupported dtype 'Q7'"),
    ({"a": {**ENTRY, "shape": [-2]}}, b"\0" * 8, "shape must be a list of non-negative"),
    ({"a": {**ENTRY, "data_offsets": [0, "8"]}}, b"\0" * 8, "data_offsets must be two int"),
    ({"a": {**ENTRY, "data_offsets": [0, 16]}}, b"\0" * 8, r"\[0, 16\] are out of range"),
    ({"a": {**ENTRY, "data_offsets": [4, 2]}}, b"\0" * 8, "out of range"),
    ({"a": {**ENTRY, "shape": [3]}}, b"\0" * 8, "8 bytes of data for shape"),
    ({"a": ENTRY, "b": {**ENTRY, "data_offsets": [4, 12]}}, b"\0" * 12, "overlap"),
    ({"__metadata__": {"k": 1}}, b"", "__metadata__ must map strings"),
    ([1, 2], b"", "must be a JSON object"),
])
def test_corrupt_headers_give_clear_errors(tmp_path, header, data, message):
    path = _header_file(tmp_path, header, data)
    with pytest.raises(CheckpointError, match=message):
        load_file(path)


def test_truncated_and_garbage_files(tmp_path):
    path = tmp_path / "net.safetensors"
    save(Net(), path)
    blob = path.read_bytes()
    for cut, message in [(3, "truncated file"), (40, "truncated file: the header needs"),
                         (len(blob) - 1, "out of range")]:
        path.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match=message):
            load(Net(), path)
    path.write_bytes(struct.pack("<Q", 5) + b"{nope")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_file(path)
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(CheckpointError, match="implausibly large"):
        load_file(path)
    path.write_bytes(struct.pack("<Q", 2) + b"\xff\xfe")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_file(path)


def test_unsaveable_values_and_names():
    with pytest.raises(CheckpointError, match="complex64"):
        encode({"z": np.zeros(2, np.complex64)})
    with pytest.raises(CheckpointError, match="reserved"):
        encode({"__metadata__": np.zeros(2)})
    with pytest.raises(CheckpointError, match="metadata keys and values must be strings"):
        encode({"a": np.zeros(1)}, metadata={"epoch": 3})
    with pytest.raises(CheckpointError, match="share the name"):
        save({"a": {"b": np.zeros(1)}, "a.b": np.zeros(1)}, "unused.safetensors")


def test_names_follow_pytorch_state_dicts(tmp_path):
    seq = avalon.nn.Sequential(avalon.nn.Linear(3, 4), avalon.nn.ReLU(), avalon.nn.Linear(4, 1))
    save(seq, tmp_path / "seq.safetensors")
    assert list(load_file(tmp_path / "seq.safetensors")) == ["0.weight", "0.bias", "2.weight",
                                                            "2.bias"]
    save(np.arange(3.0), tmp_path / "bare.safetensors")
    assert list(load_file(tmp_path / "bare.safetensors")) == ["value"]


def test_decode_of_encode_is_identity():
    tensors = {"x": np.arange(5, dtype=np.int16), "y": np.eye(2, dtype=np.float64)}
    back, meta = decode(encode(tensors, {"m": "v"}))
    assert meta == {"m": "v"}
    for k in tensors:
        np.testing.assert_array_equal(back[k], tensors[k])


def test_interoperates_with_safetensors_package(tmp_path):
    numpy_io = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "ours.safetensors"
    net = Net()
    save(net, path, metadata={"format": "np"})
    theirs = numpy_io.load_file(str(path))
    np.testing.assert_array_equal(theirs["layers.1.bias"], net.layers[1].bias)
    numpy_io.save_file({"layers.0.weight": np.ones((5, 3), np.float32)},
                       str(tmp_path / "theirs.safetensors"))
    back = load_file(tmp_path / "theirs.safetensors")
    np.testing.assert_array_equal(back["layers.0.weight"], np.ones((5, 3), np.float32))


def test_interoperates_with_torch_state_dicts(tmp_path):
    torch = pytest.importorskip("torch")
    net = Net()
    path = tmp_path / "net.safetensors"
    save(net, path)
    # torch can read our bytes through its own frombuffer, and our loader reads the layout
    # torch tensors produce when converted to numpy.
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    b0, b1 = header["layers.0.bias"]["data_offsets"]
    t = torch.frombuffer(bytearray(blob[8 + n + b0:8 + n + b1]), dtype=torch.float32)
    np.testing.assert_array_equal(t.numpy(), net.layers[0].bias)
    lin = torch.nn.Linear(3, 5)
    state = {f"layers.0.{k}": v.detach().numpy() for k, v in lin.state_dict().items()}
    save_file(state, path)
    target = {"layers": [{"weight": np.zeros((5, 3), np.float32),
                          "bias": np.zeros(5, np.float32)}]}
    load(target, path)
    np.testing.assert_array_equal(target["layers"][0]["weight"], lin.weight.detach().numpy())


def test_pytorch_models_load_our_files_and_we_load_theirs(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    ours = avalon.nn.Sequential(avalon.nn.Linear(3, 4), avalon.nn.ReLU(), avalon.nn.Linear(4, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    st_torch.save_file(theirs.state_dict(), str(tmp_path / "torch.safetensors"))
    load(ours, tmp_path / "torch.safetensors")
    np.testing.assert_array_equal(ours[2].weight, theirs[2].weight.detach().numpy())
    ours[0].bias[...] = 7.0
    save(ours, tmp_path / "ours.safetensors")
    theirs.load_state_dict(st_torch.load_file(str(tmp_path / "ours.safetensors")))
    np.testing.assert_array_equal(theirs[0].bias.detach().numpy(), np.full(4, 7.0))
