"""insert_mixup: MixUp layers in Functional models you did not build."""

import numpy as np
import pytest

import keras
import keras_mixup
from tests.test_model import EXACT


def _to_numpy(t):
    return keras.ops.convert_to_numpy(t)


def _echo(dim=6, name="echo"):
    """A model without MixUp layers whose output is its input, through two
    named cut points ("first", "second") and a zero Dense: trained with
    y == x, the loss is exactly 0 only if y was mixed with the draw that the
    active inserted layer applied."""
    inputs = keras.Input((dim,), name="x")
    h = keras.layers.Identity(name="first")(inputs)
    h = keras.layers.Identity(name="second")(h)
    zero = keras.layers.Dense(dim, kernel_initializer="zeros",
                              bias_initializer="zeros", trainable=False,
                              name="zero")
    outputs = keras.layers.Add(name="add")([h, zero(h)])
    return keras.Model(inputs, outputs, name=name)


def _small_classifier():
    inputs = keras.Input((5,), name="features")
    h = keras.layers.Dense(8, activation="relu", name="hidden1")(inputs)
    h = keras.layers.Dense(8, activation="relu", name="hidden2")(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    return keras.Model(inputs, outputs, name="classifier")


# -- labels follow the inserted layers ---------------------------------------


# jit_compile once: it is MixUpModel's (tests/test_model.py), and on torch
# each case costs a torch.compile.
@pytest.mark.parametrize("mode,per_sample", [
    ("eager", False), ("compiled", False), ("compiled", True), ("jit", True),
], ids=["eager-batch", "compiled-batch", "compiled-example", "jit-example"])
def test_invariant_labels_follow_the_inserted_layers(mode, per_sample):
    echo = _echo()
    copy = keras_mixup.insert_mixup(echo, ["first", "second"], inputs=True,
                                    per_sample=per_sample, seed=3)
    model = keras_mixup.MixUpModel(copy, seed=1)
    assert [layer.name for layer in model.mixup_layers] == [
        "mixup_inputs", "mixup_after_first", "mixup_after_second"]
    model.compile("sgd", loss="mse", run_eagerly=mode == "eager",
                  jit_compile=mode == "jit")
    x = np.random.default_rng(0).random((64, 6)).astype("float32")
    history = model.fit(x, x, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert max(history.history["loss"]) < EXACT


def test_invariant_fails_when_labels_are_not_mixed():
    """The control: the inserted layers do mix, so labels left unmixed give a
    clearly non-zero loss and the invariant above can fail."""

    class Unmixed(keras_mixup.MixUpModel):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         training=True):
            keras_mixup.scope.take_last()
            return keras.Model.compute_loss(self, x, y, y_pred, sample_weight)

    copy = keras_mixup.insert_mixup(_echo(), ["first", "second"], seed=3)
    control = Unmixed(copy, seed=1)
    control.compile("sgd", loss="mse")
    x = np.random.default_rng(0).random((96, 6)).astype("float32")
    loss = control.fit(x, x, batch_size=16, epochs=1, verbose=0)
    assert loss.history["loss"][0] > 1e-3


def test_one_inserted_layer_mixes_per_step_and_each_gets_chosen():
    copy = keras_mixup.insert_mixup(_echo(), ["first", "second"], inputs=True)
    model = keras_mixup.MixUpModel(copy, seed=2)
    x = np.random.default_rng(1).random((8, 6)).astype("float32")
    chosen = set()
    for _ in range(30):
        model(x, training=True)
        scope = keras_mixup.scope.take_last()
        active = [bool(_to_numpy(a)) for a, _, _ in scope.records]
        assert sum(active) == 1
        chosen.add(active.index(True))
    assert chosen == {0, 1, 2}


def test_seeds_differ_per_inserted_layer():
    copy = keras_mixup.insert_mixup(_echo(), ["second", "first"], inputs=True,
                                    seed=10, alpha=0.4, per_sample=True)
    mixups = {layer.name: layer for layer in copy.layers
              if isinstance(layer, keras_mixup.MixUp)}
    assert {name: layer.seed for name, layer in mixups.items()} == {
        "mixup_inputs": 10, "mixup_after_second": 11, "mixup_after_first": 12}
    assert all(layer.alpha == pytest.approx(0.4) and layer.per_sample
               for layer in mixups.values())


# -- a copy that shares the original -----------------------------------------


def test_copy_shares_layers_and_weights_and_infers_exactly_as_the_original():
    original = _small_classifier()
    x = np.random.default_rng(2).random((16, 5)).astype("float32")
    before = _to_numpy(original(x))
    copy = keras_mixup.insert_mixup(original, ["hidden1"], inputs=True)
    # Shared, not copied: the same layer objects and variables.
    for name in ("hidden1", "hidden2", "probs"):
        assert copy.get_layer(name) is original.get_layer(name)
    shared = [v for v in copy.weights if "mixup" not in v.path]
    assert len(shared) == len(original.weights)
    assert all(any(v is w for w in original.weights) for v in shared)
    # Inference is exactly the original, and the original is unchanged.
    np.testing.assert_array_equal(_to_numpy(copy(x)), before)
    np.testing.assert_array_equal(_to_numpy(original(x)), before)
    np.testing.assert_array_equal(copy.predict(x, verbose=0),
                                  original.predict(x, verbose=0))
    assert not any(isinstance(layer, keras_mixup.MixUp)
                   for layer in original.layers)
    # Assigning to the original changes the copy.
    kernel = original.get_layer("probs").kernel
    kernel.assign(_to_numpy(kernel) * 2.0)
    np.testing.assert_array_equal(_to_numpy(copy(x)), _to_numpy(original(x)))
    assert not np.array_equal(_to_numpy(copy(x)), before)
    # Training the copy trains the original.
    before_fit = _to_numpy(original(x))
    model = keras_mixup.MixUpModel(copy, seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    after_fit = _to_numpy(original(x))
    np.testing.assert_array_equal(after_fit, _to_numpy(copy(x)))
    assert not np.array_equal(after_fit, before_fit)


def test_a_built_sequential_model_is_accepted():
    sequential = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Identity(name="first"),
        keras.layers.Dense(6, kernel_initializer="identity", trainable=False),
    ])
    copy = keras_mixup.insert_mixup(sequential, "first", seed=4)
    model = keras_mixup.MixUpModel(copy)
    model.compile("sgd", loss="mse")
    x = np.random.default_rng(3).random((32, 6)).astype("float32")
    assert model.fit(x, x, batch_size=8, verbose=0).history["loss"][0] < EXACT
    assert sequential.layers[0] is copy.get_layer("first")


def test_layers_inside_a_nested_functional_model():
    """The common fine-tuning build: a backbone called inside a model with a
    head. Naming a layer of the backbone copies the backbone too; the
    original backbone and model are left as they were."""
    backbone = _echo(name="backbone")
    inputs = keras.Input((6,), name="image")
    outputs = keras.layers.Identity(name="head")(backbone(inputs))
    original = keras.Model(inputs, outputs, name="full")
    copy = keras_mixup.insert_mixup(original, ["first", "backbone", "head"],
                                    inputs=True, seed=5)
    model = keras_mixup.MixUpModel(copy, seed=3)
    assert sorted(layer.name for layer in model.mixup_layers) == [
        "mixup_after_backbone", "mixup_after_first", "mixup_after_head",
        "mixup_inputs"]
    assert copy.get_layer("backbone") is not backbone
    assert copy.get_layer("backbone").get_layer("zero") is backbone.get_layer(
        "zero")
    assert not any(isinstance(layer, keras_mixup.MixUp)
                   for layer in backbone.layers + original.layers)
    model.compile("sgd", loss="mse")
    x = np.random.default_rng(4).random((64, 6)).astype("float32")
    history = model.fit(x, x, batch_size=16, epochs=2, verbose=0)
    assert max(history.history["loss"]) < EXACT


def test_several_inputs_are_mixed_by_one_draw():
    """Output = concat(a, b): the loss against concat(a, b) is exactly 0 only
    if both inputs were mixed with the same lam and pairs as the labels."""
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    outputs = keras.layers.Concatenate(name="join")([a, b])
    original = keras.Model([a, b], outputs)
    copy = keras_mixup.insert_mixup(original, [], inputs=True, per_sample=True,
                                    seed=6)
    model = keras_mixup.MixUpModel(copy)
    model.compile("sgd", loss="mse")
    rng = np.random.default_rng(5)
    xa = rng.random((32, 3)).astype("float32")
    xb = rng.random((32, 2)).astype("float32")
    history = model.fit([xa, xb], np.concatenate([xa, xb], axis=1),
                        batch_size=8, verbose=0)
    assert history.history["loss"][0] < EXACT


# -- where mixed features would meet unmixed ones ----------------------------


def _residual():
    inputs = keras.Input((4,), name="x")
    branch = keras.layers.Dense(4, name="branch")(inputs)
    outputs = keras.layers.Add(name="join")([inputs, branch])
    outputs = keras.layers.Dense(2, name="out")(outputs)
    return keras.Model(inputs, outputs)


def test_a_layer_inside_a_residual_branch_is_refused():
    with pytest.raises(ValueError, match="layer 'join'.*'branch'.*bypass"):
        keras_mixup.insert_mixup(_residual(), ["branch"])
    # The block's output is a cut: every path passes through it.
    keras_mixup.insert_mixup(_residual(), ["join"])
    # Asked for explicitly, it is inserted.
    copy = keras_mixup.insert_mixup(_residual(), ["branch"], allow_bypass=True)
    assert "mixup_after_branch" in [layer.name for layer in copy.layers]


def test_mixing_one_of_several_inputs_is_refused():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = keras.layers.Dense(2, name="from_a")(a)
    outputs = keras.layers.Concatenate(name="join")([h, b])
    original = keras.Model([a, b], outputs)
    with pytest.raises(ValueError, match="layer 'join'.*'from_a'"):
        keras_mixup.insert_mixup(original, ["from_a"])


def test_an_output_that_bypasses_the_inserted_layer_is_refused():
    inputs = keras.Input((4,))
    h = keras.layers.Dense(4, name="early")(inputs)
    late = keras.layers.Dense(2, name="late")(h)
    original = keras.Model(inputs, [h, late])
    with pytest.raises(ValueError, match="outputs of model.*'late'"):
        keras_mixup.insert_mixup(original, ["late"])
    keras_mixup.insert_mixup(original, ["early"])


# -- bad input ----------------------------------------------------------------


class _TwoOutputs(keras.layers.Layer):
    def call(self, inputs):
        return inputs, -inputs

    def compute_output_spec(self, inputs):
        return (keras.KerasTensor(inputs.shape, inputs.dtype),) * 2


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, inputs):
        return self.dense(inputs)


def test_names_that_are_not_layers_are_refused_with_close_names():
    with pytest.raises(ValueError, match=r"`at`.*'hiden1'.*not a layer.*"
                                         r"Close names: \['hidden1'"):
        keras_mixup.insert_mixup(_small_classifier(), ["hiden1"])
    with pytest.raises(ValueError, match="'zzz'.*summary"):
        keras_mixup.insert_mixup(_small_classifier(), "zzz")
    with pytest.raises(ValueError, match="'features', an input.*inputs=True"):
        keras_mixup.insert_mixup(_small_classifier(), ["features"])


def test_bad_at_and_flags_are_refused():
    model = _small_classifier()
    with pytest.raises(ValueError, match="`at` must name at least one"):
        keras_mixup.insert_mixup(model, [])
    with pytest.raises(ValueError, match=r"`at`.*once.*\['hidden1'\]"):
        keras_mixup.insert_mixup(model, ["hidden1", "hidden2", "hidden1"])
    with pytest.raises(TypeError, match="`at`.*Received: at=3"):
        keras_mixup.insert_mixup(model, 3)
    with pytest.raises(TypeError, match="`at`"):
        keras_mixup.insert_mixup(model, [model.get_layer("hidden1")])
    with pytest.raises(TypeError, match="`inputs` must be a bool"):
        keras_mixup.insert_mixup(model, ["hidden1"], inputs="yes")
    with pytest.raises(TypeError, match="`allow_bypass` must be a bool"):
        keras_mixup.insert_mixup(model, ["hidden1"], allow_bypass=1)
    with pytest.raises(ValueError, match="alpha"):
        keras_mixup.insert_mixup(model, ["hidden1"], alpha=-1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        keras_mixup.insert_mixup(model, ["hidden1"], label_smoothing=2.0)
    with pytest.raises(TypeError, match="names the MixUp layers.*'mine'"):
        keras_mixup.insert_mixup(model, ["hidden1"], name="mine")


def test_models_without_a_graph_are_refused():
    with pytest.raises(TypeError, match="`model`.*subclassed.*_Subclassed"):
        keras_mixup.insert_mixup(_Subclassed(), ["dense"])
    with pytest.raises(TypeError, match="`model`.*Sequential.*no inputs"):
        keras_mixup.insert_mixup(keras.Sequential([keras.layers.Dense(2)]),
                                 ["dense"])
    with pytest.raises(TypeError, match="`model`.*Received: model='resnet'"):
        keras_mixup.insert_mixup("resnet", ["dense"])


def test_layers_with_several_outputs_or_calls_are_refused():
    inputs = keras.Input((4,))
    first, second = _TwoOutputs(name="split")(inputs)
    original = keras.Model(inputs, keras.layers.Add()([first, second]))
    with pytest.raises(ValueError, match="'split', a layer with 2 outputs"):
        keras_mixup.insert_mixup(original, ["split"])

    shared = keras.layers.Dense(4, name="shared")
    outputs = shared(shared(inputs))
    with pytest.raises(ValueError, match="'shared' is called more than once"):
        keras_mixup.insert_mixup(keras.Model(inputs, outputs), ["shared"])


def test_layers_inside_a_nested_sequential_model_are_refused():
    inner = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(4, name="inside")],
                             name="block")
    inputs = keras.Input((4,))
    original = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    with pytest.raises(ValueError, match="'inside'.*Sequential model 'block'"):
        keras_mixup.insert_mixup(original, ["inside"])
    # After the Sequential model as a whole is fine.
    keras_mixup.insert_mixup(original, ["block"])


# -- models you did not build --------------------------------------------------


@pytest.fixture(scope="module")
def mobilenet():
    """The smallest keras.applications model to build: MobileNetV2 at width
    0.35 on 32 x 32 images, no weights (nothing downloaded)."""
    return keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, include_top=False
    )


def test_keras_applications_model(mobilenet):
    x = np.random.default_rng(6).random((4, 32, 32, 3)).astype("float32")
    before = _to_numpy(mobilenet(x))
    # Block outputs: 'block_3_project_BN' feeds block 4 and its shortcut.
    copy = keras_mixup.insert_mixup(
        mobilenet, ["block_2_add", "block_3_project_BN"], inputs=True, seed=7
    )
    np.testing.assert_array_equal(_to_numpy(copy(x)), before)
    np.testing.assert_array_equal(_to_numpy(mobilenet(x)), before)
    shared = [v for v in copy.weights if "mixup" not in v.path]
    assert len(shared) == len(mobilenet.weights)
    assert all(any(v is w for w in mobilenet.weights) for v in shared)

    head = keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(copy.output))
    model = keras_mixup.MixUpModel(keras.Model(copy.input, head), seed=0)
    assert len(model.mixup_layers) == 3
    model.compile("sgd", "sparse_categorical_crossentropy")
    conv = mobilenet.get_layer("Conv1").kernel
    conv_before = _to_numpy(conv)
    history = model.fit(x, np.array([0, 1, 2, 0]), batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # The fit step trained the original's own variables.
    assert not np.array_equal(_to_numpy(conv), conv_before)

    # Inside a residual branch (its shortcut goes around it): refused.
    with pytest.raises(ValueError, match="'block_4_add'.*'block_4_expand'"):
        keras_mixup.insert_mixup(mobilenet, ["block_4_expand"])
    with pytest.raises(ValueError, match=r"Close names: \['block_4_expand'"):
        keras_mixup.insert_mixup(mobilenet, ["block_4_expnd"])


def test_kerashub_backbone():
    """A Functional KerasHub backbone, built from its arguments (nothing
    downloaded). KerasHub is optional: `pip install -e .[kerashub]`."""
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16], stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2], block_type="basic_block",
        image_shape=(16, 16, 3),
    )
    x = np.random.default_rng(7).random((4, 16, 16, 3)).astype("float32")
    before = _to_numpy(backbone(x))
    copy = keras_mixup.insert_mixup(backbone, ["stack0_block0_out"],
                                    inputs=True, seed=8)
    np.testing.assert_array_equal(_to_numpy(copy(x)), before)
    shared = [v for v in copy.weights if "mixup" not in v.path]
    assert all(any(v is w for w in backbone.weights) for v in shared)
    assert len(shared) == len(backbone.weights)
    with pytest.raises(ValueError, match="'stack0_block0_add'"):
        keras_mixup.insert_mixup(backbone, ["stack0_block0_2_bn"])

    head = keras.layers.Dense(2)(
        keras.layers.GlobalAveragePooling2D()(copy.output))
    model = keras_mixup.MixUpModel(keras.Model(copy.input, head), seed=1)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    history = model.fit(x, np.array([0, 1, 1, 0]), batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
