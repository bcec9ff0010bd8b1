"""voc2012_50: PASCAL VOC 2012, 10 strong / 10 weak categories (the paper's 50% setting).

Launch:   python -m tsss_tf.train --config=voc2012_50 --data_dir=/data/VOCdevkit/VOC2012
          (SegmentationClass + ImageSets/Segmentation/{train,val}.txt; for SBD's train_aug,
          put its PNGs in SegmentationClass and list them in ImageSets/Segmentation/train_aug.txt
          and add --set=data.train_sets=train_aug)
Model:    configs/_recipes.py photo_segmentation_model (EfficientNet-Lite0, ImageNet weights,
          fine-tuned; DeepLab v3+ head); needs the `pretrained` extra. The transfer's
          cam_objectness 0.8 is msrc_things_50's, chosen there on val.
Reaches:  the paper reports 96.5% of full supervision with a VGG16 DeepLab-LargeFOV; not run
          here (no VOC on this machine). Evaluates on val (VOC test labels are not public).
"""

from tsss_tf.config import DataConfig, ExperimentConfig, SplitConfig, TransferConfig
from tsss_tf.configs._recipes import photo_segmentation_model
from tsss_tf.data.voc import VOC_CLASSES

CATEGORIES = VOC_CLASSES[1:]
STRONG = CATEGORIES[:10]
WEAK = CATEGORIES[10:]


def get_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="voc2012_50",
        data=DataConfig(dataset="voc", data_dir=None, train_sets=("train",), val_set="val",
                        test_set="val", crop_size=321, eval_size=512, cache=False),
        split=SplitConfig(name="voc2012_50", strong=STRONG, weak=WEAK),
        model=photo_segmentation_model(),
        transfer=TransferConfig(cam_objectness=0.8),
    )
