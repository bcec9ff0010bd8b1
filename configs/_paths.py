"""Where the configs look for real data sets when no --data_dir is given."""

import os


def shared_data(name: str) -> str:
    """$TSSS_TF_DATA_ROOT/NAME, else ../shared/data/NAME beside the checkout, else relative to
    the working directory (the project convention: the repo sits beside shared/)."""
    root = os.environ.get("TSSS_TF_DATA_ROOT")
    if root:
        return os.path.join(root, name)
    here = os.path.dirname(os.path.abspath(__file__))
    beside_checkout = os.path.normpath(os.path.join(here, "..", "..", "shared", "data", name))
    if os.path.isdir(beside_checkout):
        return beside_checkout
    return os.path.abspath(os.path.join("..", "shared", "data", name))
