"""Label transfer: from L-Net outputs on a weak image to its transferred label map L_w.

- `cam.normalize_cams`: CAMs of the present categories scaled to [0, 1].
- `affinity.local_affinity`: the local colour + feature transition matrix P.
- `diffusion`: `make_seeds`, `diffuse` (the random walk), `labels_from_scores`, and
  `transfer_labels`, the whole step (see its module docstring for what `confidence` means).
- `pseudo_labels.PseudoLabelStore`: the cached, resumable folder of L_w of a run.
"""

from tsss_tf.transfer.affinity import local_affinity, window_offsets
from tsss_tf.transfer.cam import normalize_cams
from tsss_tf.transfer.diffusion import (IGNORE_LABEL, diffuse, labels_from_scores, make_seeds,
                                        transfer_labels)
from tsss_tf.transfer.pseudo_labels import PseudoLabelStore

__all__ = ["normalize_cams", "local_affinity", "window_offsets", "make_seeds", "diffuse",
           "labels_from_scores", "transfer_labels", "IGNORE_LABEL", "PseudoLabelStore"]
