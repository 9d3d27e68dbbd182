"""Model builders of the recipes: PreAct ResNet-18."""

import keras
import numpy as np
import pytest

import keras_mixup
from recipes.lib.models import preact_resnet18


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def test_preact_resnet18_parameter_count_and_output():
    model = preact_resnet18(input_shape=(32, 32, 3), num_classes=10)
    # kuangliu/pytorch-cifar's PreActResNet18: 11,171,146 parameters as
    # PyTorch counts them (BatchNorm's running statistics are buffers there).
    assert _trainable(model) == 11_171_146
    assert model.count_params() == 11_177_930
    assert model.output_shape == (None, 10)
    out = model(np.zeros((2, 32, 32, 3), "float32"), training=False)
    assert tuple(out.shape) == (2, 10)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.sum(out, axis=-1)), 1.0, rtol=1e-5
    )


def test_preact_resnet18_classes_dropout_and_weight_decay():
    model = preact_resnet18(num_classes=100, weight_decay=5e-4, dropout=0.3)
    # Only the classifier grows with the classes: 90 * (512 + 1) more.
    assert _trainable(model) == 11_171_146 + 90 * 513
    assert len([l for l in model.layers if isinstance(l, keras.layers.Dropout)]) == 8
    assert model.output_shape == (None, 100)
    # Every parameter is decayed, as PyTorch's SGD weight_decay does.
    assert len(model.losses) == len(model.trainable_variables)
    assert not preact_resnet18(weight_decay=0.0).losses
    # The stage outputs the ablation mixes at are reachable by name.
    for name in ["stem"] + [f"stage{i}_block2_add" for i in range(1, 5)]:
        model.get_layer(name)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_shape": (32, 32)},
        {"num_classes": 1},
        {"weight_decay": -1.0},
        {"dropout": 1.0},
    ],
)
def test_preact_resnet18_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="preact_resnet18"):
        preact_resnet18(**kwargs)


# One fit covers the wiring; the single positions are the same code path.
@pytest.mark.parametrize("positions", [
    pytest.param((0,), marks=pytest.mark.slow),
    pytest.param((1,), marks=pytest.mark.slow),
    pytest.param((5,), marks=pytest.mark.slow),
    (1, 3, 5),
])
def test_preact_resnet18_mixup_positions_of_table5(positions):
    model = preact_resnet18(
        (16, 16, 3), 4, mixup_alpha=1.0, mixup_at=positions, mixup_seed=0
    )
    names = [layer.name for layer in model.layers if isinstance(layer, keras_mixup.MixUp)]
    assert names == [f"mixup_layer{k}" for k in positions]
    follower = {0: "stem", 1: "stage1_block1", 3: "stage3_block1", 5: "probabilities"}
    for k in positions:
        mixup = model.get_layer(f"mixup_layer{k}")
        consumers = [node.operation.name for node in mixup._outbound_nodes]
        assert any(c.startswith(follower.get(k, f"stage{k}_block1")) for c in consumers)
    wrapped = keras_mixup.MixUpModel(model, seed=0)
    wrapped.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.rand(4, 16, 16, 3).astype("float32")
    history = wrapped.fit(x, np.arange(4) % 4, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # Without mixup_alpha, no MixUp layer; the MixUp layers add no
    # trainable parameter (only their alpha variable).
    plain = preact_resnet18((16, 16, 3), 4)
    assert _trainable(plain) == _trainable(model)
    assert model.count_params() == plain.count_params() + len(positions)


def test_preact_resnet18_rejects_bad_mixup_positions():
    with pytest.raises(ValueError, match="mixup_at"):
        preact_resnet18((16, 16, 3), 4, mixup_alpha=1.0, mixup_at=(6,))


def test_small_cnn_shapes_count_and_mixup_positions():
    from recipes.lib import models

    model = models.small_cnn()
    assert model.count_params() == 289_066
    assert model.output_shape == (None, 10)
    probabilities = keras.ops.convert_to_numpy(model(np.zeros((2, 8, 8, 1), "float32")))
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
    mixing = models.small_cnn(mixup_alpha=1.0, mixup_at=(0, 3), dropout=0.5)
    assert [layer.name for layer in mixing.layers if "mixup" in layer.name] == [
        "mixup_layer0", "mixup_layer3"]
    assert sum("dropout" in layer.name for layer in mixing.layers) == 3
    with pytest.raises(ValueError, match="mixup_at must be distinct positions in 0..3"):
        models.small_cnn(mixup_alpha=1.0, mixup_at=(4,))


def test_small_cnn_batchnorm_momentum():
    from recipes.lib import models

    def momenta(model):
        return {layer.momentum for layer in model.layers
                if isinstance(layer, keras.layers.BatchNormalization)}

    assert momenta(models.small_cnn()) == {0.99}  # Keras's default
    assert momenta(models.small_cnn(batchnorm_momentum=0.9)) == {0.9}
    with pytest.raises(ValueError, match="batchnorm_momentum must be a number in"):
        models.small_cnn(batchnorm_momentum=1.0)


# ----------------------------------------------------------------------------
# WideResNet, DenseNet-BC, ResNet/ResNeXt. Parameter counts are checked two
# ways: against closed-form counts written from the papers' architecture
# descriptions (small nets), and against the published sizes of the full
# nets. Most of these tests build many nets and run on TensorFlow only: on
# JAX, building a net compiles its random initializer once per weight shape
# (DenseNet-BC-190: 50 s, a tiny WRN 5 to 20 s on this 2-core CPU), while the
# builders are backend-independent Keras layers; a tiny ResNeXt is built,
# counted and run on both backends.

from recipes.lib import models  # noqa: E402

tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="builds many nets; on JAX each weight shape compiles its "
    "initializer (minutes here); the builders are backend-independent and "
    "test_tiny_resnext_counts_and_runs runs on both backends",
)


def _wrn_count(depth, k, classes):
    """WRN-depth-k (Zagoruyko & Komodakis): conv weights, BN gamma/beta,
    classifier; 1x1 shortcuts where the width changes."""
    n = (depth - 4) // 6
    total, channels = 27 * 16, 16
    for width in (16 * k, 32 * k, 64 * k):
        for block in range(n):
            total += 2 * channels + 9 * channels * width + 2 * width + 9 * width * width
            if block == 0 and channels != width or block == 0 and width != 16 * k:
                total += channels * width
            channels = width
    return total + 2 * channels + channels * classes + classes


def _densenet_bc_count(depth, k, classes):
    """DenseNet-BC (Huang et al.): bottleneck layers BN-1x1(4k)-BN-3x3(k),
    transitions BN-1x1 halving the channels."""
    n = (depth - 4) // 6
    total, channels = 27 * 2 * k, 2 * k
    for block in range(3):
        for _ in range(n):
            total += 2 * channels + channels * 4 * k + 2 * 4 * k + 9 * 4 * k * k
            channels += k
        if block < 2:
            total += 2 * channels + channels * (channels // 2)
            channels //= 2
    return total + 2 * channels + channels * classes + classes


def _resnet_count(blocks, groups, width_per_group, stem, classes):
    """Bottleneck ResNet/ResNeXt (He et al.; Xie et al.): 7x7 stem, blocks
    1x1-3x3(grouped)-1x1(4x planes), projection shortcut on each stage's
    first block; BN gamma/beta everywhere; classifier."""
    total, channels = 49 * 3 * stem + 2 * stem, stem
    for stage, count in enumerate(blocks):
        planes = stem * 2**stage
        width = max(1, planes * width_per_group // 64) * groups
        for block in range(count):
            total += channels * width + 2 * width
            total += 9 * width * width // groups + 2 * width
            total += width * 4 * planes + 2 * 4 * planes
            if block == 0:
                total += channels * 4 * planes + 2 * 4 * planes
            channels = 4 * planes
    return total + channels * classes + classes


def _assert_probabilities(model, batch_shape):
    out = model(np.random.rand(*batch_shape).astype("float32"), training=False)
    assert tuple(out.shape) == (batch_shape[0], model.output_shape[-1])
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.sum(out, axis=-1)), 1.0, rtol=1e-5
    )


def test_tiny_resnext_counts_and_runs():
    resnext = models.resnet(
        (32, 32, 3), 7, depth=14, groups=4, width_per_group=4, stem_width=8
    )
    assert _trainable(resnext) == _resnet_count((1, 1, 1, 1), 4, 4, 8, 7)
    assert resnext.output_shape == (None, 7)
    probabilities = resnext.predict(
        np.random.rand(3, 32, 32, 3).astype("float32"), verbose=0
    )
    assert probabilities.shape == (3, 7) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)


@tensorflow_only
def test_small_wide_resnet_and_densenet_match_closed_form_counts():
    wrn = models.wide_resnet((16, 16, 3), 10, depth=10, widen_factor=2)
    assert _trainable(wrn) == _wrn_count(10, 2, 10)
    _assert_probabilities(wrn, (2, 16, 16, 3))
    densenet = models.densenet_bc((16, 16, 3), 100, depth=16, growth_rate=6)
    assert _trainable(densenet) == _densenet_bc_count(16, 6, 100)
    _assert_probabilities(densenet, (2, 16, 16, 3))


@tensorflow_only
def test_full_cifar_nets_have_the_published_sizes():
    # Spatial size does not change a count: small inputs keep this fast.
    wrn = models.wide_resnet((8, 8, 3), 10)
    assert _trainable(wrn) == _wrn_count(28, 10, 10) == 36_479_194  # 36.5M
    densenet = models.densenet_bc((8, 8, 3), 10)
    assert _trainable(densenet) == _densenet_bc_count(190, 40, 10) == 25_624_430
    assert wrn.name == "wrn_28_10" and densenet.name == "densenet_bc_190_40"
    assert wrn.output_shape == densenet.output_shape == (None, 10)


@tensorflow_only
@pytest.mark.parametrize(
    "kwargs, blocks, published",
    [
        # torchvision's counts of the same nets.
        (dict(depth=50), (3, 4, 6, 3), 25_557_032),
        (dict(depth=101), (3, 4, 23, 3), 44_549_160),
        (dict(depth=101, groups=32, width_per_group=4), (3, 4, 23, 3), 44_177_704),
        (dict(depth=101, groups=64, width_per_group=4), (3, 4, 23, 3), 83_455_272),
    ],
)
def test_full_imagenet_nets_have_the_published_sizes(kwargs, blocks, published):
    model = models.resnet((32, 32, 3), 1000, **kwargs)
    count = _resnet_count(
        blocks, kwargs.get("groups", 1), kwargs.get("width_per_group", 64), 64, 1000
    )
    assert _trainable(model) == count == published
    assert model.output_shape == (None, 1000)


@tensorflow_only
def test_resnet_starts_blocks_as_identity_and_decays_weights_only():
    model = models.resnet(
        (32, 32, 3), 5, depth=14, stem_width=8, weight_decay=1e-4
    )
    last_bns = [l for l in model.layers if l.name.endswith("_bn3")]
    assert len(last_bns) == 4
    for layer in last_bns:
        assert not np.any(keras.ops.convert_to_numpy(layer.gamma))
    kernels = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D,
                                                         keras.layers.Dense))]
    # Goyal et al.: L2 on conv and linear weights, not on BN parameters.
    assert len(model.losses) == len(kernels) == 18
    # The CIFAR nets decay every parameter, as PyTorch's SGD weight_decay.
    wrn = models.wide_resnet((8, 8, 3), 10, depth=10, widen_factor=1)
    assert len(wrn.losses) == len(wrn.trainable_variables)


@tensorflow_only
def test_cifar_and_imagenet_nets_output_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    for model in (
        models.wide_resnet((8, 8, 3), 10, depth=10, widen_factor=1),
        models.densenet_bc((8, 8, 3), 10, depth=10, growth_rate=4),
        models.resnet((32, 32, 3), 10, depth=14, stem_width=8),
    ):
        stem = "stem_conv" if model.name.startswith("resnet") else "stem"
        assert model.get_layer(stem).compute_dtype == "bfloat16"
        _assert_probabilities(model, (2, *model.input_shape[1:]))


@pytest.mark.parametrize(
    "builder, kwargs, match",
    [
        (models.wide_resnet, {"depth": 12}, "depth must be 6n \\+ 4"),
        (models.wide_resnet, {"widen_factor": 0}, "widen_factor must be a positive"),
        (models.wide_resnet, {"input_shape": (32, 32)}, "input_shape must be"),
        (models.densenet_bc, {"growth_rate": 0}, "growth_rate must be a positive"),
        (models.densenet_bc, {"compression": 0.0}, "compression must be in"),
        (models.densenet_bc, {"num_classes": 1}, "num_classes must be an int >= 2"),
        (models.resnet, {"depth": 34}, "depth must be one of"),
        (models.resnet, {"groups": 0}, "groups must be a positive int"),
        (models.resnet, {"weight_decay": -1.0}, "weight_decay must be a number"),
    ],
)
def test_image_nets_reject_bad_arguments(builder, kwargs, match):
    with pytest.raises(ValueError, match=f"{builder.__name__}: {match}"):
        builder(**kwargs)
