"""The stages of an experiment: one table, read by tsss_tf.experiment (which runs them), by
the run-folder checks (which folders hold a run's outputs) and by `--stage`.

    stage        kind       folder under model_dir     needs       what it does
    lnet         lnet       lnet/                                  trains L-Net
    transfer     transfer   transfer/pseudo_labels/    lnet        L-Net -> the weak images'
                                                                   transferred labels
    full         variant    full/                                  baseline: every mask
    strong_only  variant    strong_only/                           baseline: strong images only
    lnet_only    variant    lnet_only/                 transfer    baseline: strong masks + L_w,
                                                                   no adversarial term
    pnet         variant    tsss/                      transfer    P-Net + discriminator (the
                                                                   full model, "tsss"); with
                                                                   pnet.refine_rounds = R > 0,
                                                                   first R rounds of it
                                                                   (tsss_round<r>/,
                                                                   refine/round<r+1>/)

`all` runs them in the table's order. Each stage seeds the random generators with
`config.seed + seed_offset` before it starts, after its prerequisites are done, so a stage
trains the same whether it runs alone or as part of `all`.

This module imports nothing heavy: the command line reads its names before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage: its `--stage` name, what runs it, the folder it writes, its seed offset and
    the stage whose output it reads."""

    name: str
    kind: str            # "lnet", "transfer" or "variant" (a P-Net training)
    folder: str
    seed_offset: int
    needs: str = ""


STAGES: Tuple[Stage, ...] = (
    Stage("lnet", "lnet", "lnet", 0),
    Stage("transfer", "transfer", "transfer", 1000, needs="lnet"),
    Stage("full", "variant", "full", 2000),
    Stage("strong_only", "variant", "strong_only", 3000),
    Stage("lnet_only", "variant", "lnet_only", 4000, needs="transfer"),
    Stage("pnet", "variant", "tsss", 5000, needs="transfer"),
)
BY_NAME = {s.name: s for s in STAGES}
STAGE_NAMES = ("all",) + tuple(BY_NAME)


def stage(name: str) -> Stage:
    """The stage called `name`; ValueError naming the choices for any other name."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown stage '{name}' ({', '.join(BY_NAME)})") from None
