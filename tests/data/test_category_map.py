"""Category maps between a source and a target data set (tsss_tf.data.category_map)."""

import numpy as np
import pytest

from tsss_tf.data.category_map import CategoryMap, CategoryMapError
from tsss_tf.data.splits import SplitError

SOURCE = ("sky", "building", "pole", "road", "sign", "car", "pedestrian", "bicyclist", "dog")
TARGET_WEAK = ("cow", "dog", "cat")


def test_parse_and_names_renames_merges_drops():
    cmap = CategoryMap.parse(["sky=background", "road = background", "pedestrian=person",
                              "bicyclist=person"], drop=["dog"])
    assert cmap.mapped_names(SOURCE) == ("background", "building", "pole", "background",
                                         "sign", "car", "person", "person", None)
    assert cmap.dropped_ids(SOURCE) == (8,)


def test_label_lut_merges_background_drop_and_other():
    cmap = CategoryMap.parse(["sky=background", "road=background", "pedestrian=person",
                              "bicyclist=person"], drop=["dog"])
    exp = ("background", "pole", "car", "person", "cow", "dog", "cat")
    lut = cmap.label_lut(SOURCE, exp)
    #                    sky bld pole road sign car ped bic dog
    np.testing.assert_array_equal(lut[:9], [0, 255, 1, 0, 255, 2, 3, 3, 255])
    assert lut[255] == 255 and (lut[9:] == 255).all()
    lut_bg = cmap.label_lut(SOURCE, exp, other="background")
    np.testing.assert_array_equal(lut_bg[:9], [0, 0, 1, 0, 0, 2, 3, 3, 255])
    # The dropped 'dog' never maps to the experiment's (target) dog.
    assert lut_bg[8] == 255


def test_overlapping_category_is_refused_unless_dropped():
    cmap = CategoryMap.parse(["sky=background"])
    with pytest.raises(CategoryMapError, match=r"source category 'dog' of the source data set "
                                               r"is also a target category.*Drop it"):
        cmap.validate(SOURCE, TARGET_WEAK, strong=("car",))
    # Mapping another class onto a target name is caught too, naming where it came from.
    renamed = CategoryMap.parse(["pedestrian=cow"], drop=["dog"])
    with pytest.raises(CategoryMapError, match=r"'cow' \(mapped from 'pedestrian'\)"):
        renamed.validate(SOURCE, TARGET_WEAK, strong=("car",))
    CategoryMap.parse(["sky=background"], drop=["dog"]).validate(SOURCE, TARGET_WEAK,
                                                                 strong=("car",))
    assert issubclass(CategoryMapError, SplitError)  # reported as a user error by the CLIs


def test_validate_names_unknown_duplicate_and_missing_classes():
    with pytest.raises(CategoryMapError, match=r"\['tree'\] unknown to the source data set"):
        CategoryMap.parse(["tree=background"]).validate(SOURCE)
    with pytest.raises(CategoryMapError, match=r"\['sky'\] are mapped twice"):
        CategoryMap.parse(["sky=background", "sky=building"]).validate(SOURCE)
    with pytest.raises(CategoryMapError, match=r"\['sky'\] are both mapped and dropped"):
        CategoryMap.parse(["sky=background"], drop=["sky"]).validate(SOURCE)
    with pytest.raises(CategoryMapError, match=r"strong categories \['person'\] are not "
                                               r"classes of the source"):
        CategoryMap.parse([], drop=["dog"]).validate(SOURCE, TARGET_WEAK, strong=("person",))
    with pytest.raises(CategoryMapError, match="not of the form"):
        CategoryMap.parse(["sky"])
    with pytest.raises(CategoryMapError, match="empty name"):
        CategoryMap.parse(["sky="])
