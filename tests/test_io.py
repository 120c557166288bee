"""Weights and checkpoints on disk: round trips, PyTorch interop, atomic writes."""

import errno
import json
import os
import subprocess
import sys

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
    with pytest.raises(TypeError, match=r"state_dict\['w'\] must be a numpy array"):
        io.save_weights(tmp_path / "x", {"w": [1.0, 2.0]})
    with pytest.raises(FileNotFoundError, match="checkpoint folder"):
        io.read_checkpoint(tmp_path / "missing")
    assert io.latest_checkpoint(tmp_path / "nothing") is None
    assert os.listdir(tmp_path) == []


# -- bad arguments: refused before anything is written ----------------------------------
W = {"w": np.arange(3.0)}
SAVE_WEIGHTS_CASES = [
    ("path-int", dict(path=3), TypeError, "path must be a str or os.PathLike, got int 3"),
    ("path-folder", dict(path="."), ValueError, "path must name a file, got the folder"),
    ("state-list", dict(state_dict=[np.zeros(2)]), TypeError,
     "state_dict must be a dict of str to numpy array, got list"),
    ("key-int", dict(state_dict={0: np.zeros(2)}), TypeError,
     "state_dict must have str keys, got int 0"),
    ("value-list", dict(state_dict={"w": [1.0]}), TypeError,
     r"state_dict\['w'\] must be a numpy array, got list"),
    ("object-dtype", dict(state_dict={"w": np.array([None, 1])}), TypeError,
     r"state_dict\['w'\] must have a bool, int or float dtype, got object"),
    ("complex-dtype", dict(state_dict={"w": np.zeros(2, complex)}), TypeError,
     r"state_dict\['w'\] must have a bool, int or float dtype, got complex128"),
    ("metadata-list", dict(metadata=["a"]), TypeError,
     r"metadata must be a dict of str to str or None, got \['a'\]"),
    ("metadata-number", dict(metadata={"lr": 0.1}), TypeError,
     "metadata must be a dict of str to str"),
    ("metadata-checksum", dict(metadata={"rnnlab.sha256": "0" * 64}), ValueError,
     "metadata must not hold the key 'rnnlab.sha256'"),
]


@pytest.mark.parametrize("change, error, message", [c[1:] for c in SAVE_WEIGHTS_CASES],
                         ids=[c[0] for c in SAVE_WEIGHTS_CASES])
def test_save_weights_refuses_bad_arguments(tmp_path, monkeypatch, change, error, message):
    monkeypatch.chdir(tmp_path)
    arguments = {"path": "w.safetensors", "state_dict": W, "metadata": None, **change}
    with pytest.raises(error, match=message):
        io.save_weights(**arguments)
    assert os.listdir(tmp_path) == []


WRITE_CHECKPOINT_CASES = [
    ("directory-none", dict(directory=None), TypeError,
     "directory must be a str or os.PathLike, got NoneType"),
    ("directory-file", dict(directory="a-file"), ValueError,
     "directory must be a folder, got the file"),
    ("epoch-negative", dict(epoch=-1), ValueError, "epoch must be an int >= 0, got -1"),
    ("epoch-float", dict(epoch=1.5), TypeError, "epoch must be an int >= 0, got float 1.5"),
    ("epoch-bool", dict(epoch=True), TypeError, "epoch must be an int >= 0, got bool True"),
    ("keep-zero", dict(keep=0), ValueError, "keep must be a positive int, got 0"),
    ("weights-list", dict(weights=[np.zeros(2)]), TypeError, "weights must be a dict"),
    ("weights-value", dict(weights={"w": "x"}), TypeError,
     r"weights\['w'\] must be a numpy array, got str"),
    ("state-object", dict(state={"m": np.array([{}])}), TypeError,
     r"state\['m'\] must have a bool, int or float dtype, got object"),
    ("meta-list", dict(meta=[1]), TypeError, "meta must be a dict, got list"),
    ("meta-object", dict(meta={"f": object()}), TypeError,
     "meta must hold only JSON values .*object is not JSON serializable"),
    ("meta-array", dict(meta={"a": np.zeros(2)}), TypeError,
     "meta must hold only JSON values .*ndarray is not JSON serializable"),
    ("meta-mixed-keys", dict(meta={1: 2, "a": 3}), TypeError, "meta must hold only JSON"),
]


@pytest.mark.parametrize("change, error, message", [c[1:] for c in WRITE_CHECKPOINT_CASES],
                         ids=[c[0] for c in WRITE_CHECKPOINT_CASES])
def test_write_checkpoint_refuses_bad_arguments(tmp_path, monkeypatch, change, error,
                                                message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    first = io.write_checkpoint("run", 1, W, {}, {"epoch": 1})
    arguments = {"directory": "run", "epoch": 2, "weights": W, "state": {"m": np.zeros(1)},
                 "meta": {"epoch": 2}, "keep": 2, **change}
    with pytest.raises(error, match=message):
        io.write_checkpoint(**arguments)
    assert sorted(os.listdir(tmp_path)) == ["a-file", "run"]
    assert os.listdir(tmp_path / "run") == ["epoch-0001"]
    assert io.latest_checkpoint("run") == first


# -- a full disk, a read-only or non-writable folder -------------------------------------
def fail_write(monkeypatch, code, after=0):
    """Writes of files beyond the first ``after`` stop half way with ``OSError(code)``."""
    real, calls = io._write_bytes, []

    def failing(path, data):
        calls.append(path)
        if len(calls) <= after:
            return real(path, data)
        with open(path, "wb") as f:
            f.write(data[:len(data) // 2])
        raise OSError(code, os.strerror(code), path)

    monkeypatch.setattr(io, "_write_bytes", failing)


def fail_call(monkeypatch, module, name, code, when=lambda *args: True):
    """``module.name`` raises ``OSError(code)`` on the calls ``when`` accepts."""
    real = getattr(module, name)

    def failing(*args, **kwargs):
        if when(*args):
            raise OSError(code, os.strerror(code), str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, failing)


def fail_create(monkeypatch, code):
    """Creating a file fails with ``OSError(code)``: ``os.open`` (temporary files) and
    ``open`` as rnnlab.io calls it."""
    fail_call(monkeypatch, os, "open", code, when=lambda path, flags, *args: flags & os.O_CREAT)
    real_open = open

    def failing(path, mode="r", *args, **kwargs):
        if "w" in mode or "x" in mode:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", failing, raising=False)


# (id, how the fault is made, its errno, how the message says it)
FAULTS = [
    ("enospc-in-second-file", lambda mp: fail_write(mp, errno.ENOSPC, after=1),
     errno.ENOSPC, "no space left on device (ENOSPC)"),
    ("enospc-in-first-file", lambda mp: fail_write(mp, errno.ENOSPC),
     errno.ENOSPC, "no space left on device (ENOSPC)"),
    ("enospc-on-fsync", lambda mp: fail_call(mp, os, "fsync", errno.ENOSPC),
     errno.ENOSPC, "no space left on device (ENOSPC)"),
    ("quota", lambda mp: fail_write(mp, errno.EDQUOT), errno.EDQUOT,
     "disk quota exceeded (EDQUOT)"),
    ("io-error", lambda mp: fail_write(mp, errno.EIO), errno.EIO, "input/output error (EIO)"),
    ("read-only-mkdir", lambda mp: fail_call(mp, os, "mkdir", errno.EROFS),
     errno.EROFS, "read-only file system (EROFS)"),
    ("no-permission-mkdir", lambda mp: fail_call(mp, os, "mkdir", errno.EACCES),
     errno.EACCES, "permission denied (EACCES)"),
    ("read-only-create", lambda mp: fail_create(mp, errno.EROFS),
     errno.EROFS, "read-only file system (EROFS)"),
    ("read-only-rename", lambda mp: fail_call(mp, os, "replace", errno.EROFS),
     errno.EROFS, "read-only file system (EROFS)"),
]
IDS = [f[0] for f in FAULTS]


def checkpoints_1_and_2(directory):
    for epoch in (1, 2):
        io.write_checkpoint(directory, epoch, {"w": np.full(3, float(epoch))},
                            {"m": np.zeros(2)}, {"epoch": epoch})
    return os.path.join(directory, "epoch-0002")


def assert_checkpoint_2_kept(directory, previous):
    assert sorted(os.listdir(directory)) == ["epoch-0001", "epoch-0002"]  # and no debris
    assert io.latest_checkpoint(directory) == previous
    weights, state, meta = io.read_checkpoint(previous)
    np.testing.assert_array_equal(weights["w"], np.full(3, 2.0))
    assert meta == {"epoch": 2} and list(state) == ["m"]


@pytest.mark.parametrize("fault, code, cause", [f[1:] for f in FAULTS], ids=IDS)
def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, fault, code,
                                                          cause):
    directory = str(tmp_path / "run")
    previous = checkpoints_1_and_2(directory)
    fault(monkeypatch)
    with pytest.raises(io.DiskWriteError) as caught:
        io.write_checkpoint(directory, 3, {"w": np.full(3, 3.0)}, {"m": np.ones(2)},
                            {"epoch": 3})
    monkeypatch.undo()
    assert isinstance(caught.value, OSError) and caught.value.errno == code
    assert str(caught.value) == (f"cannot write the checkpoint to {directory!r}: {cause}; "
                                 f"the previous checkpoint {previous!r} is kept")
    assert_checkpoint_2_kept(directory, previous)


def test_a_failed_rewrite_of_an_epoch_keeps_it(tmp_path, monkeypatch):
    # Rewriting epoch 2 moves the old folder aside, then renames the new one in; when that
    # rename fails, the old folder goes back under its name.
    directory = str(tmp_path)
    previous = checkpoints_1_and_2(directory)
    fail_call(monkeypatch, os, "replace", errno.EROFS,
              when=lambda source, target: os.path.basename(source).startswith(".tmp-epoch-"))
    with pytest.raises(io.DiskWriteError, match="read-only file system .* 'epoch-0002' is kept"
                       .replace("'epoch", f"'{directory}/epoch")):
        io.write_checkpoint(directory, 2, {"w": np.zeros(3)}, {"m": np.ones(2)}, {"epoch": 9})
    monkeypatch.undo()
    assert_checkpoint_2_kept(directory, previous)


def test_a_failed_first_checkpoint_writes_nothing(tmp_path, monkeypatch):
    directory = str(tmp_path / "new" / "run")
    fail_call(monkeypatch, os, "mkdir", errno.EROFS)
    with pytest.raises(io.DiskWriteError, match=r"cannot write the checkpoint to .*run': "
                                                r"read-only file system \(EROFS\); no "
                                                r"checkpoint was written"):
        io.write_checkpoint(directory, 1, W, {}, {})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [] and io.latest_checkpoint(directory) is None


@pytest.mark.parametrize("fault, code, cause", [f[1:] for f in FAULTS if f[0] not in
                                                 ("enospc-in-second-file", "read-only-mkdir",
                                                  "no-permission-mkdir")],
                         ids=[i for i in IDS if i not in ("enospc-in-second-file",
                                                          "read-only-mkdir",
                                                          "no-permission-mkdir")])
def test_a_failed_weights_write_keeps_the_old_file(tmp_path, monkeypatch, fault, code, cause):
    path = str(tmp_path / "w.safetensors")
    io.save_weights(path, {"a": np.arange(3.0)})
    fault(monkeypatch)
    with pytest.raises(io.DiskWriteError) as caught:
        io.save_weights(path, {"a": np.arange(4.0)})
    monkeypatch.undo()
    assert caught.value.errno == code
    assert str(caught.value) == (f"cannot write the weights to {path!r}: {cause}; the "
                                 f"previous file is kept")
    np.testing.assert_array_equal(io.load_weights(path)["a"], np.arange(3.0))
    assert os.listdir(tmp_path) == ["w.safetensors"]


def test_weights_into_a_missing_folder(tmp_path):
    path = str(tmp_path / "missing" / "w.safetensors")
    with pytest.raises(io.DiskWriteError, match=r"cannot write the weights to .*: no such file "
                                                r"or directory \(ENOENT\); nothing was written"):
        io.save_weights(path, W)
    assert os.listdir(tmp_path) == []


FILE_SIZE_LIMIT = """
import json, os, resource, signal, sys
import numpy as np
from rnnlab import io
directory = sys.argv[1]
io.write_checkpoint(directory, 1, {"w": np.zeros(3)}, {}, {"epoch": 1})
io.save_weights(os.path.join(directory, "w.safetensors"), {"w": np.zeros(3)})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
errors = []
for write in (lambda: io.write_checkpoint(directory, 2, {"w": np.zeros(10**5)}, {}, {}),
              lambda: io.save_weights(os.path.join(directory, "w.safetensors"),
                                      {"w": np.zeros(10**5)})):
    try:
        write()
    except io.DiskWriteError as err:
        errors.append([err.errno, str(err)])
print(json.dumps(errors))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
def test_a_real_write_failure_keeps_the_previous_checkpoint(tmp_path):
    # A real failing write, also when running as root: the kernel refuses to grow a file
    # past RLIMIT_FSIZE (EFBIG), in a child process so that pytest's own files are spared.
    done = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMIT, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (code, message), (weights_code, weights_message) = json.loads(done.stdout)
    assert code == weights_code == errno.EFBIG
    assert message == (f"cannot write the checkpoint to {str(tmp_path)!r}: file too large "
                       f"(EFBIG); the previous checkpoint {str(tmp_path / 'epoch-0001')!r} is "
                       f"kept")
    assert weights_message.endswith("file too large (EFBIG); the previous file is kept")
    assert sorted(os.listdir(tmp_path)) == ["epoch-0001", "w.safetensors"]
    assert io.read_checkpoint(io.latest_checkpoint(tmp_path))[2] == {"epoch": 1}
    assert io.load_weights(tmp_path / "w.safetensors")["w"].shape == (3,)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into a chmod 555 folder anyway; the monkeypatched "
                           "EACCES and EROFS cases above stand in for it")
def test_a_folder_without_write_permission(tmp_path):
    directory = str(tmp_path / "run")
    previous = checkpoints_1_and_2(directory)
    io.save_weights(tmp_path / "run" / "w.safetensors", W)
    os.chmod(directory, 0o555)
    try:
        with pytest.raises(io.DiskWriteError, match=r"permission denied \(EACCES\); the "
                                                    r"previous checkpoint .* is kept"):
            io.write_checkpoint(directory, 3, W, {}, {"epoch": 3})
        with pytest.raises(io.DiskWriteError, match=r"permission denied \(EACCES\); the "
                                                    r"previous file is kept"):
            io.save_weights(tmp_path / "run" / "w.safetensors", {"w": np.zeros(1)})
    finally:
        os.chmod(directory, 0o755)
    os.remove(tmp_path / "run" / "w.safetensors")
    assert_checkpoint_2_kept(directory, previous)


def test_training_on_a_full_disk_stops_and_resumes(tmp_path, monkeypatch):
    from rnnlab.data import SequenceData
    from rnnlab.losses import cross_entropy
    from rnnlab.optim import Adam
    from rnnlab.training import TrainConfig, Trainer

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6, 2))
    data = SequenceData(x, (x[..., 0].sum(axis=1) > 0).astype(np.int64))

    def trainer(**config):
        model = rnnlab.Sequential(rnnlab.GRU(2, 4, dtype="float64", seed=0), rnnlab.LastStep(),
                                  rnnlab.Linear(4, 2, dtype="float64", seed=1))
        return Trainer(model, cross_entropy, Adam(model, lr=1e-2),
                       TrainConfig(epochs=3, batch_size=16, **config))

    whole = trainer()
    whole.fit(data)
    fail_write(monkeypatch, errno.ENOSPC, after=6)  # epochs 1 and 2 are written, 3 is not
    with pytest.raises(io.DiskWriteError, match=r"no space left on device \(ENOSPC\); the "
                                                r"previous checkpoint .*epoch-0002' is kept"):
        trainer(checkpoint_dir=str(tmp_path)).fit(data)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["epoch-0001", "epoch-0002"]
    resumed = trainer(checkpoint_dir=str(tmp_path))
    resumed.fit(data, resume=True)
    assert resumed.epoch == 3
    for name, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name], value)


def test_what_a_killed_writer_left_is_removed_by_the_next_write(tmp_path):
    """A writer killed in the middle leaves a temporary folder or file (the previous
    checkpoint and file stay whole); the next successful write of the same kind removes it,
    and touches nothing else in the folder."""
    weights = {"w": np.ones((2, 3), np.float32)}
    io.write_checkpoint(tmp_path, 1, weights, {}, {"epoch": 1})
    for leftover in (".tmp-epoch-abc123", ".old-epoch-def456"):
        (tmp_path / leftover).mkdir()
        (tmp_path / leftover / "weights.safetensors").write_bytes(b"half")
    (tmp_path / "notes.txt").write_text("mine")
    io.write_checkpoint(tmp_path, 2, weights, {}, {"epoch": 2})
    assert sorted(os.listdir(tmp_path)) == ["epoch-0001", "epoch-0002", "notes.txt"]

    target = tmp_path / "w.safetensors"
    (tmp_path / ".w.safetensors.tmp-k1ll3d").write_bytes(b"half")
    (tmp_path / ".other.safetensors.tmp-xyz").write_bytes(b"another file's, in flight")
    io.save_weights(target, weights)
    assert sorted(os.listdir(tmp_path)) == [".other.safetensors.tmp-xyz", "epoch-0001",
                                            "epoch-0002", "notes.txt", "w.safetensors"]
