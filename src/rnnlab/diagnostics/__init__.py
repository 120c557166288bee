"""Diagnostics of recurrent nets, measured from the real forward and backward passes.

- gradient flow through time: :func:`state_gradients` (||dL/dh_t||, ||dL/dc_t|| for every t,
  layer and direction), :func:`jacobian_norms` (||dh_T/dh_t|| against the gap T - t) and
  :func:`pascanu_bounds` (lambda_1 of W_hh against 1/gamma);
- gate activity and saturation: :func:`gate_activity`;
- memory: :func:`memory_horizon` and the truncation length :func:`suggest_k2`.
"""

from rnnlab.diagnostics.gates import GateActivity, gate_activity
from rnnlab.diagnostics.gradflow import (GAMMA, JacobianNorms, PascanuBound, StateGradients,
                                         jacobian_norms, pascanu_bounds, recurrent_layers,
                                         scale_recurrent_weights, state_gradients)
from rnnlab.diagnostics.memory import (MemoryHorizon, gradient_horizon, horizon_of,
                                       memory_horizon, suggest_k2)

__all__ = [
    "GAMMA", "StateGradients", "state_gradients", "JacobianNorms", "jacobian_norms",
    "PascanuBound", "pascanu_bounds", "scale_recurrent_weights", "recurrent_layers",
    "GateActivity", "gate_activity",
    "MemoryHorizon", "memory_horizon", "horizon_of", "gradient_horizon", "suggest_k2",
]
