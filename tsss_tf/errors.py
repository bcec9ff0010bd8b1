"""The errors tsss_tf raises for bad input, one hierarchy.

Every error a user can cause (a config, a data file, a checkpoint, an export, a request) is a
`TsssError` whose message names the culprit. The command lines map them to one line on stderr
and an exit status in one place (`tsss_tf.flags.user_errors`): `exit_status` 2, or 3 for a
non-finite loss. This module imports nothing of the package, so every module may raise them.

    TsssError (ValueError)
      ConfigError          a config name, field or value; a flag
        RunLockError       a model_dir held by another run
      DataError            a data file or folder
        CheckpointError    a checkpoint that cannot be restored
          DamagedCheckpointError
      SplitError           a split that cannot be used with a data set
        CategoryMapError   a cross-dataset category map
      ExportError          an export, a served model or its input
      NonFiniteLossError   a NaN or Inf loss during training (exit status 3)
"""


class TsssError(ValueError):
    """Bad input; the message names the culprit."""

    exit_status = 2


class ConfigError(TsssError):
    """A config name, field or value is wrong; the message names it."""


class RunLockError(ConfigError):
    """The model_dir is in use by another run; the message names its pid and command."""


class DataError(TsssError):
    """Bad data on disk; the message names the file and the problem."""


class CheckpointError(DataError):
    """A checkpoint that does not hold the model asked for; the message names it."""


class DamagedCheckpointError(CheckpointError):
    """A checkpoint whose files are cut short, empty or garbled; the message names the file."""


class SplitError(TsssError):
    """A split that cannot be used with a data set; the message names the culprit."""


class CategoryMapError(SplitError):
    """A category map that cannot be used; the message names the culprit."""


class ExportError(TsssError):
    """An export or a served model cannot be written or used; the message names the path or
    the input and the problem."""


class NonFiniteLossError(TsssError, FloatingPointError):
    """A NaN or Inf loss: training stops without saving the failed steps."""

    exit_status = 3
