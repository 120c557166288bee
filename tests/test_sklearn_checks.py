"""scikit-learn's own conformance suite on the estimators (``parametrize_with_checks``),
with the checks that cannot hold for a sequence model declared, each with its reason."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from rnnlab import RNNClassifier, RNNRegressor
from rnnlab.estimators import sklearn_expected_failures

# small and seeded, trained long enough for the checks that ask for a good fit
# (check_classifiers_train: accuracy > 0.83 on blobs; check_regressors_train: R^2 > 0.5)
SETTINGS = dict(hidden_size=16, epochs=60, lr=1e-2, random_state=0)


@parametrize_with_checks([RNNClassifier(**SETTINGS), RNNRegressor(**SETTINGS)],
                         expected_failed_checks=sklearn_expected_failures)
def test_scikit_learn_conformance(estimator, check):
    check(estimator)


def test_what_the_expected_failures_would_have_checked():
    """check_classifiers_train and check_regressors_train are declared expected failures only
    for their last step (predicting on X.T): their fits are checked here as there."""
    import numpy as np
    from sklearn.datasets import make_blobs
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils.estimator_checks import _regression_dataset

    X, y = make_blobs(n_samples=300, random_state=0)
    X = StandardScaler().fit_transform(X)
    for X_fit, y_fit in ((X, y), (X[y != 2], y[y != 2])):  # multiclass, binary
        clf = RNNClassifier(**SETTINGS).fit(X_fit, y_fit)
        assert clf.predict(X_fit).shape == y_fit.shape
        assert np.mean(clf.predict(X_fit) == y_fit) > 0.83
        proba = clf.predict_proba(X_fit)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X_fit))
    X, y = _regression_dataset()
    y = StandardScaler().fit_transform(y.reshape(-1, 1)).ravel()
    reg = RNNRegressor(**SETTINGS).fit(X, y)
    assert reg.predict(X).shape == y.shape and reg.score(X, y) > 0.5
