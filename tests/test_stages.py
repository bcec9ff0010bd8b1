"""The stage table (tsss_tf.stages) that the experiment, the run-folder checks and --stage read."""

import pytest

from tsss_tf import stages
from tsss_tf.evaluation.report import VARIANTS


def test_table_is_consistent():
    names = [s.name for s in stages.STAGES]
    assert stages.STAGE_NAMES == ("all",) + tuple(names)
    assert len({s.folder for s in stages.STAGES}) == len(stages.STAGES)
    assert len({s.seed_offset for s in stages.STAGES}) == len(stages.STAGES)
    for i, s in enumerate(stages.STAGES):
        assert s.kind in ("lnet", "transfer", "variant")
        if s.needs:  # what a stage needs comes before it, so `all` never runs it out of order
            assert s.needs in names[:i], s
    # every P-Net variant that results.json reports is a stage's folder
    assert {s.folder for s in stages.STAGES if s.kind == "variant"} == set(VARIANTS)


def test_seed_offsets_are_the_ones_existing_runs_were_trained_with():
    assert {s.name: s.seed_offset for s in stages.STAGES} == {
        "lnet": 0, "transfer": 1000, "full": 2000, "strong_only": 3000, "lnet_only": 4000,
        "pnet": 5000}


def test_unknown_stage_names_the_choices():
    assert stages.stage("pnet").folder == "tsss"
    with pytest.raises(ValueError, match="unknown stage 'tsss' .*lnet, transfer, full"):
        stages.stage("tsss")
