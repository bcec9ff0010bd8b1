"""Writes a P-Net as a SavedModel for TF Serving, into `EXPORT_DIR/<version>/`.

    path = export_saved_model(pnet, class_names, num_background=1, eval_size=112,
                              export_dir="exports/tsss")

The export is written to a hidden temporary folder next to the version folder (TF Serving skips
names that are not integers) and renamed when complete, so a server watching EXPORT_DIR never
sees half a model. The temporary folder's name holds the writer's pid and host
(`.tmp-<version>-<pid>@<host>-XXXX`): one left by a killed export is removed by the next export
once its process is gone (same host), or after STALE_TMP_S (another host, or an older name).
It holds:

    saved_model.pb, variables/          P-Net's weights (one copy), the signatures
    assets/class_names.txt              one class name per line, line i = class id i
    assets.extra/tf_serving_warmup_requests   one PredictRequest per signature
    assets.extra/tsss_export.json       class names, eval size, image limits, signatures, where
                                        it came from
"""

import json
import os
import re
import shutil
import socket
import tempfile
import time

from absl import logging

import tensorflow as tf

from tsss_tf.image_limits import DEFAULT_LIMITS, ImageLimits
from tsss_tf.serving.errors import ExportError
from tsss_tf.serving.export_module import SegmenterModule
from tsss_tf.serving.requests import DEFAULT_MODEL_NAME
from tsss_tf.serving.signatures import SIGNATURES, output_names
from tsss_tf.serving.versions import next_version
from tsss_tf.serving.warmup import WARMUP_DIR, warmup_requests, write_warmup

CLASS_NAMES_ASSET = "class_names.txt"
METADATA_FILE = "tsss_export.json"
# A temporary export folder of another host, or without a pid in its name, is left alone for
# this long (no export takes hours), then taken for the debris of a killed export.
STALE_TMP_S = 6 * 3600
_TMP_NAME = re.compile(r"^\.tmp-\d+-(?:(\d+)@([^-/]*)-)?")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:64]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def remove_stale_temporaries(export_dir: str, now=None) -> list:
    """Removes the `.tmp-*` folders of exports that were killed before their rename: a folder
    whose writer (pid in its name, this host) is no longer running, or any older than
    STALE_TMP_S. Returns the removed paths. A folder of a live export is never touched."""
    removed = []
    now = time.time() if now is None else now
    try:
        names = os.listdir(export_dir)
    except OSError:
        return removed
    for name in names:
        found = _TMP_NAME.match(name)
        path = os.path.join(export_dir, name)
        if not found or not os.path.isdir(path):
            continue
        pid, host = found.group(1), found.group(2)
        if pid is not None and host == _host():
            stale = not _pid_alive(int(pid))
        else:
            try:
                stale = now - os.path.getmtime(path) > STALE_TMP_S
            except OSError:
                continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                removed.append(path)
                logging.info("removed %s, left by an export that was killed", path)
    return removed


def export_saved_model(model, class_names, num_background: int, eval_size: int, export_dir: str,
                       version=None, model_name: str = DEFAULT_MODEL_NAME,
                       metadata=None, image_limits: ImageLimits = DEFAULT_LIMITS) -> str:
    """Exports `model` (a built P-Net) as `export_dir/<version>`; returns that path.

    version: a positive integer, or None for the next free one. An existing version is never
    overwritten. image_limits: the largest encoded image the signatures accept (checked from
    its header before decoding; see tsss_tf.image_limits)."""
    class_names = [str(c) for c in class_names]
    if len(class_names) != model.num_classes:
        raise ExportError(f"{len(class_names)} class names for a model of {model.num_classes} "
                          "classes")
    bad = [c for c in class_names if not c or "\n" in c]
    if bad:
        raise ExportError(f"class names must be non-empty single lines, got {bad!r}")
    export_dir = os.path.abspath(os.path.expanduser(export_dir))
    os.makedirs(export_dir, exist_ok=True)
    remove_stale_temporaries(export_dir)
    version = next_version(export_dir) if version is None else int(version)
    if version < 1:
        raise ExportError(f"version must be a positive integer, got {version}")
    final = os.path.join(export_dir, str(version))
    if os.path.exists(final):
        raise ExportError(f"'{final}' already exists: choose another --version (or none for the "
                          "next free one)")
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-{os.getpid()}@{_host()}-", dir=export_dir)
    try:
        names_file = os.path.join(tmp, CLASS_NAMES_ASSET)
        with open(names_file, "w", encoding="utf-8") as f:
            f.write("".join(c + "\n" for c in class_names))
        module = SegmenterModule(model, len(class_names), num_background, eval_size, names_file,
                                 image_limits)
        saved = os.path.join(tmp, "saved_model")
        tf.saved_model.save(module, saved, signatures=module.signatures())
        write_warmup(saved, warmup_requests(len(class_names), eval_size, model_name))
        meta = {"class_names": class_names, "num_background": int(num_background),
                "eval_size": int(eval_size), "version": version, "model_name": model_name,
                "image_limits": image_limits.to_dict(),
                "signatures": {n: {"inputs": list(s.inputs), "outputs": list(output_names(n))}
                               for n, s in SIGNATURES.items()},
                **(metadata or {})}
        with open(os.path.join(saved, WARMUP_DIR, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
            f.write("\n")
        os.rename(saved, final)
    except OSError as e:
        raise ExportError(f"could not write the export '{final}': {e}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_metadata(saved_model_dir: str) -> dict:
    """The `tsss_export.json` of an export."""
    path = os.path.join(saved_model_dir, WARMUP_DIR, METADATA_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ExportError(f"'{saved_model_dir}' is not a tsss_tf export: {path} is missing") \
            from None
