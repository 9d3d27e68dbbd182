"""Data the recipes do not make themselves: tensorflow-datasets, fail-fast.

`load_tfds` opens a tensorflow-datasets split, downloading it only when the
network answers; otherwise it stops within seconds with a RecipeError that
says what is missing and how to provide it (offline, a plain `tfds.load`
retries for minutes). `network_available` is the check.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recipes.lib.cli import RecipeError

# Where tensorflow-datasets downloads from; reachable means a download can work.
_DOWNLOAD_HOSTS = (("storage.googleapis.com", 443), ("www.cs.toronto.edu", 443))
# Data sets tensorflow-datasets cannot download: the user places the archives.
_MANUAL_DOWNLOAD = {
    "imagenet2012": (
        "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar from "
        "https://image-net.org (registration needed)"
    ),
}


def network_available(
    hosts: Sequence[tuple[str, int]] = _DOWNLOAD_HOSTS, timeout_s: float = 3.0
) -> bool:
    """Whether one of the download hosts accepts a TCP connection within
    timeout_s (so an offline machine is detected in seconds, not after
    tensorflow-datasets' minutes of retries)."""
    for host, port in hosts:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def load_tfds(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    as_supervised: bool = False,
    shuffle_files: bool = False,
    read_config: Any = None,
):
    """`tfds.load(name, split=split, data_dir=data_dir)` that fails fast.

    The prepared data set is opened without any download attempt; when it is
    not there, it is downloaded and prepared only if the download hosts
    answer, otherwise a RecipeError says what is missing, where it was looked
    for, and how to provide it. (Offline, a plain `tfds.load` retries for
    minutes before failing.) Works under `tfds.testing.mock_data`.
    """
    import tensorflow_datasets as tfds

    kwargs = dict(
        split=split,
        data_dir=None if data_dir is None else str(data_dir),
        as_supervised=as_supervised,
        shuffle_files=shuffle_files,
        read_config=read_config,
    )
    try:
        return tfds.load(name, download=False, **kwargs)
    except AssertionError:  # tfds' "could not find data in ..." when not prepared
        pass
    where = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    if name in _MANUAL_DOWNLOAD:
        manual_dir = Path(str(where)).expanduser() / "downloads" / "manual"
        if not any(manual_dir.glob("*")):
            raise RecipeError(
                f"tensorflow-datasets {name!r} is not prepared in {where} and "
                f"cannot be downloaded automatically: place "
                f"{_MANUAL_DOWNLOAD[name]} in {manual_dir} (it is prepared on "
                f"the first run), or pass --data-dir pointing at a prepared "
                f"copy, or use --data synthetic"
            )
    elif not network_available():
        raise RecipeError(
            f"tensorflow-datasets {name!r} is not prepared in {where} and the "
            f"network is not reachable to download it: on a machine with a "
            f"network run `python -c \"import tensorflow_datasets as tfds; "
            f"tfds.builder('{name}', data_dir='DIR').download_and_prepare()\"` "
            f"(or `tfds build {name} --data_dir DIR`) and copy DIR here, then "
            f"pass --data-dir DIR"
        )
    try:
        return tfds.load(name, download=True, **kwargs)
    except Exception as error:  # noqa: BLE001 - a download can fail many ways
        raise RecipeError(
            f"tensorflow-datasets {name!r} could not be downloaded and "
            f"prepared in {where}: {type(error).__name__}: {error}"
        ) from error
