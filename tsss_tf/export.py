"""Exports a trained P-Net of a run as a SavedModel for TF Serving.

    python -m tsss_tf.export --model_dir=runs/embedded_50_seed0 --export_dir=exports/tsss
    python -m tsss_tf.export --model_dir=RUN --export_dir=exports/full --variant=full --version=7

Writes EXPORT_DIR/<version>/ (default: the next free integer), P-Net alone (no L-Net, no
discriminator) with in-graph preprocessing, the signatures listed in tsss_tf.serving.signatures,
the class names as an asset and TF Serving's warm-up requests. The model is rebuilt from the
run's config.json (or --config) and the variant's latest checkpoint. The signatures refuse an
encoded image larger than --max_image_pixels / --max_image_side (default 50 megapixels, 20000
px a side; read from its header before decoding), or with --resize_large_images decode a larger
JPEG at a reduced scale. Temporary folders left in EXPORT_DIR by a killed export are removed.
"""

import os

from absl import app, flags

from tsss_tf.flags import define_config_flags, resolve_config, user_errors
from tsss_tf.image_limits import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE

define_config_flags()
flags.DEFINE_string("export_dir", None, "Base folder of the versioned export (TF Serving's "
                    "model_base_path).")
flags.DEFINE_enum("variant", "tsss", ["tsss", "full", "strong_only", "lnet_only"],
                  "Which trained P-Net of the run.")
flags.DEFINE_integer("version", None, "Version folder to write (default: next free integer).")
flags.DEFINE_string("model_name", "tsss", "Model name in the warm-up requests (TF Serving's "
                    "--model_name).")
flags.DEFINE_string("classes_file", None, "Class names of the data set, one a line, when its "
                    "folder (data.data_dir) is not on this machine.")
flags.DEFINE_integer("max_image_pixels", DEFAULT_MAX_PIXELS, "The served model refuses an "
                     "encoded image whose header declares more pixels (checked before decoding: "
                     "a small file can declare a huge image).")
flags.DEFINE_integer("max_image_side", DEFAULT_MAX_SIDE, "The served model refuses an encoded "
                     "image with a longer side (pixels).")
flags.DEFINE_bool("resize_large_images", False, "Instead of refusing a JPEG over the limits, "
                  "decode it at 1/2, 1/4 or 1/8 scale (the largest that fits); its maps come at "
                  "that size.")
flags.mark_flags_as_required(["model_dir", "export_dir"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tsss_tf import __version__
    from tsss_tf.data.splits import Split
    from tsss_tf.serving.exporter import export_saved_model
    from tsss_tf.serving.trained_pnet import (checkpoint_path, experiment_classes,
                                              load_trained_pnet)

    with user_errors():
        from tsss_tf.image_limits import ImageLimits
        from tsss_tf.serving.errors import ExportError

        try:
            limits = ImageLimits(FLAGS.max_image_pixels, FLAGS.max_image_side,
                                 FLAGS.resize_large_images)
        except ValueError as e:
            raise ExportError(f"--max_image_pixels / --max_image_side: {e}") from None
        cfg, model_dir = resolve_config(FLAGS, prefer_model_dir=True)
        names, num_background = experiment_classes(cfg, FLAGS.classes_file)
        checkpoint = checkpoint_path(model_dir, FLAGS.variant)
        model = load_trained_pnet(cfg, len(names), checkpoint)
        source = {"config": cfg.name, "seed": cfg.seed, "variant": FLAGS.variant,
                  "checkpoint": os.path.abspath(checkpoint),
                  "split_hash": Split.from_config(cfg.split).content_hash(),
                  "tsss_tf_version": __version__}
        path = export_saved_model(model, names, num_background, cfg.data.eval_size,
                                  FLAGS.export_dir, FLAGS.version, FLAGS.model_name,
                                  metadata={"source": source}, image_limits=limits)
    print(path)


if __name__ == "__main__":
    app.run(main)
