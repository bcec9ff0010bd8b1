"""Segments image files with an export of `python -m tsss_tf.export`.

    python -m tsss_tf.predict --export_dir=exports/tsss --out_dir=pred photo1.jpg photo2.png
    python -m tsss_tf.predict --export_dir=exports/tsss/3 --out_dir=pred --tags=disc,oval img.png

For each image NAME.ext it writes into --out_dir:
    NAME_overlay.png   the image with the predicted classes painted in the VOC palette
    NAME_classes.png   the raw class map: a palette PNG whose pixel values are the class ids
                       (line i of the export's assets/class_names.txt names class i)

An image larger than --max_image_pixels / --max_image_side (default: the limits the export
was written with, else 50 megapixels and 20000 px a side) is refused from its header, before
anything is decoded. With --resize_large_images a larger JPEG is decoded at 1/2, 1/4 or 1/8
scale (the largest that fits) and segmented at that size: its overlay and class map come at
that size too.
"""

import os

from absl import app, flags

flags.DEFINE_string("export_dir", None, "An export: its versioned base folder (the highest "
                    "version is used) or one version folder.")
flags.DEFINE_string("out_dir", None, "Folder for the overlays and class maps.")
flags.DEFINE_list("tags", None, "Class names known to be in every image: the other classes are "
                  "left out (background is always allowed).")
flags.DEFINE_float("alpha", 0.5, "Opacity of the class colours in the overlays.")
flags.DEFINE_integer("batch_size", 8, "Images per call of the model.")
flags.DEFINE_integer("max_image_pixels", None, "Refuse an image whose header declares more "
                     "pixels (default: the export's limit, else 50 megapixels).")
flags.DEFINE_integer("max_image_side", None, "Refuse an image with a longer side in pixels "
                     "(default: the export's limit, else 20000).")
flags.DEFINE_bool("resize_large_images", None, "Decode a JPEG over the limits at 1/2, 1/4 or "
                  "1/8 scale instead of refusing it (default: as the export was written).")
flags.mark_flags_as_required(["export_dir", "out_dir"])
FLAGS = flags.FLAGS


def _outputs(paths):
    """{input path: output stem}; two inputs with the same stem are an error."""
    stems = {}
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0]
        if stem in stems.values():
            from tsss_tf.serving.errors import ExportError

            raise ExportError(f"two inputs are named '{stem}' ({p}): their outputs would "
                              "overwrite each other")
        stems[p] = stem
    return stems


def _within_limits(path, data, limits):
    """The encoded image to segment: `data`, or for a JPEG over the limits (with
    limits.resize) a PNG of it decoded at a reduced scale. ExportError naming the file when it
    is refused (checked from the header, before decoding)."""
    from tsss_tf.image_limits import image_header
    from tsss_tf.serving.errors import ExportError

    header = image_header(data)
    if header is None:  # not a JPEG / PNG, or an unreadable header: the model says so
        return data
    fix = "--max_image_pixels / --max_image_side raise the limit"
    if not limits.resize:
        fix += "; --resize_large_images decodes a larger JPEG at a reduced scale"
    refused = limits.refusal(*header, how_to_raise=fix)
    if refused:
        raise ExportError(f"{path}: {refused}")
    scale = limits.decode_scale(*header)
    if scale == 1:
        return data
    import tensorflow as tf

    image = tf.io.decode_jpeg(data, channels=3, ratio=scale)
    print(f"{path}: {header[2]}x{header[1]} pixels, decoded at 1/{scale} scale "
          f"({image.shape[1]}x{image.shape[0]})")
    return tf.io.encode_png(image).numpy()


def main(argv):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    paths = argv[1:]
    if not paths:
        raise app.UsageError("name at least one image file")
    if not 0.0 <= FLAGS.alpha <= 1.0 or FLAGS.batch_size < 1:
        raise app.UsageError("--alpha must be in [0, 1] and --batch_size at least 1")
    import tensorflow as tf

    from tsss_tf.flags import user_errors
    from tsss_tf.serving.errors import ExportError
    from tsss_tf.serving.overlay import overlay, write_class_map, write_rgb
    from tsss_tf.serving.predictor import ExportedSegmenter

    with user_errors():
        stems = _outputs(paths)
        encoded = {}
        for p in paths:
            try:
                with open(p, "rb") as f:
                    encoded[p] = f.read()
            except OSError as e:
                raise ExportError(f"{p}: {e.strerror}") from None
        from tsss_tf.image_limits import DEFAULT_LIMITS, limits_from_flags
        from tsss_tf.serving.predictor import export_image_limits
        from tsss_tf.serving.versions import resolve_saved_model

        try:
            limits = limits_from_flags(
                FLAGS.max_image_pixels, FLAGS.max_image_side, FLAGS.resize_large_images,
                export_image_limits(resolve_saved_model(FLAGS.export_dir)) or DEFAULT_LIMITS)
        except ValueError as e:
            raise ExportError(f"--max_image_pixels / --max_image_side: {e}") from None
        for p in paths:  # every file checked before the model is loaded
            encoded[p] = _within_limits(p, encoded[p], limits)
        segmenter = ExportedSegmenter(FLAGS.export_dir)
        if FLAGS.tags:
            segmenter.tags_row(FLAGS.tags)  # unknown tag names fail before any work
        os.makedirs(FLAGS.out_dir, exist_ok=True)
        for i in range(0, len(paths), FLAGS.batch_size):
            batch = paths[i:i + FLAGS.batch_size]
            maps = segmenter.predict([encoded[p] for p in batch], tags=FLAGS.tags, names=batch)
            for p, class_map in zip(batch, maps):
                image = tf.io.decode_image(encoded[p], channels=3,
                                           expand_animations=False).numpy()
                stem = os.path.join(FLAGS.out_dir, stems[p])
                write_rgb(stem + "_overlay.png", overlay(image, class_map, FLAGS.alpha))
                write_class_map(stem + "_classes.png", class_map)
                print(f"{p}: {stem}_overlay.png, {stem}_classes.png")


if __name__ == "__main__":
    app.run(main)
