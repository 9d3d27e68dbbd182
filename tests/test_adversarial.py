"""recipes/adversarial.py (paper section 3.5, Table 3): the attacks, the
input gradient they use, and a smoke run of the recipe."""

import csv
import json

import keras
import numpy as np
import pytest

from recipes import adversarial as recipe
from recipes.lib import gradients, reporting, training

MEAN, STD = np.float32(0.4), np.float32(0.3)


def tiny_linear_classifier(seed=0):
    """Flatten -> Dense(5, softmax) on 4x4x1 images: its loss is convex in the
    input and has a closed form for the numpy reference. Weights from numpy
    (the same on every backend), small enough that no prediction saturates."""
    inputs = keras.Input((4, 4, 1))
    hidden = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(5, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    model.layers[-1].set_weights(
        [rng.normal(0, 0.3, (16, 5)).astype(np.float32),
         rng.normal(0, 0.3, (5,)).astype(np.float32)]
    )
    return model


def tiny_conv_classifier(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4, 4, 1))
    hidden = keras.layers.Conv2D(3, 3, activation="tanh")(inputs)
    hidden = keras.layers.BatchNormalization()(hidden)
    hidden = keras.layers.Flatten()(hidden)
    outputs = keras.layers.Dense(5, activation="softmax")(hidden)
    return keras.Model(inputs, outputs)


def numpy_loss(model, x, labels):
    """Cross-entropy of the tiny linear classifier in float64 numpy, with the
    normalization (x - MEAN) / STD in front."""
    kernel, bias = (np.asarray(w, np.float64) for w in model.layers[-1].get_weights())
    features = ((np.asarray(x, np.float64) - MEAN) / STD).reshape(len(x), -1)
    logits = features @ kernel + bias
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(x)), labels]


def finite_difference_gradient(model, x, labels, h=1e-4):
    x = np.asarray(x, np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape[1:]):
        step = np.zeros_like(x)
        step[(slice(None), *index)] = h
        grad[(slice(None), *index)] = (
            numpy_loss(model, x + step, labels) - numpy_loss(model, x - step, labels)
        ) / (2 * h)
    return grad


def pixels(n=6, seed=1):
    """Images in [0, 1] with pixels at and near both ends of the range."""
    x = np.random.default_rng(seed).uniform(0, 1, (n, 4, 4, 1)).astype(np.float32)
    x[0, 0, :, 0] = [0.0, 1.0, 0.005, 0.995]
    x[1, 1, :, 0] = [1.0, 0.0, 0.999, 0.001]
    return x


LABELS = np.array([0, 1, 2, 3, 4, 0])
ONE_HOT = np.eye(5, dtype=np.float32)[LABELS]


def gradient_of(model):
    return gradients.InputGradient(
        model, input_transform=gradients.normalizer([MEAN], [STD])
    )


def test_input_gradient_matches_finite_differences():
    model = tiny_linear_classifier()
    x = pixels()
    loss, grad = gradient_of(model)(x, ONE_HOT)
    np.testing.assert_allclose(loss, numpy_loss(model, x, LABELS), rtol=1e-5, atol=1e-6)
    reference = finite_difference_gradient(model, x, LABELS)
    assert np.abs(reference).min() > 1e-3  # every pixel has a gradient to check
    np.testing.assert_allclose(grad, reference, rtol=1e-3, atol=1e-5)


def test_input_gradient_of_a_conv_net_matches_finite_differences():
    """Through conv, batch norm (inference mode) and the logits of the head,
    against float64 differences of the model's own probabilities."""
    model = tiny_conv_classifier()
    x = pixels(3)
    labels = LABELS[:3]
    _, grad = gradient_of(model)(x, ONE_HOT[:3])

    h = 1e-2
    indices = [(0, 0, 0), (1, 2, 0), (3, 3, 0), (2, 1, 0)]
    # Every shifted copy in one forward pass (eager JAX compiles per call).
    shifted = []
    for index in indices:
        step = np.zeros_like(x)
        step[(slice(None), *index)] = h
        shifted += [x + step, x - step]
    probabilities = keras.ops.convert_to_numpy(
        model((np.concatenate(shifted) - MEAN) / STD, training=False)
    ).astype(np.float64)
    losses = -np.log(probabilities[np.arange(len(probabilities)), np.tile(labels, 8)])
    losses = losses.reshape(len(indices), 2, 3)
    for (index, (plus, minus)) in zip(indices, losses, strict=True):
        np.testing.assert_allclose(
            grad[(slice(None), *index)], (plus - minus) / (2 * h), rtol=2e-2, atol=1e-3
        )


def test_fgsm_moves_each_pixel_by_exactly_epsilon_or_clips_to_the_range():
    model = tiny_linear_classifier()
    x = pixels()
    epsilon = 4 / 255
    adversarial = recipe.fgsm(gradient_of(model), x, ONE_HOT, epsilon)
    reference_sign = np.sign(finite_difference_gradient(model, x, LABELS))
    expected = np.clip(x + epsilon * reference_sign, 0.0, 1.0)
    np.testing.assert_allclose(adversarial, expected, atol=1e-6)
    moved = np.abs(adversarial - x)
    clipped = (adversarial == 0.0) | (adversarial == 1.0)
    assert np.all(np.isclose(moved, epsilon, atol=1e-6) | clipped)
    assert np.all(clipped[np.abs(moved - epsilon) > 1e-6])
    # The pixels at 0 and 1 that the gradient pushes outwards stay there.
    assert clipped.any() and np.isclose(moved, epsilon, atol=1e-6).mean() > 0.8
    # On this convex loss a step along the gradient's sign raises every loss.
    assert np.all(numpy_loss(model, adversarial, LABELS) > numpy_loss(model, x, LABELS))


@pytest.mark.parametrize("iterations", [1, 10])
def test_iterative_fgsm_stays_in_the_epsilon_ball_and_the_valid_range(iterations):
    model = tiny_linear_classifier()
    x = pixels()
    epsilon = 8 / 255
    gradient = gradient_of(model)
    adversarial = recipe.iterative_fgsm(
        gradient, x, ONE_HOT, epsilon, iterations=iterations
    )
    assert adversarial.dtype == np.float32
    assert np.abs(adversarial - x).max() <= epsilon + 1e-6
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    clean_loss = numpy_loss(model, x, LABELS)
    assert np.all(numpy_loss(model, adversarial, LABELS) > clean_loss)
    if iterations == 1:  # one step of epsilon is FGSM
        np.testing.assert_array_equal(
            adversarial, recipe.fgsm(gradient, x, ONE_HOT, epsilon)
        )
    else:  # the steps add up: most pixels move by the whole epsilon
        assert np.isclose(np.abs(adversarial - x), epsilon, atol=1e-6).mean() > 0.5


def test_iterative_fgsm_keeps_the_ball_on_a_non_convex_net():
    """On a non-convex net the gradient's sign changes between iterations;
    whatever the path, every iteration count keeps the ball and the range."""
    model = tiny_conv_classifier()
    x = pixels()
    gradient = gradient_of(model)
    for iterations in (2, 3, 7):
        adversarial = recipe.iterative_fgsm(
            gradient, x, ONE_HOT, 6 / 255, iterations=iterations
        )
        assert np.abs(adversarial - x).max() <= 6 / 255 + 1e-6
        assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0


def test_attack_in_padded_batches_equals_one_batch():
    model = tiny_linear_classifier()
    x = pixels()
    gradient = gradient_of(model)
    for method in ("fgsm", "ifgsm"):
        batched = recipe.attack(
            gradient, x, LABELS, 5, method=method, epsilon=0.05, iterations=3,
            batch_size=4,
        )
        whole = recipe.attack(
            gradient, x, LABELS, 5, method=method, epsilon=0.05, iterations=3,
            batch_size=100,
        )
        np.testing.assert_allclose(batched, whole, atol=1e-6)


def test_bad_arguments_raise_value_errors_that_name_them():
    model = tiny_linear_classifier()
    gradient = gradient_of(model)
    x = pixels()
    with pytest.raises(ValueError, match="epsilon must be a finite number >= 0"):
        recipe.fgsm(gradient, x, ONE_HOT, -0.1)
    with pytest.raises(ValueError, match=r"x must lie in the valid range \[0.0, 1.0\]"):
        recipe.fgsm(gradient, x * 255.0, ONE_HOT, 0.1)
    with pytest.raises(ValueError, match="iterations must be an int >= 1, received 0"):
        recipe.iterative_fgsm(gradient, x, ONE_HOT, 0.1, iterations=0)
    with pytest.raises(ValueError, match="method must be one of fgsm, ifgsm"):
        recipe.attack(gradient, x, LABELS, 5, method="pgd", epsilon=0.1)
    with pytest.raises(ValueError, match=r"y of shape \(6,\)"):
        gradient(x, LABELS)
    inputs = keras.Input((3,))
    no_head = keras.Model(inputs, keras.layers.Softmax()(inputs))
    with pytest.raises(ValueError, match="model must end with a Dense layer"):
        gradients.InputGradient(no_head)


def test_error_percent_counts_labels_outside_the_top_k():
    logits = np.array(
        [[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 3.0, 2.0]]
    )
    labels = np.array([0, 2, 1])
    assert reporting.error_percent(logits, labels, 1) == pytest.approx(200 / 3)
    assert reporting.error_percent(logits, labels, 2) == pytest.approx(100 / 3)
    assert reporting.error_percent(logits, labels, 4) == 0.0


def test_predict_logits_are_the_log_probabilities_up_to_a_constant():
    model = tiny_conv_classifier()
    x = pixels()
    gradient = gradient_of(model)
    logits = gradient.predict_logits(x, batch_size=4)
    probabilities = keras.ops.convert_to_numpy(model((x - MEAN) / STD, training=False))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(np.exp(log_softmax), probabilities, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ smoke run


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("adversarial-smoke")
    results = recipe.main(["--smoke", "--workdir", str(workdir)])
    return workdir, results


def test_smoke_run_writes_config_history_results(smoke_run):
    workdir, results = smoke_run
    config = json.loads((workdir / "config.json").read_text())
    assert config["recipe"] == "adversarial"
    assert config["keras_backend"] == keras.backend.backend()
    assert config["config"]["dataset"] == "synthetic"
    assert config["config"]["epsilons"] == [4.0]
    saved = json.loads((workdir / "results.json").read_text())
    rows = saved["rows"]
    # clean x 3 models; white box x 3 models x 2 attacks; black box x 2 x 2.
    assert len(rows) == 3 + 6 + 4
    for row in rows:
        assert 0.0 <= row["top5"] <= row["top1"] <= 100.0
        if row["setting"] != "clean":
            assert row["max_perturbation_levels"] <= 4.0 + 1e-3
    assert {(r["setting"], r["method"]) for r in rows if r["setting"] == "black"} == {
        ("black", "erm"), ("black", "mixup")
    }
    assert all(r["source"] == "erm_source" for r in rows if r["setting"] == "black")
    with open(workdir / "history.csv", newline="") as file:
        history = list(csv.DictReader(file))
    assert [(r["model"], r["epoch"]) for r in history] == [
        (m, e) for m in ("erm", "mixup", "erm_source") for e in ("0", "1")
    ]
    assert "val_accuracy" in history[0]
    for name in ("erm_seed0", "mixup_seed0", "erm_source_seed1000"):
        assert (workdir / "models" / name / "model.keras").exists()
    table = results["table"]
    assert "(a) White box attacks, epsilon 4/255" in table
    assert "paper: Table 3 (ImageNet, ResNet-101)" in table
    assert "90.7" in table and "40.9" in table
    with open(workdir / "results.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == len(rows)


def test_rerun_loads_the_trained_models_and_gets_the_same_numbers(
    smoke_run, monkeypatch
):
    workdir, first = smoke_run

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished model was trained again")

    monkeypatch.setattr(training, "fit_classifier", must_not_train)
    again = recipe.main(["--smoke", "--workdir", str(workdir)])
    assert again["trained_runs"] == 0 and again["skipped_runs"] == 3
    for new, old in zip(again["rows"], first["rows"], strict=True):
        assert new["top1"] == pytest.approx(old["top1"])
        assert new["top5"] == pytest.approx(old["top5"])
