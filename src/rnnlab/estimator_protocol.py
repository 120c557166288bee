"""The scikit-learn protocol of the estimators, kept apart from what they compute:
parameters (``get_params``/``set_params``), tags, the fitted test, the error of an
unfitted estimator, and the checks of scikit-learn's conformance suite that cannot hold for a
sequence model, each with its reason. scikit-learn is never imported here unless it is
installed and asked for (tags, the error's class).
"""

from __future__ import annotations

import functools
import inspect


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit``. Where scikit-learn is installed, the error raised
    is also an instance of ``sklearn.exceptions.NotFittedError``."""


@functools.cache
def _not_fitted_class():
    """NotFittedError, made a subclass of scikit-learn's too where it is installed."""
    try:
        from sklearn.exceptions import NotFittedError as Theirs
    except ImportError:
        return NotFittedError
    return type("NotFittedError", (NotFittedError, Theirs), {"__module__": __name__,
                                                               "__doc__": NotFittedError.__doc__})


# scikit-learn's estimator checks that cannot hold for a sequence model, with why; pass as
# ``parametrize_with_checks(..., expected_failed_checks=sklearn_expected_failures)``.
SKLEARN_EXPECTED_FAILURES = {
    "check_n_features_in": "a 2-D X is (N, T): N sequences of T steps of one feature, so "
                           "n_features_in_ is 1, not X.shape[1] (the number of steps)",
    "check_n_features_in_after_fitting": "the same: X.shape[1] of a 2-D X is the length of "
                                         "the sequences, which may differ at predict",
    "check_classifiers_train": "(classifier) it ends by asking predict on X.T, (2, 300) "
                               "where fit saw (300, 2), for an error; here that is 2 "
                               "sequences of 300 steps (the accuracy part is tested in "
                               "tests/test_sklearn_checks.py)",
    "check_sample_weight_equivalence_on_dense_data": "training is minibatch gradient descent "
                                                     "on shuffled batches: a sequence of "
                                                     "weight 2 and the sequence twice make "
                                                     "different batches, so close but not "
                                                     "equal weights",
}


def sklearn_expected_failures(estimator) -> dict:
    """``{check name: reason}`` of scikit-learn's estimator checks that do not apply to
    ``estimator`` (``parametrize_with_checks``' and ``check_estimator``'s
    ``expected_failed_checks``)."""
    return {name: why for name, why in SKLEARN_EXPECTED_FAILURES.items()
            if not why.startswith("(classifier)") or hasattr(estimator, "predict_proba")}


def not_fitted_error(message: str) -> NotFittedError:
    """The error an unfitted estimator raises (scikit-learn's too, where installed)."""
    return _not_fitted_class()(message)


class SklearnProtocol:
    """Parameters, tags, cloning and the fitted test, as scikit-learn's BaseEstimator gives
    them (without depending on scikit-learn)."""

    @classmethod
    def _param_names(cls) -> list:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments, ``{name: value}``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments by name; returns self."""
        for name, value in params.items():
            if name not in self._param_names():
                raise ValueError(f"{name!r} is not a parameter of {type(self).__name__}; "
                                 f"valid: {self._param_names()}")
            setattr(self, name, value)
        return self

    def clone(self):
        """A new, unfitted estimator with the same parameters."""
        return type(self)(**self.get_params())

    def __sklearn_tags__(self):
        """What scikit-learn (>= 1.6) asks of an estimator; only called when it is installed."""
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        classifier = hasattr(self, "predict_proba")
        return Tags(estimator_type="classifier" if classifier else "regressor",
                    target_tags=TargetTags(required=True, multi_output=not classifier,
                                           single_output=True),
                    classifier_tags=ClassifierTags() if classifier else None,
                    regressor_tags=None if classifier else RegressorTags(),
                    input_tags=InputTags(two_d_array=True, three_d_array=True),
                    non_deterministic=self.random_state is None)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k]]
        return f"{type(self).__name__}({', '.join(changed)})"
