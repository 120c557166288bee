"""Crash safety: ``rnnlab train --checkpoint-dir DIR --resume`` survives SIGKILL at any moment.

The main test runs ``rnnlab train`` in child processes and kills each with SIGKILL, some at
random moments and some, deliberately, in the middle of writing a file: the child's
``rnnlab.io._write_bytes`` (through which every checkpoint file and the saved weights are
written) writes a seeded part of the file, flushes it to disk, tells the parent through a pipe
and waits; the parent kills it then, so the kill lands while the file is half written (the
half-written file is found afterwards in a ``.tmp-`` folder or file). After every kill the
newest checkpoint must load, and a restart with ``--resume`` continues; the final weights
must equal, bit for bit, those of a run that was never interrupted.

The children are forked from this process, which has imported rnnlab and compiled its
kernels once, and run ``rnnlab.cli.main``: a child starts in milliseconds, where a fresh
interpreter takes about a second. One test does the same with real ``rnnlab`` processes.
"""

import dataclasses
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
import traceback

import pytest

from rnnlab import io
from rnnlab.cli import main
from rnnlab.experiments import run_folder, runner
from rnnlab.experiments.run_folder import CheckpointError
from rnnlab.experiments.runner import RunConfig, run_task
from rnnlab.experiments.store import RunStore
from rnnlab.saved_model import load_model

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")

ROUNDS = 40  # checkpoints written by a whole run: --updates / --eval-every
TRAIN = ["train", "--task", "adding", "--length", "10", "--hidden", "8", "--cell", "lstm",
         "--updates", str(10 * ROUNDS), "--eval-every", "10", "--keep-going", "--json"]
KILLS = 30  # kills in all, then a start that runs to the end
SAVE_KILLS = 3  # of which the last ones stall writing --save's file, after the last round
WRITES_PER_CHECKPOINT = 3  # weights, state, meta


def _paths(folder) -> dict:
    return {"ck": str(folder / "ck"), "db": str(folder / "runs.db"),
            "save": str(folder / "model.safetensors"), "log": str(folder / "child.log")}


def _argv(paths: dict, resume: bool = True) -> list:
    return TRAIN + ["--checkpoint-dir", paths["ck"], "--db", paths["db"], "--save",
                    paths["save"]] + (["--resume"] if resume else [])


def _child(argv: list, log: str, stall_at: int | None, cut: float, notify: int | None):
    """In the forked child: run the command, stalling in the ``stall_at``-th file write of a
    checkpoint or of the weights (after ``cut`` of its bytes) if asked; never return."""
    code = 70
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        if stall_at is not None:
            original, count = io._write_bytes, [0]

            def stalling_write(path, data):
                if ".run.json.tmp-" in path:  # run.json, once per start: not counted
                    return original(path, data)
                count[0] += 1
                if count[0] != stall_at:
                    return original(path, data)
                with open(path, "wb") as f:  # part of the file, on disk
                    f.write(data[:int(cut * len(data))])
                    f.flush()
                    os.fsync(f.fileno())
                os.write(notify, b"w")
                time.sleep(60)  # the parent kills us here
                raise AssertionError("not killed")

            io._write_bytes = stalling_write
        try:
            code = main(argv)
        except SystemExit as err:
            code = err.code if isinstance(err.code, int) else 1
    except BaseException:  # noqa: BLE001 - report anything, then leave
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _fork(argv, log, stall_at=None, cut=0.5):
    """Start a child; return (pid, read end of its write-notification pipe)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(argv, log, stall_at, cut, write)
    os.close(write)
    return pid, read


def _wait(pid) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _temporary(paths: dict) -> set:
    """The temporary files and folders a writer leaves behind if killed mid-write."""
    found = set()
    for folder in (paths["ck"], os.path.dirname(paths["save"])):
        if os.path.isdir(folder):
            found |= {os.path.join(folder, n) for n in os.listdir(folder) if ".tmp-" in n}
    return found


def _timeless(history: list) -> list:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def _weights(path) -> dict:
    """The weights of the model folder ``rnnlab train --save`` wrote."""
    return load_model(path)[0].state_dict()


def _assert_bitwise_equal(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert a[name].tobytes() == b[name].tobytes(), f"{name} differs"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The weights of an uninterrupted run (a forked child, as the killed ones)."""
    folder = tmp_path_factory.mktemp("reference")
    warm = _paths(folder / "warm")
    os.makedirs(folder / "warm")
    # compile/load the kernels here, once, so that every child starts warm
    assert main(TRAIN[:7] + ["--updates", "2", "--eval-every", "1", "--db", warm["db"],
                             "--save", warm["save"], "--json"]) == 0
    paths = _paths(folder)
    began = time.perf_counter()
    pid, read = _fork(_argv(paths, resume=False), paths["log"])
    code = _wait(pid)
    os.close(read)
    seconds = time.perf_counter() - began
    assert code == 0, open(paths["log"]).read()
    return {"weights": _weights(paths["save"]), "seconds": seconds}


def _kill_plan(rng, kills: int, remaining: int, per_round: float):
    """(mode, stall_at, delay) of the next start: a kill in the middle of a checkpoint's
    file, at a random moment, or (the last SAVE_KILLS) in the middle of --save's file."""
    if kills >= KILLS:
        return None, None, None
    if kills >= KILLS - SAVE_KILLS:  # run the remaining rounds, stall writing the weights
        return "save", WRITES_PER_CHECKPOINT * remaining + 1, None
    if rng.random() < 0.5 and remaining > 0:  # one of the next two checkpoints' files
        return "write", rng.randint(1, min(6, WRITES_PER_CHECKPOINT * remaining)), None
    # at most a quarter of the time the rest of the run needs: the child is still running
    return "time", None, rng.uniform(0.0, min(0.3, per_round * remaining / 4))


def test_sigkill_at_random_moments_and_mid_write_then_resume_is_bitwise(tmp_path, reference,
                                                                       capsys):
    capsys.readouterr()  # the warm-up's output
    paths = _paths(tmp_path)
    rng = random.Random(20240607)
    per_round = reference["seconds"] / ROUNDS
    kills, attempts, done_rounds = 0, 0, 0
    hits = {"checkpoint": 0, "save": 0, "by chance": 0}
    began = time.perf_counter()
    while True:
        attempts += 1
        assert attempts <= 2 * KILLS, "the run does not progress"
        before = _temporary(paths)
        mode, stall_at, delay = _kill_plan(rng, kills, ROUNDS - done_rounds, per_round)
        pid, read = _fork(_argv(paths), paths["log"], stall_at, rng.uniform(0.0, 0.9))
        if stall_at is not None:  # wait for the child to stall in the middle of the write
            ready, _, _ = select.select([read], [], [], 60.0)
            assert ready and os.read(read, 1) == b"w", open(paths["log"]).read()
        elif delay is not None:
            time.sleep(delay)
        os.close(read)
        if mode is not None:
            os.kill(pid, signal.SIGKILL)
        code = _wait(pid)
        if code == 0:
            break
        assert code == -signal.SIGKILL, open(paths["log"]).read()
        kills += 1
        left = _temporary(paths) - before  # what a kill in the middle of a write leaves
        in_checkpoint = any(os.path.dirname(p) == paths["ck"] and ".tmp-epoch-" in p
                            for p in left)
        in_save = any(os.path.dirname(p) != paths["ck"] for p in left)
        if mode == "write":
            assert in_checkpoint and not in_save
            hits["checkpoint"] += 1
        elif mode == "save":
            assert in_save
            hits["save"] += 1
        else:
            hits["by chance"] += bool(left)
        # whatever the kill interrupted, the newest complete checkpoint loads
        newest = io.latest_checkpoint(paths["ck"])
        if newest is not None:
            weights, state, meta = io.read_checkpoint(newest)
            assert meta["format"] == "rnnlab-checkpoint" and weights and state
            assert meta["epoch"] >= done_rounds  # never back
            if mode == "time":  # the fastest pace seen, lest a later child outrun its kill
                per_round = min(per_round, delay / (meta["epoch"] - done_rounds + 1))
            done_rounds = meta["epoch"]
        if os.path.exists(paths["save"]):
            _weights(paths["save"])  # never half written
    seconds = time.perf_counter() - began
    print(f"\n{kills} kills: {hits['checkpoint']} in the middle of writing a checkpoint, "
          f"{hits['save']} of writing --save's weights, {kills - hits['checkpoint'] - hits['save']}"
          f" at random moments ({hits['by chance']} of them in a checkpoint write); "
          f"{attempts} starts in {seconds:.1f} s (an uninterrupted run: "
          f"{reference['seconds']:.2f} s)")
    assert kills == KILLS and hits["checkpoint"] >= 5 and hits["save"] == SAVE_KILLS
    _assert_bitwise_equal(_weights(paths["save"]), reference["weights"])
    with RunStore(paths["db"]) as store:
        runs = store.runs()  # newest first
        statuses = [r["status"] for r in runs]
        print(f"runs recorded: {len(runs)}, " + ", ".join(
            f"{s} {statuses.count(s)}" for s in sorted(set(statuses))))
        # every killed run that got as far as its record is marked by the next start
        assert statuses == ["finished"] + ["interrupted"] * (len(runs) - 1)
        assert len(store.epochs(runs[0]["id"])) == ROUNDS  # the whole history
        assert runs[0]["config"]["resumed_from"]["checkpoint"] == f"epoch-{ROUNDS:04d}"
        assert all(r["error"].startswith("ended without recording why") for r in runs[1:])


def test_real_processes_killed_and_resumed(tmp_path, reference):
    """The same with real ``rnnlab`` processes (about a second each to start)."""
    paths = _paths(tmp_path)
    script = shutil.which("rnnlab", path=os.path.dirname(sys.executable))
    command = [script] if script else [sys.executable, "-m", "rnnlab.cli"]
    for round_seen in ("epoch-0003", "epoch-0020"):
        proc = subprocess.Popen(command + _argv(paths), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not os.path.isdir(os.path.join(paths["ck"], round_seen)):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        io.read_checkpoint(io.latest_checkpoint(paths["ck"]))
    done = subprocess.run(command + _argv(paths), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _assert_bitwise_equal(_weights(paths["save"]), reference["weights"])


def test_resuming_right_after_any_checkpoint_stops_when_solved_as_the_whole_run(tmp_path,
                                                                               monkeypatch):
    """A run that stops once solved: killed right after any checkpoint (before the Trainer's
    callbacks run), the resumed run stops where the uninterrupted one did, on the same
    (best validation) weights."""
    config = RunConfig(task="adding", length=2, hidden_size=8, lr=1e-2, updates=600,
                       eval_every=20, n_val=100, n_test=100)
    snapshots = []
    stop_when_solved = runner._stop_when_solved

    def snapshotting(task, in_a_row=2):
        decide = stop_when_solved(task, in_a_row)

        def callback(trainer, record):  # the folder as a kill right now would leave it
            snapshot = tmp_path / f"after-{len(snapshots) + 1}"
            shutil.copytree(tmp_path / "ck", snapshot)
            snapshots.append(snapshot)
            decide(trainer, record)
        return callback

    monkeypatch.setattr(runner, "_stop_when_solved", snapshotting)
    whole = run_task(config, checkpoint_dir=str(tmp_path / "ck"))
    monkeypatch.setattr(runner, "_stop_when_solved", stop_when_solved)
    assert whole["updates"] < config.updates and whole["updates_to_solve"] is not None
    assert len(snapshots) == whole["epochs"] >= 3
    for snapshot in snapshots:
        with RunStore(str(tmp_path / "runs.db")) as store:
            resumed = run_task(config, store=store, checkpoint_dir=str(snapshot), resume=True)
        assert resumed["updates"] == whole["updates"]
        assert _timeless(resumed["history"]) == _timeless(whole["history"])
        _assert_bitwise_equal(resumed["model"].state_dict(), whole["model"].state_dict())
        assert resumed["metric"] == whole["metric"]


def test_a_checkpoint_folder_is_refused_when_it_belongs_to_another_run(tmp_path):
    config = RunConfig(task="adding", length=4, hidden_size=4, updates=20, eval_every=10,
                       n_val=50, n_test=50)
    folder = str(tmp_path / "ck")
    run_task(config, checkpoint_dir=folder)
    with pytest.raises(CheckpointError, match="already holds the checkpoints"):
        run_task(config, checkpoint_dir=folder)  # a fresh start would mix two runs
    with pytest.raises(CheckpointError, match=r"differs in hidden_size \(4 there, 5 here\)"):
        run_task(dataclasses.replace(config, hidden_size=5), checkpoint_dir=folder,
                 resume=True)
    more = run_task(dataclasses.replace(config, updates=40), checkpoint_dir=folder,
                    resume=True)  # a larger budget continues the run
    assert more["updates"] == 40 and more["resumed_from"] == "epoch-0002"
    os.remove(os.path.join(folder, "run.json"))
    with pytest.raises(CheckpointError, match="no readable run.json"):
        run_task(config, checkpoint_dir=folder, resume=True)
    with pytest.raises(ValueError, match="resume needs checkpoint_dir"):
        run_task(config, resume=True)


def test_a_checkpoint_folder_in_use_is_refused(tmp_path):
    config = RunConfig(task="adding", length=4, hidden_size=4, updates=20, eval_every=10,
                       n_val=50, n_test=50)
    folder = str(tmp_path / "ck")
    with run_folder.locked(folder):  # as a run training into the folder holds it
        pid = os.fork()
        if pid == 0:  # another process (flock is per open file)
            try:
                run_task(config, checkpoint_dir=folder, resume=True)
            except CheckpointError as err:
                os._exit(3 if "in use by another run" in str(err) else 4)
            finally:
                os._exit(5)
        assert _wait(pid) == 3
    assert run_task(config, checkpoint_dir=folder, resume=True)["updates"] == 20


def test_unreadable_newest_checkpoint_is_skipped_for_the_one_before(tmp_path):
    config = RunConfig(task="adding", length=4, hidden_size=4, updates=30, eval_every=10,
                       n_val=50, n_test=50)
    folder = str(tmp_path / "ck")
    whole = run_task(config, checkpoint_dir=str(tmp_path / "whole"))
    run_task(dataclasses.replace(config, updates=20), checkpoint_dir=folder)
    newest = io.latest_checkpoint(folder)
    with open(os.path.join(newest, "state.json"), "w") as f:
        f.write("{ truncated")  # damage, which no crash leaves (writes are atomic)
    resumed = run_folder.check_checkpoints(config, folder, resume=True)
    assert resumed["checkpoint"] == "epoch-0001" and len(resumed["skipped"]) == 1
    again = run_task(config, checkpoint_dir=folder, resume=True)
    _assert_bitwise_equal(again["model"].state_dict(), whole["model"].state_dict())
    assert again["metric"] == whole["metric"]
