"""Mixed precision: the dtype policy the models of a training stage are built under, and the
loss scaling that float16 needs.

`config.mixed_precision`:

    None              float32 everywhere (the default).
    "mixed_bfloat16"  convolutions and activations in bfloat16, variables and the optimizer in
                      float32. For CPUs with bfloat16 units (AVX512-BF16, AMX) and for GPUs
                      from Ampere on; bfloat16 has float32's range, so no loss scaling.
    "mixed_float16"   the same in float16, for GPUs with float16 tensor cores. float16
                      gradients underflow, so the losses are scaled dynamically
                      (`keras.optimizers.LossScaleOptimizer`: a step whose gradients overflow
                      is skipped and the scale halved).

The models' outputs are float32 under every policy (P-Net and L-Net cast them; the losses and
the transfer read float32). Only the models built for training take the policy: a model
rebuilt for export or serving is float32 and reads the same float32 variables.

>>> import keras
>>> with dtype_policy("mixed_bfloat16"):
...     keras.layers.Dense(2).dtype_policy.name
'mixed_bfloat16'
>>> keras.layers.Dense(2).dtype_policy.name
'float32'
"""

from __future__ import annotations

import contextlib
from typing import Optional

import keras

POLICIES = ("mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def dtype_policy(name: Optional[str]):
    """Layers created inside take the dtype policy `name` (None: float32); the previous global
    policy is restored on exit."""
    if name is not None and name not in POLICIES:
        raise ValueError(f"mixed_precision must be null or one of {POLICIES}, got {name!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def needs_loss_scale(name: Optional[str]) -> bool:
    """Whether the policy `name` computes in float16 (whose gradients need loss scaling)."""
    return name == "mixed_float16"
