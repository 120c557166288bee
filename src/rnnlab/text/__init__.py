"""Character-level language models: a text's vocabulary, reading a text file, the text as
parallel streams trained on chunk by chunk with the state carried, the model, and sampling
one character at a time (the step API of :mod:`rnnlab.layers.stepping`)."""

from rnnlab.text.corpus import CORPORA, corpus, python_stdlib
from rnnlab.text.model import CharLM, char_model, train_chunk
from rnnlab.text.sampling import generate, sample_next
from rnnlab.text.streams import (TextStreams, bits_per_char, context_bits, stream_loss,
                                 unigram_entropy)
from rnnlab.text.vocabulary import Vocabulary, read_text

__all__ = ["Vocabulary", "read_text", "TextStreams", "stream_loss", "bits_per_char",
           "context_bits", "unigram_entropy", "CharLM", "char_model", "train_chunk",
           "sample_next", "generate", "CORPORA", "corpus", "python_stdlib"]
