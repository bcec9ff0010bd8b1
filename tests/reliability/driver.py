"""`python -m tsss_tf.train` with test hooks, for the subprocess tests of this folder:

    python -m tests.reliability.driver [train flags]

TSSS_TEST_NO_NETWORK=FILE  every outgoing connection (and name lookup) is refused and recorded
                           as one line in FILE (the run is expected to leave FILE empty); at a
                           normal exit FILE also gets "tfds imported: True/False".
TSSS_TEST_POISON=lnet:N    from global batch N (0-based, counted in the uninterrupted stream)
                           on, the L-Net's image-level tags are NaN: its classification loss
                           becomes NaN at step N + 1.
"""

import atexit
import os
import socket
import sys


def _guard_network(path):
    def record(what):
        with open(path, "a", encoding="utf-8") as f:
            f.write(what + "\n")

    real_connect = socket.socket.connect

    def connect(self, address, *a, **k):
        if self.family == socket.AF_UNIX:
            return real_connect(self, address, *a, **k)
        record(f"connect {address!r}")
        raise OSError(f"network access refused by the test: {address!r}")

    def connect_ex(self, address, *a, **k):
        if self.family == socket.AF_UNIX:
            return socket.socket.connect_ex.__wrapped__(self, address, *a, **k)
        record(f"connect_ex {address!r}")
        raise OSError(f"network access refused by the test: {address!r}")

    connect_ex.__wrapped__ = socket.socket.connect_ex

    def lookup(host, *a, **k):
        record(f"getaddrinfo {host!r}")
        raise OSError(f"name lookup refused by the test: {host!r}")

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = lookup
    open(path, "w").close()
    atexit.register(lambda: record(f"tfds imported: {'tensorflow_datasets' in sys.modules}"))


def _poison(spec):
    stage, first = spec.split(":")
    if stage != "lnet":
        raise ValueError(f"TSSS_TEST_POISON: only the lnet stage, got {stage!r}")
    first = int(first)
    import tensorflow as tf

    from tsss_tf.training import lnet_loop

    make = lnet_loop.train_dataset

    def train_dataset(*args, **kwargs):
        def poison(i, batch):
            batch = dict(batch)
            # The image-level tags, not the images: a fused conv + ReLU (oneDNN) maps NaN
            # pixels to 0, so NaN images need not give a NaN loss.
            batch["labels"] = batch["labels"] + tf.where(i >= first, float("nan"), 0.0)
            return batch
        return make(*args, **kwargs).enumerate().map(poison)

    lnet_loop.train_dataset = train_dataset


def main():
    if os.environ.get("TSSS_TEST_NO_NETWORK"):
        _guard_network(os.environ["TSSS_TEST_NO_NETWORK"])
    if os.environ.get("TSSS_TEST_POISON"):
        _poison(os.environ["TSSS_TEST_POISON"])
    from absl import app

    from tsss_tf import train

    app.run(train.main, argv=["tsss_tf.train"] + sys.argv[1:])


if __name__ == "__main__":
    main()
