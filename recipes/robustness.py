"""What the robustness recipes share (`corrupted_labels`, `adversarial`,
`between`; paper sections 3.4, 3.5 and Figure 2).

- `InputGradient`: the per-example cross-entropy of a classifier and its
  gradient with respect to the input, on TensorFlow (tf.GradientTape) and JAX
  (jax.grad of a stateless call). The only backend-specific code of the three
  recipes is here.
- Config: `ImageTrainingConfig`, the data and training fields of the three
  recipes, with per-data-set defaults (`DATASET_DEFAULTS`).
- Data: `load_data` gives `recipes.images.ImageArrays` for `digits`,
  `cifar10` or `synthetic` (uniformly random 8x8 images for smoke runs and
  tests; nothing is read or downloaded).
- Models and training: `build_classifier` (PreAct ResNet-18 for CIFAR, the
  small CNN for 8x8 images), `fit_classifier` (SGD with momentum, step
  decay, ERM or mixup through `recipes.images.train_dataset`, resumable) and
  `trained_model` (train once, then load from the workdir).
- Evaluation: `predict_logits`, `error_percent` (top-k).
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from recipes import common, images, models

# ------------------------------------------------------------ input gradients


def _split_softmax_classifier(model: keras.Model):
    """(trunk, head): `head` is the model's last layer, a Dense layer with a
    softmax or linear activation, and `trunk` maps the inputs to the head's
    input. Cross-entropy is computed from the head's logits, as PyTorch's
    `F.cross_entropy` does in the paper's code: from the softmax probabilities
    the gradient of a confident prediction underflows to exactly zero (and
    Keras clips probabilities to [1e-7, 1 - 1e-7], which zeroes it too), so
    FGSM would not move and gradient norms would read 0."""
    if not isinstance(model, keras.Model) or not model.layers:
        raise ValueError(
            f"model must be a built keras.Model, received {type(model).__name__}"
        )
    head = model.layers[-1]
    activation = getattr(head, "activation", None)
    if not isinstance(head, keras.layers.Dense) or activation not in (
        keras.activations.softmax,
        keras.activations.linear,
    ):
        raise ValueError(
            "model must end with a Dense layer with a softmax or linear "
            f"activation (its logits are needed), received a last layer "
            f"{head.name!r} of type {type(head).__name__} with activation "
            f"{getattr(activation, '__name__', activation)!r}"
        )
    trunk = keras.Model(model.inputs, head.input, name=f"{model.name}_trunk")
    return trunk, head


class InputGradient:
    """Per-example cross-entropy of a classifier and its gradient with respect
    to the input.

    `gradient = InputGradient(model, input_transform=normalize)`, then
    `loss, grad = gradient(x, y_one_hot)` with numpy arrays: `loss` has shape
    (batch,), `grad` the shape of x. The model is evaluated in inference mode
    (batch-norm statistics, no dropout). `input_transform` (keras.ops) maps x to
    the model's input, e.g. pixels in [0, 1] to normalized images: the
    gradient is then taken with respect to x, through the transform.

    The gradient of the summed loss is taken, which is each example's own
    gradient: in inference mode examples do not interact.
    """

    def __init__(self, model: keras.Model, *, input_transform=None):
        self.model = model
        self.input_transform = input_transform
        self.trunk, self.head = _split_softmax_classifier(model)
        backend = keras.backend.backend()
        if backend == "tensorflow":
            self._loss_and_gradient, self._logits = self._tensorflow_functions()
        elif backend == "jax":
            self._loss_and_gradient, self._logits = self._jax_functions()
        else:
            raise ValueError(
                "InputGradient supports the Keras backends 'tensorflow' and "
                f"'jax', received KERAS_BACKEND={backend!r}"
            )

    def logits(self, x):
        """Logits of the model at x (keras.ops; inference mode)."""
        if self.input_transform is not None:
            x = self.input_transform(x)
        features = ops.cast(self.trunk(x, training=False), "float32")
        logits = ops.matmul(features, ops.cast(self.head.kernel, "float32"))
        if self.head.use_bias:
            logits = logits + ops.cast(self.head.bias, "float32")
        return logits

    def per_example_loss(self, x, y):
        """Cross-entropy of each example from logits, for one-hot or soft y."""
        return -ops.sum(y * ops.log_softmax(self.logits(x), axis=-1), axis=-1)

    def _tensorflow_functions(self):
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def loss_and_gradient(x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = self.per_example_loss(x, y)
                total = tf.reduce_sum(loss)
            return loss, tape.gradient(total, x)

        return loss_and_gradient, tf.function(self.logits, reduce_retracing=True)

    def _jax_functions(self):
        import jax

        variables = list(self.model.variables)

        # The variables' values are arguments of the compiled functions rather
        # than constants baked into them (11M of them in PreAct ResNet-18).
        def summed_loss(values, x, y):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                loss = self.per_example_loss(x, y)
            return ops.sum(loss), loss

        def logits(values, x):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return self.logits(x)

        gradient = jax.jit(jax.grad(summed_loss, argnums=1, has_aux=True))
        jitted_logits = jax.jit(logits)

        def loss_and_gradient(x, y):
            grad, loss = gradient([v.value for v in variables], x, y)
            return loss, grad

        def compute_logits(x):
            return jitted_logits([v.value for v in variables], x)

        return loss_and_gradient, compute_logits

    def __call__(self, x, y):
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                "x and y must hold the same number of examples and y must be "
                f"one-hot or soft labels of shape (batch, classes), received x "
                f"of shape {x.shape} and y of shape {y.shape}"
            )
        loss, grad = self._loss_and_gradient(x, y)
        return ops.convert_to_numpy(loss), ops.convert_to_numpy(grad)

    def predict_logits(self, x, batch_size: int = 500) -> np.ndarray:
        """Logits of the model at x (numpy, in batches; the last batch is
        padded so that every call has one shape and compiles once)."""
        x = np.asarray(x, dtype=np.float32)
        outputs = []
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            padded = pad_rows(batch, batch_size) if len(x) > batch_size else batch
            logits = ops.convert_to_numpy(self._logits(padded))
            outputs.append(logits[: len(batch)])
        return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def pad_rows(batch: np.ndarray, size: int) -> np.ndarray:
    """batch padded with zeros along the first axis to `size` rows."""
    missing = size - len(batch)
    if missing <= 0:
        return batch
    return np.concatenate([batch, np.zeros((missing, *batch.shape[1:]), batch.dtype)])


def normalizer(mean, std):
    """keras.ops function (x - mean) / std, broadcast over the last axis."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    if np.any(std <= 0):
        raise ValueError(f"std must be positive, received {std}")

    def normalize(x):
        return (x - mean) / std

    return normalize


# ----------------------------------------------------------------------- data

DATASETS = ("digits", "cifar10", "synthetic")
# Per data set: the model and the training setting.
#  cifar10: the paper's section 3.2, which sections 3.4 and Figure 2 reuse:
#    PreAct ResNet-18, 200 epochs of minibatches of 128, SGD (momentum 0.9,
#    as the authors' mixup-cifar10 code) from lr 0.1 divided by 10 after 100
#    and 150 epochs, weight decay 1e-4, random crops and flips.
#  digits: the small CNN on 1,437 8x8 training images; the same schedule
#    shape over 30 epochs (a CPU runs one in about 20 s) from lr 0.02 (at 0.1
#    this small net diverges in its first epochs), no augmentation.
#  synthetic: uniformly random 8x8 images for smoke runs (no signal), a
#    one-stage small CNN (compiles in a fraction of the time).
DATASET_DEFAULTS = {
    "cifar10": dict(
        model="preact_resnet18", epochs=200, batch_size=128, learning_rate=0.1,
        milestones=(100, 150), momentum=0.9, weight_decay=1e-4, augment="cifar",
    ),
    "digits": dict(
        model="small_cnn", epochs=30, batch_size=64, learning_rate=0.02,
        milestones=(15, 23), momentum=0.9, weight_decay=1e-4, augment="none",
    ),
    "synthetic": dict(
        model="small_cnn_tiny", epochs=2, batch_size=32, learning_rate=0.1,
        milestones=(1,), momentum=0.9, weight_decay=1e-4, augment="none",
    ),
}
SYNTHETIC_SHAPE = (8, 8, 1)


@dataclasses.dataclass(frozen=True)
class ImageTrainingConfig(common.RecipeConfig):
    """Data and training fields shared by the robustness recipes; the fields
    left at None take the data set's default (DATASET_DEFAULTS)."""

    dataset: str = common.option(
        "digits",
        "digits (scikit-learn's Optical Digits, offline, small CNN), cifar10 "
        "(tensorflow-datasets, PreAct ResNet-18: the paper's setting) or "
        "synthetic (random images, for smoke runs)",
        smoke="synthetic",
    )
    data_dir: str | None = common.option(
        None, "tensorflow-datasets data directory (cifar10)", resumable=True,
        metavar="DIR",
    )
    limit_train: int | None = common.option(
        None, "use only the first N training images", smoke=96, metavar="N"
    )
    limit_test: int | None = common.option(
        None, "use only the first N test images", smoke=48, metavar="N"
    )
    epochs: int | None = common.option(
        None, "training epochs (default: 200 on cifar10 as the paper, 30 on "
        "digits)", smoke=2,
    )
    batch_size: int | None = common.option(
        None, "minibatch size (default: 128 on cifar10 as the paper, 64 on digits)",
        smoke=32,
    )
    learning_rate: float | None = common.option(
        None, "initial SGD learning rate (default: 0.1 on cifar10 as the paper, "
        "0.02 on digits)"
    )
    milestones: tuple[int, ...] | None = common.option(
        None, "epochs after which the learning rate is divided by 10 (default: "
        "100 150 on cifar10 as the paper, 15 23 on digits)", smoke=(1,),
        metavar="EPOCH",
    )
    momentum: float | None = common.option(None, "SGD momentum (default 0.9)")
    weight_decay: float | None = common.option(
        None, "PyTorch-style weight decay (default 1e-4, the paper's)"
    )
    augment: str | None = common.option(
        None, "cifar (pad 4, random crop, flip) or none (default: cifar on "
        "cifar10, none on digits)",
    )
    fit_verbose: int = common.option(
        0, "verbosity of each fit (0 silent, 1 progress bar, 2 one line per "
        "epoch); by default a progress bar counts runs or epochs", resumable=True,
    )

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(
                f"--dataset must be one of {', '.join(DATASETS)}, received "
                f"{self.dataset!r}"
            )
        for name, value in DATASET_DEFAULTS[self.dataset].items():
            if name != "model" and getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for name in ("limit_train", "limit_test"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 1, received {value}"
                )
        if self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, received {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, received {self.batch_size}")
        if not self.learning_rate > 0:
            raise ValueError(
                f"--learning-rate must be > 0, received {self.learning_rate}"
            )
        if list(self.milestones) != sorted(set(self.milestones)) or any(
            m < 1 for m in self.milestones
        ):
            raise ValueError(
                f"--milestones must be increasing epochs >= 1, received "
                f"{self.milestones}"
            )
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"--momentum must be in [0, 1), received {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(
                f"--weight-decay must be >= 0, received {self.weight_decay}"
            )
        if self.augment not in images.AUGMENTATIONS:
            raise ValueError(
                f"--augment must be one of {', '.join(images.AUGMENTATIONS)}, "
                f"received {self.augment!r}"
            )
        if self.fit_verbose not in (0, 1, 2):
            raise ValueError(
                f"--fit-verbose must be 0, 1 or 2, received {self.fit_verbose}"
            )


def load_data(config: ImageTrainingConfig) -> images.ImageArrays:
    """The config's data set as arrays (synthetic: random, seeded by the
    config's seed; nothing is read)."""
    if config.dataset == "synthetic":
        return images.synthetic_image_arrays(
            SYNTHETIC_SHAPE, 10, n_train=config.limit_train or 256,
            n_test=config.limit_test or 64, seed=config.seed,
        )
    return images.load_image_arrays(
        config.dataset, data_dir=config.data_dir,
        limit_train=config.limit_train, limit_test=config.limit_test,
    )


def normalized(x: np.ndarray, data: images.ImageArrays) -> np.ndarray:
    """uint8 (or [0, 255] float) images -> the model's input, as the
    pipelines of recipes.images compute it: (x / 255 - mean) / std."""
    return ((np.asarray(x, np.float32) / 255.0 - data.mean) / data.std).astype(
        np.float32
    )


def pixel_input_transform(data: images.ImageArrays):
    """keras.ops map from pixels in [0, 1] to the model's input."""
    return normalizer(data.mean, data.std)


# --------------------------------------------------------- models, training


def build_classifier(
    config: ImageTrainingConfig, data: images.ImageArrays, *, dropout: float = 0.0
) -> keras.Model:
    """The data set's model (softmax output), with dropout as section 3.4
    places it (between the two convolutions of each block)."""
    builder = DATASET_DEFAULTS[config.dataset]["model"]
    if builder == "preact_resnet18":
        return models.preact_resnet18(
            data.image_shape, data.num_classes,
            weight_decay=config.weight_decay, dropout=dropout,
        )
    return models.small_cnn(
        data.image_shape, data.num_classes,
        filters=(8,) if builder == "small_cnn_tiny" else (32, 64, 128),
        weight_decay=config.weight_decay, dropout=dropout,
    )


def test_error_by_epoch(path: Path) -> list[float]:
    """Test error (%) of each epoch from a run's epochs.csv; a killed and
    resumed fit may log an epoch twice, the later row wins."""
    if not path.exists():
        return []
    by_epoch: dict[int, float] = {}
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            by_epoch[int(row["epoch"])] = 100.0 * (1.0 - float(row["val_accuracy"]))
    return [by_epoch[e] for e in sorted(by_epoch)]


def fit_classifier(
    config: ImageTrainingConfig,
    data: images.ImageArrays,
    *,
    y_train: np.ndarray | None = None,
    alpha: float,
    dropout: float = 0.0,
    seed: int,
    run_dir: Path,
    workdir: Path,
    tags: dict[str, Any],
) -> tuple[keras.Model, list[float]]:
    """Train one classifier from scratch with ERM (alpha 0) or mixup, the
    test set evaluated after every epoch; returns (model, test error % by
    epoch).

    The whole training pipeline is `recipes.images.train_dataset` with
    `mixup_alpha=alpha`, so ERM and mixup differ only in the mixing; the
    seed fixes the initial weights, the data order and the mixing. y_train
    replaces data.y_train (corrupted labels). Resumable: a killed fit restarts
    from its last finished epoch (run_dir/backup); run_dir/epochs.csv holds
    its epochs and workdir/history.csv gets them too, tagged.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    y_train = data.y_train if y_train is None else y_train
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_classifier(config, data, dropout=dropout)
    steps = images.steps_per_epoch(len(y_train), config.batch_size)
    schedule = common.StepDecay(config.learning_rate, config.milestones, steps)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=config.momentum),
        loss="categorical_crossentropy",
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    train_data = images.train_dataset(
        data.x_train, y_train, batch_size=config.batch_size, seed=seed,
        mean=data.mean, std=data.std, num_classes=data.num_classes,
        augment=config.augment, mixup_alpha=alpha,
    )
    test_data = images.eval_dataset(
        data.x_test, data.y_test, batch_size=max(config.batch_size, 500),
        mean=data.mean, std=data.std, num_classes=data.num_classes,
    )
    model.fit(
        train_data,
        epochs=config.epochs,
        validation_data=test_data,
        shuffle=False,  # the pipeline shuffles
        verbose=config.fit_verbose,
        callbacks=[
            common.history_logger(workdir, **tags),
            keras.callbacks.CSVLogger(str(run_dir / "epochs.csv"), append=True),
            # Last: a checkpoint is written only after the epoch was logged.
            keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        ],
    )
    return model, test_error_by_epoch(run_dir / "epochs.csv")


def trained_model(
    config: ImageTrainingConfig,
    data: images.ImageArrays,
    workdir: Path,
    name: str,
    *,
    alpha: float,
    seed: int,
) -> tuple[keras.Model, dict[str, Any]]:
    """(model, record): trained now, or loaded from
    workdir/models/<name>_seed<seed> when an earlier run finished it (the
    seed is in the path: --seed may change between runs in one workdir). A
    killed training resumes from its last epoch."""
    run_dir = workdir / "models" / f"{name}_seed{seed}"
    saved = run_dir / "model.keras"
    if saved.exists():
        model = keras.saving.load_model(saved, compile=False)
        errors = test_error_by_epoch(run_dir / "epochs.csv")
        return model, {"name": name, "trained": False, "test_error_by_epoch": errors}
    started = time.perf_counter()
    model, errors = fit_classifier(
        config, data, alpha=alpha, seed=seed, run_dir=run_dir, workdir=workdir,
        tags={"model": name, "alpha": alpha, "seed": seed},
    )
    model.save(saved)
    return model, {
        "name": name, "trained": True, "test_error_by_epoch": errors,
        "train_seconds": time.perf_counter() - started,
    }


def predict_logits(
    model: keras.Model, x: np.ndarray, data: images.ImageArrays, batch_size: int = 500
) -> np.ndarray:
    """Logits of uint8 images (normalized as in training), inference mode."""
    return InputGradient(model).predict_logits(normalized(x, data), batch_size)


def error_percent(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Top-k error (%): the label is not among the k largest logits."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return 100.0 * float(np.mean(~np.any(top == labels[:, None], axis=1)))
