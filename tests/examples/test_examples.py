"""The example scripts run (tiny settings), and their data and PNG helpers are correct."""

import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import data  # noqa: E402
import png  # noqa: E402


def run_example(*args, timeout=600):
    pytest.importorskip("sklearn")
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=EXAMPLES.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_mnist_cnn_smoke(tmp_path):
    weights = tmp_path / "cnn.safetensors"
    out = run_example(EXAMPLES / "mnist_cnn.py", "--epochs", "1", "--limit", "150", "--quiet",
                      "--save", weights)
    match = re.search(r"test accuracy: ([0-9.]+) \((\d+) images\)", out)
    assert match, out
    assert 0.0 <= float(match.group(1)) <= 1.0 and int(match.group(2)) == 30
    from avalon.checkpoint import load_file

    shapes = {k: v.shape for k, v in load_file(weights).items()}
    assert shapes["conv1.weight"] == (20, 1, 5, 5) and shapes["fc1.weight"] == (500, 800)


def test_vae_smoke_writes_a_png(tmp_path):
    target = tmp_path / "sub" / "recon.png"
    out = run_example(EXAMPLES / "vae.py", target, "--epochs", "1", "--limit", "150",
                      "--quiet")
    assert "test loss" in out and str(target) in out
    blob = target.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", blob[8:16])
    width, height = struct.unpack(">II", blob[16:24])
    assert (length, kind) == (13, b"IHDR")
    assert (width, height) == (8 * 29 + 1, 4 * 29 + 1)  # 32 images of 28x28 in 8 columns


def decode_png(blob):
    """A tiny decoder for what encode_png writes (filter 0), checking every CRC."""
    pos, chunks = 8, {}
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        kind = blob[pos + 4:pos + 8]
        body = blob[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", blob[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = 3 if colour == 2 else 1
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, -1)
    assert depth == 8 and np.all(raw[:, 0] == 0) and b"IEND" in chunks
    pixels = raw[:, 1:].reshape(h, w, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


def test_png_round_trip():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    np.testing.assert_array_equal(decode_png(png.encode_png(grey)), grey)
    rgb = np.random.default_rng(0).integers(0, 256, (5, 2, 3)).astype(np.uint8)
    np.testing.assert_array_equal(decode_png(png.encode_png(rgb)), rgb)
    floats = np.array([[0.0, 0.5, 1.0, 2.0]])
    np.testing.assert_array_equal(decode_png(png.encode_png(floats)), [[0, 128, 255, 255]])
    with pytest.raises(ValueError, match="expected"):
        png.encode_png(np.zeros((2, 2, 4)))
    tiles = png.grid(np.ones((3, 2, 2)), columns=2, pad=1)
    assert tiles.shape == (7, 7)


def test_bilinear_resize():
    w = data.interpolation_matrix(8, 28)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    constant = np.full((2, 8, 8), 0.25, np.float32)
    np.testing.assert_allclose(data.resize_bilinear(constant, (28, 28)), 0.25, rtol=1e-6)
    ramp = np.tile(np.arange(8, dtype=np.float32), (8, 1))
    up = data.resize_bilinear(ramp, (8, 16))
    assert np.all(np.diff(up[0]) >= 0) and up[0, 0] == 0 and up[0, -1] == 7
    torch = pytest.importorskip("torch")
    imgs = np.random.default_rng(1).random((3, 8, 8)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.tensor(imgs)[:, None], size=(28, 28),
                                          mode="bilinear", align_corners=False)
    np.testing.assert_allclose(data.resize_bilinear(imgs, (28, 28)), ref[:, 0].numpy(),
                               atol=1e-6)


def test_digits_split():
    pytest.importorskip("sklearn")
    split = data.load_digits()
    assert split.x_train.shape == (1438, 1, 28, 28) and split.x_test.shape == (359, 1, 28, 28)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert split.x_train.min() >= 0.0 and split.x_train.max() <= 1.0
    again = data.load_digits()
    np.testing.assert_array_equal(split.y_test, again.y_test)
    small = data.load_digits(size=8, limit=100, test_fraction=0.25)
    assert small.x_train.shape == (75, 1, 8, 8) and len(small.y_test) == 25
