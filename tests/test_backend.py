"""The array namespace: NumPy; a GPU array is refused with a message, not copied."""

import numpy as np
import pytest

from rnnlab import LSTM
from rnnlab.backend import get_xp


class FakeGpuArray:
    """What CuPy and CUDA tensors expose."""

    __cuda_array_interface__ = {"shape": (2, 3, 4), "typestr": "<f4", "version": 3}
    dtype = np.dtype(np.float32)
    shape = (2, 3, 4)
    ndim = 3


def test_numpy_arrays_give_numpy():
    assert get_xp(np.zeros(3), np.ones(2)) is np


def test_a_gpu_array_is_refused_with_what_to_do():
    with pytest.raises(TypeError, match=r"runs on the CPU.*cupy\.asnumpy"):
        get_xp(FakeGpuArray())
    with pytest.raises(TypeError, match="GPU array"):
        LSTM(4, 3).forward(FakeGpuArray())
