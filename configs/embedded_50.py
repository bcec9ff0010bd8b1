"""embedded_50: the default experiment. 50% of the 10 embedded target categories are strong.

Launch:   python -m tsss_tf.train                      (same as --config=embedded_50)
Reaches:  see README "Results" (the table of a real run: tsss >= 90% of full supervision on
          this 2-core CPU in under 15 minutes wall for every stage and baseline).
Data:     generated on first use into ~/.cache/tsss_tf/embedded (about 4,200 PNGs at 112 px).
"""

from tsss_tf.config import DataConfig, ExperimentConfig, SplitConfig
from tsss_tf.data.embedded import DEFAULT_50_STRONG, DEFAULT_50_WEAK


def get_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="embedded_50",
        data=DataConfig(dataset="embedded", train_sets=("train",), crop_size=112, eval_size=112),
        split=SplitConfig(name="embedded_50", strong=DEFAULT_50_STRONG, weak=DEFAULT_50_WEAK),
    )
