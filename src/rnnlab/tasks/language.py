"""A long-gap language task: "i grew up in france . <N filler words> i speak fluent" -> french.

Shapes: n (or B) sequences, T = N + 9 tokens, V the vocabulary size, P the number of
country/language pairs.

A tutorial's example of a long-range dependency, made measurable: the country comes in the
first sentence, the question at the end, and N words of filler in between say nothing about
it. A model answers above chance only if it carries the country across the N words.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnlab.data import SequenceData
from rnnlab.losses import cross_entropy
from rnnlab.tasks.base import Task, class_target, generator, int_at_least

PAIRS = (  # (country, language), the label order
    ("france", "french"), ("germany", "german"), ("spain", "spanish"),
    ("italy", "italian"), ("japan", "japanese"), ("china", "chinese"),
    ("brazil", "portuguese"), ("russia", "russian"), ("greece", "greek"),
    ("turkey", "turkish"), ("poland", "polish"), ("sweden", "swedish"),
)
DEFAULT_PAIRS = 8  # france .. russia
OPENING = ("i", "grew", "up", "in")  # then the country and "."
STOP = "."
CLOSING = ("i", "speak", "fluent")  # the question: the model answers after "fluent"
FILLER = (  # neutral words, none of them a country or a word of the frame
    "the", "a", "and", "then", "we", "often", "walked", "along", "river", "every",
    "morning", "with", "old", "friends", "while", "rain", "fell", "on", "quiet", "streets",
    "near", "small", "house", "where", "cats", "slept", "under", "warm", "blankets", "after",
    "long", "days",
)
FRAME = ("i", "grew", "up", "in", ".", "speak", "fluent")  # the words of the frame, once each
COUNTRY_STEP = len(OPENING)  # the country is token 4
SOLVED_ACCURACY = 0.9


@dataclasses.dataclass(frozen=True)
class LanguageTask(Task):
    """Name the language of the country read N filler words earlier.

    Parameters
    ----------
    length : int >= 0
        N, the number of filler words between the two sentences.
    pairs : int in [2, 12]
        P, how many of the country/language pairs (in the order of ``PAIRS``) to use.

    Attributes
    ----------
    vocabulary : tuple of str
        The V tokens, in the order of the one-hot inputs: the frame's words, the P countries,
        the filler words.
    countries, languages : tuple of str
        The P pairs; label k is ``languages[k]``, the language of ``countries[k]``.

    Notes
    -----
    Each sequence is the T = N + 9 tokens

        i grew up in <country> . w_1 ... w_N i speak fluent

    one-hot over the vocabulary (x is (T, V)), with the country's index c drawn uniformly
    from 0..P-1 and each filler word w_k uniformly from the 32 filler words, independently
    of c and of each other. The target is c, one per sequence: the model's head has P
    outputs, the logits of the languages.

    The filler holds no information about c, and the frame is the same in every sentence,
    so a model that does not carry the country across the gap can do no better than chance:
    the baseline accuracy is 1 / P. Solved: accuracy >= 0.9.
    """

    pairs: int = DEFAULT_PAIRS  # how many country/language pairs

    name = "language"
    per_step = False
    metric_name = "accuracy"
    lower_is_better = False

    def __post_init__(self):
        self._set("length", int_at_least(self.length, "length", 0))
        pairs = int_at_least(self.pairs, "pairs", 2)
        if pairs > len(PAIRS):
            raise ValueError(f"pairs must lie in [2, {len(PAIRS)}], got {pairs}")
        self._set("pairs", pairs)

    @property
    def countries(self) -> tuple:
        """The P countries, in label order."""
        return tuple(country for country, _ in PAIRS[:self.pairs])

    @property
    def languages(self) -> tuple:
        """The P languages: label k names ``languages[k]``."""
        return tuple(language for _, language in PAIRS[:self.pairs])

    @property
    def vocabulary(self) -> tuple:
        """The V tokens, in one-hot order: the frame's words, the countries, the filler."""
        return FRAME + self.countries + FILLER

    @property
    def steps(self) -> int:
        """T = N + 9, the number of tokens in every sentence."""
        return len(OPENING) + 2 + self.length + len(CLOSING)

    @property
    def input_size(self) -> int:
        """V, the vocabulary size (one-hot inputs)."""
        return len(self.vocabulary)

    @property
    def output_size(self) -> int:
        """P, one logit per language."""
        return self.pairs

    @property
    def baseline(self) -> float:
        """1 / P, the accuracy of guessing without the country (see Notes)."""
        return 1.0 / self.pairs

    @property
    def threshold(self) -> float:
        """0.9: solved when the accuracy is at least this."""
        return SOLVED_ACCURACY

    def generate(self, n: int, seed) -> SequenceData:
        """n sentences drawn from ``seed`` (an int or a numpy.random.Generator).

        Returns
        -------
        SequenceData
            x (n, N + 9, V) float32 one-hot, y (n,) int64 language indices, all lengths
            N + 9.
        """
        n = self._count(n)
        rng = generator(seed)
        labels = rng.integers(0, self.pairs, size=n)  # (n,)
        filler = rng.integers(0, len(FILLER), size=(n, self.length))  # (n, N)
        index = {word: k for k, word in enumerate(self.vocabulary)}
        opening = np.array([index[w] for w in OPENING])
        closing = np.array([index[w] for w in CLOSING])
        tokens = np.concatenate([
            np.broadcast_to(opening, (n, len(OPENING))),
            index[self.countries[0]] + labels[:, None],  # the countries are consecutive
            np.full((n, 1), index[STOP]),
            index[FILLER[0]] + filler,  # and so are the filler words
            np.broadcast_to(closing, (n, len(CLOSING))),
        ], axis=1)  # (n, T)
        x = np.eye(self.input_size, dtype=np.float32)[tokens]  # (n, T, V)
        return SequenceData(x, labels.astype(np.int64))

    def decode(self, x_row) -> str:
        """The sentence a one-hot row x (T, V) spells, words separated by spaces.

        Steps whose features are all zero (padding) are left out.
        """
        x_row = np.asarray(x_row)
        if x_row.ndim != 2 or x_row.shape[1] != self.input_size:
            raise ValueError(f"x_row must have shape (T, V) with V = {self.input_size}, "
                             f"got {x_row.shape}")
        words = [self.vocabulary[k] for k, row in zip(x_row.argmax(axis=1), x_row)
                 if row.any()]
        return " ".join(words)

    def loss(self, prediction, target, mask=None) -> tuple:
        """Softmax cross-entropy, the mean over the batch, and its gradient.

        Parameters
        ----------
        prediction : (B, P) float logits
        target : (B,) int
        mask : (B,) bool, optional

        Returns
        -------
        loss : float
        grad : (B, P)
        """
        self._check_prediction(prediction, target)
        return cross_entropy(prediction, target, mask)

    def metric(self, prediction, target, lengths=None) -> float:
        """Accuracy: the share of sequences whose largest logit is the right language
        (``lengths`` is not used: one target per sequence)."""
        self._check_prediction(prediction, target)
        target = class_target(target, self.output_size)
        return float(np.mean(np.asarray(prediction).argmax(axis=-1) == target))

    def marked_steps(self) -> tuple:
        """((step, label), ...): the steps that carry the answer, for pictures."""
        return ((COUNTRY_STEP, "the country"),)

    def describe(self) -> str:
        return (f"long-gap language: 'i grew up in <country> . <{self.length} filler words> "
                f"i speak fluent' -> the language, {self.pairs} pairs; accuracy baseline "
                f"{self.baseline:.3f} (chance), solved at {self.threshold}")
