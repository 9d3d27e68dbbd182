"""Image data for the recipes: arrays and tf.data pipelines.

- `load_image_arrays`: Optical Digits (8x8, shipped with scikit-learn: real
  data, offline), CIFAR-10 and CIFAR-100 (through tensorflow-datasets, with
  `common.load_tfds`'s fail-fast when missing) as uint8 NHWC arrays with int32
  labels and per-channel statistics of the training images;
  `synthetic_image_arrays`: random data of any shape (throughput, tests).
- `train_dataset` / `eval_dataset`: shuffle, the standard CIFAR augmentation
  (4-pixel zero pad, random crop, horizontal flip), normalisation, batching,
  one-hot labels, optional mixup through `keras_mixup.mixup_map`, prefetch.
- Training, shared by the CIFAR and ImageNet recipes: `ClassifierConfig`
  (their common options and checks), `data_parallel` (devices and
  strategies), `fit_classifier` (the resumable SGD fit), `plot_error_curves`.

The pipelines run on TF ops, so they feed any Keras backend.
"""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np

from recipes import common

ARRAY_DATASETS = ("digits", "cifar10", "cifar100")
AUGMENTATIONS = ("none", "cifar")
CIFAR_PAD = 4  # pixels of zero padding before the random crop


@dataclasses.dataclass(frozen=True, eq=False)
class ImageArrays:
    """A labelled image data set held in memory.

    x_*: uint8 (N, H, W, C); y_*: int32 (N,); mean, std: float32 (C,), per
    channel, of x_train / 255 (the statistics used to normalise both splits).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: np.ndarray
    std: np.ndarray

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])


def channel_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of uint8 images / 255."""
    scaled = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    std = scaled.std(axis=0)
    # A constant channel would divide by 0; it carries no information anyway.
    std = np.where(std > 0, std, 1.0)
    return scaled.mean(axis=0).astype(np.float32), std.astype(np.float32)


def _make_arrays(name, x_train, y_train, x_test, y_test, num_classes):
    mean, std = channel_statistics(x_train)
    return ImageArrays(
        name=name,
        x_train=np.ascontiguousarray(x_train, dtype=np.uint8),
        y_train=np.asarray(y_train, dtype=np.int32),
        x_test=np.ascontiguousarray(x_test, dtype=np.uint8),
        y_test=np.asarray(y_test, dtype=np.int32),
        num_classes=int(num_classes),
        mean=mean,
        std=std,
    )


def _check_limit(limit, name):
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
    ):
        raise ValueError(f"`{name}` must be a positive int or None, got {limit!r}")


def _digits(split_seed: int, test_fraction: float):
    import sklearn.datasets
    import sklearn.model_selection

    digits = sklearn.datasets.load_digits()
    # Pixels are counts 0..16 (4x4 blocks of a 32x32 bitmap): scale to 0..255.
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = sklearn.model_selection.train_test_split(
        images,
        labels,
        test_size=test_fraction,
        stratify=labels,
        random_state=split_seed,
    )
    return x_train, y_train, x_test, y_test, 10


def _tfds_arrays(name, split, data_dir, limit):
    import tensorflow_datasets as tfds

    ds = common.load_tfds(name, split, data_dir=data_dir, as_supervised=True)
    if limit is not None:
        ds = ds.take(limit)
    images, labels = [], []
    for image_batch, label_batch in tfds.as_numpy(ds.batch(4096)):
        images.append(image_batch)
        labels.append(label_batch)
    if not images:
        raise common.RecipeError(f"tensorflow-datasets {name!r} split {split!r} is empty")
    return np.concatenate(images), np.concatenate(labels)


def load_image_arrays(
    name: str,
    *,
    data_dir: str | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    split_seed: int = 0,
    test_fraction: float = 0.2,
) -> ImageArrays:
    """Load a data set as arrays.

    name: "digits" (scikit-learn's Optical Digits, 1797 8x8 grey images;
        a stratified train/test split of `test_fraction`, fixed by
        `split_seed`), "cifar10" or "cifar100" (the official splits, through
        tensorflow-datasets under `data_dir`).
    limit_train, limit_test: keep only the first examples of each split
        (for smoke runs).
    """
    if name not in ARRAY_DATASETS:
        raise ValueError(
            f"`name` must be one of {', '.join(ARRAY_DATASETS)}, got {name!r}"
        )
    _check_limit(limit_train, "limit_train")
    _check_limit(limit_test, "limit_test")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1), got {test_fraction!r}")
    if name == "digits":
        x_train, y_train, x_test, y_test, num_classes = _digits(
            split_seed, test_fraction
        )
        x_train, y_train = x_train[:limit_train], y_train[:limit_train]
        x_test, y_test = x_test[:limit_test], y_test[:limit_test]
    else:
        x_train, y_train = _tfds_arrays(name, "train", data_dir, limit_train)
        x_test, y_test = _tfds_arrays(name, "test", data_dir, limit_test)
        num_classes = 10 if name == "cifar10" else 100
    return _make_arrays(name, x_train, y_train, x_test, y_test, num_classes)


def synthetic_image_arrays(
    shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    n_train: int = 256,
    n_test: int = 64,
    seed: int = 0,
) -> ImageArrays:
    """Uniformly random uint8 images and labels: for throughput measurements
    and tests, never for accuracy."""
    shape = tuple(shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d >= 1 for d in shape):
        raise ValueError(
            f"`shape` must be (height, width, channels) of positive ints, got {shape!r}"
        )
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}")
    _check_limit(n_train, "n_train")
    _check_limit(n_test, "n_test")
    rng = np.random.default_rng(seed)
    return _make_arrays(
        "synthetic",
        rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        rng.integers(0, num_classes, n_train),
        rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        rng.integers(0, num_classes, n_test),
        num_classes,
    )


# ------------------------------------------------------------------ pipelines


def normalize_images(images, mean, std):
    """uint8 images -> float32 (images / 255 - mean) / std (TF ops)."""
    import tensorflow as tf

    scaled = tf.cast(images, tf.float32) / 255.0
    return (scaled - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def cifar_augment(image, seed):
    """The standard CIFAR augmentation of one image (TF ops): zero-pad 4 pixels
    on each side, crop back to the original size at a random offset, flip
    left-right with probability 1/2. seed: a stateless seed, shape (2,)."""
    import tensorflow as tf

    crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=2)
    )
    padded = tf.pad(image, [[CIFAR_PAD, CIFAR_PAD], [CIFAR_PAD, CIFAR_PAD], [0, 0]])
    cropped = tf.image.stateless_random_crop(padded, tf.shape(image), seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(cropped, seed=flip_seed)


def _check_pipeline_args(x, y, batch_size, mean, std):
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}")
    if x.ndim != 4:
        raise ValueError(f"`x` must be images of shape (N, H, W, C), got shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(
            f"`y` must be integer labels of shape ({x.shape[0]},), got shape {y.shape}"
        )
    channels = x.shape[-1]
    for value, name in ((mean, "mean"), (std, "std")):
        if np.shape(value) != (channels,):
            raise ValueError(
                f"`{name}` must have one value per channel, shape ({channels},), "
                f"got shape {np.shape(value)}"
            )


def train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    mean: np.ndarray,
    std: np.ndarray,
    num_classes: int,
    augment: str = "none",
    mixup_alpha: float = 0.0,
    normalize: bool = True,
    drop_remainder: bool = True,
):
    """Training batches (images, labels), reshuffled every epoch.

    Images: augmented (`augment="cifar"`: pad, random crop, flip), then
    normalised with mean/std (or only scaled to [0, 1] with normalize=False),
    float32. Labels: one-hot float32, mixed with the images by
    `keras_mixup.mixup_map(mixup_alpha, num_classes)` when mixup_alpha > 0
    (mixup_alpha == 0 gives the same pipeline with plain one-hot labels: ERM).
    Shuffle order, augmentation and mixing all follow `seed`.
    """
    import tensorflow as tf

    import keras_mixup

    x, y = np.asarray(x), np.asarray(y)
    _check_pipeline_args(x, y, batch_size, mean, std)
    if augment not in AUGMENTATIONS:
        raise ValueError(
            f"`augment` must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}"
        )
    if drop_remainder and x.shape[0] < batch_size:
        raise ValueError(
            f"`batch_size` ({batch_size}) is larger than the {x.shape[0]} training "
            "examples, and drop_remainder=True would leave no batch"
        )
    mean_used = mean if normalize else np.zeros_like(mean)
    std_used = std if normalize else np.ones_like(std)
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    ds = ds.shuffle(x.shape[0], seed=seed, reshuffle_each_iteration=True)
    if augment == "cifar":
        random_seeds = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True
        ).batch(2)
        ds = tf.data.Dataset.zip(ds, random_seeds).map(
            lambda pair, s: (cifar_augment(pair[0], s), pair[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    ds = ds.map(
        lambda image, label: (normalize_images(image, mean_used, std_used), label),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(
        keras_mixup.mixup_map(mixup_alpha, num_classes=num_classes, seed=seed),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    mean: np.ndarray,
    std: np.ndarray,
    num_classes: int,
    normalize: bool = True,
):
    """Evaluation batches (normalised float32 images, one-hot float32 labels)
    in order, the last batch possibly smaller; no augmentation, no mixing."""
    import tensorflow as tf

    x, y = np.asarray(x), np.asarray(y)
    _check_pipeline_args(x, y, batch_size, mean, std)
    mean_used = mean if normalize else np.zeros_like(mean)
    std_used = std if normalize else np.ones_like(std)
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    ds = ds.batch(batch_size).map(
        lambda images, labels: (
            normalize_images(images, mean_used, std_used),
            tf.one_hot(labels, num_classes, dtype=tf.float32),
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(num_examples: int, batch_size: int, drop_remainder: bool = True):
    """Batches in one epoch of `train_dataset`."""
    if drop_remainder:
        return num_examples // batch_size
    return -(-num_examples // batch_size)


# ------------------------------------------------------------------ ImageNet

# Channel statistics of the ImageNet training set (images / 255), as every
# reference implementation normalises with them.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
IMAGENET_CLASSES = 1000
# Evaluation: resize the shorter side to image_size / 0.875 (256 for 224),
# then take the central image_size square (Goyal et al., 2017).
EVAL_CROP_FRACTION = 0.875


def _check_batch_size(batch_size):
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or (
        batch_size < 1
    ):
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}")


def random_resized_crop(
    image,
    seed,
    size: int,
    area_range: tuple[float, float] = (0.08, 1.0),
    aspect_ratio_range: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
):
    """The ImageNet training augmentation of one uint8 image (TF ops): a crop
    covering a random 8%-100% of the area with a random aspect ratio in
    [3/4, 4/3] (scale and aspect-ratio distortion; the whole image if ten
    tries fail), resized to size x size (bilinear), flipped left-right with
    probability 1/2. seed: a stateless seed, shape (2,). Returns float32
    in [0, 255]."""
    import tensorflow as tf

    crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=2)
    )
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=crop_seed,
        min_object_covered=0.0,
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, crop_size)
    resized = tf.image.resize(crop, (size, size), method="bilinear", antialias=False)
    return tf.image.stateless_random_flip_left_right(resized, seed=flip_seed)


def center_crop(image, size: int, crop_fraction: float = EVAL_CROP_FRACTION):
    """The ImageNet evaluation view of one uint8 image (TF ops): shorter side
    resized to round(size / crop_fraction), then the central size x size
    square. Returns float32 in [0, 255]."""
    import tensorflow as tf

    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.round(size / crop_fraction) / tf.reduce_min(shape)
    new_shape = tf.cast(tf.round(shape * scale), tf.int32)
    new_shape = tf.maximum(new_shape, size)  # rounding must not undercut the crop
    resized = tf.image.resize(image, new_shape, method="bilinear", antialias=True)
    top = (new_shape[0] - size) // 2
    left = (new_shape[1] - size) // 2
    return resized[top : top + size, left : left + size, :]


def _check_image_size(image_size):
    if not isinstance(image_size, int) or isinstance(image_size, bool) or (
        image_size < 8
    ):
        raise ValueError(f"`image_size` must be an int >= 8, got {image_size!r}")


def imagenet_train_dataset(
    records,
    *,
    batch_size: int,
    image_size: int,
    seed: int,
    num_classes: int = IMAGENET_CLASSES,
    mixup_alpha: float = 0.0,
    shuffle_buffer: int = 2_000,
):
    """Training batches from a tf.data of (uint8 image of any size, int label)
    records (tfds imagenet2012 with as_supervised=True): shuffled (buffer of
    shuffle_buffer, reshuffled each epoch), `random_resized_crop` to
    image_size, normalised with the ImageNet statistics, batched (full batches
    only), one-hot labels mixed by `keras_mixup.mixup_map(mixup_alpha)` when
    mixup_alpha > 0. Shuffling, crops, flips and mixing follow `seed`."""
    import tensorflow as tf

    import keras_mixup

    _check_batch_size(batch_size)
    _check_image_size(image_size)
    ds = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    random_seeds = tf.data.Dataset.random(
        seed=seed, rerandomize_each_iteration=True
    ).batch(2)
    ds = tf.data.Dataset.zip(ds, random_seeds).map(
        lambda record, s: (
            normalize_images(
                random_resized_crop(record[0], s, image_size),
                IMAGENET_MEAN, IMAGENET_STD,
            ),
            tf.cast(record[1], tf.int32),
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(
        keras_mixup.mixup_map(mixup_alpha, num_classes=num_classes, seed=seed),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def imagenet_eval_dataset(
    records, *, batch_size: int, image_size: int, num_classes: int = IMAGENET_CLASSES
):
    """Evaluation batches: `center_crop` views, normalised, one-hot labels, in
    order, the last batch possibly smaller."""
    import tensorflow as tf

    _check_batch_size(batch_size)
    _check_image_size(image_size)
    ds = records.map(
        lambda image, label: (
            normalize_images(
                center_crop(image, image_size), IMAGENET_MEAN, IMAGENET_STD
            ),
            tf.one_hot(tf.cast(label, tf.int32), num_classes, dtype=tf.float32),
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def synthetic_imagenet_records(
    num_examples: int,
    *,
    num_classes: int = IMAGENET_CLASSES,
    image_shape: tuple[int, int, int] = (256, 256, 3),
    seed: int = 0,
):
    """A tf.data of num_examples random (uint8 image, int64 label) records,
    made on the fly (nothing held in memory): the input of
    `imagenet_train_dataset` / `imagenet_eval_dataset` for throughput
    measurements and tests, never for accuracy."""
    import tensorflow as tf

    _check_limit(num_examples, "num_examples")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}")

    def record(index):
        element_seed = tf.stack([tf.cast(seed, tf.int64), index])
        image = tf.random.stateless_uniform(
            image_shape, element_seed, 0, 256, dtype=tf.int32
        )
        label = tf.random.stateless_uniform(
            (), element_seed + 1, 0, num_classes, dtype=tf.int64
        )
        return tf.cast(image, tf.uint8), label

    return tf.data.Dataset.range(num_examples).map(
        record, num_parallel_calls=tf.data.AUTOTUNE
    )


# ------------------------------------------------------- training at scale


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def data_parallel(tpu: str | None = None):
    """Data parallelism over every accelerator this process sees, on Keras's
    own engines. Returns (scope, replicas): build and compile the model inside
    `scope`; the global batch is split over `replicas` devices.

    - JAX: `keras.distribution.DataParallel` over all devices when there is
      more than one (multi-host: set KERAS_DISTRIBUTION_JOB_ADDRESSES,
      KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID on
      each host; `keras.distribution.initialize` reads them). TPUs are JAX
      devices too: `tpu` is for TensorFlow only.
    - TensorFlow: `tf.distribute.TPUStrategy` when `tpu` is given (a TPU name
      or address, "" for the local one), else `MirroredStrategy` over the
      GPUs when there is more than one.
    One device: no distribution at all.
    """
    import contextlib
    import os

    backend = keras.backend.backend()
    if backend == "jax":
        if tpu is not None:
            raise ValueError(
                "`tpu` selects a TensorFlow TPUStrategy; on the JAX backend TPU "
                f"cores are plain JAX devices (leave it unset), got tpu={tpu!r}"
            )
        if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:
            keras.distribution.initialize()
        devices = keras.distribution.list_devices()
        if len(devices) > 1:
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=devices)
            )
        return contextlib.nullcontext(), len(devices)
    if backend == "tensorflow":
        import tensorflow as tf

        if tpu is not None:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            strategy = tf.distribute.TPUStrategy(resolver)
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            strategy = tf.distribute.MirroredStrategy()
        else:
            return contextlib.nullcontext(), 1
        return strategy.scope(), strategy.num_replicas_in_sync
    if tpu is not None:
        raise ValueError(f"`tpu` needs the TensorFlow backend, running {backend!r}")
    return contextlib.nullcontext(), 1


def check_global_batch(batch_size: int, replicas: int) -> None:
    if batch_size % replicas:
        raise common.RecipeError(
            f"the global batch size {batch_size} must be divisible by the "
            f"{replicas} devices of the data-parallel run (each gets an equal "
            f"share): choose --batch-size accordingly"
        )


METHODS = ("erm", "mixup", "both")


@dataclasses.dataclass(frozen=True)
class ClassifierConfig(common.RecipeConfig):
    """The options and checks that the CIFAR and ImageNet recipes share.

    A subclass defines, with its paper's defaults and help: method, alpha,
    epochs, batch_size, learning_rate, milestones, weight_decay, momentum,
    data, limit_train and limit_test; its `__post_init__` calls
    `check_shared_options()`.
    """

    precision: str = common.option(
        "float32",
        "dtype policy: float32, mixed_bfloat16 (TPU, recent GPUs) or "
        "mixed_float16 (GPUs; loss scaling is automatic)",
    )
    jit: bool = common.option(
        True, "compile train and eval steps with XLA", resumable=True
    )
    tpu: str | None = common.option(
        None,
        "TensorFlow backend: train on this TPU with TPUStrategy ('' = the "
        "local TPU)",
        resumable=True,
        metavar="NAME",
    )
    fit_verbose: int = common.option(
        1,
        "Keras progress output: 1 a progress bar, 2 one line per epoch, 0 none",
        resumable=True,
    )

    def check_shared_options(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"--method must be one of {', '.join(METHODS)}, got {self.method!r}"
            )
        if self.alpha is not None and not (self.alpha > 0 and np.isfinite(self.alpha)):
            raise ValueError(
                f"--alpha must be finite and > 0 (--method erm is alpha 0), "
                f"got {self.alpha}"
            )
        for flag, value in [
            ("--epochs", self.epochs), ("--batch-size", self.batch_size)
        ]:
            if value < 1:
                raise ValueError(f"{flag} must be >= 1, got {value}")
        if list(self.milestones) != sorted(set(self.milestones)) or any(
            m < 1 for m in self.milestones
        ):
            raise ValueError(
                f"--milestones must be increasing epochs >= 1, got {self.milestones}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"--momentum must be in [0, 1), got {self.momentum}")
        if self.data not in ("tfds", "synthetic"):
            raise ValueError(f"--data must be tfds or synthetic, got {self.data!r}")
        for flag, value in [
            ("--limit-train", self.limit_train), ("--limit-test", self.limit_test)
        ]:
            if value is not None and value < 1:
                raise ValueError(f"{flag} must be >= 1, got {value}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"--precision must be one of {', '.join(PRECISIONS)}, "
                f"got {self.precision!r}"
            )
        if self.fit_verbose not in (0, 1, 2):
            raise ValueError(f"--fit-verbose must be 0, 1 or 2, got {self.fit_verbose}")

    def methods(self) -> list[str]:
        return ["erm", "mixup"] if self.method == "both" else [self.method]


def plot_error_curves(path, curves: dict[str, list[float]], ylabel: str,
                      title: str) -> None:
    """One line per method: error (%) by epoch, written as a PNG."""
    figure, axes = common.new_figure(7.0, 4.5)
    for label, curve in curves.items():
        axes.plot(range(1, len(curve) + 1), curve, label=label)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    common.save_figure(figure, path)


def test_errors_by_epoch(history_csv, method: str, metric: str) -> list[float]:
    """100 * (1 - val_<metric>) per epoch of one method's rows of a
    history.csv; an epoch logged twice (killed after logging, before its
    checkpoint) counts once, the later row."""
    import csv

    by_epoch: dict[int, float] = {}
    try:
        with open(history_csv, newline="") as file:
            for row in csv.DictReader(file):
                if row.get("method") == method and row.get(f"val_{metric}"):
                    by_epoch[int(row["epoch"])] = 100.0 * (
                        1.0 - float(row[f"val_{metric}"])
                    )
    except FileNotFoundError:
        return []
    return [by_epoch[e] for e in sorted(by_epoch)]


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training and evaluation)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds `learning_rate` to each epoch's logs (history.csv): the rate of
    the epoch's first step, read from the optimizer, so a resumed run shows
    that its schedule continued where it stopped."""

    def __init__(self):
        super().__init__()
        self._rate = None

    def on_epoch_begin(self, epoch, logs=None):
        self._rate = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self._rate


def fit_classifier(
    build_model,
    *,
    learning_rate,
    momentum: float,
    train_data,
    eval_data,
    epochs: int,
    run_dir,
    history_dir,
    tags: dict,
    seed: int,
    scope,
    jit_compile: bool,
    top5: bool = False,
    verbose="auto",
    callbacks=(),
):
    """Train one classifier with SGD + momentum on one-hot (possibly mixed)
    labels, evaluating on eval_data after every epoch.

    The model is built by `build_model()` inside `scope` after
    `keras.utils.set_random_seed(seed)` (so runs of one seed start from the
    same weights). Every epoch is appended to history_dir/history.csv with
    `tags` as leading columns and checkpointed in run_dir/backup: when killed,
    the same call continues after the last finished epoch. Returns
    {"initial_epoch": first epoch trained by this call, "epoch_seconds": [...]}.
    """
    keras.utils.set_random_seed(seed)
    with scope:
        model = build_model()
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if top5:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5"))
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate, momentum=momentum),
            loss="categorical_crossentropy",
            metrics=metrics,
            jit_compile=jit_compile,
        )
    timer = EpochTimer()
    model.fit(
        train_data,
        epochs=epochs,
        shuffle=False,  # the tf.data pipeline shuffles
        validation_data=eval_data,
        verbose=verbose,
        callbacks=[
            timer,
            LearningRateLogger(),
            common.history_logger(history_dir, **tags),
            common.backup_and_restore(run_dir),
            *callbacks,
        ],
    )
    return {
        "initial_epoch": int(getattr(model, "_initial_epoch", 0) or 0),
        "epoch_seconds": timer.seconds,
        "parameters": sum(int(np.prod(v.shape)) for v in model.trainable_variables),
    }
