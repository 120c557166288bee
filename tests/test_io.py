"""Weights and checkpoints on disk: round trips, PyTorch interop, atomic writes."""

import os

import numpy as np
import pytest

import rnnlab
from rnnlab import io


def test_weights_round_trip_bitwise(tmp_path):
    lstm = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True, dtype="float64", seed=0)
    path = tmp_path / "lstm.safetensors"
    io.save_weights(path, lstm.state_dict(), metadata={"cell": "lstm"})
    loaded = io.load_weights(path)
    assert sorted(loaded) == sorted(lstm.state_dict())
    other = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True, dtype="float64", seed=1)
    other.load_state_dict(loaded)
    for name, value in lstm.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[name], value)


def test_weights_move_both_ways_with_torch(torch, tmp_path):
    from safetensors.torch import load_file, save_file

    ours = rnnlab.GRU(3, 4, num_layers=2, dtype="float32", seed=0)
    io.save_weights(tmp_path / "ours.safetensors", ours.state_dict())
    theirs = torch.nn.GRU(3, 4, num_layers=2, batch_first=True)
    theirs.load_state_dict(load_file(tmp_path / "ours.safetensors"))
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    expected = theirs(torch.tensor(x))[0].detach().numpy()
    np.testing.assert_allclose(ours(x)[0], expected, rtol=1e-5, atol=1e-6)

    save_file(theirs.state_dict(), tmp_path / "theirs.safetensors")
    back = rnnlab.GRU(3, 4, num_layers=2, dtype="float32", seed=9)
    back.load_state_dict(io.load_weights(tmp_path / "theirs.safetensors"))
    np.testing.assert_allclose(back(x)[0], expected, rtol=1e-5, atol=1e-6)


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    io.save_weights(path, {"a": np.arange(3.0)})

    def failing(p, data):
        with open(p, "wb") as f:
            f.write(data[:5])
        raise OSError("disk full")

    monkeypatch.setattr(io, "_write_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        io.save_weights(path, {"a": np.arange(4.0)})
    np.testing.assert_array_equal(io.load_weights(path)["a"], np.arange(3.0))
    assert os.listdir(tmp_path) == ["w.safetensors"]


def test_checkpoints_keep_the_newest(tmp_path):
    for epoch in range(1, 5):
        io.write_checkpoint(tmp_path, epoch, {"w": np.full(2, float(epoch))},
                            {"m": np.zeros(1)}, {"epoch": epoch}, keep=2)
    names = [os.path.basename(p) for p in io.list_checkpoints(tmp_path)]
    assert names == ["epoch-0003", "epoch-0004"]
    weights, state, meta = io.read_checkpoint(io.latest_checkpoint(tmp_path))
    assert meta == {"epoch": 4} and weights["w"][0] == 4.0
    io.write_checkpoint(tmp_path, 4, {"w": np.zeros(2)}, {}, {"epoch": 4, "again": True})
    assert io.read_checkpoint(io.latest_checkpoint(tmp_path))[2]["again"] is True
    assert sorted(os.listdir(tmp_path)) == ["epoch-0003", "epoch-0004"]


def test_io_errors(tmp_path):
    with pytest.raises(TypeError, match=r"tensors\['w'\] must be a numpy array"):
        io.save_weights(tmp_path / "x", {"w": [1.0, 2.0]})
    with pytest.raises(FileNotFoundError, match="checkpoint folder"):
        io.read_checkpoint(tmp_path / "missing")
    assert io.latest_checkpoint(tmp_path / "nothing") is None
