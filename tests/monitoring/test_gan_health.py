"""GanHealth on synthetic loss sequences, and the P-Net stage's chunk hook built on it."""

import logging as pylogging
import math

import pytest

from tsss_tf.config import PNetConfig, load_config
from tsss_tf.training.gan_health import CONDITIONS, GanHealth
from tsss_tf.training.monitoring import adversarial_ratio, gan_chunk_hook


def _feed(health, seq, every=10, start=0):
    """Feeds [(d_loss, d_fake, adv_loss)] one per `every` steps; returns the events."""
    events = []
    for i, (d, f, a) in enumerate(seq):
        events += health.update(start + every * (i + 1), {"d_loss": d, "d_fake": f,
                                                           "adv_loss": a})
    return events


def test_a_healthy_game_raises_nothing():
    h = GanHealth(d_loss_min=0.05, d_loss_max=4.0, d_fake_min=0.01, adv_loss_max=4.6,
                  patience=30)
    seq = [(1.3 - 0.01 * i, 0.45 - 0.002 * i, 0.35 + 0.01 * i) for i in range(60)]
    assert _feed(h, seq) == []
    assert h.flag == 0.0 and h.active == ()


def test_discriminator_winning_warns_once_after_the_patience_then_recovers():
    h = GanHealth(d_loss_min=0.05, d_loss_max=4.0, d_fake_min=0.01, adv_loss_max=4.6,
                  patience=30)
    # healthy for 100 steps, then D wins: its loss falls to ~0.001 for 100 steps
    healthy = [(1.2, 0.4, 0.4)] * 10
    collapse = [(0.001, 0.2, 0.9)] * 10
    assert _feed(h, healthy) == []
    events = _feed(h, collapse, start=100)
    assert [(e.kind, e.raised) for e in events] == [("d_wins", True)]
    # the condition began after step 100; the alarm comes at the first update past 30 steps
    assert events[0].step == 140
    assert "discriminator loss 0.001 < 0.05" in events[0].message
    assert h.flag == 1.0 and h.active == ("d_wins",)
    back = _feed(h, healthy, start=200)
    assert [(e.kind, e.raised, e.step) for e in back] == [("d_wins", False, 210)]
    assert h.flag == 0.0


def test_a_short_dip_within_the_patience_is_not_an_alarm():
    h = GanHealth(patience=50)
    seq = [(1.0, 0.4, 0.4)] * 3 + [(0.01, 0.4, 0.4)] * 4 + [(1.0, 0.4, 0.4)] * 3 \
        + [(0.01, 0.4, 0.4)] * 4
    assert _feed(h, seq) == []   # two dips of 40 steps, each shorter than 50


def test_generator_that_never_fools_d_and_an_exploding_adversarial_loss():
    h = GanHealth(d_loss_min=0.05, d_loss_max=4.0, d_fake_min=0.01, adv_loss_max=4.6,
                  patience=20)
    seq = [(0.6, 0.3, 0.5)] * 2 + [(0.3, 0.002, 6.2)] * 5
    events = _feed(h, seq)
    assert sorted(e.kind for e in events if e.raised) == ["adv_exploded", "d_fake_zero"]
    assert h.active == ("d_fake_zero", "adv_exploded")


def test_discriminator_that_lost_and_non_finite_or_missing_metrics():
    h = GanHealth(d_loss_max=3.0, patience=0)
    assert [e.kind for e in h.update(10, {"d_loss": 3.5})] == []   # first update starts it
    assert [e.kind for e in h.update(20, {"d_loss": 3.5})] == ["d_lost"]
    # NaN / missing metrics neither raise nor clear anything
    assert h.update(30, {"d_loss": math.nan, "d_fake": math.inf}) == []
    assert h.update(40, {}) == [] and h.active == ("d_lost",)


def test_band_and_patience_come_from_the_pnet_config():
    pc = PNetConfig(health_d_loss_min=0.2, health_d_loss_max=2.5, health_d_fake_min=0.03,
                    health_adv_loss_max=3.0, health_patience=7)
    h = GanHealth.from_config(pc)
    assert (h.d_loss_min, h.d_loss_max, h.d_fake_min, h.adv_loss_max, h.patience) == \
        (0.2, 2.5, 0.03, 3.0, 7)
    cfg = load_config("tiny", ["pnet.health_patience=3", "pnet.health_d_loss_min=0.5"])
    assert GanHealth.from_config(cfg.pnet).patience == 3
    assert set(CONDITIONS) == {"d_wins", "d_lost", "d_fake_zero", "adv_exploded"}
    with pytest.raises(ValueError, match="d_loss_min < d_loss_max"):
        GanHealth(d_loss_min=1.0, d_loss_max=0.5)


def test_adversarial_ratio_is_the_weighted_adversarial_over_segmentation_loss():
    m = {"seg_loss_strong": 1.0, "seg_loss_weak": 0.5, "adv_loss": 0.8}
    assert adversarial_ratio(m, lambda_weak=2.0, lambda_adv=0.01) == pytest.approx(0.004)
    assert adversarial_ratio({"adv_loss": 1.0}, 1.0, 0.01) == 0.0


def test_chunk_hook_warns_in_the_console_and_in_tensorboard(tmp_path, caplog):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = load_config("tiny", ["pnet.health_patience=15", "pnet.lambda_adv=0.1",
                               "pnet.adv_start_step=10"])
    writer = tf.summary.create_file_writer(str(tmp_path))
    hook = gan_chunk_hook(cfg, "tsss", writer)
    m = {"seg_loss_strong": 0.5, "seg_loss_weak": 0.5, "adv_loss": 0.3, "d_loss": 0.01,
         "d_fake": 0.2, "d_real": 0.99}
    caplog.set_level(pylogging.INFO)
    outs = [hook(step, 10, m) for step in (10, 20, 30, 40)]
    writer.flush()
    # the adversarial term is off in steps 1..10 (adv_start_step=10), on afterwards
    assert [o["adv_seg_ratio"] for o in outs] == pytest.approx([0.0, 0.03, 0.03, 0.03])
    assert [o["gan_health/unhealthy"] for o in outs] == [0.0, 0.0, 1.0, 1.0]
    warnings = [r for r in caplog.records if "GAN health warning" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == pylogging.WARNING
    assert "tsss: GAN health warning at step 30 (d_wins" in warnings[0].getMessage()
    ea = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    ea.Reload()
    events = ea.Tensors("tsss/gan_health/events")
    assert [e.step for e in events] == [30]
    text = tf.make_ndarray(events[0].tensor_proto).item().decode()
    assert "d_wins" in text and "patience 15" in text
