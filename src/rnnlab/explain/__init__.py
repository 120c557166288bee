"""The worked example of BPTT, traced: one forward pass, loss, BPTT and gradient-descent step
of a scalar RNN, every number kept (``tracer``) and shown (``text``).

>>> from rnnlab.explain import format_trace, trace
>>> print(format_trace(trace()))            # a BPTT tutorial's worked example
"""

from rnnlab.explain.text import format_trace, to_json
from rnnlab.explain.tracer import ACTIVATION_NAMES, REL_TOL, Step, Trace, Weights, trace

__all__ = ["trace", "format_trace", "to_json", "Trace", "Step", "Weights", "ACTIVATION_NAMES",
           "REL_TOL"]
