"""Loading is safe: weights, checkpoints and run records are data only (safetensors and
JSON, never pickle), and every damaged, foreign or mismatched file is refused with a
``ValueError`` naming the file and what is wrong, before anything changes."""

import json
import os
import pathlib
import random
import re
import struct
import tracemalloc

import numpy as np
import pytest

import rnnlab
from rnnlab import io
from rnnlab._safetensors import CHECKSUM_KEY
from rnnlab.data import SequenceData
from rnnlab.losses import cross_entropy
from rnnlab.optim import SGD, Adam
from rnnlab.training import TrainConfig, Trainer

SRC = pathlib.Path(rnnlab.__file__).parent


# -- no code runs when loading -------------------------------------------------------------
UNSAFE = [r"\bpickle\.loads?\(", r"\bcPickle\b", r"allow_pickle\s*=\s*True",
          r"(?<!def )(?<!\.)\beval\(",  # the builtin, not Module.eval (train mode off)
          r"\bexec\(", r"\bmarshal\.", r"\bshelve\.", r"\btorch\.load\(", r"\byaml\.load\(",
          r"\bjoblib\.load\(", r"\bdill\b", r"\bcloudpickle\b", r"__import__\("]


def test_no_loading_code_runs_anything():
    sources = sorted(SRC.rglob("*.py"))
    assert len(sources) > 20
    found = [f"{path.relative_to(SRC)}:{number}: {line.strip()}"
             for path in sources
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if any(re.search(pattern, line) for pattern in UNSAFE)]
    assert found == []
    np_loads = [f"{path.relative_to(SRC)}: {line.strip()}" for path in sources
                for line in path.read_text(encoding="utf-8").splitlines()
                if re.search(r"\bnp\.load\(", line)]
    assert all("allow_pickle=False" in line for line in np_loads), np_loads


# -- a weights file ------------------------------------------------------------------------
def lstm(hidden=5, layers=2, seed=0):
    return rnnlab.LSTM(3, hidden, num_layers=layers, dtype="float64", seed=seed)


@pytest.fixture
def weights(tmp_path):
    """A weights file rnnlab wrote, and its bytes."""
    path = tmp_path / "w.safetensors"
    io.save_weights(path, lstm().state_dict(), metadata={"note": "x"})
    return path, path.read_bytes()


def header_length(data: bytes) -> int:
    return struct.unpack("<Q", data[:8])[0]


def with_header(data: bytes, change) -> bytes:
    """``data`` with its JSON header changed by ``change(header)`` (the body kept)."""
    n = header_length(data)
    header = json.loads(data[8:8 + n])
    change(header)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + n:]


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 1 << bit
    return bytes(changed)


def shift_offsets(header):
    first = min((k for k in header if k != "__metadata__"),
                key=lambda k: header[k]["data_offsets"][0])
    header[first]["data_offsets"][0] += 8


def bad_dtype(header):
    header["bias_hh_l0"]["dtype"] = "X99"


def wrong_shape(header):
    header["weight_hh_l0"]["shape"] = [20, 6]


def damage_checksum_key(header):
    header["__metadata__"]["rnnlab.sha257"] = header["__metadata__"].pop(CHECKSUM_KEY)


# (id, how the file is made from the good bytes, what the message must say)
CORRUPTIONS = [
    ("empty", lambda d: b"", r"is empty \(0 bytes\), not a safetensors file"),
    ("3-bytes", lambda d: d[:3], r"truncated or not a safetensors file: it holds 3 bytes"),
    ("cut-in-header", lambda d: d[:40], r"truncated or not a safetensors file: its header "
                                        r"length field says \d+ bytes, but only 32 follow"),
    ("cut-in-body", lambda d: d[:-7], r"is truncated: its header describes \d+ bytes of "
                                      r"tensor data, but the file holds \d+"),
    ("cut-to-header", lambda d: d[:8 + header_length(d)], r"is truncated"),
    ("length-1e12", lambda d: struct.pack("<Q", 10**12) + d[8:],
     r"header length field says 1000000000000 bytes, more than safetensors allows"),
    ("length-max", lambda d: b"\xff" * 8 + d[8:], r"header length field says "
                                                   r"18446744073709551615 bytes"),
    ("length-past-end", lambda d: struct.pack("<Q", len(d)) + d[8:],
     r"header length field says \d+ bytes, but only \d+ follow"),
    ("json-file", lambda d: json.dumps({"weight": [1.0, 2.0]}).encode(),
     r"is not a safetensors file: it starts with text \(b'\{\"weight'"),
    ("text-file", lambda d: b"weights: see the attached notes\n" * 4,
     r"is not a safetensors file: it starts with text"),
    ("random-bytes", lambda d: random.Random(0).randbytes(len(d)),
     r"truncated or not a safetensors file|corrupted or not a safetensors file"),
    ("header-brace", lambda d: d[:8] + b"[" + d[9:], r"its header is not valid JSON"),
    ("header-not-utf8", lambda d: d[:10] + b"\xff" + d[11:], r"its header is not valid JSON"),
    ("header-not-object", lambda d: d[:8] + b"[1, 2, 3]".ljust(header_length(d)) +
     d[8 + header_length(d):], r"is corrupted or not a safetensors file: its header "
                               r"holds a JSON list, not an object"),
    ("body-flip", lambda d: flip(d, len(d) - 20, 3),
     r"is corrupted: the SHA-256 checksum of its contents does not match"),
    ("metadata-flip", lambda d: d.replace(b'"note":"x"', b'"note":"y"'),
     r"is corrupted: the SHA-256 checksum"),
    ("checksum-key", lambda d: with_header(d, damage_checksum_key),
     r"is corrupted: its checksum entry 'rnnlab.sha257' should be 'rnnlab.sha256'"),
    ("bytes-appended", lambda d: d + b"\0" * 16, r"is corrupted: it holds 16 bytes after its "
                                                  r"last tensor"),
    ("offsets-gap", lambda d: with_header(d, shift_offsets),
     r"is corrupted: tensor '\w+' \(F64, shape \[\d+(, \d+)?\]\) needs \d+ bytes"),
    ("shape-vs-bytes", lambda d: with_header(d, wrong_shape),
     r"is corrupted: tensor 'weight_hh_l0' \(F64, shape \[20, 6\]\) needs 960 bytes, its "
     r"data offsets \[\d+, \d+\] span 800"),
    ("unknown-dtype", lambda d: with_header(d, bad_dtype),
     r"is corrupted: safetensors cannot read it \(SafetensorError"),
]


@pytest.mark.parametrize("make, message", [c[1:] for c in CORRUPTIONS],
                         ids=[c[0] for c in CORRUPTIONS])
def test_load_weights_refuses_a_damaged_file(weights, make, message):
    path, good = weights
    path.write_bytes(make(good))
    with pytest.raises(io.InvalidFileError, match=message) as caught:
        io.load_weights(path)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"path {str(path)!r} ")


def test_a_flip_in_any_byte_is_refused(tmp_path):
    # Every byte of a small file, header and body, each with one flipped bit (bits 0-7 in
    # turn); every one of them is caught, by structure or by the checksum.
    path = tmp_path / "small.safetensors"
    io.save_weights(path, rnnlab.GRU(1, 2, seed=0).state_dict(), metadata={"cell": "gru"})
    good = path.read_bytes()
    unnoticed = []
    for index in range(len(good)):
        with open(path, "r+b") as f:  # same length: rewritten in place (no slow truncation)
            f.write(flip(good, index, index % 8))
        try:
            io.load_weights(path)
            unnoticed.append(index)
        except io.InvalidFileError:
            pass
    assert len(good) > 400 and unnoticed == []


def test_an_oversized_header_length_allocates_nothing(weights):
    path, good = weights
    path.write_bytes(struct.pack("<Q", 10**12) + good[8:])
    tracemalloc.start()
    try:
        with pytest.raises(io.InvalidFileError, match="header length"):
            io.load_weights(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_load_weights_refuses_what_is_not_a_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.load_weights(tmp_path / "missing.safetensors")
    with pytest.raises(io.InvalidFileError, match="path must name a safetensors file, got "
                                                  "the folder"):
        io.load_weights(tmp_path)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int 3"):
        io.load_weights(3)


def test_files_from_other_tools_load_without_a_checksum(tmp_path):
    from safetensors.numpy import save_file

    arrays = {"w": np.arange(6.0).reshape(2, 3), "b": np.ones(2, np.float32)}
    save_file(arrays, tmp_path / "plain.safetensors", metadata={"format": "pt"})
    loaded = io.load_weights(tmp_path / "plain.safetensors")
    assert sorted(loaded) == ["b", "w"]
    np.testing.assert_array_equal(loaded["w"], arrays["w"])


def test_a_wrong_shape_is_named_with_both_shapes(weights):
    path, _ = weights
    model = lstm(hidden=6)
    with pytest.raises(io.InvalidFileError, match=r"holds other tensors than expected: shapes "
                                                  r"differ: 'bias_hh_l0' expected \(24,\), "
                                                  r"got \(20,\)"):
        io.load_weights(path, expected=model.state_dict())
    with pytest.raises(ValueError, match=r"state\['\w+_l0'\] must have shape \(24[,)].*, "
                                         r"got \(20[,)]"):
        model.load_state_dict(io.load_weights(path))


def test_other_tensor_names_are_listed(weights):
    path, _ = weights
    with pytest.raises(io.InvalidFileError, match=r"unexpected \['bias_hh_l1', 'bias_ih_l1', "
                                                  r"'weight_hh_l1', 'weight_ih_l1'\]"):
        io.load_weights(path, expected=lstm(layers=1).state_dict())
    with pytest.raises(io.InvalidFileError, match=r"missing \['bias_hh_l0_reverse'"):
        bidirectional = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True, dtype="float64")
        io.load_weights(path, expected=bidirectional.state_dict())
    assert sorted(io.load_weights(path, expected=lstm(seed=4).state_dict())) == \
        sorted(lstm().state_dict())


# -- a checkpoint folder -------------------------------------------------------------------
def sign_task(count=48, steps=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, steps, 2))
    return SequenceData(x, (x[..., 0].sum(axis=1) > 0).astype(np.int64))


def make_trainer(cell=rnnlab.GRU, hidden=8, layers=1, optimizer=Adam, **config):
    model = rnnlab.Sequential(cell(2, hidden, num_layers=layers, dtype="float64", seed=0),
                              rnnlab.LastStep(), rnnlab.Linear(hidden, 2, dtype="float64",
                                                               seed=1))
    settings = {"epochs": 2, "batch_size": 16, "patience": 5, **config}
    return Trainer(model, cross_entropy, optimizer(model, lr=1e-2), TrainConfig(**settings))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A Trainer checkpoint (GRU, hidden 8, Adam, after 2 epochs with early stopping)."""
    folder = tmp_path_factory.mktemp("run")
    data = sign_task()
    make_trainer(checkpoint_dir=str(folder)).fit(data, data)
    return io.latest_checkpoint(folder)


def copy_checkpoint(source, target, change_meta=None, change_state=None):
    """Rewrite the checkpoint ``source`` into ``target`` (valid files), changed."""
    weights, state, meta = io.read_checkpoint(source)
    epoch = meta["epoch"]
    if change_meta is not None:
        change_meta(meta)
    if change_state is not None:
        change_state(state)
    return io.write_checkpoint(target, epoch, weights, state, meta)


def spoil(folder, name, make):
    path = os.path.join(folder, name)
    with open(path, "rb") as f:
        data = f.read()
    if make is None:
        os.remove(path)
    else:
        with open(path, "wb") as f:
            f.write(make(data))


# (id, file, how it is spoiled (None: removed), the error, what the message must say)
SPOILED = [
    ("no-state-json", "state.json", None, io.InvalidFileError,
     r"is not a complete checkpoint: state.json missing"),
    ("no-weights", "weights.safetensors", None, io.InvalidFileError,
     r"is not a complete checkpoint: weights.safetensors missing"),
    ("state-json-garbage", "state.json", lambda d: b"{not json", io.InvalidFileError,
     r"is not a valid checkpoint: state.json is (corrupted|not valid JSON)"),
    ("state-json-empty", "state.json", lambda d: b"", io.InvalidFileError,
     r"state.json is (corrupted|not valid JSON)"),
    ("state-json-edited", "state.json", lambda d: d.replace(b'"epoch": 2', b'"epoch": 3'),
     io.InvalidFileError, r"state.json is corrupted \(its SHA-256 checksum does not match"),
    ("weights-truncated", "weights.safetensors", lambda d: d[:-9], io.InvalidFileError,
     r"is not a valid checkpoint: weights.safetensors is truncated"),
    ("weights-json", "weights.safetensors", lambda d: b'{"weight_ih_l0": [1, 2]}',
     io.InvalidFileError, r"weights.safetensors is not a safetensors file: it starts with text"),
    ("state-body-flip", "state.safetensors", lambda d: flip(d, len(d) - 5, 6),
     io.InvalidFileError, r"state.safetensors is corrupted: the SHA-256 checksum"),
    ("state-huge-header", "state.safetensors", lambda d: struct.pack("<Q", 10**12) + d[8:],
     io.InvalidFileError, r"state.safetensors is corrupted or not a safetensors file: its "
                          r"header length field says 1000000000000 bytes"),
]


@pytest.mark.parametrize("name, make, error, message", [c[1:] for c in SPOILED],
                         ids=[c[0] for c in SPOILED])
def test_read_checkpoint_refuses_a_damaged_folder(checkpoint, tmp_path, name, make, error,
                                                  message):
    folder = copy_checkpoint(checkpoint, tmp_path)
    spoil(folder, name, make)
    with pytest.raises(error, match=message) as caught:
        io.read_checkpoint(folder)
    assert str(caught.value).startswith(f"path {folder!r} ")
    trainer = make_trainer()
    before = trainer.model.state_dict()
    with pytest.raises(error, match=message):
        trainer.load_checkpoint(folder)
    assert trainer.epoch == 0 and trainer.history == []
    for key, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_read_checkpoint_refuses_what_is_not_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="path must be a checkpoint folder"):
        io.read_checkpoint(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(io.InvalidFileError, match="path must be a checkpoint folder, got the "
                                                  "file"):
        io.read_checkpoint(tmp_path / "file")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        io.read_checkpoint(None)


def test_state_json_must_be_an_object(tmp_path):
    folder = io.write_checkpoint(tmp_path, 1, {"w": np.zeros(2)}, {}, {"a": 1})
    with open(os.path.join(folder, "state.json"), "w") as f:
        f.write("[1, 2]")
    with open(os.path.join(folder, "state.safetensors"), "wb") as f:  # no checksum of it
        from safetensors.numpy import save
        f.write(save({}))
    with pytest.raises(io.InvalidFileError, match="state.json holds a JSON list, not an "
                                                  "object"):
        io.read_checkpoint(folder)
    with open(os.path.join(folder, "state.json"), "wb") as f:
        f.write(b'{"a": "\xff"}')
    with pytest.raises(io.InvalidFileError, match="state.json is not valid JSON"):
        io.read_checkpoint(folder)


def set_field(key, value):
    def change(meta):
        if value is KeyError:
            del meta[key]
        else:
            meta[key] = value
    return change


FORMATS = [
    ("no-format", set_field("format", KeyError),
     r"must be a checkpoint of format 'rnnlab-checkpoint', got format None in state.json"),
    ("other-format", set_field("format", "keras-checkpoint"),
     r"must be a checkpoint of format 'rnnlab-checkpoint', got format 'keras-checkpoint'"),
    ("newer-version", set_field("version", 2),
     r"is a rnnlab-checkpoint of version 2, newer than this rnnlab reads \(1\): upgrade"),
    ("version-text", set_field("version", "1"),
     r"has an invalid version in state.json: expected an int from 1 to 1, got '1'"),
    ("no-version", set_field("version", KeyError), r"has an invalid version .* got None"),
    ("version-zero", set_field("version", 0), r"has an invalid version .* got 0"),
    ("no-optimizer", set_field("optimizer", KeyError),
     r"state.json has missing or wrong fields: optimizer \(expected a dict, got NoneType\)"),
    ("epoch-text", set_field("epoch", "2"),
     r"missing or wrong fields: epoch \(expected a int, got str\)"),
    ("no-optimizer-steps", lambda meta: meta["optimizer"].pop("steps"),
     r"missing or wrong fields: optimizer.steps \(missing\)"),
]


@pytest.mark.parametrize("change, message", [c[1:] for c in FORMATS],
                         ids=[c[0] for c in FORMATS])
def test_trainer_refuses_another_format_or_version(checkpoint, tmp_path, change, message):
    folder = copy_checkpoint(checkpoint, tmp_path, change_meta=change)
    with pytest.raises(io.InvalidFileError, match=message):
        make_trainer().load_checkpoint(folder)


def drop_best(state):
    for key in [k for k in state if k.startswith("best/")]:
        del state[key]


def bad_buffer(state):
    state["optimizer/0.weight_hh_l0/m"] = np.zeros((3, 3))


# (id, the Trainer that loads the GRU(2, 8) checkpoint, the message)
ARCHITECTURES = [
    ("lstm-into-gru", dict(cell=rnnlab.LSTM),
     r"is a checkpoint of a different architecture \(written for Sequential\( \(0\): "
     r"GRU\(2, 8, .*\) than this Trainer's model Sequential\( \(0\): LSTM\(2, 8, .*shapes "
     r"differ: '0.bias_hh_l0' expected \(32,\), got \(24,\)"),
    ("rnn-into-gru", dict(cell=rnnlab.RNN), r"different architecture.*'0.bias_hh_l0' expected "
                                            r"\(8,\), got \(24,\)"),
    ("hidden-size", dict(hidden=16), r"different architecture.*shapes differ: '0.bias_hh_l0' "
                                     r"expected \(48,\), got \(24,\)"),
    ("two-layers", dict(layers=2), r"different architecture.*missing \['0.bias_hh_l1', "
                                   r"'0.bias_ih_l1', '0.weight_hh_l1', '0.weight_ih_l1'\]"),
]


@pytest.mark.parametrize("settings, message", [c[1:] for c in ARCHITECTURES],
                         ids=[c[0] for c in ARCHITECTURES])
def test_trainer_refuses_another_architecture(checkpoint, settings, message):
    trainer = make_trainer(**settings)
    before = trainer.model.state_dict()
    with pytest.raises(ValueError, match=message):
        trainer.load_checkpoint(checkpoint)
    with pytest.raises(ValueError, match="different architecture"):
        trainer.fit(sign_task(), sign_task(), resume=checkpoint)
    assert trainer.epoch == 0 and trainer.updates == 0
    for key, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_trainer_refuses_mismatched_arrays_in_the_state(checkpoint, tmp_path):
    folder = copy_checkpoint(checkpoint, tmp_path / "a", change_state=bad_buffer)
    with pytest.raises(ValueError, match=r"different architecture.*optimizer buffers that fit "
                                         r"no parameter: \['0.weight_hh_l0/m \(3, 3\)'\]"):
        make_trainer().load_checkpoint(folder)

    def wrong_best(state):
        state["best/0.bias_hh_l0"] = np.zeros(5)

    folder = copy_checkpoint(checkpoint, tmp_path / "b", change_state=wrong_best)
    with pytest.raises(ValueError, match=r"different architecture.*'0.bias_hh_l0' expected "
                                         r"\(24,\), got \(5,\)"):
        make_trainer().load_checkpoint(folder)


def test_trainer_refuses_another_run(checkpoint):
    with pytest.raises(ValueError, match=r"config differs from the checkpoint's in "
                                         r"\['batch_size'\]"):
        make_trainer(batch_size=8).load_checkpoint(checkpoint)
    with pytest.raises(ValueError, match="optimizer must be a Adam to resume this checkpoint, "
                                         "got SGD"):
        make_trainer(optimizer=SGD).load_checkpoint(checkpoint)


def test_a_good_checkpoint_still_resumes(checkpoint, tmp_path):
    folder = copy_checkpoint(checkpoint, tmp_path, change_state=drop_best)
    trainer = make_trainer(epochs=3)
    trainer.load_checkpoint(checkpoint)
    assert trainer.epoch == 2 and len(trainer.history) == 2
    make_trainer().load_checkpoint(folder)
