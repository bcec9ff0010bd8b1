"""camvid_to_msrc_0: the 0% setting on real photographs, across data sets. No msrc_things
category has a single pixel mask: the strong categories are CamVid's street things, the weak
(target) categories the msrc_things objects that CamVid lacks.

  strong (CamVid masks):  pole, sign, fence, car, pedestrian, bicyclist
                          (CamVid's sky, building, road, pavement, tree become background)
  weak (msrc_things tags): cow, sheep, aeroplane, face, flower, bird, book, chair, cat, dog, boat
  evaluated on:            msrc_things test; its car, bicycle, sign and body pixels are ignored
                           (read miou_weak: the source classes never occur in the target masks)
  training stream:         half CamVid train (367 strong images), half msrc_things train images
                           showing a weak category (tags only; data.source_ratio=0.5)

Launch:   python -m tsss_tf.train --config=camvid_to_msrc_0 --model_dir=runs/camvid_to_msrc_0
          (data from ../shared/data/{msrc_things,camvid} or $TSSS_TF_DATA_ROOT; other folders:
          --data_dir=/path/to/msrc_things --set=data.source.data_dir=/path/to/camvid)
Smoke:    add --set=lnet.steps=20 --set=pnet.steps=20 (proves the path, not the method)
Reaches:  seeds 0-2 (commits c5d034d, 047b6ea; 15-18 min each on a 2-core CPU), weak-class
          test mIoU: full 70.6 +- 1.0, strong_only 0, lnet_only 52.4 +- 4.6 (74.3 +- 7.4% of
          full), tsss 52.6 +- 4.1 (74.6 +- 6.8%); pseudo labels 53.4 +- 3.4
          (docs/results.md, "The 0% setting on real photographs"; the paper: 89.4% on VOC 2012).
"""

from tsss_tf.config import (DataConfig, ExperimentConfig, ModelConfig, SourceDataConfig,
                            SplitConfig, TransferConfig)
from tsss_tf.configs._paths import shared_data

STRONG = ("pole", "sign", "fence", "car", "pedestrian", "bicyclist")
WEAK = ("cow", "sheep", "aeroplane", "face", "flower", "bird", "book", "chair", "cat", "dog",
        "boat")
CAMVID_BACKGROUND = ("sky", "building", "road", "pavement", "tree")


def get_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="camvid_to_msrc_0",
        data=DataConfig(
            dataset="voc", data_dir=shared_data("msrc_things"), crop_size=160, eval_size=224,
            source=SourceDataConfig(
                dataset="voc", data_dir=shared_data("camvid"), train_sets=("train",),
                category_map=tuple(f"{c}=background" for c in CAMVID_BACKGROUND)),
            source_ratio=0.5),
        split=SplitConfig(name="camvid_to_msrc_0", strong=STRONG, weak=WEAK),
        # As msrc_things_50: ImageNet EfficientNet-Lite0, frozen, output stride 16; and
        # CAM-supported objectness (objectness learnt on street things does not see animals).
        model=ModelConfig(backbone="efficientnet_lite0", backbone_weights="imagenet",
                          output_stride=16, freeze_backbone=True),
        transfer=TransferConfig(cam_objectness=0.8),
    )
