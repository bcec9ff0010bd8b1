"""tsss_tf: Transferable Semi-supervised Semantic Segmentation in TF2 / Keras 3."""

__version__ = "0.1.0"
