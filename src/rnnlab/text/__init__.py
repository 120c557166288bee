"""Character-level language models: a text's vocabulary, reading a text file, and sampling
from a model one character at a time (the step API of :mod:`rnnlab.layers.stepping`)."""

from rnnlab.text.sampling import generate, sample_next
from rnnlab.text.vocabulary import Vocabulary, read_text

__all__ = ["Vocabulary", "read_text", "sample_next", "generate"]
