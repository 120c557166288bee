"""Variable-length sequence data, by floor: ``padding`` (what the layers use: padding,
lengths to masks, reversal within each length) and ``batching`` (what training uses:
``SequenceData``, batches, bucketing, splits, ``SequenceStream``). Everything is importable
from ``rnnlab.data``; the layers import ``rnnlab.data.padding`` alone."""

from rnnlab.data.batching import (SequenceData, SequenceStream, batch_indices,
                                  train_val_split)
from rnnlab.data.padding import lengths_to_mask, pad_sequences, reverse_padded

__all__ = ["lengths_to_mask", "reverse_padded", "pad_sequences", "SequenceData",
           "SequenceStream", "batch_indices", "train_val_split"]
