"""recipes/speech.py: the speech recipe (paper section 3.3, Figure 4)."""

import csv
import hashlib
import json
import wave

import keras
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf
import tensorflow_datasets as tfds

import keras_mixup
from recipes import speech
from recipes.lib import cli, data, models

MOCK_EXAMPLES = 8  # per split; the smoke setting uses the first 8


def reference_spectrogram(waveform):
    """numpy/scipy reference of the front end (float64): centred frames
    (reflect padding), periodic Hamming window, |rfft|, log1p, Nyquist bin
    dropped, (frequency, frame) layout, z-scored with the unbiased std."""
    padded = np.pad(np.asarray(waveform, np.float64), 160, mode="reflect")
    window = scipy.signal.get_window("hamming", 320)  # periodic by default
    frames = np.lib.stride_tricks.sliding_window_view(padded, 320)[::160]
    log_magnitude = np.log1p(np.abs(np.fft.rfft(frames * window, axis=1)))
    spectrogram = log_magnitude[:, :160].T
    return (spectrogram - spectrogram.mean()) / spectrogram.std(ddof=1)


def tone(frequency_hz, samples=16000, amplitude=0.5):
    t = np.arange(samples) / 16000.0
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def test_spectrogram_matches_the_numpy_reference():
    rng = np.random.default_rng(0)
    waveforms = np.stack([
        tone(1000.0) + 0.05 * rng.normal(size=16000).astype(np.float32),
        (0.3 * rng.normal(size=16000)).astype(np.float32),
    ])
    want = np.stack([reference_spectrogram(w) for w in waveforms])
    pipeline_side = speech.spectrogram(tf.constant(waveforms)).numpy()
    model_side = keras.ops.convert_to_numpy(speech.Spectrogram()(waveforms))
    for got in (pipeline_side, model_side):
        assert got.shape == (2, 160, 101, 1) and got.dtype == np.float32
        np.testing.assert_allclose(got[..., 0], want, atol=3e-4)
    # One example at a time (the tf.data map) gives the same as a batch.
    single = speech.spectrogram(tf.constant(waveforms[1])).numpy()
    np.testing.assert_allclose(single, pipeline_side[1], atol=1e-6)


@pytest.mark.parametrize("frequency_hz, expected_bin", [(1000.0, 20), (3000.0, 60)])
def test_a_pure_tone_lands_in_its_frequency_bin(frequency_hz, expected_bin):
    # 320-point FFT at 16 kHz: bins are 50 Hz apart.
    got = speech.spectrogram(tf.constant(tone(frequency_hz))).numpy()[..., 0]
    # Per frame; the first and last frames reach into the reflect padding,
    # where the reflected sine has a phase jump that smears the peak.
    peaks = got.argmax(axis=0)[1:-1]
    assert (peaks == expected_bin).all(), np.unique(peaks)
    assert abs(got.mean()) < 1e-5 and abs(got.std(ddof=1) - 1.0) < 1e-4


def test_silence_gives_zeros_not_nan():
    got = speech.spectrogram(tf.zeros([16000])).numpy()
    assert got.shape == (160, 101, 1) and np.all(got == 0.0)


def test_fix_length_pads_with_zeros_and_crops():
    short = speech.fix_length(tf.range(1, 6, dtype=tf.float32), 8).numpy()
    assert short.tolist() == [1, 2, 3, 4, 5, 0, 0, 0]
    long = speech.fix_length(tf.range(1, 11, dtype=tf.float32), 8).numpy()
    assert long.tolist() == [1, 2, 3, 4, 5, 6, 7, 8]


def test_vgg11_shapes_and_parameter_count():
    vgg = models.vgg11(speech.SPECTROGRAM_SHAPE, 12)
    channels = [1, 64, 128, 256, 256, 512, 512, 512, 512]
    convolutions = sum(9 * a * b + b for a, b in zip(channels, channels[1:]))
    batch_norms = 4 * sum(channels[1:])
    assert vgg.count_params() == convolutions + batch_norms + (
        7680 * 512 + 512
    ) + (512 * 12 + 12)
    # Five 2x2 poolings: 160 x 101 -> 5 x 3, as the reference's 161 x 101.
    assert vgg.get_layer("flatten").output.shape[1:] == (5 * 3 * 512,)
    assert vgg.output_shape == (None, 12)
    with pytest.raises(ValueError, match=r"lenet: num_classes must be an int >= 2"):
        models.lenet(speech.SPECTROGRAM_SHAPE, 1)
    with pytest.raises(ValueError, match=r"vgg11: input_shape must be .*\(160, 101\)"):
        models.vgg11((160, 101), 12)


def test_lenet_shapes_and_parameter_count(smoke_run):
    """The smoke run's LeNet (12 tfds classes) ran forward and backward on
    160 x 101 x 1 spectrograms; its size is GCommandsPytorch's: conv 1->20
    and 20->20 (5x5), dense 37*22*20 -> 1000 -> classes."""
    _, results, _ = smoke_run
    lenet = models.lenet(speech.SPECTROGRAM_SHAPE, 12)
    assert lenet.get_layer("flatten").output.shape[1:] == (37 * 22 * 20,)
    assert lenet.output_shape == (None, 12)
    expected = (25 * 20 + 20) + (25 * 20 * 20 + 20) + (16280 * 1000 + 1000) + (
        1000 * 12 + 12
    )
    assert lenet.count_params() == expected
    # The mixup model adds one weight: the MixUp layer's alpha variable.
    assert [run["parameters"] for run in results["runs"]] == [expected, expected + 1]


# --------------------------------------------------------- tfds smoke run


def _network(model):
    """The LeNet inside an ERM model or inside a MixUpModel."""
    inner = model.model if isinstance(model, keras_mixup.MixUpModel) else model
    return inner.get_layer("lenet")


class WeightDigests(keras.callbacks.Callback):
    """Records a digest of every network weight at the end of each epoch."""

    def __init__(self, record, method):
        super().__init__()
        self.record, self.method = record, method

    def on_epoch_end(self, epoch, logs=None):
        self.record[(self.method, epoch)] = [
            hashlib.sha256(w.tobytes()).hexdigest() + str(w.dtype)
            for w in _network(self.model).get_weights()
        ]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """`python -m recipes.speech --smoke` on tfds mock data (random audio of
    random lengths): LeNet, ERM and mixup alpha 0.2, 2 epochs, 1 warm-up.
    A test callback records the network's weights after each epoch."""
    workdir = tmp_path_factory.mktemp("speech-smoke")
    digests = {}
    real_make_callbacks = speech.make_callbacks

    def with_digests(config, method, *args, **kwargs):
        return real_make_callbacks(config, method, *args, **kwargs) + [
            WeightDigests(digests, method)
        ]

    with pytest.MonkeyPatch.context() as patch, tfds.testing.mock_data(
        num_examples=MOCK_EXAMPLES
    ):
        patch.setattr(speech, "make_callbacks", with_digests)
        results = speech.main(["--smoke", "--workdir", str(workdir)])
    return workdir, results, digests


def _history(workdir):
    with open(workdir / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_smoke_writes_config_history_and_results(smoke_run):
    workdir, results, _ = smoke_run
    written = json.loads((workdir / "config.json").read_text())
    assert written["recipe"] == "speech"
    assert written["keras_backend"] == keras.backend.backend()
    config = written["config"]
    assert (config["models"], config["alpha"]) == (["lenet"], [0.2])
    assert config["epochs"] == 2
    assert (config["warmup_epochs"], config["learning_rate"]) == (1, 3e-3)

    history = _history(workdir)
    assert [(r["epoch"], r["method"], r["alpha"]) for r in history] == [
        ("0", "erm", "0.0"), ("1", "erm", "0.0"),
        ("0", "mixup", "0.2"), ("1", "mixup", "0.2"),
    ]
    assert all(float(r["learning_rate"]) == pytest.approx(3e-3) for r in history)

    saved = json.loads((workdir / "results.json").read_text())
    assert saved["sizes"] == {"train": 8, "validation": 8, "test": 8}
    assert len(saved["labels"]) == 12
    assert [(r["model"], r["method"], r["alpha"]) for r in saved["runs"]] == [
        ("lenet", "erm", 0.0), ("lenet", "mixup", 0.2)
    ]
    for run in saved["runs"]:
        # 8 examples: errors are multiples of 100/8.
        for key in ("validation_error", "test_error"):
            assert round(run[key] * 8 / 100, 6).is_integer()
    assert saved["paper"]["vgg11-mixup0.2"] == {
        "validation_error": 3.9, "test_error": 3.4
    }
    assert results["runs"] == saved["runs"]
    assert not (workdir / "runs" / "lenet-erm" / "backup").exists()  # done: deleted


def test_smoke_prints_figure4_beside_ours(smoke_run):
    _, results, _ = smoke_run
    lines = results["table"].splitlines()
    assert "Figure 4" in lines[0] and "12 labels" in lines[0]
    assert lines[1].split() == [
        "model", "method", "val", "error", "test", "error", "paper", "val",
        "paper", "test",
    ]
    assert lines[3].split()[:2] == ["LeNet", "ERM"]
    assert lines[3].split()[-2:] == ["9.8", "10.3"]
    assert lines[4].split()[-2:] == ["10.2", "11.3"]


def test_warmup_epoch_is_bit_identical_to_erm_then_mixup_differs(smoke_run):
    """Epoch 0 of the mixup run is the warm-up: the network's weights after it
    equal ERM's after its first epoch (same seed) bit for bit, and so do the
    logged training loss and accuracy and the validation loss. From epoch 1
    on it mixes: weights and training loss differ."""
    workdir, _, digests = smoke_run
    assert len(digests[("erm", 0)]) == 8  # 2 conv + 2 dense kernels and biases
    assert digests[("mixup", 0)] == digests[("erm", 0)]
    assert digests[("mixup", 1)] != digests[("erm", 1)]
    assert digests[("erm", 1)] != digests[("erm", 0)]  # it trained
    rows = {(r["method"], r["epoch"]): r for r in _history(workdir)}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert rows[("mixup", "0")][key] == rows[("erm", "0")][key], key
    assert rows[("mixup", "1")]["loss"] != rows[("erm", "1")]["loss"]


def test_rerun_trains_nothing_already_done(smoke_run, monkeypatch, capsys):
    workdir, first, _ = smoke_run

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(speech, "fit_model", must_not_train)
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        again = speech.main(["--smoke", "--workdir", str(workdir)])
    assert again["trained_runs"] == 0 and again["skipped_runs"] == 2
    assert again["runs"] == first["runs"]
    assert "2 already done" in capsys.readouterr().out


# ------------------------------------------------------------ WAV folder


def _write_wav(path, samples):
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(16000)
        file.writeframes(pcm.tobytes())


def make_wav_folder(root, lists=True):
    """The original archive's layout: one folder per label (and a
    _background_noise_ folder, not a label), files <speaker>_nohash_<n>.wav
    of varied lengths, validation_list.txt and testing_list.txt."""
    rng = np.random.default_rng(7)
    frequencies = {"no": 700.0, "yes": 2500.0}
    (root / "_background_noise_").mkdir(parents=True)
    _write_wav(root / "_background_noise_" / "noise.wav", rng.normal(size=16000) * 0.1)
    listed = {"validation": [], "testing": []}
    for label, frequency in frequencies.items():
        (root / label).mkdir()
        for speaker in range(8):
            length = int(rng.integers(12000, 17000))
            samples = tone(frequency, length, 0.4) + 0.02 * rng.normal(size=length)
            name = f"{speaker:08x}_nohash_0.wav"
            _write_wav(root / label / name, samples)
            if speaker == 6:
                listed["validation"].append(f"{label}/{name}")
            elif speaker == 7:
                listed["testing"].append(f"{label}/{name}")
    if lists:
        for split in ("validation", "testing"):
            (root / f"{split}_list.txt").write_text("\n".join(listed[split]) + "\n")
    return root


def test_wav_folder_uses_the_archives_lists(tmp_path):
    labels, files = speech.wav_folder_files(make_wav_folder(tmp_path / "wavs"))
    assert labels == ("no", "yes")
    assert [len(files[s]) for s in ("training", "validation", "testing")] == [12, 2, 2]
    assert sorted(p.split("/")[-1] for p, _ in files["testing"]) == [
        "00000007_nohash_0.wav"
    ] * 2
    assert {i for _, i in files["training"]} == {0, 1}


def test_hash_split_keeps_speakers_together_in_about_10_10_80():
    rng = np.random.default_rng(3)
    speakers = [f"{rng.integers(2**32):08x}" for _ in range(4000)]
    splits = [speech.which_set(f"{s}_nohash_0.wav") for s in speakers]
    for speaker, split in zip(speakers[:50], splits):
        assert all(
            speech.which_set(f"/data/yes/{speaker}_nohash_{n}.wav") == split
            for n in range(1, 4)
        )
    shares = {s: splits.count(s) / len(splits) for s in set(splits)}
    tolerance = 4 * np.sqrt(0.1 * 0.9 / len(splits))
    assert abs(shares["validation"] - 0.1) < tolerance
    assert abs(shares["testing"] - 0.1) < tolerance
    assert abs(shares["training"] - 0.8) < 2 * tolerance


def test_wav_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(cli.RecipeError, match="is not a directory"):
        speech.wav_folder_files(tmp_path / "absent")
    (tmp_path / "one" / "yes").mkdir(parents=True)
    with pytest.raises(cli.RecipeError, match=r"1 label sub-folder\(s\) \(yes\)"):
        speech.wav_folder_files(tmp_path / "one")
    root = make_wav_folder(tmp_path / "rate")
    path = next((root / "yes").glob("*.wav"))
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(8000)
        file.writeframes(np.zeros(800, "<i2").tobytes())
    with pytest.raises(cli.RecipeError, match="has 8000 Hz, 1 channel"):
        speech.wav_folder_files(root)


def test_wav_folder_run_mixing_waveforms_resumes_after_a_kill(tmp_path, monkeypatch):
    """--wav-dir with --mix-at waveform (spectrograms computed in the model);
    killed after its first epoch, the rerun continues from epoch 1."""
    root = make_wav_folder(tmp_path / "wavs")
    workdir = tmp_path / "run"
    argv = ["--smoke", "--wav-dir", str(root), "--method", "mixup",
            "--mix-at", "waveform", "--workdir", str(workdir)]
    real_make_callbacks = speech.make_callbacks

    class KillAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(
        speech, "make_callbacks",
        lambda *a, **k: real_make_callbacks(*a, **k) + [KillAfterFirstEpoch()],
    )
    with pytest.raises(KeyboardInterrupt):
        speech.main(argv)
    assert (workdir / "runs" / "lenet-mixup0.2" / "backup").exists()
    assert [r["epoch"] for r in _history(workdir)] == ["0"]

    monkeypatch.setattr(speech, "make_callbacks", real_make_callbacks)
    results = speech.main(argv)
    assert [r["epoch"] for r in _history(workdir)] == ["0", "1"]  # epoch 0 not redone
    assert results["trained_runs"] == 1
    assert results["labels"] == ["no", "yes"]
    assert results["sizes"] == {"train": 8, "validation": 2, "test": 2}
    model_input = json.loads((workdir / "config.json").read_text())["config"]
    assert model_input["mix_at"] == "waveform"


def test_waveform_model_computes_the_pipelines_spectrograms():
    config = speech.SpeechConfig(mix_at="waveform")
    model = speech.build_model("lenet", 2, config, 0.2, seed=0)
    inner = model.model
    assert inner.input_shape == (None, 16000)
    front_end = keras.Model(inner.input, inner.get_layer("spectrogram").output)
    waveform = tone(1500.0)[None]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(front_end(waveform)),
        speech.spectrogram(tf.constant(waveform)).numpy(),
        atol=3e-4,
    )


# ------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--models", "resnet"],
         "--models: invalid choice: 'resnet' (choose from 'lenet', 'vgg11')"),
        (["--models", "lenet", "lenet"], "--models lists a value twice"),
        (["--method", "cutmix"], "--method: invalid choice: 'cutmix'"),
        (["--alpha", "0"], "--alpha values must be > 0, got 0.0"),
        (["--mix-at", "mfcc"], "--mix-at: invalid choice: 'mfcc'"),
        (["--warmup-epochs", "31"], "--warmup-epochs must be in [0, --epochs=30]"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
    ],
)
def test_bad_cli_input_is_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        speech.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_default_config_is_the_papers_setting():
    config = speech.SpeechConfig()
    assert (config.epochs, config.batch_size, config.learning_rate) == (30, 100, 3e-3)
    assert (config.warmup_epochs, config.alpha, config.mix_at) == (
        5, (0.1, 0.2), "spectrogram"
    )
    # Divided by 10 every 10 epochs: epoch e starts at step 7 * e.
    schedule = speech.learning_rate_schedule(config, steps_per_epoch=7)
    rates = [float(schedule(7 * e)) for e in (0, 9, 10, 19, 20, 29)]
    assert rates == pytest.approx([3e-3, 3e-3, 3e-4, 3e-4, 3e-5, 3e-5])
    assert float(schedule(7 * 10 - 1)) == pytest.approx(3e-3)
    assert [tuple(unit.values()) for unit in config.units()] == [
        ("lenet", "erm", 0.0), ("lenet", "mixup", 0.1), ("lenet", "mixup", 0.2),
        ("vgg11", "erm", 0.0), ("vgg11", "mixup", 0.1), ("vgg11", "mixup", 0.2),
    ]


def test_missing_tfds_data_stops_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)
    monkeypatch.setattr(speech, "fit_model", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as exit_info:
        speech.main(["--smoke", "--data-dir", str(tmp_path / "none"),
                     "--workdir", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "'speech_commands' is not prepared in" in err and "--data-dir DIR" in err
