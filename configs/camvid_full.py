"""camvid_full: CamVid street scenes (11 classes, no background), fully supervised P-Net.

Launch:   python -m tsss_tf.train --config=camvid_full --stage=full [--data_dir=.../camvid]
Reaches:  not yet measured (issue: real photographs); compare with SegNet's published CamVid
          numbers once a pretrained backbone is in.
"""

from tsss_tf.config import (DataConfig, ExperimentConfig, ModelConfig, PNetConfig,
                            SplitConfig)
from tsss_tf.configs._paths import shared_data

DEFAULT_DIR = shared_data("camvid")
CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car",
           "pedestrian", "bicyclist")


def get_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="camvid_full",
        data=DataConfig(dataset="voc", data_dir=DEFAULT_DIR, crop_size=240, eval_size=480),
        split=SplitConfig(name="camvid_full", strong=CLASSES, weak=(), background=None),
        model=ModelConfig(backbone="efficientnet_lite0", backbone_weights="imagenet",
                          output_stride=16, freeze_backbone=True),
        pnet=PNetConfig(steps=1000),
    )
