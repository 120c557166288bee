"""Checkpoints of a character model's training, from which it resumes bit for bit.

A checkpoint is written after every validation (every ``eval_every`` updates, and at the end)
into ``checkpoint_dir/epoch-NNNN``, NNNN the validations done so far, by
:func:`rnnlab.io.write_checkpoint` (atomically; the newest ``keep`` kept):

- ``weights.safetensors``: the model's weights, PyTorch's names;
- ``state.safetensors``: Adam's buffers (``optimizer/{parameter}/{buffer}``) and the state
  carried into the next chunk (``carried/{module}/{h|c}``);
- ``state.json``: the config, the vocabulary, the SHA-256 of the text, the updates done, the
  history, Adam's step count and rate, the dropout generators' states, the seconds so far.

A resumed run continues the same streams at the same chunk with the same state, so its
weights and its bits per character are those of a run never interrupted. Only ``updates``
may differ from the checkpoint's config; the text must be the same, byte for byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np

from rnnlab import io
from rnnlab.training import run_state
from rnnlab.training.run_state import CheckpointError

FORMAT, VERSION = "rnnlab-text-checkpoint", 1
RESUMABLE = ("updates",)  # the one setting a resumed run may change


@dataclasses.dataclass
class Progress:
    """Where a character model's training stands: what a checkpoint holds besides the model
    and the optimizer."""

    updates: int = 0
    history: list = dataclasses.field(default_factory=list)
    state: list | None = None  # the recurrent state carried into the next chunk
    characters: int = 0  # characters trained on
    seconds: float = 0.0  # spent training and validating, before this process


def text_digest(text: str) -> str:
    """The SHA-256 of ``text`` in UTF-8: a resumed run must read the same text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_checkpoint(directory, model, optimizer, progress: Progress, config, vocabulary,
                    digest: str, keep: int = 2) -> str:
    """Write a checkpoint of the run; return its folder."""
    arrays, scalars = run_state.optimizer_arrays(optimizer)
    arrays.update(_carried_arrays(model, progress.state))
    meta = {
        "format": FORMAT, "version": VERSION,
        "config": dataclasses.asdict(config), "vocabulary": vocabulary.to_json(),
        "text_sha256": digest, "updates": progress.updates, "history": progress.history,
        "characters": progress.characters, "seconds": progress.seconds,
        "optimizer": scalars, "generators": run_state.generator_states(model),
    }
    return io.write_checkpoint(directory, len(progress.history), model.state_dict(), arrays,
                               meta, keep=keep)


def find_checkpoint(directory, config, digest: str, resume: bool) -> tuple:
    """Check that a run of ``config`` on the text of ``digest`` can use ``directory``;
    return ``(path, skipped)``: the checkpoint to resume from (None: start from the
    beginning) and ``[(path, reason)]`` of newer ones that did not load. Reads, never writes.

    Starting afresh needs a folder without checkpoints; resuming takes the newest checkpoint
    that loads, whose config must equal ``config`` but for ``updates`` (no more than
    ``config.updates`` done) and whose text must be this one.

    Raises
    ------
    CheckpointError
    """
    found = run_state.checkpoints_in(directory, resume)
    if not found:
        return None, []
    path, meta, skipped = run_state.newest_that_loads(
        directory, found, lambda path: io.read_checkpoint(path, FORMAT, VERSION)[2])
    _check_same_run(path, meta, config, digest)
    return path, skipped


def load_checkpoint(path, model, optimizer) -> Progress:
    """Restore ``model`` and ``optimizer`` from the checkpoint at ``path`` (one that
    :func:`find_checkpoint` chose) and return the run's progress. Everything is checked
    before anything changes."""
    weights, arrays, meta = io.read_checkpoint(path, FORMAT, VERSION)
    where = f"checkpoint {os.fspath(path)!r}"
    expected = model.state_dict()
    buffers = run_state.optimizer_buffers(arrays, expected)
    misfits = run_state.buffer_misfits(buffers, expected)
    differences = io.state_dict_differences(weights, expected) or (
        f"optimizer buffers that fit no parameter: {misfits[:6]}" if misfits else "")
    if differences:
        raise CheckpointError(f"{where} is of a different architecture: {differences}")
    run_state.check_optimizer(optimizer, meta.get("optimizer"))
    generators = run_state.check_generators(model, meta.get("generators", {}), where)
    state = _carried_state(model, arrays, where)
    model.load_state_dict(weights)
    run_state.restore_optimizer(optimizer, meta["optimizer"], buffers)
    run_state.restore_generators(generators, meta.get("generators", {}))
    return Progress(int(meta["updates"]), list(meta["history"]), state,
                    int(meta["characters"]), float(meta["seconds"]))


def _check_same_run(path, meta: dict, config, digest: str) -> None:
    """Refuse a checkpoint of another text, another config, or more updates than asked."""
    where = f"checkpoint {path!r}"
    fields = {"config": dict, "updates": int, "history": list, "characters": int,
              "text_sha256": str}
    wrong = [key for key, kind in fields.items() if not isinstance(meta.get(key), kind)]
    if wrong or not isinstance(meta.get("seconds"), (int, float)):
        raise CheckpointError(f"{where} has missing or wrong fields in {io.META_FILE}: "
                              f"{wrong or ['seconds']}")
    if meta["text_sha256"] != digest:
        raise CheckpointError(f"{where} was trained on another text (its SHA-256 differs): "
                              f"resuming would not continue the same run")
    defaults = dataclasses.asdict(type(config)())  # for settings newer than the checkpoint
    changed = run_state.config_changes({**defaults, **meta["config"]},
                                       dataclasses.asdict(config), RESUMABLE)
    if changed:
        raise CheckpointError(f"{where} holds a run whose config differs in {changed}: "
                              f"resuming would not continue the same run")
    if meta["updates"] > config.updates:
        raise CheckpointError(f"{where} has done {meta['updates']} updates, more than the "
                              f"{config.updates} asked for: ask for at least as many")


def _recurrent(model) -> list:
    return [m for m in model.modules if hasattr(m, "state_names")]


def _carried_arrays(model, state) -> dict:
    """The carried state as ``{"carried/{module}/{name}": array}`` (none at a pass's start)."""
    if state is None:
        return {}
    arrays = {}
    for k, (module, value) in enumerate(zip(_recurrent(model), state)):
        values = (value,) if len(module.state_names) == 1 else value
        arrays.update({f"carried/{k}/{name}": np.ascontiguousarray(v)
                       for name, v in zip(module.state_names, values)})
    return arrays


def _carried_state(model, arrays: dict, where: str) -> list | None:
    """The state :func:`_carried_arrays` saved, checked against the model's layers."""
    saved = {key: value for key, value in arrays.items() if key.startswith("carried/")}
    if not saved:
        return None
    state, expected = [], set()
    for k, module in enumerate(_recurrent(model)):
        keys = [f"carried/{k}/{name}" for name in module.state_names]
        expected.update(keys)
        shape = (module.num_layers * module.num_directions, None, module.hidden_size)
        for key in keys:
            value = saved.get(key)
            if value is None or value.ndim != 3 or value.shape[::2] != shape[::2]:
                raise CheckpointError(f"{where} has a carried state {key} that does not fit "
                                      f"the model (expected shape (L*D, B, H) = {shape})")
        values = tuple(saved[key] for key in keys)
        state.append(values[0] if len(values) == 1 else values)
    if set(saved) - expected:
        raise CheckpointError(f"{where} has carried states of other layers: "
                              f"{sorted(set(saved) - expected)}")
    return state
