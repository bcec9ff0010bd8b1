"""The COCO instances reader (tsss_tf.data.coco) on small fixtures written here."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from tsss_tf.data import coco
from tsss_tf.data.voc import DataError

H, W = 12, 10


def _write_coco(root, images, annotations, categories=None, set_name="train"):
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    os.makedirs(os.path.join(root, set_name), exist_ok=True)
    for im in images:
        Image.fromarray(np.full((im["height"], im["width"], 3), 90, np.uint8)).save(
            os.path.join(root, set_name, im["file_name"]))
    doc = {"images": images, "annotations": annotations,
           "categories": categories or [{"id": 3, "name": "cat"}, {"id": 1, "name": "dog"}]}
    path = os.path.join(root, "annotations", f"instances_{set_name}.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def _image(i, h=H, w=W):
    return {"id": i, "file_name": f"{i:06d}.png", "height": h, "width": w}


def _layout(tmp_path, images, anns, **kw):
    _write_coco(str(tmp_path / "coco"), images, anns, **kw)
    return coco.CocoLayout(str(tmp_path / "coco"), cache_dir=str(tmp_path / "cache"))


# ----------------------------------------------------------------------------- RLE codecs
def test_rle_decode_is_column_major_zeros_first():
    # h=3, w=2: one zero, two ones (rest of column 0), three zeros (column 1).
    m = coco.rle_decode([1, 2, 3], 3, 2)
    np.testing.assert_array_equal(m, [[0, 0], [1, 0], [1, 0]])
    # A mask starting with ones has a leading zero-length run.
    np.testing.assert_array_equal(coco.rle_decode([0, 2, 4], 3, 2), [[1, 0], [1, 0], [0, 0]])
    with pytest.raises(ValueError, match="sum to 5"):
        coco.rle_decode([1, 4], 3, 2)


def test_rle_string_codec_hand_derived_vector():
    # [3, 4, 40, 2]: '3', '4'; 40 needs two 5-bit groups ('X' then '1'); the 4th count is
    # stored as 2 - 4 = -2 ('N', the sign bit set in the last group).
    assert coco.encode_rle_string([3, 4, 40, 2]) == "34X1N"
    assert coco.decode_rle_string("34X1N") == [3, 4, 40, 2]
    assert coco.encode_rle_string([0, 5, 3]) == "053"
    assert coco.decode_rle_string("d0") == [20]
    with pytest.raises(ValueError, match="truncated"):
        coco.decode_rle_string("X")


def test_rle_roundtrip_random_masks():
    rng = np.random.default_rng(3)
    for h, w in ((1, 1), (7, 5), (40, 33)):
        m = rng.random((h, w)) < 0.4
        m[: h // 2, : w // 2] = True  # long runs: multi-group values and negative deltas
        counts = coco.rle_encode(m)
        assert sum(counts) == h * w
        np.testing.assert_array_equal(coco.rle_decode(counts, h, w), m)
        s = coco.encode_rle_string(counts)
        assert coco.decode_rle_string(s) == counts
        seg = {"counts": s, "size": [h, w]}
        np.testing.assert_array_equal(coco.segmentation_mask(seg, h, w), m)


# ----------------------------------------------------------------------------- painting
def test_polygon_rle_list_and_rle_string_paint_their_class(tmp_path):
    square = np.zeros((H, W), bool)
    square[6:10, 1:4] = True
    blob = np.zeros((H, W), bool)
    blob[0:3, 6:10] = True
    anns = [
        # polygon over pixels x 2..5, y 1..4 (PIL fills the boundary): 4 x 4 = 16 pixels
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
         "segmentation": [[2, 1, 5, 1, 5, 4, 2, 4]]},
        {"id": 2, "image_id": 1, "category_id": 3, "iscrowd": 0,
         "segmentation": {"counts": coco.rle_encode(square), "size": [H, W]}},
        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0,
         "segmentation": {"counts": coco.encode_rle_string(coco.rle_encode(blob)),
                          "size": [H, W]}},
    ]
    lay = _layout(tmp_path, [_image(1)], anns)
    # categories sorted by id: dog (1) -> class 1, cat (3) -> class 2
    assert lay.class_names == ("background", "dog", "cat")
    mask = lay.read_mask("000001", (H, W))
    expect = np.zeros((H, W), np.uint8)
    expect[1:5, 2:6] = 1
    expect[square] = 2
    expect[blob] = 1
    np.testing.assert_array_equal(mask, expect)
    assert (mask == 1).sum() == 16 + 12 and (mask == 2).sum() == 12


def test_crowd_is_ignore_and_instances_in_front_keep_their_label(tmp_path):
    crowd = np.zeros((H, W), bool)
    crowd[0:8, 0:8] = True
    anns = [
        {"id": 1, "image_id": 1, "category_id": 3, "iscrowd": 0,
         "segmentation": [[1, 1, 2, 1, 2, 2, 1, 2]]},  # 2 x 2 inside the crowd
        {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1,
         "segmentation": {"counts": coco.rle_encode(crowd), "size": [H, W]}},
    ]
    mask = _layout(tmp_path, [_image(1)], anns).read_mask("000001")
    expect = np.zeros((H, W), np.uint8)
    expect[crowd] = 255
    expect[1:3, 1:3] = 2
    np.testing.assert_array_equal(mask, expect)


def test_overlap_order_larger_area_first_smaller_on_top(tmp_path):
    # The small object is listed first and the large one after it: by listing order the large
    # one would cover it; by area order the small one stays on top.
    anns = [
        {"id": 7, "image_id": 1, "category_id": 3, "iscrowd": 0, "area": 4.0,
         "segmentation": [[3, 3, 4, 3, 4, 4, 3, 4]]},
        {"id": 8, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 64.0,
         "segmentation": [[0, 0, 7, 0, 7, 7, 0, 7]]},
    ]
    mask = _layout(tmp_path, [_image(1)], anns).read_mask("000001")
    expect = np.zeros((H, W), np.uint8)
    expect[0:8, 0:8] = 1
    expect[3:5, 3:5] = 2
    np.testing.assert_array_equal(mask, expect)
    # Without an `area` field the painted pixel count decides the same way.
    for a in anns:
        del a["area"]
    mask2 = _layout(tmp_path / "b", [_image(1)], anns).read_mask("000001")
    np.testing.assert_array_equal(mask2, expect)


def test_image_without_annotations_is_all_background(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 3, "iscrowd": 0,
             "segmentation": [[0, 0, 3, 0, 3, 3, 0, 3]]}]
    lay = _layout(tmp_path, [_image(1), _image(2, 5, 6)], anns)
    m = lay.read_mask("000002", (5, 6))
    assert m.shape == (5, 6) and m.dtype == np.uint8 and not m.any()


# ----------------------------------------------------------------------------- layout
def test_layout_interface_cache_is_palette_png_written_atomically(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentation": [[0, 0, 3, 0, 3, 3, 0, 3]]}]
    lay = _layout(tmp_path, [_image(1), _image(2)], anns)
    assert lay.available_sets() == ["train"] and lay.num_classes == 3
    ids = lay.image_ids("train")
    assert ids == ["000001", "000002"]
    assert lay.image_path("000001") == str(tmp_path / "coco" / "train" / "000001.png")
    path = lay.mask_path("000001")
    assert path.startswith(str(tmp_path / "cache")) and os.path.exists(path)
    with Image.open(path) as im:
        assert im.mode == "P"
    folder = os.path.dirname(path)
    assert sorted(os.listdir(folder)) == ["000001.png", "000002.png"]  # no temp files left
    image, mask = lay.read_example("000001")
    assert image.shape == (H, W, 3) and (mask == 1).sum() == 16
    with pytest.raises(DataError, match="image set 'val' not found"):
        lay.image_ids("val")


def test_bad_json_is_a_data_error_naming_the_file(tmp_path):
    root = tmp_path / "coco"
    path = _write_coco(str(root), [_image(1)], [])
    with open(path, "w") as f:
        f.write("{\"images\": [")
    with pytest.raises(DataError, match="instances_train.json: not a valid JSON file"):
        coco.CocoLayout(str(root), cache_dir=str(tmp_path / "cache"))
    with open(path, "w") as f:
        json.dump({"annotations": []}, f)
    with pytest.raises(DataError, match="instances_train.json: no 'images' list"):
        coco.CocoLayout(str(root), cache_dir=str(tmp_path / "cache"))


def test_bad_references_and_segmentations_name_the_file(tmp_path):
    root = str(tmp_path / "c1")
    _write_coco(root, [_image(1)], [{"id": 5, "image_id": 1, "category_id": 9,
                                     "segmentation": []}])
    with pytest.raises(DataError, match=r"instances_train.json: annotation 5 refers to "
                                        r"category id 9"):
        coco.CocoLayout(root)
    root = str(tmp_path / "c2")
    _write_coco(root, [_image(1)], [{"id": 5, "image_id": 1, "category_id": 1,
                                     "segmentation": {"counts": [3, 4], "size": [H, W]}}])
    lay = coco.CocoLayout(root, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"instances_train.json: image '000001' .*sum to 7"):
        lay.image_ids("train")
    with pytest.raises(DataError, match="not in the COCO layout"):
        coco.CocoLayout(str(tmp_path))
