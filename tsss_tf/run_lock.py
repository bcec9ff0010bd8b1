"""One run per folder: an exclusive lock on a run's `--model_dir`, held while the run lives.

    lock = acquire_run_lock(model_dir)            # RunLockError if another run holds it
    ...                                           # released at exit (or lock.release())

Two trainings writing into one folder interleave their checkpoints, pseudo labels and results
files and each resumes from the other's state. The lock is `fcntl.flock(LOCK_EX)` on the file
`MODEL_DIR/.tsss_run.lock`, which records the holder's pid, host, start time and command line,
so the second run is refused with one line naming them:

    error: model_dir 'runs/x' is in use by another run: pid 4242 on host1 since 2024-05-01
    12:00:03 (python -m tsss_tf.train --model_dir=runs/x); wait for it to end, or use another
    --model_dir

The kernel releases a flock when its process ends, however it ends: after a crash or `kill -9`
the next run takes the lock at once and says (in the log) that the previous holder ended without
releasing it. A run that ends normally removes the file (and the folder, if it made the folder
and left it empty). flock works on local disks and on NFS (Linux emulates it with NFS locks);
on a file system without locking the lock is taken with a warning and protects nothing.

Multi-worker runs (tsss_tf.training.strategy) share one model_dir: the chief takes the lock
above and every other worker its own, `.tsss_run.<task>.lock`, so a second job on the folder is
refused at its chief while the workers of one job do not exclude each other.
"""

from __future__ import annotations

import atexit
import datetime
import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from typing import Optional

from absl import logging

from tsss_tf.errors import ConfigError, RunLockError

LOCK_FILE = ".tsss_run.lock"


def lock_name(task: Optional[str] = None) -> str:
    """The lock file of the chief (task None) or of one other worker ("worker_1")."""
    return LOCK_FILE if not task else f".tsss_run.{task}.lock"


def _describe(info: dict) -> str:
    if not info.get("pid"):
        return "a process that has not yet written its pid"
    since = ""
    if info.get("started"):
        since = " since " + datetime.datetime.fromtimestamp(info["started"]).strftime(
            "%Y-%m-%d %H:%M:%S")
    host = f" on {info['host']}" if info.get("host") else ""
    return f"pid {info['pid']}{host}{since} ({info.get('command') or '?'})"


def _read_info(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 1 << 16)
        return json.loads(data.decode("utf-8")) if data.strip() else {}
    except (OSError, ValueError):
        return {}


class RunLock:
    """A held lock (see the module doc); `release()` is idempotent and runs at exit."""

    def __init__(self, path: str, fd: int, made_folder: bool):
        self.path, self._fd, self._made_folder = path, fd, made_folder
        self._pid = os.getpid()
        atexit.register(self.release)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None or os.getpid() != self._pid:  # not in a forked child
            return
        fd, self._fd = self._fd, None
        try:  # unlink first, while the lock is held: a waiting process re-checks the inode
            os.unlink(self.path)
        except OSError:
            pass
        os.close(fd)
        if self._made_folder:
            try:
                os.rmdir(os.path.dirname(self.path))
            except OSError:
                pass


def _command_line() -> list:
    """This process's command line as typed: `python -m tsss_tf.train --flags` (sys.argv[0] is
    the module's file for `-m`)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = ["-m", spec.name] if spec is not None and spec.name else sys.argv[:1]
    return [os.path.basename(sys.executable) or "python"] + program + sys.argv[1:]


def acquire_run_lock(model_dir: str, task: Optional[str] = None, command=None) -> RunLock:
    """Locks model_dir for this process (see the module doc); RunLockError naming the holder
    when another live process holds it. `task`: the worker's name for a non-chief worker of a
    multi-worker run (its own lock), None for the chief or a single process."""
    model_dir = os.path.abspath(os.path.expanduser(model_dir))
    made_folder = not os.path.isdir(model_dir)
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"model_dir '{model_dir}' cannot be created: {e.strerror}") from None
    path = os.path.join(model_dir, lock_name(task))
    command = " ".join(shlex.quote(a) for a in (command or _command_line()))
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigError(f"model_dir '{model_dir}': cannot create the run lock {path} "
                              f"({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                logging.warning("model_dir %s: file locks are not supported here (%s); two "
                                "runs on this folder are not prevented", model_dir, e.strerror)
                return RunLock(path, fd, made_folder)
            info = {}
            for _ in range(20):  # the holder writes its record right after locking
                info = _read_info(fd)
                if info.get("pid"):
                    break
                time.sleep(0.05)
            os.close(fd)
            raise RunLockError(
                f"model_dir '{model_dir}' is in use by another run: {_describe(info)}; wait "
                "for it to end, or use another --model_dir") from None
        try:  # the holder may have released (and unlinked) the file between open and flock
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        previous = _read_info(fd)
        if previous.get("pid"):
            logging.warning("model_dir %s: the previous run, %s, ended without releasing its "
                            "lock (it crashed or was killed); this run takes over", model_dir,
                            _describe(previous))
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                  "command": command}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
        return RunLock(path, fd, made_folder)
    raise RunLockError(f"model_dir '{model_dir}': could not take the run lock {path}")


def holder(model_dir: str, task: Optional[str] = None) -> Optional[dict]:
    """The record of the live process holding model_dir's lock, or None when it is free."""
    path = os.path.join(os.path.abspath(os.path.expanduser(model_dir)), lock_name(task))
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_info(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
