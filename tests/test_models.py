"""Model builders of the recipes: PreAct ResNet-18."""

import keras
import numpy as np
import pytest

import keras_mixup
from recipes.models import preact_resnet18


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


@pytest.mark.parametrize("positions", [(0,), (1,), (5,), (1, 3, 5)])
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
    from recipes import models

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
