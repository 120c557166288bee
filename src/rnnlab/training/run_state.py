"""What every training loop that writes checkpoints (the Trainer, ``rnnlab.text``) shares:
the checks before a run starts in a checkpoint folder or resumes from it, and what a
checkpoint holds besides the weights: the optimizer's buffers and scalars, and the states of
the random generators of the modules that draw as they run (dropout's masks to come).

The optimizer's buffers are stored as arrays named ``optimizer/{parameter}/{buffer}`` (e.g.
``optimizer/1.weight_hh_l0/exp_avg``), its scalars as JSON; a generator's state is the JSON
dict of numpy's ``bit_generator.state``.
"""

from __future__ import annotations

import os

import numpy as np

from rnnlab import io

PREFIX = "optimizer"


class CheckpointError(ValueError):
    """A checkpoint folder that a run cannot start in, or resume from; says why."""


def checkpoints_in(directory, resume: bool) -> list:
    """The complete checkpoint folders in ``directory``, oldest first (none when it does not
    exist yet), after the checks every run makes before it uses the folder: a file is
    refused, and a folder that holds checkpoints needs ``resume``."""
    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CheckpointError(f"checkpoint_dir must be a folder, got the file {directory!r}")
    found = io.list_checkpoints(directory)
    if found and not resume:
        raise CheckpointError(f"checkpoint_dir {directory!r} already holds the checkpoints "
                              f"of a run (newest {os.path.basename(found[-1])}): resume it, "
                              f"or choose another folder")
    return found


def newest_that_loads(directory, found: list, read) -> tuple:
    """``(path, read(path), skipped)`` for the newest of ``found`` that ``read`` reads without
    an error; ``skipped`` is ``[(path, reason)]`` of the newer ones it could not (a crash
    does not leave one, but a disk can). Raise CheckpointError when none can be read."""
    skipped = []
    for path in reversed(found):
        try:
            return path, read(path), skipped
        except Exception as err:  # noqa: BLE001 - any unreadable file: try the one before
            skipped.append((path, f"{type(err).__name__}: {err}"))
    raise CheckpointError(f"checkpoint_dir {os.fspath(directory)!r}: no checkpoint loads ("
                          + "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped)
                          + ")")


def config_changes(saved: dict, current: dict, free=()) -> str:
    """``"key (value there, value here), ..."`` for each setting outside ``free`` that differs
    between a checkpoint's config and this run's; empty when none does."""
    changed = sorted(k for k in set(saved) | set(current)
                     if k not in free and saved.get(k) != current.get(k))
    return ", ".join(f"{k} ({saved.get(k)!r} there, {current.get(k)!r} here)" for k in changed)


def optimizer_arrays(optimizer) -> tuple:
    """``(arrays, scalars)`` of ``optimizer``: its buffers by name, and ``{"type", "steps",
    "lr"}`` for the checkpoint's JSON."""
    state = optimizer.state_dict()
    arrays = {f"{PREFIX}/{name}/{key}": value for name, buffers in state["state"].items()
              for key, value in buffers.items()}
    return arrays, {"type": type(optimizer).__name__, "steps": state["steps"], "lr": state["lr"]}


def optimizer_buffers(arrays: dict, parameters) -> dict:
    """The buffers of ``optimizer_arrays`` back as ``{parameter: {buffer: array}}``, with an
    entry (perhaps empty) for every name in ``parameters``; other arrays are ignored."""
    buffers = {name: {} for name in parameters}
    for key, value in arrays.items():
        kind, _, rest = key.partition("/")
        if kind == PREFIX:
            name, _, buffer = rest.rpartition("/")
            buffers.setdefault(name, {})[buffer] = value
    return buffers


def buffer_misfits(buffers: dict, weights: dict) -> list:
    """``"name/buffer (shape)"`` of each buffer that fits no parameter of ``weights``."""
    return [f"{name}/{key} {np.shape(value)}" for name, named in buffers.items()
            for key, value in named.items()
            if name not in weights or np.shape(value) != weights[name].shape]


def check_optimizer(optimizer, scalars) -> None:
    """Refuse to resume with an optimizer of another type than the checkpoint's."""
    if not isinstance(scalars, dict) or any(k not in scalars for k in ("type", "steps", "lr")):
        raise ValueError(f"the checkpoint's optimizer must hold type, steps and lr, "
                         f"got {scalars!r}")
    if scalars["type"] != type(optimizer).__name__:
        raise ValueError(f"optimizer must be a {scalars['type']} to resume this checkpoint, "
                         f"got {type(optimizer).__name__}")


def restore_optimizer(optimizer, scalars: dict, buffers: dict) -> None:
    """Load what :func:`optimizer_arrays` saved (checked by :func:`check_optimizer`)."""
    optimizer.load_state_dict({"steps": scalars["steps"], "lr": scalars["lr"],
                               "state": buffers})


def generators(model):
    """(name, numpy Generator) of every module of ``model`` that draws at random as it runs
    (Dropout's ``rng``): their states are part of a run's checkpoint."""
    for name, module in model.named_modules() if hasattr(model, "named_modules") else ():
        if isinstance(getattr(module, "rng", None), np.random.Generator):
            yield name or ".", module.rng


def generator_states(model) -> dict:
    """``{module name: bit generator state}`` of :func:`generators`."""
    return {name: rng.bit_generator.state for name, rng in generators(model)}


def check_generators(model, saved, where: str) -> dict:
    """The generators of ``model`` by name, after checking that the checkpoint's ``saved``
    states (absent from checkpoints older than dropout: ``{}``) belong to them."""
    found = dict(generators(model))
    if not isinstance(saved, dict) or set(saved) - set(found):
        raise ValueError(f"{where} is a checkpoint of a different architecture: its random "
                         f"generators {sorted(saved) if isinstance(saved, dict) else saved!r} "
                         f"are not this model's {sorted(found)}")
    return found


def restore_generators(found: dict, saved: dict) -> None:
    """Set each generator of :func:`check_generators` to its saved state."""
    for name, state in saved.items():
        found[name].bit_generator.state = state
