"""Training: the Trainer, its settings, and truncated BPTT.

``trainer`` runs the textbook loop, forward -> loss -> backward (BPTT) -> clip -> update, with
validation, early stopping, the divergence guard and checkpoints that resume bit for bit;
``config`` holds its settings (``TrainConfig``); ``tbptt`` runs truncated BPTT over one
batch (Williams & Peng 1990).
"""

from rnnlab.training.config import RESUMABLE_CHANGES, TrainConfig
from rnnlab.training.tbptt import check_tbptt, truncated_bptt
from rnnlab.training.trainer import Trainer, TrainingDiverged

__all__ = ["Trainer", "TrainConfig", "TrainingDiverged", "truncated_bptt", "check_tbptt",
           "RESUMABLE_CHANGES"]
