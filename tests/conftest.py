"""Shared fixtures. PyTorch is the reference, and scikit-learn and aeon (the real data) come
with the test extra: their tests skip without them on a developer's machine, but fail in CI
(CI=true), where they must run."""

import importlib
import os

import pytest


def required(module: str, install: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"this test needs {module}: {install}")


@pytest.fixture(scope="session")
def torch():
    torch_module = required("torch", "pip install torch==2.13.0")
    torch_module.set_num_threads(1)
    return torch_module


@pytest.fixture(scope="session")
def sklearn():
    return required("sklearn", 'pip install -e ".[test]"')


@pytest.fixture(scope="session")
def aeon():
    return required("aeon", 'pip install -e ".[test]"')
