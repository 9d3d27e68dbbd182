"""Speech commands (paper section 3.3, Figure 4): ERM against mixup.

The paper's setting: the Google Speech Commands data set (one-second
utterances at 16 kHz, 30 classes); normalized spectrograms (20 ms windows,
10 ms hop: 161 frequency bins x 101 frames, zero-padded to 160 x 101); mixup
on the spectrograms just before the network; LeNet and VGG-11; Adam,
learning rate 3e-3 divided by 10 every 10 epochs, 30 epochs, minibatches of
100; mixup alpha 0.1 and 0.2, each after 5 warm-up epochs of plain ERM.

Data: tensorflow-datasets `speech_commands` (12 classes: 10 words, silence
and unknown; --data-dir), or --wav-dir, a folder of 16 kHz mono WAV files
with one sub-folder per label: the layout of the original archive, whose
30 word folders are the paper's 30 classes (its validation_list.txt and
testing_list.txt give the split; without them a hash of the speaker id does,
as the archive's README describes).

Spectrograms are computed in the tf.data pipeline (tf.signal). The networks
see them through a `keras_mixup.MixUp` layer inside a
`keras_mixup.MixUpModel`; `keras_mixup.AlphaScheduler` keeps alpha at 0 for
the warm-up epochs. With --mix-at waveform the waveforms are mixed instead,
and the model computes the spectrograms after the MixUp layer.

    python -m recipes.speech          # LeNet, VGG-11; ERM, mixup 0.1 and 0.2
    python -m recipes.speech --wav-dir speech_commands_v0.01  # 30 classes
    python -m recipes.speech --models vgg11 --method mixup --alpha 0.2
    python -m recipes.speech --smoke   # seconds, on the first 8 clips a split

(--smoke needs the data too; the tests run it on tfds mock data.)

Cost: a VGG-11 forward pass is 2.3 GMAC per clip (LeNet 0.06), so one
VGG-11 training epoch over the 85,511 tfds training clips is about 1.2e15
floating-point operations: minutes on a GPU, many hours on a CPU.

Measured here: not run (no data on this machine); paper: VGG-11 ERM 4.6%,
mixup (alpha 0.2) 3.4%. Only the smoke setting runs here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
import wave
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_mixup
from keras_mixup import _internals
from recipes.lib import cli, harness, models, reporting, schedules, training, storage
from recipes.lib.cli import RecipeError
from recipes.lib.data import load_tfds

RECIPE = "speech"

SAMPLE_RATE = 16000  # Hz
CLIP_SAMPLES = 16000  # one second; shorter clips are zero-padded, longer cropped
WINDOW_SAMPLES = 320  # 20 ms
HOP_SAMPLES = 160  # 10 ms
# rfft of 320 samples has 161 bins; the paper's 160 x 101 drops the top
# (Nyquist) bin. With center padding, 16000 samples give 1 + 16000 / 160 frames.
FREQUENCY_BINS = 160
FRAMES = 1 + CLIP_SAMPLES // HOP_SAMPLES
SPECTROGRAM_SHAPE = (FREQUENCY_BINS, FRAMES, 1)

MODELS = {"lenet": models.lenet, "vgg11": models.vgg11}
METHODS = ("erm", "mixup", "both")
MIX_AT = ("spectrogram", "waveform")
TFDS_NAME = "speech_commands"

# Figure 4: validation and test error (%), keyed by (model, method, alpha).
PAPER_FIGURE4 = {
    ("lenet", "erm", 0.0): (9.8, 10.3),
    ("lenet", "mixup", 0.1): (10.1, 10.8),
    ("lenet", "mixup", 0.2): (10.2, 11.3),
    ("vgg11", "erm", 0.0): (5.0, 4.6),
    ("vgg11", "mixup", 0.1): (4.0, 3.8),
    ("vgg11", "mixup", 0.2): (3.9, 3.4),
}
MODEL_LABELS = {"lenet": "LeNet", "vgg11": "VGG-11"}

# The original archive's README: split by a hash of the speaker part of the
# file name, so one speaker's clips all land in the same split.
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1
VALIDATION_PERCENT = 10.0
TESTING_PERCENT = 10.0


@dataclasses.dataclass(frozen=True)
class SpeechConfig(cli.RecipeConfig):
    """ERM against mixup on Google Speech Commands (mixup paper, Figure 4)."""

    models: tuple[str, ...] = cli.option(
        ("lenet", "vgg11"),
        "networks: " + " ".join(MODELS),
        smoke=("lenet",),
        resumable=True,
        metavar="NAME",
        choices=tuple(MODELS),
        unique=True,
    )
    method: str = cli.option(
        "both", "erm, mixup, or both", resumable=True, choices=METHODS
    )
    alpha: tuple[float, ...] = cli.option(
        (0.1, 0.2), "mixup alpha(s) > 0", smoke=(0.2,), resumable=True, above=0,
        unique=True,
    )
    warmup_epochs: int = cli.option(
        5, "epochs of plain ERM before mixup starts (paper: 5)", smoke=1,
        minimum=0,
    )
    mix_at: str = cli.option(
        "spectrogram",
        "mix the spectrograms just before the network (the paper) or the "
        "waveforms (spectrograms then computed in the model)",
        choices=MIX_AT,
    )
    wav_dir: str | None = cli.option(
        None,
        "folder of 16 kHz WAV files, one sub-folder per label (the original "
        "archive's layout; default: tensorflow-datasets speech_commands)",
        metavar="DIR",
    )
    data_dir: str | None = cli.option(
        None, "tensorflow-datasets data directory", resumable=True, metavar="DIR"
    )
    max_examples: int = cli.option(
        0,
        "use only the first N examples of each split (0: all)",
        smoke=8,
        metavar="N",
        minimum=0,
    )
    epochs: int = cli.option(30, "epochs (paper: 30)", smoke=2, minimum=1)
    batch_size: int = cli.option(
        100, "minibatch size (paper: 100)", smoke=4, minimum=1
    )
    learning_rate: float = cli.option(
        3e-3, "Adam learning rate (paper: 3e-3)", above=0
    )
    lr_drop_every: int = cli.option(
        10, "divide the learning rate by 10 every N epochs (paper: 10)",
        metavar="N", minimum=1,
    )
    shuffle_buffer: int = cli.option(
        10000, "tf.data shuffle buffer (examples)", metavar="N", minimum=1
    )
    fit_verbose: int = cli.fit_verbose_option(1, smoke=2)

    def validate(self):
        if self.warmup_epochs > self.epochs:
            raise ValueError(
                f"--warmup-epochs must be in [0, --epochs={self.epochs}], "
                f"got {self.warmup_epochs}"
            )

    def units(self) -> list[dict[str, Any]]:
        """(model, method, alpha) in training order; ERM has alpha 0."""
        methods = []
        for method in training.recipe_methods(self.method):
            if method == "erm":
                methods.append(("erm", 0.0))
            else:
                methods += [(method, float(a)) for a in self.alpha]
        return [
            {"model": model, "method": method, "alpha": alpha}
            for model in self.models for method, alpha in methods
        ]


# ---------------------------------------------------------------- front end


def fix_length(waveform, length: int = CLIP_SAMPLES):
    """Zero-pad (at the end) or crop the last axis of a tf waveform to length."""
    import tensorflow as tf

    waveform = waveform[..., :length]
    missing = length - tf.shape(waveform)[-1]
    paddings = tf.concat(
        [tf.zeros([tf.rank(waveform) - 1, 2], tf.int32), [[0, missing]]], axis=0
    )
    padded = tf.pad(waveform, paddings)
    return tf.ensure_shape(padded, waveform.shape[:-1].concatenate([length]))


def _normalize_and_layout(log_magnitude, ops):
    """(..., frames, 161 bins) log magnitudes -> (..., 160, frames, 1), each
    spectrogram z-scored over all its values with the unbiased standard
    deviation, as GCommandsPytorch does (torch's .std()); an all-constant
    spectrogram (silence) is only centred."""
    spectrogram = ops.swapaxes(log_magnitude[..., :FREQUENCY_BINS], -1, -2)
    count = spectrogram.shape[-1] * spectrogram.shape[-2]
    mean = ops.mean(spectrogram, axis=(-2, -1), keepdims=True)
    centred = spectrogram - mean
    std = ops.sqrt(
        ops.sum(ops.square(centred), axis=(-2, -1), keepdims=True) / (count - 1)
    )
    normalized = centred / ops.where(std > 0, std, ops.ones_like(std))
    return normalized[..., None]


def spectrogram(waveform):
    """Normalized log spectrogram of 16 kHz waveforms, with TensorFlow ops
    (for tf.data): (..., 16000) float32 in [-1, 1] -> (..., 160, 101, 1).

    As GCommandsPytorch (librosa of its time): 320-sample (20 ms) periodic
    Hamming windows every 160 samples (10 ms), frames centred on multiples of
    the hop (reflect padding of 160 at both ends), magnitudes, log1p, the
    Nyquist bin dropped, then z-scored.
    """
    import tensorflow as tf

    waveform = tf.convert_to_tensor(waveform, tf.float32)
    half = WINDOW_SAMPLES // 2
    paddings = tf.concat(
        [tf.zeros([tf.rank(waveform) - 1, 2], tf.int32), [[half, half]]], axis=0
    )
    padded = tf.pad(waveform, paddings, mode="REFLECT")
    stft = tf.signal.stft(
        padded,
        frame_length=WINDOW_SAMPLES,
        frame_step=HOP_SAMPLES,
        fft_length=WINDOW_SAMPLES,
        window_fn=tf.signal.hamming_window,  # periodic, as librosa's
    )
    # The same keras.ops maths as the layer, on TensorFlow's ops: the tf.data
    # side runs TensorFlow while Keras may run on JAX.
    return _normalize_and_layout(
        tf.math.log1p(tf.abs(stft)), _internals.backend_namespace("tensorflow").numpy
    )


@keras.saving.register_keras_serializable(package="recipes.speech")
class Spectrogram(keras.layers.Layer):
    """The same front end as `spectrogram`, in keras.ops, for --mix-at
    waveform: (batch, 16000) waveforms -> (batch, 160, 101, 1)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, waveforms):
        real, imag = keras.ops.stft(
            keras.ops.cast(waveforms, "float32"),
            sequence_length=WINDOW_SAMPLES,
            sequence_stride=HOP_SAMPLES,
            fft_length=WINDOW_SAMPLES,
            window="hamming",
            center=True,  # reflect padding, as `spectrogram`
        )
        magnitude = keras.ops.sqrt(keras.ops.square(real) + keras.ops.square(imag))
        return _normalize_and_layout(keras.ops.log1p(magnitude), keras.ops)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *SPECTROGRAM_SHAPE)


# --------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True)
class SpeechData:
    """The three splits as unbatched tf.data datasets of (waveform, label):
    float32 (16000,) waveforms in [-1, 1], int32 labels."""

    train: Any
    validation: Any
    test: Any
    labels: tuple[str, ...]
    sizes: dict[str, int | None]
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.labels)


def which_set(
    filename: str,
    validation_percent: float = VALIDATION_PERCENT,
    testing_percent: float = TESTING_PERCENT,
) -> str:
    """'training', 'validation' or 'testing' for a file of the original
    archive, by the rule of its README: a SHA-1 of the name before
    '_nohash_' (the speaker), so a speaker never spans two splits and the
    split stays the same when files are added."""
    speaker = re.sub(r"_nohash_.*$", "", Path(filename).name)
    digest = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16)
    percent = (digest % (MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / MAX_NUM_WAVS_PER_CLASS
    )
    if percent < validation_percent:
        return "validation"
    if percent < validation_percent + testing_percent:
        return "testing"
    return "training"


def _check_wav(path: Path) -> None:
    try:
        with wave.open(str(path), "rb") as file:
            rate, channels, width = (
                file.getframerate(),
                file.getnchannels(),
                file.getsampwidth(),
            )
    except (wave.Error, EOFError, OSError) as error:
        raise RecipeError(
            f"--wav-dir: {path} is not a readable WAV file: {error}"
        ) from error
    if (rate, channels, width) != (SAMPLE_RATE, 1, 2):
        raise RecipeError(
            f"--wav-dir: {path} has {rate} Hz, {channels} channel(s), "
            f"{8 * width}-bit samples; expected {SAMPLE_RATE} Hz mono 16-bit PCM "
            f"(the original archive's format)"
        )


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def wav_folder_files(wav_dir: str | Path) -> tuple[tuple[str, ...], dict[str, list]]:
    """(labels, {split: [(path, label index), ...]}) of a WAV folder.

    Labels are the sub-folders (sorted), except those starting with '_' (the
    archive's _background_noise_). The split comes from validation_list.txt
    and testing_list.txt (relative paths such as 'yes/0a7c2a8d_nohash_0.wav')
    when both are present, else from `which_set`. Every file is checked to
    be 16 kHz mono 16-bit PCM.
    """
    root = Path(wav_dir)
    if not root.is_dir():
        raise RecipeError(f"--wav-dir {root} is not a directory")
    labels = tuple(
        sorted(
            p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")
        )
    )
    if len(labels) < 2:
        raise RecipeError(
            f"--wav-dir {root} has {len(labels)} label sub-folder(s) "
            f"({', '.join(labels) or 'none'}); expected one sub-folder of WAV "
            f"files per label, at least 2"
        )
    validation_list, testing_list = (
        root / "validation_list.txt",
        root / "testing_list.txt",
    )
    listed = validation_list.exists() and testing_list.exists()
    if listed:
        validation_names = _read_list(validation_list)
        testing_names = _read_list(testing_list)
    files: dict[str, list] = {"training": [], "validation": [], "testing": []}
    for index, label in enumerate(labels):
        paths = sorted((root / label).glob("*.wav"))
        if not paths:
            raise RecipeError(f"--wav-dir: {root / label} holds no .wav files")
        for path in paths:
            # Every header (seconds for the whole archive): a bad file stops
            # the run here, not hours into training.
            _check_wav(path)
            if listed:
                relative = f"{label}/{path.name}"
                split = (
                    "validation"
                    if relative in validation_names
                    else "testing"
                    if relative in testing_names
                    else "training"
                )
            else:
                split = which_set(path.name)
            files[split].append((str(path), index))
    for split, entries in files.items():
        if not entries:
            raise RecipeError(
                f"--wav-dir {root}: the {split} split is empty ("
                + (
                    "validation_list.txt / testing_list.txt"
                    if listed
                    else "split by a hash of the speaker id, the part of each "
                    "file name before '_nohash_'"
                )
                + "); add more speakers, or list files in validation_list.txt "
                "and testing_list.txt"
            )
    return labels, files


def _decode_wav(path, label):
    import tensorflow as tf

    audio, rate = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=1)
    with tf.control_dependencies(
        [
            tf.debugging.assert_equal(
                rate, SAMPLE_RATE, message="--wav-dir: a WAV file is not 16 kHz"
            )
        ]
    ):
        waveform = fix_length(audio[:, 0])
    return waveform, tf.cast(label, tf.int32)


def load_wav_folder(wav_dir: str | Path, max_examples: int = 0) -> SpeechData:
    import tensorflow as tf

    labels, files = wav_folder_files(wav_dir)
    datasets = {}
    for split, entries in files.items():
        if max_examples:
            entries = entries[:max_examples]
        paths = tf.constant([p for p, _ in entries])
        indices = tf.constant([i for _, i in entries], tf.int32)
        datasets[split] = tf.data.Dataset.from_tensor_slices((paths, indices)).map(
            _decode_wav, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    sizes = {
        split: min(len(entries), max_examples) if max_examples else len(entries)
        for split, entries in files.items()
    }
    return SpeechData(
        datasets["training"],
        datasets["validation"],
        datasets["testing"],
        labels,
        {"train": sizes["training"], "validation": sizes["validation"],
         "test": sizes["testing"]},
        f"WAV folder {wav_dir} ({len(labels)} labels)",
    )


def _tfds_example(example):
    import tensorflow as tf

    # tfds stores the archive's 16-bit PCM samples as int16.
    waveform = tf.cast(example["audio"], tf.float32) / 32768.0
    return fix_length(waveform), tf.cast(example["label"], tf.int32)


def load_tfds_speech(
    data_dir: str | None, max_examples: int = 0, seed: int = 0
) -> SpeechData:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    builder = tfds.builder(TFDS_NAME, data_dir=data_dir)
    labels = tuple(builder.info.features["label"].names)
    datasets, sizes = {}, {}
    for split in ("train", "validation", "test"):
        dataset = load_tfds(
            TFDS_NAME,
            split,
            data_dir=data_dir,
            shuffle_files=split == "train",
            read_config=tfds.ReadConfig(shuffle_seed=seed),
        )
        if max_examples:
            dataset = dataset.take(max_examples)
        datasets[split] = dataset.map(
            _tfds_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        count = int(dataset.cardinality())
        sizes[split] = count if count >= 0 else None
    return SpeechData(
        datasets["train"],
        datasets["validation"],
        datasets["test"],
        labels,
        sizes,
        f"tensorflow-datasets {TFDS_NAME} ({len(labels)} labels)",
    )


def load_data(config: SpeechConfig) -> SpeechData:
    if config.wav_dir is not None:
        return load_wav_folder(config.wav_dir, config.max_examples)
    return load_tfds_speech(config.data_dir, config.max_examples, config.seed)


def pipeline(
    dataset, config: SpeechConfig, *, training: bool, seed: int = 0
):
    """(waveform, label) examples -> batches of (network input, label):
    [shuffle] -> spectrogram (unless mixing waveforms) -> batch -> prefetch."""
    import tensorflow as tf

    if training:
        dataset = dataset.shuffle(
            config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    if config.mix_at == "spectrogram":
        dataset = dataset.map(
            lambda waveform, label: (spectrogram(waveform), label),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return dataset.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


# ------------------------------------------------------------------- model


def build_model(
    model_name: str, num_classes: int, config: SpeechConfig, alpha: float | None,
    seed: int, steps_per_epoch: int = 1,
) -> keras.Model:
    """[MixUp] -> [Spectrogram, with --mix-at waveform] -> network, compiled.

    alpha None is ERM: no MixUp layer at all. The network is built after
    the same seeding either way (the MixUp layers take explicit seeds and
    draw nothing from the global generator), so ERM and mixup start from the
    same weights.
    """
    keras.utils.set_random_seed(seed)
    network = MODELS[model_name](SPECTROGRAM_SHAPE, num_classes)
    if config.mix_at == "spectrogram":
        inputs = keras.Input(SPECTROGRAM_SHAPE, name="spectrograms")
    else:
        inputs = keras.Input((CLIP_SAMPLES,), name="waveforms")
    x = inputs
    if alpha is not None:
        x = keras_mixup.MixUp(alpha, seed=seed, name="mixup")(x)
    if config.mix_at == "waveform":
        x = Spectrogram(name="spectrogram")(x)
    model = keras.Model(inputs, network(x), name=f"{model_name}_speech")
    if alpha is not None:
        model = keras_mixup.MixUpModel(model, seed=seed)
        # BackupAndRestore restores only into a built model; a symbolic
        # build of the subclassed wrapper computes nothing.
        model.build((None, *inputs.shape[1:]))
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate_schedule(config, steps_per_epoch)
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def learning_rate_schedule(
    config: SpeechConfig, steps_per_epoch: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The paper's schedule: learning_rate / 10 every lr_drop_every epochs."""
    return schedules.step_decay(
        config.learning_rate,
        range(config.lr_drop_every, config.epochs, config.lr_drop_every),
        steps_per_epoch,
    )


def unit_name(model_name: str, method: str, alpha: float) -> str:
    return f"{model_name}-erm" if method == "erm" else f"{model_name}-mixup{alpha:g}"


def make_callbacks(
    config: SpeechConfig, method: str, run_dir: Path, directory: Path,
    tags: dict[str, Any],
) -> list[keras.callbacks.Callback]:
    callbacks = [
        training.LearningRateLogger(),
        storage.history_logger(directory, **tags),
        storage.backup_and_restore(run_dir),
    ]
    if method == "mixup":
        # alpha = 0 (exactly ERM) for the warm-up epochs, then the layer's alpha.
        callbacks.insert(
            0, keras_mixup.AlphaScheduler(warmup_epochs=config.warmup_epochs)
        )
    return callbacks


def fit_model(
    data: SpeechData, config: SpeechConfig, model_name: str, method: str,
    alpha: float, directory: Path, *, epochs: int | None = None,
) -> keras.Model:
    """Build and train one network (resuming from its backup in the
    workdir); returns the trained model."""
    run_dir = directory / "runs" / unit_name(model_name, method, alpha)
    run_dir.mkdir(parents=True, exist_ok=True)
    if data.sizes["train"] is None:
        raise RecipeError(
            "the number of training clips is unknown (the learning-rate "
            "schedule counts steps): pass --max-examples"
        )
    training.fresh_session()
    model = build_model(
        model_name, data.num_classes, config,
        alpha if method == "mixup" else None, config.seed,
        steps_per_epoch=-(-data.sizes["train"] // config.batch_size),
    )
    tags = {"model": model_name, "method": method, "alpha": alpha}
    model.fit(
        pipeline(data.train, config, training=True, seed=config.seed),
        validation_data=pipeline(data.validation, config, training=False),
        epochs=config.epochs if epochs is None else epochs,
        shuffle=False,  # the pipeline shuffles
        verbose=config.fit_verbose,
        callbacks=make_callbacks(config, method, run_dir, directory, tags),
    )
    return model


def split_error(model: keras.Model, dataset, config: SpeechConfig) -> float:
    """Classification error (%) of the plain network (no mixing) on a split."""
    batches = pipeline(dataset, config, training=False)
    probabilities = model.predict(batches.map(lambda x, y: x), verbose=0)
    labels = np.concatenate([y for _, y in batches.as_numpy_iterator()])
    return reporting.error_percent(probabilities, labels)


def train_one(
    data: SpeechData, config: SpeechConfig, model_name: str, method: str,
    alpha: float, directory: Path,
) -> dict[str, Any]:
    start = time.perf_counter()
    model = fit_model(data, config, model_name, method, alpha, directory)
    return {
        "validation_error": split_error(model, data.validation, config),
        "test_error": split_error(model, data.test, config),
        "parameters": model.count_params(),
        "seconds": time.perf_counter() - start,
    }


# ---------------------------------------------------------------- reporting


def report(config: SpeechConfig, rows: list[dict[str, Any]], data: SpeechData,
           directory: Path) -> str:
    columns = ["model", "method", "val error", "test error", "paper val", "paper test"]
    table_rows = []
    for row in rows:
        paper = PAPER_FIGURE4.get((row["model"], row["method"], row["alpha"]))
        table_rows.append({
            "model": MODEL_LABELS[row["model"]],
            "method": reporting.method_label(row["alpha"]),
            "val error": row["validation_error"],
            "test error": row["test_error"],
            "paper val": paper[0] if paper else None,
            "paper test": paper[1] if paper else None,
        })
    sizes = "/".join(str(data.sizes[s] or "?") for s in ("train", "validation", "test"))
    title = (
        f"Classification error (%) on {data.source}, train/val/test {sizes}, "
        f"{config.epochs} epoch(s), mixup at the {config.mix_at}; "
        f"paper: Figure 4 of Zhang et al. (2018), 30 classes"
    )
    return reporting.print_table(
        columns, table_rows, title=title, csv_path=directory / "results.csv"
    )


def train(config: SpeechConfig, workdir: str | Path) -> dict[str, Any]:
    """Train every (model, method, alpha) not yet recorded in the workdir
    (a killed fit resumes from its last finished epoch), then report."""
    run = harness.Run(RECIPE, config, workdir, ("model", "method", "alpha"))
    data = load_data(config)  # before any training: missing data stops here
    rows = run.train(
        config.units(),
        lambda unit: {
            **train_one(data, config, unit["model"], unit["method"],
                        unit["alpha"], run.workdir),
            "num_classes": data.num_classes,
        },
        show=("test_error",),
        headline=f"speech: {data.source}; {len(config.units())} run(s) of "
        f"{config.epochs} epoch(s)",
    )
    table = report(config, rows, data, run.workdir)
    return run.finish(
        {
            "metric": "classification error (%)",
            "data": data.source,
            "labels": list(data.labels),
            "sizes": data.sizes,
            "runs": rows,
            "paper": {
                unit_name(*key): {"validation_error": v, "test_error": t}
                for key, (v, t) in PAPER_FIGURE4.items()
            },
        },
        table=table,
        files=["results.csv", "history.csv"],
    )


main = cli.command(RECIPE, SpeechConfig, train, description=__doc__)


if __name__ == "__main__":
    main()
