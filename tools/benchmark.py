"""Speed of tsss_tf against the machine's own limit, measured in one process.

    python tools/benchmark.py                          # table on stdout, JSON to benchmark.json
    python tools/benchmark.py --json=/tmp/b.json --repeats=20 --skip=precision

What it measures (the default config, embedded_50, unless said otherwise):
  peak        float32 FLOP/s of a large matmul (the machine's practical peak)
  lnet_step   one L-Net train step (our loop's `_chunk`, 10 steps per call): images/s, FLOP/s
  pnet_step   one P-Net + discriminator ("tsss") train step: images/s, FLOP/s
  conv_ceiling  each convolution of that step timed alone at its own shape (forward and both
              gradients): the FLOP/s such layers reach here, and their share of the step's time
  fit         the same generator ("full" variant: CE only) by keras.Model.fit vs our loop
  input       the tf.data training stream alone (images/s) against the L-Net step's consumption
  transfer    label transfer (affinity + self-diffusion, `transfer_labels`) ms per 320x320
              image, and with the L-Net forward pass
  export      a P-Net exported for TF Serving, reloaded with tf.saved_model.load: ms per image of
              the `tensor` signature against the same function in this process
  precision   the P-Net + discriminator step with XLA (jit_compile) and mixed_bfloat16, on / off
  keras_hub   a peer: KerasHub's DeepLabV3+ segmenter (randomly initialised: no weights download
              here) on a 3-stage ResNet-18 and on a ResNet-50 encoder, trained by
              `Model.fit` at the same batch and input size; its FLOP/s as a fraction of the
              peak, next to the P-Net step's. Needs `pip install -e ".[bench]"` (keras-hub);
              without it the row says so and the other measurements run.

FLOPs are counted from the graph: the TF profiler (`tf.compat.v1.profiler`, float_operation) on
the concrete forward function of each network at the training batch and size, and a train step
counted as 3x its forward passes (forward + backward with respect to inputs and weights), the
usual estimate; the step's own graph is not profiled because the profiler has no FLOP rule for
most gradient ops. Absolute numbers depend on what else the machine runs; the ratios in one run
are the figures to compare.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("config", "embedded_50", "Named config whose models and data are measured.")
flags.DEFINE_string("json", "benchmark.json", "Where to write the results as JSON.")
flags.DEFINE_integer("repeats", 10, "Timed calls per measurement (after warm-up).")
flags.DEFINE_integer("matmul_size", 2048, "Side of the square matmul that measures the peak.")
flags.DEFINE_integer("transfer_size", 320, "Image side for the label transfer figure.")
flags.DEFINE_list("skip", [], "Measurements to leave out (peak, lnet_step, pnet_step, "
                  "conv_ceiling, fit, input, transfer, export, precision, keras_hub).")
flags.DEFINE_bool("deterministic", False, "Op determinism (measures its cost).")


def timed(fn, repeats, warmup=2):
    """Median seconds of fn() (which must block until its result is ready)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def forward_flops(fn, *specs) -> float:
    """FLOPs of one call of the tf.function `fn` on inputs of `specs`, by the TF profiler."""
    concrete = fn.get_concrete_function(*specs)
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    prof = tf.compat.v1.profiler.profile(graph=concrete.graph, options=opts)
    return float(prof.total_float_ops)


def _synthetic_batch(cfg, num_classes, num_categories, rng):
    b, s = cfg.global_batch_size, cfg.data.crop_size
    mask = rng.integers(0, num_classes, size=(b, s, s)).astype(np.int32)
    return {"image": tf.constant(rng.uniform(0, 255, (b, s, s, 3)).astype(np.float32)),
            "mask": tf.constant(mask),
            "labels": tf.constant((rng.uniform(size=(b, num_categories)) < 0.3)
                                  .astype(np.float32)),
            "strong": tf.constant((np.arange(b) % 2).astype(np.float32))}


def timed_interleaved(fns: dict, rounds: int, warmup: int = 3) -> dict:
    """Median seconds of each fn() of `fns`, called in turn within every round, so that a
    change of load on the machine hits all of them alike (their ratios are then the figure
    to read, not the absolute times)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


class Bench:
    def __init__(self, cfg, repeats):
        from tsss_tf.data.experiment_data import open_experiment_data
        from tsss_tf.data.splits import Split

        self.cfg, self.repeats = cfg, repeats
        self.data = open_experiment_data(cfg.data, Split.from_config(cfg.split))
        self.strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
        self.rng = np.random.default_rng(0)
        self.results, self.rows = {}, []

    def row(self, name, value, unit, note=""):
        self.rows.append((name, value, unit, note))
        print(f"  {name:<48} {value:>12.4g} {unit:<10} {note}", flush=True)

    # -- the machine ------------------------------------------------------------------------
    def peak(self):
        n = FLAGS.matmul_size
        a = tf.random.stateless_normal([n, n], seed=[1, 2])
        b = tf.random.stateless_normal([n, n], seed=[3, 4])
        f = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
        sec = timed(lambda: f(a, b).numpy(), self.repeats)
        flops = 2.0 * n ** 3 / sec
        self.results["peak_flops"] = flops
        self.row(f"peak: float32 matmul {n}x{n}", flops / 1e9, "GFLOP/s")

    # -- training steps ---------------------------------------------------------------------
    def _loop_rate(self, replica_step, batch, steps_per_call=10):
        """images/s of our loop driver (loop._chunk) on a repeated in-memory batch."""
        from tsss_tf.training.loop import _chunk

        ds = tf.data.Dataset.from_tensors(batch).repeat()
        it = iter(self.strategy.experimental_distribute_dataset(ds))
        chunk = tf.function(lambda n: _chunk(it, self.strategy, replica_step, n))
        n = tf.constant(steps_per_call)
        def run():
            out = chunk(n)
            metrics = out[0] if isinstance(out, tuple) else out  # (metrics, first bad step)
            return {k: v.numpy() for k, v in metrics.items()}

        sec = timed(run, max(2, self.repeats // 3), warmup=1)
        return steps_per_call * self.cfg.global_batch_size / sec

    def _pnet_flops(self, trainer, with_disc):
        b, s = self.cfg.global_batch_size, self.cfg.data.crop_size
        x = tf.TensorSpec([b, s, s, 3])
        g = forward_flops(tf.function(lambda x: trainer.gen(x, training=False)), x)
        d = 0.0
        if with_disc:
            p = tf.TensorSpec([b, s, s, self.data.num_classes])
            d = forward_flops(tf.function(lambda x, p: trainer.disc((x, p), training=False)),
                              x, p)
        return 3.0 * (g + 2.0 * d)  # G once, D on real and fake pairs

    def lnet_step(self):
        from tsss_tf.training.lnet_loop import LNetTrainer

        cfg = self.cfg
        t = LNetTrainer(cfg, self.data.num_categories, self.data.num_background, self.strategy)
        batch = _synthetic_batch(cfg, self.data.num_classes, self.data.num_categories, self.rng)
        rate = self._loop_rate(t.replica_step, batch)
        s = cfg.data.crop_size
        fwd = forward_flops(tf.function(lambda x: t.model(x, training=False)),
                            tf.TensorSpec([cfg.global_batch_size, s, s, 3]))
        flops = 3.0 * fwd / cfg.global_batch_size * rate
        self.results["lnet_step"] = {"images_per_s": rate, "flops_per_image": 3 * fwd /
                                     cfg.global_batch_size, "flop_s": flops}
        self.row("L-Net train step", rate, "img/s")
        self._flops_row("L-Net", flops)

    def _flops_row(self, name, flops):
        peak = self.results.get("peak_flops")
        frac = flops / peak if peak else float("nan")
        self.row(f"{name}: achieved FLOP/s", flops / 1e9, "GFLOP/s", f"{100 * frac:.1f}% of peak")

    def pnet_trainer(self, variant="tsss"):
        from tsss_tf.training.gan_loop import PNetTrainer

        return PNetTrainer(self.cfg, self.data.num_classes, self.strategy, variant)

    def pnet_step(self, label="P-Net + discriminator train step", key="pnet_step", jit=False):
        cfg = self.cfg
        t = self.pnet_trainer("tsss")
        batch = _synthetic_batch(cfg, self.data.num_classes, self.data.num_categories, self.rng)
        step = t.replica_step
        if jit:
            step = tf.function(t.replica_step, jit_compile=True)
        rate = self._loop_rate(step, batch)
        per_image = self._pnet_flops(t, True) / cfg.global_batch_size
        self.results[key] = {"images_per_s": rate, "flops_per_image": per_image,
                             "flop_s": per_image * rate}
        self.row(label, rate, "img/s")
        if key == "pnet_step":
            self._flops_row("P-Net + D", per_image * rate)
        return rate

    # -- the ceiling of the convolutions ----------------------------------------------------
    def conv_ceiling(self):
        """Every convolution of the P-Net + D step timed alone at its own shape (forward and
        both gradients): the FLOP/s these layer shapes reach on this machine (the ceiling of
        a step made of them) and the share of the step's time they take."""
        import keras

        cfg = self.cfg
        b, s = cfg.global_batch_size, cfg.data.crop_size
        t = self.pnet_trainer("tsss")
        calls = []
        original = keras.layers.Conv2D.call

        def record(layer, x, *args, **kwargs):
            calls.append((layer, tuple(int(d) for d in x.shape)))
            return original(layer, x, *args, **kwargs)

        x = tf.zeros([b, s, s, 3])
        keras.layers.Conv2D.call = record
        try:
            t.gen(x, training=False)
            n_gen = len(calls)
            t.disc((x, tf.zeros([b, s, s, self.data.num_classes])), training=False)
        finally:
            keras.layers.Conv2D.call = original
        total_flops = total_sec = 0.0
        for i, (layer, shape) in enumerate(calls):
            kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
            strides, dil = int(layer.strides[0]), int(layer.dilation_rate[0])
            xin = tf.random.stateless_normal(shape, seed=[i, 0])
            w = tf.random.stateless_normal([kh, kw, cin, cout], seed=[i, 1])

            @tf.function
            def fwd_bwd(xin=xin, w=w, strides=strides, dil=dil, pad=layer.padding.upper()):
                with tf.GradientTape() as tape:
                    tape.watch([xin, w])
                    y = tf.nn.conv2d(xin, w, strides, pad, dilations=dil)
                    loss = tf.reduce_sum(y)
                return tape.gradient(loss, [xin, w])

            sec = timed(lambda: [g.numpy() for g in fwd_bwd()], self.repeats)
            ho, wo = -(-shape[1] // strides), -(-shape[2] // strides)
            flops = 3 * 2.0 * shape[0] * ho * wo * kh * kw * cin * cout
            times = 2 if i >= n_gen else 1  # D runs on the real and the fake pair
            total_flops += times * flops
            total_sec += times * sec
        step_sec = (cfg.global_batch_size / self.results["pnet_step"]["images_per_s"]
                    if "pnet_step" in self.results else float("nan"))
        rate = total_flops / total_sec
        peak = self.results.get("peak_flops")
        self.results["conv_ceiling"] = {"conv_flop_s": rate, "conv_seconds": total_sec,
                                        "conv_flops": total_flops, "step_seconds": step_sec,
                                        "num_convs": len(calls)}
        self.row(f"the step's {len(calls)} convs alone, fwd + bwd", rate / 1e9, "GFLOP/s",
                 f"{100 * rate / peak:.1f}% of peak" if peak else "")
        self.row("their time / the P-Net + D step's time", total_sec / step_sec, "x")

    # -- fit vs our loop --------------------------------------------------------------------
    def fit(self):
        import keras

        from tsss_tf.data.voc import IGNORE_LABEL
        from tsss_tf.training.builders import make_optimizer

        cfg = self.cfg
        batch = _synthetic_batch(cfg, self.data.num_classes, self.data.num_categories, self.rng)
        ours = self._loop_rate(self.pnet_trainer("full").replica_step, batch)
        t = self.pnet_trainer("full")  # a fresh generator for fit
        model = t.gen
        model.compile(optimizer=make_optimizer(cfg.pnet.learning_rate, cfg.pnet.weight_decay,
                                               cfg.pnet.steps, model.trainable_variables),
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True, ignore_class=IGNORE_LABEL))
        ds = tf.data.Dataset.from_tensors((batch["image"], batch["mask"])).repeat()
        steps = 10
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)  # trace
        sec = timed(lambda: model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0),
                    max(2, self.repeats // 3), warmup=0)
        theirs = steps * cfg.global_batch_size / sec
        self.results["fit"] = {"custom_loop_images_per_s": ours, "fit_images_per_s": theirs,
                               "ratio": ours / theirs}
        self.row("generator: our loop", ours, "img/s")
        self.row("generator: keras Model.fit", theirs, "img/s")
        self.row("our loop / fit", ours / theirs, "x")

    # -- input pipeline ---------------------------------------------------------------------
    def input(self):
        from tsss_tf.data.pipeline import train_dataset

        cfg = self.cfg
        ds = train_dataset(self.data, "lnet", cfg.global_batch_size, seed=0)
        it = iter(ds)
        for _ in range(len(self.data.train_records()) // cfg.global_batch_size + 2):
            next(it)  # fill the cache: training reads from it after the first pass
        n = 40
        sec = timed(lambda: [next(it) for _ in range(n)], max(2, self.repeats // 3), warmup=1)
        rate = n * cfg.global_batch_size / sec
        consume = self.results.get("lnet_step", {}).get("images_per_s")
        self.results["input"] = {"images_per_s": rate, "training_images_per_s": consume,
                                 "ratio": rate / consume if consume else None}
        self.row("tf.data training stream alone", rate, "img/s")
        if consume:
            self.row("input / L-Net consumption", rate / consume, "x")

    # -- label transfer ---------------------------------------------------------------------
    def transfer(self):
        from tsss_tf.training.builders import build_lnet, build_variables
        from tsss_tf.transfer.diffusion import transfer_labels
        from tsss_tf.transfer.stage import make_transfer_fn, transfer_kwargs

        cfg, s, b = self.cfg, FLAGS.transfer_size, 8
        lnet = build_lnet(cfg.model, self.data.num_categories)
        build_variables(lnet, s)
        images = tf.constant(self.rng.uniform(0, 255, (b, s, s, 3)).astype(np.float32))
        tags = np.zeros((b, self.data.num_categories), np.float32)
        tags[np.arange(b), np.arange(b) % self.data.num_categories] = 1  # 1-2 present
        tags[::2, -1] = 1
        tags = tf.constant(tags)
        out = lnet(images, training=False)
        prob = tf.sigmoid(out["objectness_logits"][..., 0])
        kw = transfer_kwargs(cfg.transfer)
        args = (images, prob, out["cams"], out["features"], tags)
        whole = make_transfer_fn(lnet, cfg.transfer)
        # Settings that trade output for speed (their quality: tools/transfer_sweep.py).
        variants = {"": {}, "radius 1": {"radius": 1}, "10 walk steps": {"steps": 10},
                    "scale 0.4": {"scale": 0.4}}
        fns = {}
        for name, change in variants.items():
            fn = tf.function(lambda *a, kv=dict(kw, **change): transfer_labels(*a, **kv))
            fns[name] = lambda fn=fn: fn(*args).numpy()
        fns["with L-Net"] = lambda: whole(images, tags).numpy()
        # Interleaved, call by call, with more calls than the other rows: one call is only
        # about 0.15 s, and a change of load then hits every variant alike.
        sec = timed_interleaved(fns, rounds=max(20, 3 * self.repeats))
        res = {"ms_per_image": 1e3 * sec[""] / b,
               "with_lnet_ms_per_image": 1e3 * sec["with L-Net"] / b, "size": s, "batch": b}
        self.row(f"label transfer, {s}x{s}", res["ms_per_image"], "ms/img")
        self.row(f"L-Net forward + label transfer, {s}x{s}", res["with_lnet_ms_per_image"],
                 "ms/img")
        for name in list(variants)[1:]:
            res[f"ms_per_image_{name.replace(' ', '_')}"] = 1e3 * sec[name] / b
            self.row(f"label transfer, {s}x{s}, {name}", 1e3 * sec[name] / b, "ms/img")
        self.results["transfer"] = res

    # -- export -----------------------------------------------------------------------------
    def export(self):
        from tsss_tf.serving.export_module import SegmenterModule
        from tsss_tf.serving.exporter import export_saved_model

        cfg = self.cfg
        gen = self.pnet_trainer("full").gen
        size = cfg.data.eval_size
        images = tf.constant(self.rng.integers(0, 256, (1, size, size, 3)).astype(np.uint8))
        module = SegmenterModule(gen, self.data.num_classes, self.data.num_background, size,
                                 os.devnull)
        same = module.signatures()["tensor"]  # the exported function, not reloaded
        traced = tf.function(lambda x: module.from_tensor(x))  # traced for this image's shape
        raw = tf.function(lambda x: gen(tf.cast(x, tf.float32), training=False))
        with tempfile.TemporaryDirectory() as d:
            path = export_saved_model(gen, self.data.class_names, self.data.num_background,
                                      size, d)
            served = tf.saved_model.load(path).signatures["tensor"]
            sec = timed_interleaved({
                "saved": lambda: served(images=images)["class_map"].numpy(),
                "same": lambda: same(images)["class_map"].numpy(),
                "traced": lambda: traced(images)["class_map"].numpy(),
                "raw": lambda: raw(images).numpy()}, self.repeats * 10)
        self.results["export"] = {"saved_model_ms": 1e3 * sec["saved"],
                                  "in_process_ms": 1e3 * sec["same"],
                                  "in_process_traced_ms": 1e3 * sec["traced"],
                                  "raw_model_ms": 1e3 * sec["raw"],
                                  "ratio": sec["saved"] / sec["same"],
                                  "ratio_to_traced": sec["saved"] / sec["traced"], "size": size}
        self.row(f"export: reloaded SavedModel `tensor` signature, 1 image {size}px",
                 1e3 * sec["saved"], "ms")
        self.row("export: the same signature function in process (not reloaded)",
                 1e3 * sec["same"], "ms")
        self.row("export: `from_tensor` traced for this image shape in process",
                 1e3 * sec["traced"], "ms")
        self.row("export: bare P-Net call in process", 1e3 * sec["raw"], "ms")
        self.row("reloaded / same function in process", sec["saved"] / sec["same"], "x")
        self.row("reloaded / traced for the shape in process", sec["saved"] / sec["traced"], "x")

    # -- XLA and mixed precision ------------------------------------------------------------
    def precision(self):
        import keras

        base = self.results.get("pnet_step", {}).get("images_per_s") or self.pnet_step(
            "P-Net + D step (float32)", "pnet_float32")
        out = {"float32": base}
        variants = (("float32_xla", "float32", True), ("bf16", "mixed_bfloat16", False),
                    ("bf16_xla", "mixed_bfloat16", True))
        for key, policy, jit in variants:
            keras.mixed_precision.set_global_policy(policy)
            try:
                out[key] = self.pnet_step(f"P-Net + D step, {policy}{' + XLA' if jit else ''}",
                                          f"pnet_{key}", jit=jit)
            except Exception as e:  # noqa: BLE001  (report it, go on with the others)
                msg = [ln for ln in str(e).strip().splitlines() if ln.strip()][-1][:160]
                self.results.setdefault("precision_errors", {})[key] = msg
                self.row(f"P-Net + D step, {key}: does not run", float("nan"), "", msg)
            finally:
                keras.mixed_precision.set_global_policy("float32")
        self.results["precision"] = {k: {"images_per_s": v, "vs_float32": v / base}
                                     for k, v in out.items()}
        for k, v in out.items():
            self.row(f"{k} / float32", v / base, "x")

    # -- a peer: KerasHub's DeepLabV3+ ---------------------------------------------------------
    def keras_hub(self):
        try:
            import keras_hub
        except ImportError as e:
            self.row("KerasHub DeepLabV3+: not measured", float("nan"), "",
                     f"keras-hub is not installed ({e}); pip install -e '.[bench]'")
            return
        import keras

        from tsss_tf.data.voc import IGNORE_LABEL

        cfg = self.cfg
        b, s, k = cfg.global_batch_size, cfg.data.crop_size, self.data.num_classes
        encoders = {
            # (stackwise filters, blocks, strides, block type, ASPP level, upsampling to P2)
            "ResNet-18, 3 stages": ([64, 128, 256], [2, 2, 2], [1, 2, 2], "basic_block",
                                    "P4", 4),
            "ResNet-50": ([64, 128, 256, 512], [3, 4, 6, 3], [1, 2, 2, 2], "bottleneck_block",
                          "P5", 8),
        }
        rng = np.random.default_rng(0)
        x = tf.constant(rng.uniform(0, 255, (b, s, s, 3)), tf.float32)
        y = tf.constant(rng.integers(0, k, (b, s, s)), tf.int32)
        ds = tf.data.Dataset.from_tensors((x, y)).repeat()
        out = {}
        for name, (filters, blocks, strides, block, level, up) in encoders.items():
            encoder = keras_hub.models.ResNetBackbone(
                input_conv_filters=[64], input_conv_kernel_sizes=[7],
                stackwise_num_filters=filters, stackwise_num_blocks=blocks,
                stackwise_num_strides=strides, block_type=block, use_pre_activation=False)
            backbone = keras_hub.models.DeepLabV3Backbone(
                image_encoder=encoder, low_level_feature_key="P2",
                spatial_pyramid_pooling_key=level, upsampling_size=up,
                dilation_rates=[6, 12, 18])
            model = keras_hub.models.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=k)
            model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(
                              from_logits=True, ignore_class=IGNORE_LABEL))
            steps = 5
            model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)  # trace
            sec = timed(lambda: model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0),
                        max(2, self.repeats // 3), warmup=0)
            rate = steps * b / sec
            fwd = forward_flops(tf.function(lambda t: model(t, training=False)),
                                tf.TensorSpec([b, s, s, 3]))
            flops = 3.0 * fwd / b * rate
            out[name] = {"images_per_s": rate, "flops_per_image": 3.0 * fwd / b,
                         "flop_s": flops}
            self.row(f"KerasHub DeepLabV3+ ({name}), fit", rate, "img/s")
            self._flops_row(f"KerasHub DeepLabV3+ ({name})", flops)
        self.results["keras_hub"] = out

    def peak_again(self):
        """The peak once more at the end: the larger of the two is used (load from other work
        on the machine only ever lowers it)."""
        first = self.results.get("peak_flops", 0.0)
        self.peak()
        self.results["peak_flops"] = max(first, self.results["peak_flops"])
        rows = [("L-Net", self.results.get("lnet_step")),
                ("P-Net + D", self.results.get("pnet_step"))]
        rows += [(f"KerasHub DeepLabV3+ ({k})", v)
                 for k, v in self.results.get("keras_hub", {}).items()]
        for name, measured in rows:
            if measured:
                self._flops_row(name + " (against the larger peak)", measured["flop_s"])


ORDER = ("peak", "lnet_step", "pnet_step", "conv_ceiling", "fit", "input", "transfer", "export",
         "precision", "keras_hub",
         "peak_again")


def main(argv):
    del argv
    from tsss_tf.config import load_config
    from tsss_tf.training.determinism import enable_determinism

    cfg = load_config(FLAGS.config)
    if FLAGS.deterministic:
        enable_determinism(cfg.seed)
    bench = Bench(cfg, FLAGS.repeats)
    print(f"tsss_tf benchmark: config {cfg.name}, batch {cfg.global_batch_size}, "
          f"crop {cfg.data.crop_size}, {os.cpu_count()} CPUs, TF {tf.__version__}", flush=True)
    for name in ORDER:
        if name in FLAGS.skip:
            continue
        t = time.perf_counter()
        getattr(bench, name)()
        bench.results.setdefault("seconds", {})[name] = time.perf_counter() - t
    table = ["| measurement | value | unit | note |", "|---|---|---|---|"]
    table += [f"| {n} | {v:.4g} | {u} | {note} |" for n, v, u, note in bench.rows]
    print("\n".join(table))
    bench.results.update(config=cfg.name, cpus=os.cpu_count(), tensorflow=tf.__version__,
                         table=table)
    from tsss_tf.atomic import atomic_open
    with atomic_open(FLAGS.json, "w") as f:
        json.dump(bench.results, f, indent=2, default=float)
        f.write("\n")
    print(f"results: {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
