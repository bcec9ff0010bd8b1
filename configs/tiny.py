"""tiny: a smoke configuration (every stage in about a minute); proves the code, not the method.

Launch:   python -m tsss_tf.train --config=tiny --model_dir=/tmp/tiny
Reaches:  nothing meaningful (a few dozen steps on a small embedded set at 64 px).
"""

from tsss_tf.config import (DataConfig, ExperimentConfig, LNetConfig, ModelConfig, PNetConfig,
                            SplitConfig)
from tsss_tf.data.embedded import DEFAULT_50_STRONG, DEFAULT_50_WEAK


def get_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="tiny",
        global_batch_size=4,
        eval_every=10,
        log_every=5,
        checkpoint_every=10,
        image_every=10,
        data=DataConfig(dataset="embedded", embedded_size=64, embedded_num_train=48,
                        embedded_num_source=8, embedded_num_val=8, embedded_num_test=8,
                        crop_size=64, eval_size=64, shuffle_buffer=64),
        split=SplitConfig(name="embedded_50", strong=DEFAULT_50_STRONG, weak=DEFAULT_50_WEAK),
        model=ModelConfig(backbone_width=8, head_width=16, disc_width=8),
        lnet=LNetConfig(steps=20),
        pnet=PNetConfig(steps=20),
    )
