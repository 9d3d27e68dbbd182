"""How the robustness and ablation recipes train an image classifier on
each data set, and the options they share.

- `TrainingSetting` and `SETTINGS`: per data set, the model, the training
  setting and how many of its images are used (the paper's section 3.2 on
  cifar10; scaled-down ones on digits, Fashion-MNIST, the user's own data
  and synthetic images); `setting_key` says which one a --dataset value
  (`datasets.dataset_option`: a name or a path) takes.
- `ImageTrainingConfig`: the data and training options of `corrupted_labels`,
  `adversarial` and `between`; an option left unset takes the data set's
  setting: `config.setting()` is `SETTINGS[setting_key(dataset)]`, with the
  recipe's own values for that data set (`setting_overrides`), with the
  options given laid over it (`dataclasses.replace`).
- `train_classifier`: one run of `training.fit_classifier` in that setting,
  ERM (alpha 0) or mixup through the same pipeline;
  `train_and_save_classifier` also saves the model for a later process.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import keras
import numpy as np

from recipes.lib import datasets, images, models, schedules, training
from recipes.lib.cli import RecipeConfig, RecipeError, fit_verbose_option, option


@dataclasses.dataclass(frozen=True)
class TrainingSetting:
    """A data set's classifier and how it is trained (SGD with momentum, the
    learning rate divided by 10 at each milestone epoch)."""

    model: str  # "preact_resnet18", "small_cnn" or "small_cnn_tiny"
    epochs: int
    batch_size: int
    learning_rate: float
    milestones: tuple[int, ...]
    momentum: float
    weight_decay: float
    augment: str  # images.AUGMENTATIONS
    # The first N training / test images (datasets.load); None: all of them.
    limit_train: int | None = None
    limit_test: int | None = None


#  cifar10: the paper's section 3.2, which sections 3.4, 3.8 and Figure 2
#    reuse: PreAct ResNet-18, 200 epochs of minibatches of 128, SGD (momentum
#    0.9, as the authors' mixup-cifar10 code) from lr 0.1 divided by 10 after
#    100 and 150 epochs, weight decay 1e-4, random crops and flips.
#  digits: the small CNN on 1,437 8x8 training images; the same schedule
#    shape over 30 epochs (a CPU runs one in about 20 s) from lr 0.02 (at 0.1
#    this small net diverges in its first epochs), no augmentation.
#  fashion_mnist (also mnist): the CPU-scale benchmark. The small CNN on the
#    first 6,000 of the 60,000 28x28 training images (600 a class) and the
#    first 5,000 of the 10,000 test images, so that one test image is 0.02
#    points (digits: 0.28); the same schedule shape over 10 epochs of 47
#    minibatches of 128 from lr 0.05 (divided by 10 after epochs 5 and 8),
#    no augmentation. A run takes about 3 min on one core, so a recipe's
#    whole table fits in hours of a 2-core CPU (measured: recipes/README.md;
#    all 60,000 images cost about 50 min a run of 15 epochs there).
#  path (the user's own data: a .npz, an image folder, IDX files): the small
#    CNN on ALL of its images (a user's data is never silently truncated:
#    --limit-train/--limit-test do it on request), the schedule shape over 15
#    epochs of minibatches of 128 from lr 0.05, no augmentation.
#  synthetic: uniformly random 8x8 images for smoke runs (no signal), a
#    one-stage small CNN (compiles in a fraction of the time).
PATH_SETTING = "path"
SETTINGS = {
    "cifar10": TrainingSetting(
        "preact_resnet18", epochs=200, batch_size=128, learning_rate=0.1,
        milestones=(100, 150), momentum=0.9, weight_decay=1e-4, augment="cifar",
    ),
    "digits": TrainingSetting(
        "small_cnn", epochs=30, batch_size=64, learning_rate=0.02,
        milestones=(15, 23), momentum=0.9, weight_decay=1e-4, augment="none",
    ),
    "fashion_mnist": TrainingSetting(
        "small_cnn", epochs=10, batch_size=128, learning_rate=0.05,
        milestones=(5, 8), momentum=0.9, weight_decay=1e-4, augment="none",
        limit_train=6000, limit_test=5000,
    ),
    PATH_SETTING: TrainingSetting(
        "small_cnn", epochs=15, batch_size=128, learning_rate=0.05,
        milestones=(8, 12), momentum=0.9, weight_decay=1e-4, augment="none",
    ),
    "synthetic": TrainingSetting(
        "small_cnn_tiny", epochs=2, batch_size=32, learning_rate=0.1,
        milestones=(1,), momentum=0.9, weight_decay=1e-4, augment="none",
    ),
}
# The CPU-scale default of the robustness and ablation recipes
# (`--dataset digits` runs in minutes, offline).
DEFAULT_DATASET = "fashion_mnist"
# How help texts name the --dataset values of each setting (synthetic, the
# smoke runs' setting, is left out).
SETTING_USERS = {
    "cifar10": "cifar10/cifar100",
    "digits": "digits",
    "fashion_mnist": "fashion_mnist/mnist",
    PATH_SETTING: "a path",
}


def setting_key(dataset: str) -> str:
    """The SETTINGS entry a --dataset value trains in: a name its own,
    cifar10's for cifar100, fashion_mnist's for mnist; a path (the user's
    data, `datasets.check_dataset`) PATH_SETTING's."""
    if dataset not in datasets.NAMES:
        return PATH_SETTING
    return {"cifar100": "cifar10", "mnist": "fashion_mnist"}.get(dataset, dataset)


def defaults_text(value_of: Callable[[str], Any], *, paper: bool = True) -> str:
    """'default: 200 on cifar10/cifar100 (the paper's); 30 on digits; ...':
    value_of(key) for each SETTINGS key of SETTING_USERS, grouped by value,
    for an option's help text; `paper` marks cifar10's value as the
    paper's."""
    by_value: dict[Any, list[str]] = {}
    for key, users in SETTING_USERS.items():
        if paper and key == "cifar10":
            users += " (the paper's)"
        by_value.setdefault(value_of(key), []).append(users)

    def shown(value):
        if value is None:
            return "all images"
        if isinstance(value, tuple):
            return " ".join(shown(v) for v in value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    def listed(users):
        if len(users) == 1:
            return users[0]
        return f"{', '.join(users[:-1])} and {users[-1]}"

    return "default: " + "; ".join(
        f"{shown(value)} on {listed(users)}" for value, users in by_value.items()
    )


def defaults_help(
    field: str,
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    paper: bool = True,
) -> str:
    """`defaults_text` of a TrainingSetting field: its value in each
    setting, with a recipe's `setting_overrides`."""
    return defaults_text(
        lambda key: (overrides or {}).get(key, {}).get(
            field, getattr(SETTINGS[key], field)
        ),
        paper=paper,
    )


def check_milestones(
    milestones: tuple[int, ...],
    epochs: int | None = None,
    *,
    default_of: str | None = None,
) -> None:
    """--milestones: increasing epochs >= 1 (and before the last epoch).
    default_of names the data set whose default milestones these are (none
    given), so the message says to pass --milestones with a short --epochs
    instead of blaming an option the user never gave."""
    if list(milestones) != sorted(set(milestones)) or any(m < 1 for m in milestones):
        raise ValueError(
            f"--milestones must be increasing epochs >= 1, got {milestones}"
        )
    if epochs is not None and milestones and milestones[-1] >= epochs:
        if default_of is not None:
            raise ValueError(
                f"--epochs {epochs} ends before {default_of}'s default "
                f"--milestones {' '.join(map(str, milestones))}: pass "
                f"--milestones with epochs in [1, {epochs})"
            )
        raise ValueError(
            f"--milestones must be increasing epochs in [1, {epochs}), got "
            f"{milestones}"
        )


def dataset_option(**kwargs: Any) -> Any:
    """--dataset of the robustness and ablation recipes: cifar10 and cifar100
    train the paper's PreAct ResNet-18, every other value a small CNN."""
    return datasets.dataset_option(DEFAULT_DATASET, **kwargs)


def limit_option(
    split: str, *, smoke: int, overrides: dict[str, dict[str, Any]] | None = None
) -> Any:
    """--limit-train (split "train") or --limit-test ("test"): given, it
    replaces the setting's limit (`setting()`); a limit at or above the
    set's size keeps all its images (datasets.load takes the first N)."""
    images_of = "training" if split == "train" else "test"
    fashion_mnist_size = 60000 if split == "train" else 10000
    return option(
        None, f"use only the first N {images_of} images "
        f"({defaults_help(f'limit_{split}', overrides, paper=False)}); N at "
        f"or above the set's size uses all its {images_of} images (e.g. "
        f"{fashion_mnist_size} on fashion_mnist)", smoke=smoke, metavar="N",
        minimum=1,
    )


def data_dir_option() -> Any:
    return option(
        None, "tensorflow-datasets data directory (cifar10, cifar100; "
        "fashion_mnist and mnist without the IDX files)", resumable=True,
        metavar="DIR",
    )


@dataclasses.dataclass(frozen=True)
class ImageTrainingConfig(RecipeConfig):
    """Data and training options shared by the robustness recipes; the
    training options left unset take the data set's setting (SETTINGS, with
    the recipe's `setting_overrides`)."""

    # A recipe's own values of some settings, by SETTINGS key (e.g.
    # corrupted_labels trains longer on fewer Fashion-MNIST images); the
    # options given are laid over them.
    setting_overrides: ClassVar[dict[str, dict[str, Any]]] = {}

    dataset: str = dataset_option()
    data_dir: str | None = data_dir_option()
    limit_train: int | None = limit_option("train", smoke=96)
    limit_test: int | None = limit_option("test", smoke=48)
    epochs: int | None = option(
        None, f"training epochs ({defaults_help('epochs')})", smoke=2, minimum=1,
    )
    batch_size: int | None = option(
        None, f"minibatch size ({defaults_help('batch_size')})", smoke=32, minimum=1,
    )
    learning_rate: float | None = option(
        None, f"initial SGD learning rate ({defaults_help('learning_rate')})", above=0,
    )
    milestones: tuple[int, ...] | None = option(
        None, f"epochs after which the learning rate is divided by 10 "
        f"({defaults_help('milestones')})",
        smoke=(1,), metavar="EPOCH",
    )
    momentum: float | None = option(
        None, "SGD momentum (default 0.9)", minimum=0, below=1
    )
    weight_decay: float | None = option(
        None, "PyTorch-style weight decay (default 1e-4, the paper's)", minimum=0
    )
    augment: str | None = option(
        None, "cifar (pad 4, random crop, flip) or none (default: cifar on "
        "cifar10 and cifar100, none on the others)", choices=images.AUGMENTATIONS,
    )
    fit_verbose: int = fit_verbose_option()

    def validate(self):
        setting = self.setting()
        check_milestones(
            setting.milestones, setting.epochs,
            default_of=None if self.milestones is not None else self.dataset,
        )

    def setting(self) -> TrainingSetting:
        """The data set's setting, with the recipe's own values for it
        (`setting_overrides`), with the options given laid over it."""
        key = setting_key(self.dataset)
        given = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(TrainingSetting)
            if getattr(self, field.name, None) is not None
        }
        return dataclasses.replace(
            SETTINGS[key], **{**self.setting_overrides.get(key, {}), **given}
        )


def load_data(config: Any) -> images.ImageArrays:
    """The config's `dataset` as arrays (`datasets.load`), limited to the
    first `limit_train` and `limit_test` images of its setting
    (`config.setting()`: the data set's limits unless the options give
    others; synthetic: random 8x8 images seeded by the config's seed, 256
    and 64 of them unless limited; nothing is read)."""
    setting = config.setting()
    return datasets.load(
        config.dataset, data_dir=config.data_dir,
        limit_train=setting.limit_train, limit_test=setting.limit_test,
        seed=config.seed,
    )


def build_classifier(
    setting: TrainingSetting, data: images.ImageArrays, *, dropout: float = 0.0
) -> keras.Model:
    """The setting's model (softmax output), with dropout as section 3.4
    places it (between the two convolutions of each block)."""
    if setting.model == "preact_resnet18":
        return models.preact_resnet18(
            data.image_shape, data.num_classes,
            weight_decay=setting.weight_decay, dropout=dropout,
        )
    return models.small_cnn(
        data.image_shape, data.num_classes,
        filters=(8,) if setting.model == "small_cnn_tiny"
        else models.SMALL_CNN_FILTERS,
        weight_decay=setting.weight_decay, dropout=dropout,
    )


def train_classifier(
    config: ImageTrainingConfig,
    data: images.ImageArrays,
    *,
    alpha: float,
    seed: int,
    run_dir: Path,
    workdir: Path,
    tags: dict[str, Any],
    y_train: np.ndarray | None = None,
    dropout: float = 0.0,
    method: str = "mixup",
) -> training.FitResult:
    """Train one classifier from scratch in the config's setting with ERM
    (alpha 0) or a mixing `method` (images.MIXING_METHODS), through the same
    pipeline (`images.train_dataset(method=method, alpha=alpha)`): ERM and
    mixup of a seed share the initial weights and the data order. y_train
    replaces data.y_train (corrupted labels). Resumable from run_dir/backup;
    its epochs go to workdir/history.csv with `tags`."""
    setting = config.setting()
    y_train = data.y_train if y_train is None else y_train
    return fit_in_setting(
        setting,
        lambda: build_classifier(setting, data, dropout=dropout),
        train_data=images.train_dataset(
            data.x_train, y_train, batch_size=setting.batch_size, seed=seed,
            mean=data.mean, std=data.std, num_classes=data.num_classes,
            augment=setting.augment, method=method, alpha=alpha,
        ),
        eval_data=images.eval_dataset(
            data.x_test, data.y_test, batch_size=max(setting.batch_size, 500),
            mean=data.mean, std=data.std, num_classes=data.num_classes,
        ),
        train_size=len(y_train), run_dir=run_dir, history_dir=workdir,
        tags=tags, seed=seed, verbose=config.fit_verbose,
    )


def fit_in_setting(
    setting: TrainingSetting,
    build_model,
    *,
    train_data,
    eval_data,
    train_size: int,
    run_dir: Path,
    history_dir: Path,
    tags: dict[str, Any],
    seed: int,
    verbose: int,
) -> training.FitResult:
    """`training.fit_classifier` with the setting's SGD: its momentum, epochs
    and learning rate divided by 10 at its milestones (full batches of
    train_size examples)."""
    steps = images.steps_per_epoch(train_size, setting.batch_size)
    if steps < 1:
        raise RecipeError(
            f"--batch-size {setting.batch_size} is larger than the {train_size} "
            f"training examples"
        )
    return training.fit_classifier(
        build_model,
        train_data=train_data,
        eval_data=eval_data,
        schedule=schedules.step_decay(
            setting.learning_rate, setting.milestones, steps
        ),
        momentum=setting.momentum,
        epochs=setting.epochs,
        run_dir=run_dir,
        history_dir=history_dir,
        tags=tags,
        seed=seed,
        verbose=verbose,
    )


def saved_classifier_path(workdir: Path, name: str, seed: int) -> Path:
    """Where a finished model lives (the seed is in the path: --seed may
    change between runs in one workdir)."""
    return workdir / "models" / f"{name}_seed{seed}" / "model.keras"


def train_and_save_classifier(
    config: ImageTrainingConfig,
    data: images.ImageArrays,
    workdir: Path,
    name: str,
    *,
    alpha: float,
    seed: int,
) -> tuple[keras.Model, dict[str, Any]]:
    """(model, record): `train_classifier`, then the model saved at
    `saved_classifier_path` for a rerun to load."""
    path = saved_classifier_path(workdir, name, seed)
    started = time.perf_counter()
    fit = train_classifier(
        config, data, alpha=alpha, seed=seed, run_dir=path.parent,
        workdir=workdir, tags={"model": name, "alpha": alpha, "seed": seed},
    )
    fit.model.save(path)
    return fit.model, {
        "model": name, "alpha": alpha, "seed": seed,
        "test_error": fit.test_errors[-1],
        "test_error_by_epoch": fit.test_errors,
        "seconds": time.perf_counter() - started,
    }
