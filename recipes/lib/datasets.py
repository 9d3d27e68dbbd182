"""The image data a recipe's `--dataset` names: a known data set or a path.

One option, declared once (`dataset_option`), with one meaning in every
image recipe:

- a name (`NAMES`): digits (scikit-learn's Optical Digits, offline),
  fashion_mnist and mnist (the original IDX files: Debian's
  dataset-fashion-mnist package, or tensorflow-datasets where it is prepared
  or a download works), cifar10 and cifar100 (tensorflow-datasets), synthetic
  (random images of the recipe's own shape: smoke runs and throughput);
- a path (`load`):
  - a `.npz` file with x_train, y_train, x_test, y_test (images (N, H, W) or
    (N, H, W, C), uint8 or floats in [0, 1]; integer labels);
  - a folder holding MNIST-format IDX files (train-images-idx3-ubyte,
    train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
    each possibly gzipped), as MNIST and Fashion-MNIST are distributed;
  - a folder of class sub-folders of images, read with Keras's
    `keras.utils.image_dataset_from_directory` at the size and channels of
    its first image (other sizes are resized to it): train/ and test/ (or
    val/) sub-folders give the split; otherwise `HELD_OUT_FRACTION` of each
    class is held out (`stratified_split`, which the UCI recipe uses too).

The images keep their own size and channels and the class count comes from
the labels: the recipes' networks take any input size (they end in global
average pooling), so nothing is padded or resized. Bad data stops with a
`RecipeError` that says what is wrong, before any training.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from recipes.lib import images
from recipes.lib.cli import RecipeError, option

NAMES = ("digits", "fashion_mnist", "mnist", "cifar10", "cifar100", "synthetic")
TITLES = {
    "digits": "Optical Digits",
    "fashion_mnist": "Fashion-MNIST",
    "mnist": "MNIST",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "synthetic": "synthetic images",
}
# A folder of class sub-folders without train/ and test/ sub-folders: this
# share of each class is held out for testing (as digits' split).
HELD_OUT_FRACTION = 0.2
# The four files of an IDX data set, by (split, part), without the optional
# ".gz"; the original names use "-idx", some copies ".idx".
IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
# Where the system packages put the IDX files (Debian: dataset-fashion-mnist).
SYSTEM_DATA_DIRS = ("/usr/share/datasets", "/usr/local/share/datasets")
DEBIAN_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


# ---------------------------------------------------------------- the option


def check_dataset(value: Any) -> None:
    """ValueError unless `value` is one of NAMES or an existing .npz file or
    folder (what a --dataset value must be)."""
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"--dataset must be one of {', '.join(NAMES)} or a path, got {value!r}"
        )
    if value in NAMES:
        return
    path = Path(value).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix == ".npz"):
        return
    what = "a file that is not .npz" if path.is_file() else "no such file or folder"
    raise ValueError(
        f"--dataset must be one of {', '.join(NAMES)} or the path of a .npz file "
        f"or a folder (class sub-folders of images, or MNIST-format IDX files), "
        f"got {value!r} ({what})"
    )


def dataset_option(default: str, smoke: str = "synthetic", **kwargs: Any) -> Any:
    """The --dataset option of every image recipe (checked by check_dataset)."""
    return option(
        default,
        "a data set: digits (scikit-learn's Optical Digits, offline), "
        "fashion_mnist or mnist (the IDX files of Debian's dataset-fashion-mnist "
        "package, or tensorflow-datasets), cifar10, cifar100 "
        "(tensorflow-datasets), synthetic (random images, for smoke runs); or "
        "a path: a .npz with x_train, y_train, x_test, y_test, a folder of "
        "MNIST-format IDX files, or a folder of class sub-folders of images "
        "(train/ and test/ sub-folders give the split, otherwise 20% of each "
        "class is held out)",
        smoke=smoke,
        metavar="NAME|PATH",
        check=check_dataset,
        **kwargs,
    )


def title(dataset: str) -> str:
    """How tables name a --dataset value."""
    return TITLES.get(dataset, dataset)


# ---------------------------------------------------------------- splitting


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) holding out round(test_fraction * n_c) of
    each class c, but never a class's last example (rare classes stay
    trainable: abalone has classes of one example)."""
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = min(round(test_fraction * len(members)), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    train_indices, test_indices = (
        np.sort(np.concatenate(train)),
        np.sort(np.concatenate(test)),
    )
    if len(test_indices) == 0:
        raise RecipeError(
            f"the test split is empty: holding out {test_fraction:g} of each "
            f"class rounds to no example (raise the test fraction, or give "
            f"the data more examples)"
        )
    return train_indices, test_indices


# ---------------------------------------------------------------- checking


def _as_images(x: np.ndarray, what: str) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) uint8, or floats in [0, 1] -> uint8 NHWC."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or min(x.shape) < 1:
        raise RecipeError(
            f"{what}: expected images of shape (N, H, W) or (N, H, W, C), got "
            f"shape {x.shape}"
        )
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise RecipeError(
                f"{what}: float images must be in [0, 1], got values in "
                f"[{np.nanmin(x):g}, {np.nanmax(x):g}]"
            )
        return np.rint(x * 255).astype(np.uint8)
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise RecipeError(
                f"{what}: integer images must be in [0, 255], got values in "
                f"[{x.min()}, {x.max()}]"
            )
        return x.astype(np.uint8)
    raise RecipeError(f"{what}: expected uint8 or float images, got dtype {x.dtype}")


def _as_labels(y: np.ndarray, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise RecipeError(
            f"{what}: expected integer labels of shape (N,), got shape {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise RecipeError(f"{what}: expected integer class labels, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise RecipeError(f"{what}: expected class labels >= 0, got {y.min()}")
    return y.astype(np.int32)


def checked_arrays(
    name: str, x_train, y_train, x_test, y_test, source: str
) -> images.ImageArrays:
    """ImageArrays from user arrays, or a RecipeError naming `source` and
    what is wrong: shapes, lengths, image sizes, fewer than two classes."""
    x_train = _as_images(x_train, f"{source}: x_train")
    x_test = _as_images(x_test, f"{source}: x_test")
    y_train = _as_labels(y_train, f"{source}: y_train")
    y_test = _as_labels(y_test, f"{source}: y_test")
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise RecipeError(
                f"{source}: x_{split} holds {len(x)} images but y_{split} "
                f"{len(y)} labels; they must have the same length"
            )
    if x_train.shape[1:] != x_test.shape[1:]:
        raise RecipeError(
            f"{source}: train images are {x_train.shape[1:]} (H, W, C) but test "
            f"images {x_test.shape[1:]}; they must match"
        )
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise RecipeError(
            f"{source}: the training labels hold {len(classes)} class "
            f"({classes.tolist()}); a classifier needs at least 2"
        )
    num_classes = int(max(y_train.max(), y_test.max() if y_test.size else 0)) + 1
    return images.make_image_arrays(name, x_train, y_train, x_test, y_test, num_classes)


# ---------------------------------------------------------------- .npz


def read_npz(path: Path, name: str) -> images.ImageArrays:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise RecipeError(
                    f"--dataset {path}: missing key(s) {', '.join(missing)}; a "
                    f".npz needs {', '.join(NPZ_KEYS)} (found: "
                    f"{', '.join(archive.files) or 'nothing'})"
                )
            arrays = [archive[key] for key in NPZ_KEYS]
    except RecipeError:
        raise
    except Exception as error:  # noqa: BLE001 - zip, pickle and format errors
        raise RecipeError(
            f"--dataset {path}: cannot read it as a .npz archive "
            f"({type(error).__name__}: {error})"
        ) from error
    return checked_arrays(name, *arrays, source=f"--dataset {path}")


# ---------------------------------------------------------------- IDX


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) of unsigned bytes as an array, or a
    RecipeError naming the file and what is wrong with it."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError) as error:
        raise RecipeError(f"{path}: cannot read it ({error})") from error
    # The magic number: two zero bytes, the element type (0x08: unsigned
    # byte), the number of dimensions; then one big-endian int32 per dimension.
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise RecipeError(
            f"{path}: not an IDX file of unsigned bytes (its magic number is "
            f"{raw[:4].hex() or 'missing'}, expected 0000080N with N the number "
            f"of dimensions, 1 to 4)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise RecipeError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise RecipeError(
            f"{path}: its header says {shape} = {expected} bytes of data, the "
            f"file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> Path:
    """`array` (uint8) as an IDX file, gzipped if `path` ends in .gz: the
    format `read_idx` reads (tests and quick checks make their data so)."""
    array = np.asarray(array, np.uint8)
    payload = bytes([0, 0, 0x08, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    ) + array.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


def idx_files(folder: Path) -> dict[tuple[str, str], Path] | None:
    """The four IDX files in `folder` by (split, part), None if it holds no
    IDX images file, or a RecipeError naming those that are missing."""
    found: dict[tuple[str, str], Path] = {}
    for key, stem in IDX_FILES.items():
        for candidate in (stem, stem.replace("-idx", ".idx")):
            for suffix in ("", ".gz"):
                path = folder / (candidate + suffix)
                if path.is_file():
                    found.setdefault(key, path)
    if not found:
        return None
    missing = [stem for key, stem in IDX_FILES.items() if key not in found]
    if missing:
        raise RecipeError(
            f"--dataset {folder}: an IDX data set needs four files; missing "
            f"{', '.join(missing)} (each possibly .gz)"
        )
    return found


def read_idx_folder(
    folder: Path, name: str, files: dict[tuple[str, str], Path]
) -> images.ImageArrays:
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        x, y = arrays[(split, "images")], arrays[(split, "labels")]
        if x.ndim != 3 or y.ndim != 1:
            raise RecipeError(
                f"--dataset {folder}: {files[(split, 'images')].name} must hold "
                f"images (3 dimensions) and {files[(split, 'labels')].name} "
                f"labels (1 dimension); got {x.ndim} and {y.ndim}"
            )
    return checked_arrays(
        name,
        arrays[("train", "images")], arrays[("train", "labels")],
        arrays[("test", "images")], arrays[("test", "labels")],
        source=f"--dataset {folder}",
    )


# ---------------------------------------------------------------- image folders


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _decode(path: Path):
    import tensorflow as tf

    try:
        return tf.io.decode_image(tf.io.read_file(str(path)), expand_animations=False)
    except Exception as error:  # noqa: BLE001 - TF raises several kinds
        raise RecipeError(
            f"{path}: cannot read it as an image ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[0] if str(error).strip() else ''})"
        ) from error


def _read_class_folders(
    folder: Path, class_names: list[str], size: tuple[int, int], channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """All images under folder/<class>/ for class_names (labels: their
    positions), at `size` with `channels`, through Keras's
    image_dataset_from_directory; an unreadable file is named."""
    import keras

    color_mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[channels]
    try:
        ds = keras.utils.image_dataset_from_directory(
            str(folder), labels="inferred", label_mode="int",
            class_names=class_names, color_mode=color_mode, batch_size=256,
            image_size=size, shuffle=False, verbose=False,
        )
        xs, ys = [], []
        for x, y in ds.as_numpy_iterator():
            xs.append(x)
            ys.append(y)
    except Exception as error:  # noqa: BLE001 - find the file that failed
        for path in _image_files(folder):
            _decode(path)
        raise RecipeError(
            f"--dataset {folder}: cannot read its images ({type(error).__name__}: "
            f"{error})"
        ) from error
    x = np.concatenate(xs)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8), np.concatenate(ys)


def _check_class_folders(folder: Path, class_names: list[str]) -> None:
    if not class_names:
        raise RecipeError(
            f"--dataset {folder}: holds neither class sub-folders of images nor "
            f"MNIST-format IDX files (train-images-idx3-ubyte ...)"
        )
    empty = [c for c in class_names if not _image_files(folder / c)]
    if empty:
        raise RecipeError(
            f"--dataset {folder}: class folder(s) {', '.join(empty)} hold no "
            f"images ({', '.join(IMAGE_SUFFIXES)})"
        )
    if len(class_names) < 2:
        raise RecipeError(
            f"--dataset {folder}: holds a single class ({class_names[0]}); a "
            f"classifier needs at least 2 class sub-folders"
        )


def read_image_folder(folder: Path, name: str, seed: int) -> images.ImageArrays:
    """A folder of class sub-folders (or of train/ and test/ or val/, each of
    class sub-folders) as arrays, at the first image's size and channels."""
    subfolders = _class_folders(folder)
    test_name = next((s for s in ("test", "val") if s in subfolders), None)
    split_given = "train" in subfolders and test_name is not None
    train_folder = folder / "train" if split_given else folder
    class_names = _class_folders(train_folder)
    _check_class_folders(train_folder, class_names)
    first = _decode(_image_files(train_folder / class_names[0])[0])
    size, channels = tuple(int(d) for d in first.shape[:2]), int(first.shape[2])
    if channels not in (1, 3, 4):
        raise RecipeError(f"--dataset {folder}: images with {channels} channels")
    x, y = _read_class_folders(train_folder, class_names, size, channels)
    if split_given:
        test_folder = folder / test_name
        unknown = sorted(set(_class_folders(test_folder)) - set(class_names))
        if unknown:
            raise RecipeError(
                f"--dataset {folder}: {test_name}/ has class folder(s) "
                f"{', '.join(unknown)} that train/ lacks"
            )
        present = [c for c in class_names if (test_folder / c).is_dir()]
        if not any(_image_files(test_folder / c) for c in present):
            raise RecipeError(f"--dataset {folder}: {test_name}/ holds no images")
        x_test, y_test = _read_class_folders(test_folder, present, size, channels)
        # Labels are positions in train/'s classes, also where test/ lacks one.
        y_test = np.array([class_names.index(present[i]) for i in y_test])
        return checked_arrays(name, x, y, x_test, y_test, f"--dataset {folder}")
    train_indices, test_indices = stratified_split(
        y, HELD_OUT_FRACTION, np.random.default_rng(seed)
    )
    return checked_arrays(
        name, x[train_indices], y[train_indices], x[test_indices], y[test_indices],
        f"--dataset {folder}",
    )


# ---------------------------------------------------------------- known names


def _dpkg_folders(package: str) -> list[Path]:
    """Folders `dpkg -L package` lists (none without dpkg or the package)."""
    if shutil.which("dpkg") is None:
        return []
    try:
        listed = subprocess.run(
            ["dpkg", "-L", package], capture_output=True, text=True, timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [Path(line) for line in listed.splitlines() if Path(line).is_dir()]


def find_system_idx_folder(name: str) -> Path | None:
    """The folder of `name`'s IDX files a system package installed (Debian's
    dataset-fashion-mnist: /usr/share/datasets/fashion-mnist), or None."""
    folder_name = name.replace("_", "-")
    candidates = [Path(root) / folder_name for root in SYSTEM_DATA_DIRS]
    if name in DEBIAN_PACKAGES:
        candidates += _dpkg_folders(DEBIAN_PACKAGES[name])
    for folder in candidates:
        try:
            if folder.is_dir() and idx_files(folder):
                return folder
        except RecipeError:
            continue
    return None


def _load_named_idx(name: str, data_dir: str | None) -> images.ImageArrays:
    folder = find_system_idx_folder(name)
    if folder is not None:
        return read_idx_folder(folder, name, idx_files(folder))
    try:
        x_train, y_train = images.tfds_arrays(name, "train", data_dir, None)
        x_test, y_test = images.tfds_arrays(name, "test", data_dir, None)
    except RecipeError as error:
        install = (
            f"`apt-get install {DEBIAN_PACKAGES[name]}` (its IDX files go to "
            f"/usr/share/datasets/{name.replace('_', '-')}), or "
            if name in DEBIAN_PACKAGES else ""
        )
        raise RecipeError(
            f"--dataset {name}: no IDX files found in "
            f"{' or '.join(SYSTEM_DATA_DIRS)} and {error}. Install them with "
            f"{install}pass --dataset PATH, a folder holding the four IDX files "
            f"(train-images-idx3-ubyte.gz ...); or run on --dataset digits "
            f"(scikit-learn's Optical Digits: offline, no download)"
        ) from error
    return checked_arrays(name, x_train, y_train, x_test, y_test, f"tfds {name}")


def _limited(data: images.ImageArrays, limit_train, limit_test) -> images.ImageArrays:
    if limit_train is None and limit_test is None:
        return data
    return images.make_image_arrays(
        data.name, data.x_train[:limit_train], data.y_train[:limit_train],
        data.x_test[:limit_test], data.y_test[:limit_test], data.num_classes,
    )


def load(
    dataset: str,
    *,
    data_dir: str | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    seed: int = 0,
    synthetic_shape: tuple[int, int, int] = images.SYNTHETIC_SHAPE,
    synthetic_classes: int = 10,
) -> images.ImageArrays:
    """The arrays a --dataset value names (see the module docstring), the
    first limit_train / limit_test examples of each split. synthetic: random
    images of synthetic_shape and synthetic_classes, limit_train (default
    256) and limit_test (default 64) of them, seeded by `seed`; seed also
    fixes the held-out split of an image folder without train/ and test/."""
    check_dataset(dataset)
    if dataset == "synthetic":
        return images.synthetic_image_arrays(
            synthetic_shape, synthetic_classes, n_train=limit_train or 256,
            n_test=limit_test or 64, seed=seed,
        )
    if dataset in ("digits", "cifar10", "cifar100"):
        return images.load_image_arrays(
            dataset, data_dir=data_dir, limit_train=limit_train,
            limit_test=limit_test,
        )
    if dataset in NAMES:
        return _limited(_load_named_idx(dataset, data_dir), limit_train, limit_test)
    path = Path(dataset).expanduser()
    if path.suffix == ".npz" and path.is_file():
        data = read_npz(path, dataset)
    else:
        if not os.access(path, os.R_OK | os.X_OK):
            raise RecipeError(f"--dataset {path}: the folder cannot be read")
        files = idx_files(path)
        data = (
            read_idx_folder(path, dataset, files) if files
            else read_image_folder(path, dataset, seed)
        )
    return _limited(data, limit_train, limit_test)
