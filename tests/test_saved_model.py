"""Saved models: a folder of safetensors and JSON that builds the model again with its
weights, arrays and settings, bit for bit, in another process; and every damaged, foreign or
mismatched folder refused with a message naming it."""

import errno
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rnnlab import io
from rnnlab import layers as L
from rnnlab._safetensors import InvalidFileError
from rnnlab.layers.sequence_transformer import SequenceTransformer
from rnnlab.saved_model import (EXTRAS_FILE, JSON_CHECKSUM_KEY, JSON_FILE, MODEL_FILE,
                                load_model, save_model)

F64 = "float64"
X = np.random.default_rng(5).standard_normal((4, 7, 3))
LENGTHS = np.array([7, 3, 5, 1])
ARRAYS = {"mean": np.arange(3.0), "scale": np.array([1.0, 2.0, 0.5]),
          "classes": np.array([3, 1, 4], dtype=np.int64)}
META = {"kind": "RNNClassifier", "classes": ["a", "b"], "note": {"epochs": 3}}


def lstm_model():
    return L.Sequential(L.LSTM(3, 5, num_layers=2, dropout=0.2, dtype=F64, seed=1),
                        L.LastStep(), L.Linear(5, 2, dtype=F64, seed=2))


def transformer_model():
    return L.Sequential(SequenceTransformer(3, 8, 2, num_layers=2, dropout=0.1, dtype=F64,
                                            seed=3),
                        L.MeanPool(), L.Linear(8, 2, dtype=F64, seed=4))


def outputs(model):
    model.eval()
    return model(X, lengths=LENGTHS)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model"
    save_model(path, lstm_model(), ARRAYS, META)
    return path


@pytest.mark.parametrize("make", [lstm_model, transformer_model])
def test_round_trip(tmp_path, make):
    model = make()
    path = save_model(tmp_path / "m", model, ARRAYS, META)
    assert sorted(os.listdir(path)) == sorted([MODEL_FILE, EXTRAS_FILE, JSON_FILE])
    assert sorted(os.listdir(tmp_path)) == ["m"]  # no temporary folder left
    loaded, arrays, meta = load_model(path, expected_kind="RNNClassifier")
    assert repr(loaded) == repr(model) and meta == META
    assert set(arrays) == set(ARRAYS)
    for name, value in ARRAYS.items():
        assert arrays[name].dtype == value.dtype
        np.testing.assert_array_equal(arrays[name], value)
    expected = model.state_dict()
    assert list(loaded.state_dict()) == list(expected)
    for name, value in loaded.state_dict().items():
        np.testing.assert_array_equal(value, expected[name])
    np.testing.assert_array_equal(outputs(loaded), outputs(model))


def test_the_files(saved):
    info = json.loads((saved / JSON_FILE).read_text())
    assert (info["format"], info["version"], info["meta"]) == ("rnnlab-model", 1, META)
    assert {"rnnlab", "numpy", "python", "extras_sha256"} <= set(info)
    assert info["architecture"]["type"] == "Sequential"
    import safetensors.numpy  # what another tool reads: the state dict, PyTorch's names
    tensors = safetensors.numpy.load_file(str(saved / MODEL_FILE))
    assert sorted(tensors) == sorted(lstm_model().state_dict())


def test_bit_identical_in_a_fresh_process(tmp_path):
    model = transformer_model()
    path = save_model(tmp_path / "m", model, {"x": X, "lengths": LENGTHS})
    out = tmp_path / "out.safetensors"
    script = ("import sys\n"
              "from rnnlab import io\n"
              "from rnnlab.saved_model import load_model\n"
              "model, arrays, meta = load_model(sys.argv[1])\n"
              "model.eval()\n"
              "y = model(arrays['x'], lengths=arrays['lengths'])\n"
              "io.save_weights(sys.argv[2], {'y': y})\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", script, str(path), str(out)], check=True, env=env,
                   timeout=300)
    np.testing.assert_array_equal(io.load_weights(out)["y"], outputs(model))


def test_saving_again_replaces_the_model(saved):
    save_model(saved, L.Sequential(L.GRU(3, 4), L.LastStep(), L.Linear(4, 2)), meta={})
    model, arrays, meta = load_model(saved)
    assert isinstance(model[0], L.GRU) and arrays == {} and meta == {}
    assert sorted(os.listdir(saved.parent)) == ["model"]


def test_a_failed_write_keeps_the_saved_model(saved, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io, "_write_bytes", full)
    with pytest.raises(io.DiskWriteError, match=r"cannot write the model to .*ENOSPC.*kept"):
        save_model(saved, transformer_model())
    monkeypatch.undo()
    assert isinstance(load_model(saved)[0][0], L.LSTM)
    assert sorted(os.listdir(saved.parent)) == ["model"]


# -- what saving refuses, before anything is written --------------------------------------
def test_save_refusals(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="got the file"):
        save_model(tmp_path / "file", lstm_model())
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_text("x")
    with pytest.raises(ValueError, match="not a saved rnnlab model .*choose a new folder"):
        save_model(other, lstm_model())
    assert os.listdir(other) == ["cat.jpg"]
    (other / JSON_FILE).write_text('{"format": "keras"}')
    with pytest.raises(ValueError, match="not a saved rnnlab model"):
        save_model(other, lstm_model())
    assert sorted(os.listdir(other)) == ["cat.jpg", JSON_FILE]
    with pytest.raises(TypeError, match="model must be an rnnlab Module"):
        save_model(tmp_path / "a", "model")
    with pytest.raises(TypeError, match="meta must hold only JSON values"):
        save_model(tmp_path / "b", lstm_model(), meta={"x": object()})
    with pytest.raises(TypeError, match=r"meta\['kind'\] must be a str"):
        save_model(tmp_path / "c", lstm_model(), meta={"kind": 3})
    with pytest.raises(TypeError, match=r"arrays\['s'\] must be a numpy array"):
        save_model(tmp_path / "d", lstm_model(), {"s": "text"})

    class Mine(L.Linear):
        pass

    with pytest.raises(TypeError, match=r"module\.modules\[0\] .* got Mine"):
        save_model(tmp_path / "e", L.Sequential(Mine(2, 2)))
    assert sorted(os.listdir(tmp_path)) == ["file", "photos"]


# -- what loading refuses ------------------------------------------------------------------
def rewrite_json(path, edit):
    """Change model.json with ``edit(info)``, and record its new checksum where it belongs,
    as a forger who knows the format would."""
    info = json.loads((path / JSON_FILE).read_text())
    edit(info)
    raw = json.dumps(info).encode()
    (path / JSON_FILE).write_bytes(raw)
    weights = io.load_weights(path / MODEL_FILE)
    io.save_weights(path / MODEL_FILE, weights,
                    {JSON_CHECKSUM_KEY: hashlib.sha256(raw).hexdigest()})


def refused(path, match, expected_kind=None, error=InvalidFileError):
    with pytest.raises(error) as err:
        load_model(path, expected_kind=expected_kind)
    message = str(err.value)
    assert str(path) in message, message
    assert match in message, message
    return message


def test_missing_folder(tmp_path):
    refused(tmp_path / "nothing", "no such file or folder", error=FileNotFoundError)


def test_a_file(saved):
    refused(saved / MODEL_FILE, "got the file")
    assert "rnnlab.io.load_weights" in refused(saved / MODEL_FILE, "a weights file")


@pytest.mark.parametrize("name", [MODEL_FILE, EXTRAS_FILE])
def test_truncated(saved, name):
    data = (saved / name).read_bytes()
    (saved / name).write_bytes(data[:len(data) - 5])
    refused(saved, f"is not a valid saved model: {name} is truncated")


def test_missing_file(saved):
    os.unlink(saved / EXTRAS_FILE)
    refused(saved, f"not a complete saved model: {EXTRAS_FILE} missing")
    os.unlink(saved / JSON_FILE)
    refused(saved, f"not a saved rnnlab model: {JSON_FILE} is missing")


def test_edited_json(saved):
    text = (saved / JSON_FILE).read_text()
    (saved / JSON_FILE).write_text(text.replace('"hidden_size": 5', '"hidden_size": 6'))
    refused(saved, f"{JSON_FILE} is corrupted or was edited")


def test_extras_of_another_save(saved, tmp_path):
    other = save_model(tmp_path / "other", lstm_model(), {"mean": np.zeros(3)}, META)
    os.replace(os.path.join(other, EXTRAS_FILE), saved / EXTRAS_FILE)
    refused(saved, f"{EXTRAS_FILE} is not the one saved with {JSON_FILE}")


def test_a_newer_version(saved):
    rewrite_json(saved, lambda info: info.update(version=99))
    refused(saved, "rnnlab-model of version 99, newer than this rnnlab reads (1): "
                   "upgrade rnnlab")
    rewrite_json(saved, lambda info: info.update(version="1"))
    refused(saved, "invalid version in model.json")


def test_another_format(saved):
    (saved / JSON_FILE).write_text(json.dumps({"format": "keras-model", "version": 1}))
    refused(saved, "must be a saved model of format 'rnnlab-model', got format "
                   "'keras-model' in model.json")
    (saved / JSON_FILE).write_text("[1, 2]")
    refused(saved, "model.json holds a JSON list, not an object")


def test_a_checkpoint_folder(tmp_path):
    weights = lstm_model().state_dict()
    folder = io.write_checkpoint(tmp_path / "ckpt", 3, weights, {},
                                 {"format": "rnnlab-checkpoint", "version": 1})
    refused(folder, "it is a training checkpoint (format 'rnnlab-checkpoint'")
    refused(tmp_path / "ckpt", "it is a folder of training checkpoints (epoch-0003, ...)")


def test_a_text_model_folder(tmp_path):
    folder = tmp_path / "text"
    folder.mkdir()
    io.save_weights(folder / MODEL_FILE, lstm_model().state_dict())
    for name in ("vocabulary.json", "config.json"):
        (folder / name).write_text("{}")
    refused(folder, "character model folder of `rnnlab text train`")


def test_an_unknown_module_type(saved):
    rewrite_json(saved, lambda info: info["architecture"]["modules"][1].update(type="Foo"))
    refused(saved, "invalid architecture in model.json: spec['modules'][1]['type']: unknown "
                   "module type 'Foo'")


def test_a_bad_argument(saved):
    rewrite_json(saved, lambda info: info["architecture"]["modules"][0]["args"].update(
        num_layers=-1))
    refused(saved, "spec['modules'][0]: LSTM refuses its arguments: num_layers must be a "
                   "positive int")


def test_weights_that_do_not_fit(saved):
    rewrite_json(saved, lambda info: info["architecture"]["modules"][0]["args"].update(
        hidden_size=6))
    message = refused(saved, f"{MODEL_FILE} does not fit the architecture")
    assert "shapes differ: " in message
    assert "'0.weight_hh_l0' expected (24, 6), got (20, 5)" in message

    def float32(info):
        modules = info["architecture"]["modules"]
        modules[0]["args"].update(hidden_size=5, dtype="float32")
        modules[2]["args"].update(dtype="float32")

    rewrite_json(saved, float32)
    refused(saved, "'0.bias_hh_l0' expected float32, got float64")


def test_expected_kind(saved):
    refused(saved, "holds a saved model of kind 'RNNClassifier', expected 'Sequential'",
            expected_kind="Sequential")
    assert load_model(saved, expected_kind="RNNClassifier")[2]["kind"] == "RNNClassifier"
