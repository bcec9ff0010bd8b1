import json

import pytest

from tsss_tf.config import ConfigError, ExperimentConfig, apply_overrides, config_names, load_config


def test_every_named_config_loads_and_round_trips():
    names = config_names()
    for required in ("embedded_50", "embedded_0", "msrc_things_50", "camvid_full", "voc2012_50",
                     "voc2012_0"):
        assert required in names
    for n in names:
        cfg = load_config(n)
        assert cfg.name == n
        again = ExperimentConfig.from_dict(json.loads(cfg.to_json()))
        assert again == cfg


def test_overrides_parse_types():
    cfg = load_config("embedded_50", ["pnet.steps=7", "pnet.lambda_adv=0.5", "data.hflip=false",
                                      "data.train_sets=[\"train\",\"source\"]", "name=x"])
    assert cfg.pnet.steps == 7 and cfg.pnet.lambda_adv == 0.5 and cfg.data.hflip is False
    assert cfg.data.train_sets == ("train", "source") and cfg.name == "x"


@pytest.mark.parametrize("override, culprit", [
    ("pnet.stepz=3", "pnet.stepz"),
    ("nosuch=1", "nosuch"),
    ("pnet=3", "pnet"),
    ("pnet.steps=abc", "pnet.steps"),
    ("pnet.steps=1.5", "pnet.steps"),
    ("data.hflip=maybe", "data.hflip"),
    ("no_equals_sign", "no_equals_sign"),
])
def test_bad_overrides_name_the_field(override, culprit):
    with pytest.raises(ConfigError, match=culprit.replace(".", r"\.")):
        apply_overrides(ExperimentConfig(), [override])


def test_unknown_config_name_lists_known():
    with pytest.raises(ConfigError, match="embedded_50"):
        load_config("no_such_experiment")


def test_from_dict_rejects_unknown_field():
    with pytest.raises(ConfigError, match="model.widht"):
        ExperimentConfig.from_dict({"model": {"widht": 3}})


def test_transfer_image_size_defaults_to_the_eval_size():
    from tsss_tf.config import transfer_image_size

    cfg = load_config("tiny")
    assert transfer_image_size(cfg) == cfg.data.eval_size
    assert transfer_image_size(apply_overrides(cfg, ["transfer.image_size=96"])) == 96
    with pytest.raises(ConfigError, match="transfer.image_size"):
        apply_overrides(cfg, ["transfer.image_size=4"]).validate()
