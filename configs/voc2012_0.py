"""voc2012_0: PASCAL VOC 2012 with 0% strong categories: every VOC category is weak.

In the paper the strong categories come from another data set (the 60 COCO categories not in
VOC); mixing a COCO source into the pipeline is the subject of a later issue. Until then this
config treats every VOC category as weak, so L-Net has no objectness supervision in-domain.

Launch:   python -m tsss_tf.train --config=voc2012_0 --data_dir=/data/VOCdevkit/VOC2012
Model:    configs/_recipes.py photo_segmentation_model (EfficientNet-Lite0, ImageNet weights,
          fine-tuned; DeepLab v3+ head); needs the `pretrained` extra. The transfer's
          cam_objectness 0.8 is msrc_things_50's, chosen there on val.
Reaches:  the paper reports 89.4% of full supervision; not run here (no VOC on this machine).
"""

from tsss_tf.config import DataConfig, ExperimentConfig, SplitConfig, TransferConfig
from tsss_tf.configs._recipes import photo_segmentation_model
from tsss_tf.data.voc import VOC_CLASSES


def get_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="voc2012_0",
        data=DataConfig(dataset="voc", data_dir=None, train_sets=("train",), val_set="val",
                        test_set="val", crop_size=321, eval_size=512, cache=False),
        split=SplitConfig(name="voc2012_0", strong=(), weak=VOC_CLASSES[1:]),
        model=photo_segmentation_model(),
        transfer=TransferConfig(cam_objectness=0.8),
    )
