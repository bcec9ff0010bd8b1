"""The signatures of an exported P-Net (what `saved_model_cli show --all` lists).

    signature            inputs                         outputs
    serving_default      image_bytes                    class_map, probabilities, image_size
    class_map            image_bytes                    class_map, image_size
    with_tags            image_bytes, tags              class_map, probabilities, image_size
    class_map_with_tags  image_bytes, tags              class_map, image_size
    tensor               images                         class_map, probabilities
    tensor_with_tags     images, tags                   class_map, probabilities

Inputs:
    image_bytes  string [batch]: encoded JPEG or PNG files (TF Serving's REST API carries them as
                 {"b64": "..."}); a batch may mix image sizes.
    images       uint8 [batch, height, width, 3]: RGB, any height and width.
    tags         int32 [batch, num_classes]: 1 for each class known to be in the image, 0 for the
                 others (index = class id = line of assets/class_names.txt); the classes marked 0
                 are left out of the prediction. Background, if the model has one, is always
                 allowed.
Outputs:
    class_map      int32 [batch, height, width]: class ids at the input size. With image_bytes the
                   maps are padded to the largest image of the batch with -1; image_size says
                   each image's own size.
    probabilities  float32 [batch, height, width, num_classes]: softmax over the classes (padding
                   is 0).
    image_size     int32 [batch, 2]: (height, width) of each decoded image.

TF Serving (and `saved_model_cli run`) needs every input of a signature, so the optional tags are
offered as the `*_with_tags` signatures. `class_map` is the light one for REST clients: a
probability map is about 1.6 MB of JSON for a 320 x 320 image with 21 classes; over gRPC pass
`output_filter` to ask for only some outputs of `serving_default`.
"""

import collections

Signature = collections.namedtuple("Signature", "inputs probabilities")

BYTES, TENSOR, TAGS = "image_bytes", "images", "tags"
CLASS_MAP, PROBABILITIES, IMAGE_SIZE = "class_map", "probabilities", "image_size"
DEFAULT = "serving_default"

SIGNATURES = collections.OrderedDict([
    (DEFAULT, Signature((BYTES,), True)),
    ("class_map", Signature((BYTES,), False)),
    ("with_tags", Signature((BYTES, TAGS), True)),
    ("class_map_with_tags", Signature((BYTES, TAGS), False)),
    ("tensor", Signature((TENSOR,), True)),
    ("tensor_with_tags", Signature((TENSOR, TAGS), True)),
])


def output_names(name: str) -> tuple:
    """The output keys of signature `name`."""
    sig = SIGNATURES[name]
    out = (CLASS_MAP,) + ((PROBABILITIES,) if sig.probabilities else ())
    return out + ((IMAGE_SIZE,) if BYTES in sig.inputs else ())
