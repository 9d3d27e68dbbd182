"""Image data for the recipes: arrays and tf.data pipelines.

- `load_image_arrays`: Optical Digits (8x8, shipped with scikit-learn: real
  data, offline), CIFAR-10 and CIFAR-100 (through tensorflow-datasets, with
  `data.load_tfds`'s fail-fast when missing) as uint8 NHWC arrays with int32
  labels and per-channel statistics of the training images;
  `synthetic_image_arrays`: random data of any shape (throughput, tests).
- `train_dataset` / `eval_dataset`: shuffle, the standard CIFAR augmentation
  (4-pixel zero pad, random crop, horizontal flip), normalisation, batching,
  one-hot labels, optional mixup through `keras_mixup.mixup_map`, prefetch.
- ImageNet: `imagenet_train_dataset` (random resized crops) and
  `imagenet_eval_dataset` (centre crops) over (image, label) records.

The pipelines run on TF ops, so they feed any Keras backend.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recipes.lib import data
from recipes.lib.cli import RecipeError

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


def make_image_arrays(name, x_train, y_train, x_test, y_test, num_classes):
    """ImageArrays of checked arrays, with the training images' statistics."""
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


def tfds_arrays(name, split, data_dir, limit):
    """(uint8 images, labels) of a tensorflow-datasets split (fails fast
    offline: `data.load_tfds`)."""
    import tensorflow_datasets as tfds

    ds = data.load_tfds(name, split, data_dir=data_dir, as_supervised=True)
    if limit is not None:
        ds = ds.take(limit)
    images, labels = [], []
    for image_batch, label_batch in tfds.as_numpy(ds.batch(4096)):
        images.append(image_batch)
        labels.append(label_batch)
    if not images:
        raise RecipeError(f"tensorflow-datasets {name!r} split {split!r} is empty")
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
        x_train, y_train = tfds_arrays(name, "train", data_dir, limit_train)
        x_test, y_test = tfds_arrays(name, "test", data_dir, limit_test)
        num_classes = 10 if name == "cifar10" else 100
    return make_image_arrays(name, x_train, y_train, x_test, y_test, num_classes)


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
    return make_image_arrays(
        "synthetic",
        rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        rng.integers(0, num_classes, n_train),
        rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        rng.integers(0, num_classes, n_test),
        num_classes,
    )


# The random images of the robustness recipes' smoke runs (datasets.load's
# synthetic): digits-sized, nothing to read.
SYNTHETIC_SHAPE = (8, 8, 1)


# ------------------------------------------------------------------ pipelines


def _mixup_map(alpha, num_classes, seed):
    import keras_mixup

    return keras_mixup.mixup_map(alpha, num_classes=num_classes, seed=seed)


def _cutmix_map(alpha, num_classes, seed):
    import keras_mixup

    return keras_mixup.CutMix(alpha, num_classes=num_classes, seed=seed)


# timm's ImageNet recipe (DeiT, ConvNeXt): mixup alpha 0.8, CutMix alpha 1.0,
# switch probability 0.5, every batch mixed, label smoothing 0.1 (a
# recipe's --label-smoothing where it has one).
TIMM_SWITCH = dict(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, prob=1.0)


def _switch_map(alpha, num_classes, seed):
    """The mixup/CutMix switch: --alpha is mixup's (timm: 0.8), CutMix's is
    timm's 1.0; alpha 0 turns both off (ERM)."""
    import keras_mixup

    return keras_mixup.MixUpOrCutMix(
        alpha, TIMM_SWITCH["cutmix_alpha"] if alpha > 0 else 0.0,
        switch_prob=TIMM_SWITCH["switch_prob"], prob=TIMM_SWITCH["prob"],
        num_classes=num_classes, seed=seed)


# How a batch can be mixed, by the name recipes take in --method: a new
# member of the family is one entry here. Each makes a tf.data map of
# batched (images, int labels) -> (images, one-hot labels) that is ERM
# (one-hot labels, images untouched) at alpha 0.
MIXING_METHODS = {"mixup": _mixup_map, "cutmix": _cutmix_map,
                  "switch": _switch_map}


def batch_and_mix(
    ds, batch_size: int, *, method: str, alpha: float, num_classes: int,
    seed: int, drop_remainder: bool = True,
):
    """ds of (image, int label) -> batches mixed by `method` (one of
    MIXING_METHODS) with `alpha`, prefetched."""
    import tensorflow as tf

    if method not in MIXING_METHODS:
        raise ValueError(
            f"`method` must be one of {', '.join(MIXING_METHODS)}, got {method!r}"
        )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(
        MIXING_METHODS[method](alpha, num_classes, seed),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ds.prefetch(tf.data.AUTOTUNE)



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
    method: str = "mixup",
    alpha: float = 0.0,
    normalize: bool = True,
    drop_remainder: bool = True,
):
    """Training batches (images, labels), reshuffled every epoch.

    Images: augmented (`augment="cifar"`: pad, random crop, flip), then
    normalised with mean/std (or only scaled to [0, 1] with normalize=False),
    float32. Labels: one-hot float32, mixed with the images by `method`
    (`batch_and_mix`) when alpha > 0 (alpha 0 gives the same pipeline with
    plain one-hot labels: ERM).
    Shuffle order, augmentation and mixing all follow `seed`.
    """
    import tensorflow as tf

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
    return batch_and_mix(
        ds, batch_size, method=method, alpha=alpha, num_classes=num_classes,
        seed=seed, drop_remainder=drop_remainder,
    )


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
    method: str = "mixup",
    alpha: float = 0.0,
    shuffle_buffer: int = 2_000,
):
    """Training batches from a tf.data of (uint8 image of any size, int label)
    records (tfds imagenet2012 with as_supervised=True): shuffled (buffer of
    shuffle_buffer, reshuffled each epoch), `random_resized_crop` to
    image_size, normalised with the ImageNet statistics, batched (full batches
    only), one-hot labels mixed by `method` (`batch_and_mix`) when alpha > 0.
    Shuffling, crops, flips and mixing follow `seed`."""
    import tensorflow as tf

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
    return batch_and_mix(
        ds, batch_size, method=method, alpha=alpha, num_classes=num_classes,
        seed=seed,
    )


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
