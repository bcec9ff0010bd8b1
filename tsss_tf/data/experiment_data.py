"""The data object of an experiment, whichever kind its config asks for.

    data = open_experiment_data(cfg.data, Split.from_config(cfg.split), infer=cfg.split.infer)

A config with `data.source.dataset` set (strong categories from another data set) gets a
`tsss_tf.data.cross_dataset.CrossExperimentData`, any other a
`tsss_tf.data.sources.ExperimentData`. This module imports both; neither imports it.
"""

from __future__ import annotations

from tsss_tf.data.cross_dataset import CrossExperimentData
from tsss_tf.data.sources import ExperimentData
from tsss_tf.data.splits import Split


def open_experiment_data(data_cfg, split: Split, infer: bool = False) -> ExperimentData:
    """ExperimentData (or CrossExperimentData) of a DataConfig and split; see the classes."""
    if getattr(data_cfg.source, "dataset", ""):
        return CrossExperimentData(data_cfg, split, infer=infer)
    return ExperimentData(data_cfg, split, infer=infer)
