"""Shared fixtures. PyTorch is the reference: its tests skip without it on a developer's
machine, but fail in CI (CI=true), where they must run."""

import os

import pytest


@pytest.fixture(scope="session")
def torch():
    try:
        import torch as torch_module
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("PyTorch is the reference for this test: pip install torch==2.13.0")
    torch_module.set_num_threads(1)
    return torch_module
