"""The MixUp layer: on (x, y[, w]) batches and dicts, eagerly, compiled (XLA /
jax.jit) and mapped over tf.data; inside a model only through MixUpModel.
"""

import keras
import numpy as np
import pytest

from tests.helpers import (
    CONTRACT_CHECKS,
    MODES,
    assert_mixing_layer_contract,
    check_mixed,
    collect,
    compiled,
    features,
    np_mix,
    np_one_hot,
    run,
    same_bits,
    tf_dataset,
    to_numpy,
)
from keras_mixup import MixUp

B, K = 6, 3


def batch(seed=0, b=B, k=K):
    rng = np.random.default_rng(seed)
    x = features(rng, b)
    y = rng.integers(0, k, size=(b,)).astype("int32")
    sw = rng.uniform(0.5, 2.0, size=(b,)).astype("float32")
    return x, y, sw


def as_float(x):
    return keras.tree.map_structure(lambda t: t.astype("float32"), x)


def call(layer, mode, data, **kwargs):
    return run(mode, lambda d: layer(d, **kwargs), data, stateful=(layer,))


# ----------------------------------------------------------------------------
# One draw mixes inputs of any rank, labels and sample weights.


@pytest.mark.parametrize("per_sample", (False, True))
@pytest.mark.parametrize("mode", MODES)
def test_layer_mixes_x_y_and_sample_weight_with_one_draw(mode, per_sample):
    x, y, sw = batch(1)
    layer = MixUp(alpha=1.0, per_sample=per_sample, num_classes=K, seed=3)
    xo, yo, swo = call(layer, mode, (x, y, sw))
    assert yo.shape == (B, K) and yo.dtype == np.float32
    assert swo.dtype == np.float32
    assert all(t.dtype == np.float32 for t in keras.tree.flatten(xo))
    check_mixed(xo, (yo, swo), as_float(x), (np_one_hot(y, K), sw),
                per_sample=per_sample)
    np.testing.assert_allclose(yo.sum(-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_layer_on_x_y_pairs_with_sparse_column_labels(mode):
    x, y, _ = batch(2)
    layer = MixUp(alpha=1.0, num_classes=K, seed=4)
    out = call(layer, mode, (x, y.reshape(-1, 1)))
    assert isinstance(out, tuple) and len(out) == 2
    assert out[1].shape == (B, K)  # never (B, B) nor (B, 1)
    check_mixed(out[0], out[1], as_float(x), np_one_hot(y, K), per_sample=False)


@pytest.mark.parametrize("mode", MODES)
def test_layer_on_keras_mixup_dict_form_returns_the_same_keys(mode):
    x, y, sw = batch(3)
    data = {"probe": x["probe"], "images": x["image"], "labels": np_one_hot(y, K),
            "sample_weight": sw}
    layer = MixUp(alpha=0.4, seed=5)
    out = call(layer, mode, data)
    assert set(out) == set(data)
    check_mixed({"probe": out["probe"], "images": out["images"]},
                (out["labels"], out["sample_weight"]),
                {"probe": x["probe"], "images": x["image"].astype("float32")},
                (np_one_hot(y, K), sw), per_sample=False)


def test_layer_accepts_what_keras_layers_mixup_accepts():
    """keras.layers.MixUp's {"images", "labels"} batch: same keys, shapes and
    dtypes come back from ours, and the labels are a mix of the same draw."""
    rng = np.random.default_rng(4)
    data = {"images": rng.uniform(0, 255, size=(B, 8, 8, 3)).astype("float32"),
            "labels": np_one_hot(rng.integers(0, K, size=B), K)}
    theirs = to_numpy(keras.layers.MixUp(alpha=0.4, seed=1)(data))
    ours = to_numpy(MixUp(alpha=0.4, seed=1)(data))
    assert set(ours) == set(theirs) == {"images", "labels"}
    for key in ours:
        assert ours[key].shape == theirs[key].shape == data[key].shape
        assert ours[key].dtype == theirs[key].dtype
    np.testing.assert_allclose(ours["labels"].sum(-1), 1.0, rtol=1e-6)


def test_sparse_labels_become_b_by_k_where_keras_layers_mixup_broadcasts():
    """Side by side: keras.layers.MixUp turns sparse labels (B,) into a (B, B)
    array, row i = w_i y + (1 - w_i) y[perm] (the README says so; if a Keras
    release changes this, this test fails and the README must change with it);
    ours one-hot encodes them to (B, K) and mixes them."""
    x, y, _ = batch(5)
    img = x["image"].astype("float32")
    ours = to_numpy(MixUp(alpha=1.0, num_classes=K, seed=1)(
        {"probe": x["probe"], "images": img, "labels": y}))
    assert ours["labels"].shape == (B, K)
    check_mixed({"probe": ours["probe"], "images": ours["images"]}, ours["labels"],
                {"probe": x["probe"], "images": img}, np_one_hot(y, K),
                per_sample=False)

    labels = y.astype("float32")
    # A twin layer with the same seed draws the same (w, perm) as the call.
    draw = to_numpy(keras.layers.MixUp(alpha=1.0, seed=1).get_random_transformation(
        {"images": img, "labels": labels}, training=True))
    w, perm = draw["mix_weight"], draw["permutation_order"]
    assert np.array_equal(np.sort(perm), np.arange(B))
    assert not np.array_equal(labels[perm], labels), "weak test: y[perm] == y"
    theirs = to_numpy(keras.layers.MixUp(alpha=1.0, seed=1)(
        {"images": img, "labels": labels}))
    np.testing.assert_allclose(theirs["images"], np_mix(img, w, perm),
                               rtol=1e-5, atol=1e-3)
    assert theirs["labels"].shape == (B, B)
    want = w[:, None] * labels[None, :] + (1.0 - w[:, None]) * labels[perm][None, :]
    np.testing.assert_allclose(theirs["labels"], want, rtol=1e-6, atol=1e-6)


def test_layer_mixes_multi_hot_and_regression_targets_linearly():
    x, _, _ = batch(6)
    rng = np.random.default_rng(6)
    targets = {"multi_hot": rng.integers(0, 2, size=(B, 4)).astype("float32"),
               "regression": rng.normal(size=(B,)).astype("float32"),
               "column": rng.normal(size=(B, 1)).astype("float32")}
    xo, yo = to_numpy(MixUp(alpha=1.0, seed=7)((x, targets)))
    check_mixed(xo, yo, as_float(x), targets, per_sample=False)


def test_label_smoothing_in_the_layer_without_mixing():
    x, y, _ = batch(7)
    eps = 0.2
    _, yo = to_numpy(MixUp(alpha=0.0, num_classes=K, label_smoothing=eps)((x, y)))
    want = np.full((B, K), eps / K, dtype="float32")
    want[np.arange(B), y] = 1 - eps + eps / K
    np.testing.assert_allclose(yo, want, rtol=1e-6)


# ----------------------------------------------------------------------------
# alpha = 0 and training=False are exactly the identity on inputs.


def _float_batch(seed=8):
    rng = np.random.default_rng(seed)
    x = {"a": rng.normal(size=(B, 3)).astype("float32"),
         "b": rng.normal(size=(B, 2, 2, 2)).astype("float32")}
    return x, np_one_hot(rng.integers(0, K, size=B), K), rng.uniform(size=B).astype("float32")


@pytest.mark.parametrize("mode", MODES)
def test_alpha_zero_is_bit_identical(mode):
    data = _float_batch()
    out = call(MixUp(alpha=0.0, seed=1), mode, data)
    for got, want in zip(keras.tree.flatten(out), keras.tree.flatten(data)):
        assert same_bits(got, want)


@pytest.mark.parametrize("mode", MODES)
def test_setting_alpha_to_zero_between_steps_gives_erm_without_retracing(mode):
    data = _float_batch(9)
    layer = MixUp(alpha=1.0, seed=2)
    fn = (lambda d: layer(d)) if mode == "eager" else compiled(lambda d: layer(d), layer)
    mixed = to_numpy(fn(data))
    assert not np.array_equal(mixed[0]["a"], data[0]["a"])
    layer.alpha = 0.0
    assert layer.alpha == 0.0
    out = to_numpy(fn(data))
    for got, want in zip(keras.tree.flatten(out), keras.tree.flatten(data)):
        assert same_bits(got, want)


@pytest.mark.parametrize("mode", MODES)
def test_training_false_returns_inputs_and_only_encodes_labels(mode):
    x, y, sw = batch(10)
    x = as_float(x)
    layer = MixUp(alpha=1.0, num_classes=K, seed=3)
    xo, yo, swo = call(layer, mode, (x, y, sw), training=False)
    for key in x:
        assert same_bits(xo[key], x[key])
    assert same_bits(yo, np_one_hot(y, K)) and same_bits(swo, sw)


def test_alpha_zero_in_tf_data_is_bit_identical():
    x, y, sw = _float_batch(11)
    ds = tf_dataset(x, y, sw, batch_size=4).map(MixUp(alpha=0.0, seed=1))
    out = collect(ds)
    assert len(out) == 2
    for i, part in enumerate(out):
        want = keras.tree.map_structure(lambda t: t[4 * i:4 * i + 4], (x, y, sw))
        for got, w in zip(keras.tree.flatten(part), keras.tree.flatten(want)):
            assert same_bits(got, w)


# ----------------------------------------------------------------------------
# Inside a model: features only mix through MixUpModel.


@pytest.mark.parametrize(
    "features_of",
    (lambda x: x, lambda x: [x, x], lambda x: {"a": x, "b": x}),
    ids=("tensor", "list", "dict-without-labels"),
)
def test_layer_on_features_in_training_outside_mixup_model_raises(features_of):
    x = keras.ops.convert_to_tensor(np.ones((B, 3), "float32"))
    with pytest.raises(RuntimeError, match="MixUpModel"):
        MixUp(alpha=1.0)(features_of(x), training=True)


@pytest.mark.parametrize("training", (False, None))
def test_layer_on_features_outside_training_is_the_identity(training):
    x = np.random.default_rng(0).normal(size=(B, 4, 2)).astype("float32")
    out = to_numpy(MixUp(alpha=1.0)(keras.ops.convert_to_tensor(x), training=training))
    assert same_bits(out, x)


# ----------------------------------------------------------------------------
# Inputs follow the compute dtype; labels stay float32.


@pytest.mark.parametrize("policy", ("mixed_float16", "mixed_bfloat16"))
@pytest.mark.parametrize(
    "how, mode",
    (("layer_dtype", "eager"), ("global_policy", "eager"),
     ("layer_dtype", "compiled"), ("global_policy", "tf.data")),
)
def test_inputs_follow_the_compute_dtype_and_labels_stay_float32(policy, how, mode):
    compute = policy.split("_")[1]
    if how == "layer_dtype":
        layer = MixUp(alpha=1.0, num_classes=K, seed=1, dtype=policy)
    else:
        keras.config.set_dtype_policy(policy)
        layer = MixUp(alpha=1.0, num_classes=K, seed=1)
        keras.config.set_dtype_policy("float32")  # the layer's policy rules
    assert layer.compute_dtype == compute
    x, y, sw = batch(12)
    if mode == "tf.data":
        xo, yo, swo = collect(tf_dataset(x, y, sw, batch_size=B).map(layer))[0]
    else:
        xo, yo, swo = call(layer, mode, (x, y, sw))
    for t in keras.tree.flatten(xo):
        assert keras.backend.standardize_dtype(t.dtype) == compute
    assert yo.dtype == np.float32 and swo.dtype == np.float32
    assert yo.shape == (B, K)
    np.testing.assert_allclose(yo.sum(-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_uint8_images_are_cast_to_float32(mode):
    x = np.random.default_rng(0).integers(0, 256, size=(B, 4, 4, 3)).astype("uint8")
    xo, _ = call(MixUp(alpha=0.0), mode, (x, np_one_hot([0] * B, K)))
    assert same_bits(xo, x.astype("float32"))


# ----------------------------------------------------------------------------
# A seed fixes the stream; each call draws anew.


@pytest.mark.parametrize("mode", MODES)
def test_same_seed_same_stream_and_each_call_draws_anew(mode):
    data = _float_batch(13)

    def stream():
        layer = MixUp(alpha=1.0, per_sample=True, seed=11)
        fn = (lambda d: layer(d)) if mode == "eager" else compiled(lambda d: layer(d), layer)
        return [to_numpy(fn(data))[0]["a"] for _ in range(3)]

    s1, s2 = stream(), stream()
    for a, b in zip(s1, s2):
        assert same_bits(a, b)
    assert not np.array_equal(s1[0], s1[1]) and not np.array_equal(s1[1], s1[2])


def test_unseeded_layers_draw_differently():
    data = _float_batch(14)
    a = to_numpy(MixUp(alpha=1.0, per_sample=True)(data))[0]["a"]
    b = to_numpy(MixUp(alpha=1.0, per_sample=True)(data))[0]["a"]
    assert not np.array_equal(a, b)


def test_tf_data_epochs_differ_and_same_seed_repeats():
    x, y, sw = batch(15)

    def pipeline():
        return tf_dataset(as_float(x), np_one_hot(y, K), sw, batch_size=B).map(
            MixUp(alpha=1.0, per_sample=True, seed=21))

    ds = pipeline()
    (epoch1,), (epoch2,) = collect(ds), collect(ds)
    (first_again,) = collect(pipeline())
    for got, want in zip(keras.tree.flatten(epoch1), keras.tree.flatten(first_again)):
        assert same_bits(got, want)
    assert not np.array_equal(epoch1[0]["tabular"], epoch2[0]["tabular"])
    for xo, yo, swo in (epoch1, epoch2):  # each epoch is a proper mix
        check_mixed(xo, (yo, swo), as_float(x), (np_one_hot(y, K), sw),
                    per_sample=True)


# ----------------------------------------------------------------------------
# The layer maps over tf.data on any backend.


@pytest.mark.parametrize("form", ("tuple2", "tuple3", "dict"))
def test_layer_mapped_over_tf_data(form):
    x, y, sw = batch(16, b=7)
    layer = MixUp(alpha=1.0, num_classes=K, seed=8)
    if form == "dict":
        ds = tf_dataset({"probe": x["probe"], "images": x["image"], "labels": y},
                        batch_size=7)
    else:
        parts = (x, y) if form == "tuple2" else (x, y, sw)
        ds = tf_dataset(*parts, batch_size=7)
    (out,) = collect(ds.map(layer))
    if form == "dict":
        assert set(out) == {"probe", "images", "labels"}
        check_mixed({"probe": out["probe"], "images": out["images"]}, out["labels"],
                    {"probe": x["probe"], "images": x["image"].astype("float32")},
                    np_one_hot(y, K), per_sample=False)
    elif form == "tuple2":
        check_mixed(out[0], out[1], as_float(x), np_one_hot(y, K), per_sample=False)
    else:
        check_mixed(out[0], out[1:], as_float(x), (np_one_hot(y, K), sw),
                    per_sample=False)


def test_out_of_range_labels_in_tf_data_fail_with_the_range():
    import tensorflow as tf

    ds = tf_dataset(np.ones((4, 2), "float32"), np.array([0, 1, 2, 3], "int32"),
                    batch_size=4).map(MixUp(alpha=1.0, num_classes=3, seed=1))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 3\)"):
        collect(ds)


# ----------------------------------------------------------------------------
# Config round trip, saving and loading.


def test_get_config_from_config_round_trip_and_same_behaviour():
    layer = MixUp(alpha=0.4, per_sample=True, num_classes=K, label_smoothing=0.1,
                  seed=9, name="mix")
    config = layer.get_config()
    for key, value in dict(alpha=0.4, per_sample=True, num_classes=K,
                           label_smoothing=0.1, seed=9, name="mix").items():
        assert config[key] == value
    clone = MixUp.from_config(config)
    assert clone.get_config() == config
    x, y, _ = batch(17)
    for _ in range(2):
        a, b = to_numpy(layer((x, y))), to_numpy(clone((x, y)))
        for got, want in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
            assert same_bits(got, want)


def _saved_and_loaded(tmp_path):
    layer = MixUp(alpha=0.4, num_classes=K, seed=5, name="mixup")
    model = keras.Sequential([keras.Input((5,)), layer, keras.layers.Dense(2)])
    layer.alpha = 0.3  # e.g. set by a schedule
    x, y, _ = batch(18)
    layer((x, y))  # the seed stream advances
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    return model, layer, loaded, (x, y)


def test_model_with_the_layer_saves_and_loads_in_safe_mode(tmp_path):
    model, layer, loaded, (x, _) = _saved_and_loaded(tmp_path)
    new = loaded.get_layer("mixup")
    assert isinstance(new, MixUp) and new is not layer
    assert new.get_config() == layer.get_config()
    assert new.alpha == pytest.approx(0.3)  # the alpha variable is a weight
    inputs = x["tabular"]
    assert same_bits(to_numpy(loaded(inputs, training=False)),
                     to_numpy(model(inputs, training=False)))


def test_saved_layer_resumes_its_seed_stream(tmp_path):
    _, layer, loaded, data = _saved_and_loaded(tmp_path)
    new = loaded.get_layer("mixup")
    assert np.array_equal(to_numpy(new.seed_generator.state.value),
                          to_numpy(layer.seed_generator.state.value))
    a, b = to_numpy(layer(data)), to_numpy(new(data))
    for got, want in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
        assert same_bits(got, want)


# ----------------------------------------------------------------------------
# Bad arguments and bad batches raise errors that name them.


@pytest.mark.parametrize(
    "kwargs, match",
    (
        (dict(alpha=-1.0), r"`alpha`.*Received: alpha=-1"),
        (dict(alpha=float("nan")), r"`alpha`.*Received: alpha=nan"),
        (dict(alpha=float("inf")), r"`alpha`.*Received: alpha=inf"),
        (dict(alpha="1"), r"`alpha`.*Received: alpha='1'"),
        (dict(alpha=None), r"`alpha`.*Received: alpha=None"),
        (dict(alpha=[1]), r"`alpha`.*Received: alpha=\[1\]"),
        (dict(num_classes=0), r"`num_classes`.*Received: num_classes=0"),
        (dict(num_classes=-1), r"`num_classes`.*Received: num_classes=-1"),
        (dict(num_classes=2.5), r"`num_classes`.*Received: num_classes=2.5"),
        (dict(num_classes=True), r"`num_classes`.*Received: num_classes=True"),
        (dict(label_smoothing=1.0), r"`label_smoothing`.*\[0, 1\).*=1.0"),
        (dict(label_smoothing=-0.1), r"`label_smoothing`.*\[0, 1\).*=-0.1"),
        (dict(per_sample="yes"), r"`per_sample`.*bool.*'yes'"),
        (dict(seed=1.5), r"`seed`.*int.*1.5"),
    ),
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixUp(**kwargs)


def test_setting_a_bad_alpha_raises():
    layer = MixUp(alpha=1.0)
    with pytest.raises(ValueError, match=r"`alpha`.*Received: alpha=-2"):
        layer.alpha = -2.0
    assert layer.alpha == 1.0


def test_bad_batches_raise_value_error():
    layer = MixUp(alpha=1.0, num_classes=3, seed=0)
    x = np.ones((4, 2), "float32")
    with pytest.raises(ValueError, match=r"`y`.*batch size.*4.*3"):
        layer((x, np_one_hot([0, 1, 2], 3)))
    with pytest.raises(ValueError, match=r"`sample_weight`.*batch size"):
        layer((x, np_one_hot([0, 1, 2, 0], 3), np.ones((5,), "float32")))
    with pytest.raises(ValueError, match=r"num_classes.*\[0, 3\).*\[7\]"):
        layer((x, np.array([0, 1, 2, 7], "int32")))
    with pytest.raises(ValueError, match=r"num_classes=3.*\(4, 5\)"):
        layer((x, np.zeros((4, 5), "float32")))
    with pytest.raises(ValueError, match="num_classes"):
        MixUp(alpha=1.0)((x, np.array([0, 1, 2, 0], "int32")))


# ----------------------------------------------------------------------------
# The layer contract, as Keras's run_layer_test checks it for its own layers:
# weights (alpha and the seed state), symbolic call and output spec,
# serialization, .keras saving, mixed precision.


@pytest.mark.parametrize("check", CONTRACT_CHECKS)
def test_layer_contract(check, tmp_path):
    assert_mixing_layer_contract(
        MixUp, dict(alpha=0.4, num_classes=K, seed=11),
        {"image": (B, 4, 4, 3), "tabular": (B, 5), "sequence": (B, 4, 3)},
        input_dtypes={"image": "uint8", "tabular": "float32", "sequence": "float32"},
        tmp_path=tmp_path, checks=(check,),
    )


# ----------------------------------------------------------------------------
# prob: a fraction of batches (examples) is mixed; the rest is untouched.


@pytest.mark.parametrize("mode", MODES)
def test_prob_zero_is_bit_identical(mode):
    x, y, sw = batch(2)
    layer = MixUp(1.0, per_sample=True, prob=0.0, num_classes=K, seed=1)
    xo, yo, swo = call(layer, mode, (as_float(x), y, sw))
    assert all(same_bits(a, b) for a, b in zip(keras.tree.flatten(xo),
                                               keras.tree.flatten(as_float(x))))
    assert same_bits(yo, np_one_hot(y, K)) and same_bits(swo, sw)


@pytest.mark.parametrize("mode", MODES)
def test_prob_per_example_unmixed_examples_keep_their_own_bits(mode):
    b, prob = 2000, 0.3
    rng = np.random.default_rng(0)
    x = rng.normal(size=(b, 3)).astype("float32")
    y = rng.integers(0, K, b).astype("int32")
    layer = MixUp(1.0, per_sample=True, prob=prob, num_classes=K, seed=4)
    xo, yo = call(layer, mode, (x, y))
    untouched = np.all(xo == x, axis=1) & np.all(yo == np_one_hot(y, K), axis=1)
    mixed = b - untouched.sum()
    # Binomial(b, prob) within 4.5 standard deviations (an example paired
    # with itself also comes out untouched: 1/b of the mixed ones).
    assert abs(mixed - b * prob) <= 4.5 * np.sqrt(b * prob * (1 - prob)) + 2
    # The mixed ones are the paper's formula with their own lam and partner.
    assert not np.allclose(xo[~untouched], x[~untouched])


def test_prob_per_batch_frequency():
    n, prob = 300, 0.4
    x = np.eye(6, dtype="float32")
    layer = MixUp(1.0, prob=prob, seed=2)
    mixed = 0
    for _ in range(n):
        xo, _ = to_numpy(layer((x, x)))
        mixed += not same_bits(xo, x)
    # An identity permutation (1/720) also leaves the batch untouched.
    assert abs(mixed - n * prob) <= 4.5 * np.sqrt(n * prob * (1 - prob)) + 1


def test_prob_is_validated_and_in_the_config():
    with pytest.raises(ValueError, match=r"`prob`.*\[0, 1\].*1.2"):
        MixUp(prob=1.2)
    assert MixUp.from_config(MixUp(prob=0.5).get_config()).prob == 0.5
