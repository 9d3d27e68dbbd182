"""Robustness to adversarial examples (paper section 3.5, Table 3).

Three classifiers are trained with the same procedure: ERM, mixup (the same
seed as ERM: same initial weights and data order, only the mixing differs)
and a second, independently trained ERM model (another seed), the source of
the black-box attacks. The test images are attacked with FGSM and iterative
FGSM (I-FGSM: 10 iterations with equal steps of epsilon / 10) with a maximum
perturbation of epsilon = 4 pixel levels:

- white box: each model attacks itself (ERM, mixup);
- black box: the second ERM model makes the examples, ERM and mixup are
  tested on them;

and the top-1 and top-5 errors under attack are printed beside Table 3.

Pixel space. An image's pixels are x / 255 in [0, 1], and "4 pixel levels"
is epsilon = 4 / 255 there. Attacks move pixels in that space and clip them
to [0, 1]; the model's normalization (x - mean) / std is applied inside the
differentiated function (`gradients.InputGradient(input_transform=...)`),
so the gradient is the gradient with respect to the pixels, and the
perturbation is not rescaled by the per-channel std. Adversarial images are
kept as floats (not rounded back to 8 bits).

    python -m recipes.adversarial                    # Fashion-MNIST, small CNN
    python -m recipes.adversarial --dataset digits   # offline: ~2.5 CPU minutes
    python -m recipes.adversarial --dataset cifar10  # PreAct ResNet-18: a GPU
    python -m recipes.adversarial --smoke

The default runs Fashion-MNIST's CPU-scale setting (settings.SETTINGS: the
first 6,000 training and 5,000 test images, 10 epochs): 3 runs (ERM,
mixup and the black-box source) of about 3 min each on one core, then the
attacks on the 5,000 test images.

Measured here (recipes/README.md), black box FGSM at 16 levels, top-1:
the default (Fashion-MNIST, --limit-test 2000) ERM 60.1%, mixup 38.9%, 13
min; digits ERM 5.2%, mixup 3.9% (3 seeds), 2.5 min a seed; paper
(ImageNet, 4 levels) ERM 57.0%, mixup 46.0%.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from recipes.lib import cli, gradients, harness, images, reporting, settings
from recipes.lib.gradients import InputGradient

RECIPE = "adversarial"
ATTACKS = ("fgsm", "ifgsm")
ATTACK_LABELS = {"clean": "clean", "fgsm": "FGSM", "ifgsm": "I-FGSM"}
PAPER_EPSILON = 4.0
# Table 3, error (%) of ResNet-101 on ImageNet-2012 under attack, epsilon 4:
# (setting, metric, method) -> (FGSM, I-FGSM).
PAPER_TABLE3 = {
    ("white", "top1", "erm"): (90.7, 99.9),
    ("white", "top1", "mixup"): (75.2, 99.6),
    ("white", "top5", "erm"): (63.1, 93.4),
    ("white", "top5", "mixup"): (49.1, 95.8),
    ("black", "top1", "erm"): (57.0, 57.3),
    ("black", "top1", "mixup"): (46.0, 40.9),
    ("black", "top5", "erm"): (24.8, 18.1),
    ("black", "top5", "mixup"): (17.4, 11.8),
}
# The black-box source: an ERM model with its own seed (initial weights, data
# order), i.e. trained independently of the ERM model it is compared with.
SOURCE_SEED_OFFSET = 1000


# -------------------------------------------------------------------- attacks


def _check_attack_args(x, epsilon, clip_min, clip_max):
    if not (
        isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon >= 0
    ):
        raise ValueError(f"epsilon must be a finite number >= 0, received {epsilon!r}")
    if not clip_min < clip_max:
        raise ValueError(
            f"clip_min must be below clip_max, received clip_min={clip_min!r}, "
            f"clip_max={clip_max!r}"
        )
    if x.size and (x.min() < clip_min or x.max() > clip_max):
        raise ValueError(
            f"x must lie in the valid range [{clip_min}, {clip_max}] (pixels in "
            f"[0, 1]: divide uint8 images by 255), received values in "
            f"[{x.min()}, {x.max()}]"
        )


def fgsm(gradient: InputGradient, x, y, epsilon: float, **clip) -> np.ndarray:
    """The fast gradient sign method (Goodfellow et al., 2015): one step of
    size epsilon along the sign of the loss gradient, clipped to the valid
    range: clip(x + epsilon * sign(grad_x L(x, y)), clip_min, clip_max), which
    is one I-FGSM iteration (its projection onto the epsilon ball is then the
    identity). x: float images in the valid range; y: one-hot labels (the
    true labels: an untargeted attack). A pixel whose gradient is exactly 0
    does not move."""
    return iterative_fgsm(gradient, x, y, epsilon, iterations=1, **clip)


def iterative_fgsm(
    gradient: InputGradient,
    x: np.ndarray,
    y: np.ndarray,
    epsilon: float,
    *,
    iterations: int = 10,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
) -> np.ndarray:
    """Iterative FGSM (Kurakin et al., 2017): `iterations` FGSM steps of
    epsilon / iterations, each followed by a projection onto the epsilon ball
    around x (max norm) and onto the valid range."""
    if not isinstance(iterations, int) or isinstance(iterations, bool) or (
        iterations < 1
    ):
        raise ValueError(f"iterations must be an int >= 1, received {iterations!r}")
    x = np.asarray(x, dtype=np.float32)
    _check_attack_args(x, epsilon, clip_min, clip_max)
    step = np.float32(epsilon / iterations)
    lower = np.maximum(x - np.float32(epsilon), clip_min)
    upper = np.minimum(x + np.float32(epsilon), clip_max)
    adversarial = x.copy()
    for _ in range(iterations):
        _, grad = gradient(adversarial, y)
        adversarial = np.clip(adversarial + step * np.sign(grad), lower, upper)
    return adversarial


def attack(
    gradient: InputGradient,
    x: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    method: str,
    epsilon: float,
    iterations: int = 10,
    batch_size: int = 500,
) -> np.ndarray:
    """Adversarial versions of pixel images x (in [0, 1]) with integer labels,
    made in batches (the last one padded, so each shape compiles once)."""
    if method not in ATTACKS:
        raise ValueError(
            f"method must be one of {', '.join(ATTACKS)}, received {method!r}"
        )
    x = np.asarray(x, dtype=np.float32)
    one_hot = np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]
    out = np.empty_like(x)
    for start in range(0, len(x), batch_size):
        stop = min(start + batch_size, len(x))
        size = stop - start
        batch_x, batch_y = x[start:stop], one_hot[start:stop]
        if len(x) > batch_size:
            # Padding rows have zero labels: zero loss, zero gradient.
            batch_x = gradients.pad_rows(batch_x, batch_size)
            batch_y = gradients.pad_rows(batch_y, batch_size)
        if method == "fgsm":
            adversarial = fgsm(gradient, batch_x, batch_y, epsilon)
        else:
            adversarial = iterative_fgsm(
                gradient, batch_x, batch_y, epsilon, iterations=iterations
            )
        out[start:stop] = adversarial[:size]
    return out


# --------------------------------------------------------------------- recipe


@dataclasses.dataclass(frozen=True)
class AdversarialConfig(settings.ImageTrainingConfig):
    """ERM and mixup models under FGSM and I-FGSM, white and black box
    (mixup paper, section 3.5, Table 3)."""

    alpha: float = cli.option(
        1.0,
        "mixup alpha of the mixup model (the paper's CIFAR setting, section "
        "3.2; its Table 3 models are ImageNet ResNet-101 with alpha 0.2)",
        above=0,
    )
    epsilons: tuple[float, ...] = cli.option(
        (4.0, 8.0, 16.0, 32.0),
        "maximum perturbations in pixel levels out of 255 (the paper: 4); "
        "Table 3 is printed for each",
        smoke=(4.0,),
        metavar="LEVELS",
        above=0,
        maximum=255,
        unique=True,
    )
    iterations: int = cli.option(
        10, "I-FGSM iterations (the paper: 10)", smoke=2, minimum=1
    )
    attack_batch_size: int = cli.option(
        500, "images per gradient computation of the attacks", resumable=True,
        minimum=1,
    )


MODELS = ("erm", "mixup", "erm_source")
MODEL_LABELS = {"erm": "ERM", "mixup": "mixup", "erm_source": "ERM (black-box source)"}


def model_settings(config: AdversarialConfig, name: str) -> dict[str, Any]:
    """The alpha and seed of each model (the unit key is (model, seed))."""
    return {
        "erm": {"alpha": 0.0, "seed": config.seed},
        "mixup": {"alpha": config.alpha, "seed": config.seed},
        "erm_source": {"alpha": 0.0, "seed": config.seed + SOURCE_SEED_OFFSET},
    }[name]


def _errors(gradient, x, labels) -> dict[str, float]:
    logits = gradient.predict_logits(x)
    return {
        "top1": reporting.error_percent(logits, labels, 1),
        "top5": reporting.error_percent(logits, labels, 5),
    }


def evaluate_attacks(
    config: AdversarialConfig,
    data: images.ImageArrays,
    trained: dict[str, keras.Model],
    progress=None,
) -> list[dict[str, Any]]:
    """Rows (setting, attack, epsilon, method, top1, top5, ...) of every
    attack; setting is clean, white or black."""
    transform = gradients.pixel_input_transform(data)
    input_gradients = {
        name: InputGradient(model, input_transform=transform)
        for name, model in trained.items()
    }
    pixels = data.x_test.astype(np.float32) / 255.0
    labels = data.y_test
    rows = []
    for name in MODELS:
        rows.append({
            "setting": "clean", "attack": "clean", "epsilon": 0.0, "method": name,
            **_errors(input_gradients[name], pixels, labels),
        })
    done = 0
    for epsilon in config.epsilons:
        for method in ATTACKS:
            kwargs = dict(
                method=method, epsilon=epsilon / 255.0,
                iterations=config.iterations, batch_size=config.attack_batch_size,
            )
            for name in MODELS:
                adversarial = attack(
                    input_gradients[name], pixels, labels, data.num_classes, **kwargs
                )
                perturbation = float(np.abs(adversarial - pixels).max()) * 255.0
                # White box: the model attacks itself.
                white = {
                    "setting": "white", "attack": method, "epsilon": epsilon,
                    "method": name, "source": name,
                    "max_perturbation_levels": perturbation,
                    **_errors(input_gradients[name], adversarial, labels),
                }
                rows.append(white)
                if name == "erm_source":
                    # Black box: the independent ERM model's examples.
                    for target in ("erm", "mixup"):
                        rows.append({
                            "setting": "black", "attack": method,
                            "epsilon": epsilon, "method": target,
                            "source": name,
                            "max_perturbation_levels": perturbation,
                            **_errors(input_gradients[target], adversarial, labels),
                        })
                done += 1
                if progress is not None:
                    progress.update(done, [("white_box_top1", white["top1"])])
    return rows


def _find(rows, setting, attack_name, epsilon, method) -> dict[str, Any]:
    for row in rows:
        if (row["setting"], row["attack"], row["method"]) == (
            setting, attack_name, method
        ) and (attack_name == "clean" or row["epsilon"] == epsilon):
            return row
    raise KeyError((setting, attack_name, epsilon, method))


def report(config: AdversarialConfig, rows, workdir: Path, data) -> str:
    """Table 3 for each epsilon, ours beside the paper's (its numbers are for
    epsilon 4 on ImageNet); results.csv holds every row."""
    texts = []
    for epsilon in config.epsilons:
        for setting, caption in (
            ("white", "(a) White box"), ("black", "(b) Black box")
        ):
            table_rows = []
            for metric in ("top1", "top5"):
                for method in ("erm", "mixup"):
                    paper = PAPER_TABLE3[(setting, metric, method)]
                    show_paper = epsilon == PAPER_EPSILON
                    table_rows.append({
                        "metric": "Top-1" if metric == "top1" else "Top-5",
                        "method": reporting.method_label(
                            0.0 if method == "erm" else config.alpha
                        ),
                        "clean": _find(rows, "clean", "clean", 0.0, method)[metric],
                        "FGSM": _find(rows, setting, "fgsm", epsilon, method)[
                            metric
                        ],
                        "I-FGSM": _find(rows, setting, "ifgsm", epsilon, method)[
                            metric
                        ],
                        "paper FGSM": paper[0] if show_paper else None,
                        "paper I-FGSM": paper[1] if show_paper else None,
                    })
            title = (
                f"{caption} attacks, epsilon {epsilon:g}/255, error (%) on "
                f"{len(data.y_test)} {data.name} test images"
                + (
                    "; paper: Table 3 (ImageNet, ResNet-101)"
                    if epsilon == PAPER_EPSILON else ""
                )
            )
            if setting == "black":
                title += "; examples made by an independently trained ERM model"
            texts.append(reporting.print_table(
                ["metric", "method", "clean", "FGSM", "I-FGSM", "paper FGSM",
                 "paper I-FGSM"],
                table_rows, title=title,
            ))
    columns = ["setting", "attack", "epsilon", "method", "source", "top1", "top5",
               "max_perturbation_levels"]
    reporting.write_table_csv(workdir / "results.csv", columns, rows)
    return "\n\n".join(texts)


def train(config: AdversarialConfig, workdir: str | Path) -> dict[str, Any]:
    """Train the three models not yet trained in the workdir, attack, report."""
    run = harness.Run(RECIPE, config, workdir, ("model", "seed"))
    data = settings.load_data(config)
    trained: dict[str, keras.Model] = {}

    def train_unit(unit):
        model, record = settings.train_and_save_classifier(
            config, data, run.workdir, unit["model"], **model_settings(
                config, unit["model"])
        )
        trained[unit["model"]] = model
        return record

    records = run.train(
        [{"model": name, "seed": model_settings(config, name)["seed"]}
         for name in MODELS],
        train_unit, show=("test_error",), unit_name="model",
        headline=f"adversarial: {data.name}, {len(data.y_train)} training and "
        f"{len(data.y_test)} test images; models ERM, mixup α={config.alpha:g} "
        f"and a second ERM (black-box source), {config.setting().epochs} epochs "
        f"each",
    )
    for record in records:  # trained by an earlier run: saved
        if record["model"] not in trained:
            trained[record["model"]] = keras.saving.load_model(
                settings.saved_classifier_path(
                    run.workdir, record["model"], record["seed"]
                ),
                compile=False,
            )
    print("attacking", flush=True)
    attack_progress = reporting.progress_bar(
        len(config.epsilons) * len(ATTACKS) * len(MODELS), unit_name="attack"
    )
    rows = evaluate_attacks(config, data, trained, attack_progress)
    table = report(config, rows, run.workdir, data)
    return run.finish(
        {
            "metric": "top-1 and top-5 error (%) on the test set",
            "dataset": data.name,
            "n_test": len(data.y_test),
            "setting": config.setting(),
            "epsilons_pixel_levels": list(config.epsilons),
            "models": records,
            "rows": rows,
        },
        table=table,
        files=["results.csv", "history.csv", "rows.jsonl"],
    )


main = cli.command(RECIPE, AdversarialConfig, train, description=__doc__)


if __name__ == "__main__":
    main()
