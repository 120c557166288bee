"""What ``rnnlab train --save DIR`` writes: the trained network as a saved model folder
(:mod:`rnnlab.saved_model`) with what applying it elsewhere needs, read back by
:mod:`rnnlab.serving` (``rnnlab predict``).

The arrays beside the weights: for a data file, ``feature_mean`` and ``feature_scale`` (F,),
the training split's standardization (x -> (x - mean) / scale, a missing value then 0), and
for regression targets ``target_mean`` and ``target_scale`` (K,). The JSON ``meta``:
``kind`` "rnnlab-train", ``config`` (the RunConfig), ``task``, ``metric_name``,
``per_step`` (an output per step), ``output`` ("classes" or "values"), ``classes`` (values
and dtype, for classes; the class indices 0..K-1 for a built-in task) and ``missing``
("zero": NaN in the input becomes 0 after standardization, as in training).
"""

from __future__ import annotations

import numpy as np

from rnnlab import saved_model
from rnnlab.layers.spec import module_spec
from rnnlab.tasks.file import FileTask

KIND = "rnnlab-train"


def savable(model) -> str | None:
    """None when ``model`` can be saved, else why not (checked before training)."""
    try:
        module_spec(model)
    except (TypeError, ValueError) as err:
        return str(err)
    return None


def save_trained(path, model, config, task) -> str:
    """Write the model ``config`` trained on ``task`` into the folder ``path``."""
    arrays, meta = {}, {"kind": KIND, "config": config.to_json(), "task": task.name,
                        "metric_name": task.metric_name, "per_step": bool(task.per_step),
                        "missing": "zero"}
    classes = None
    if isinstance(task, FileTask):
        arrays["feature_mean"], arrays["feature_scale"] = task.standardization(config.seed)
        if task.regression:
            arrays["target_mean"], arrays["target_scale"] = task.target_standardization
        else:
            classes = task.classes
    elif task.metric_name == "accuracy":
        classes = list(range(task.output_size))
    if classes is not None:
        meta["output"] = "classes"
        values = [c.item() if hasattr(c, "item") else c for c in classes]
        meta["classes"] = {"values": values,
                           "dtype": getattr(classes, "dtype", None) and classes.dtype.str
                           or "<i8"}
    else:
        meta["output"] = "values"
    arrays = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}
    return saved_model.save_model(path, model, arrays, meta)
