"""Pairing and target options (the paper's ablation, section 3.8, Table 5):
same-class pairs, nearest-neighbour pairs, closer-example targets, each
against an independent numpy reference. Runs on the backend named by
KERAS_BACKEND (CI runs it once per backend)."""

import itertools

import keras
import numpy as np
import pytest
from scipy import stats

import keras_mixup
from tests.helpers import (
    MODES,
    P_MIN,
    check_mixed,
    compiled,
    np_mix,
    np_one_hot,
    read_draw_from_identity,
    run,
    to_numpy,
)
from keras_mixup import mixing
from keras_mixup.batch import mixup_batch
from keras_mixup.batch import mixup_pairs
from keras_mixup.structure import to_tensors
from keras_mixup import scope as mixup_scope

tf = pytest.importorskip("tensorflow")

# A batch with classes of sizes 5, 3, 1 (alone: pairs with itself) and 7,
# in an interleaved order so that the classes are not contiguous.
CLASSES = np.array([3, 0, 1, 0, 3, 2, 1, 3, 0, 3, 1, 0, 3, 3, 0, 3], "int32")
B = len(CLASSES)
K = 4


def assert_within_class_permutation(perm, classes):
    perm = np.asarray(perm)
    assert sorted(perm.tolist()) == list(range(len(classes))), perm
    np.testing.assert_array_equal(classes[perm], classes)


# ----------------------------------------------------------------------------
# Same-class pairs ("SC + RP").


@pytest.mark.parametrize("mode", MODES)
def test_same_class_permutation_is_a_permutation_within_each_class(mode):
    gen = keras.random.SeedGenerator(21)
    ids = keras.ops.convert_to_tensor(CLASSES)

    def fn(ids):
        return mixing.sample_same_class_permutation(gen, ids)

    f = compiled(fn, gen) if mode == "compiled" else fn
    seen = set()
    for _ in range(30):
        perm = to_numpy(f(ids))
        assert perm.dtype == np.int32 and perm.shape == (B,)
        assert_within_class_permutation(perm, CLASSES)
        assert perm[5] == 5  # class 2 has one member
        seen.add(tuple(perm))
    assert len(seen) > 25  # a fresh draw each call


def test_same_class_permutation_is_uniform_within_a_class():
    """Class 1 (positions 2, 6, 10) gets each of its 3! = 6 arrangements with
    probability 1/6 (chi-square), and the class of 5 maps a given member to
    each member, itself included, with probability 1/5."""
    gen = keras.random.SeedGenerator(5)
    ids = keras.ops.convert_to_tensor(CLASSES)
    f = compiled(lambda t: mixing.sample_same_class_permutation(gen, t), gen)
    members1 = [2, 6, 10]
    members0 = [1, 3, 8, 11, 14]
    arrangements = {p: i for i, p in enumerate(itertools.permutations(members1))}
    counts = np.zeros(len(arrangements))
    partner_counts = np.zeros(len(members0))
    n = 3000
    for _ in range(n):
        perm = to_numpy(f(ids))
        counts[arrangements[tuple(perm[members1])]] += 1
        partner_counts[members0.index(perm[1])] += 1
    assert stats.chisquare(counts).pvalue > P_MIN, counts
    assert stats.chisquare(partner_counts).pvalue > P_MIN, partner_counts


def test_same_class_permutation_with_one_class_is_a_uniform_permutation():
    gen = keras.random.SeedGenerator(8)
    ids = keras.ops.zeros((3,), dtype="int32")
    f = compiled(lambda t: mixing.sample_same_class_permutation(gen, t), gen)
    counts = {}
    for _ in range(1200):
        key = tuple(to_numpy(f(ids)))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6
    assert stats.chisquare(list(counts.values())).pvalue > P_MIN, counts


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "one-hot"])
def test_mixup_batch_same_class_mixes_inputs_within_class(mode, sparse):
    rng = np.random.default_rng(0)
    x = {"probe": np.eye(B, dtype="float32"),
         "image": rng.normal(size=(B, 3, 3, 2)).astype("float32")}
    y = CLASSES if sparse else np_one_hot(CLASSES, K)
    sw = rng.uniform(size=(B,)).astype("float32")
    gen = keras.random.SeedGenerator(11)

    def fn(x, y, sw):
        return mixup_batch(x, y, sw, seed=gen, alpha=1.0, num_classes=K,
                                  pairing="same_class")

    xo, yo, swo = run(mode, fn, *to_tensors((x, y, sw)), stateful=(gen,))
    lam, perm = check_mixed(xo, (yo, swo), x, (np_one_hot(CLASSES, K), sw),
                            per_sample=False)
    assert_within_class_permutation(perm, CLASSES)
    # Same-class partners: the mixed one-hot labels are the labels themselves.
    np.testing.assert_allclose(yo, np_one_hot(CLASSES, K), atol=1e-6)


def test_mixup_map_same_class_in_tf_data_with_a_smaller_last_batch():
    rng = np.random.default_rng(1)
    n = 40
    labels = rng.integers(0, 3, size=n).astype("int64")
    x = np.eye(n, dtype="float32")
    ds = tf.data.Dataset.from_tensor_slices((x, labels)).batch(16).map(
        keras_mixup.mixup_map(1.0, num_classes=3, pairing="same_class",
                              per_sample=True, seed=4)
    )
    start = 0
    for xo, yo in ds.as_numpy_iterator():
        b = xo.shape[0]
        block = xo[:, start:start + b]
        lam, perm = read_draw_from_identity(block)
        assert_within_class_permutation(perm, labels[start:start + b])
        np.testing.assert_allclose(
            yo, np_one_hot(labels[start:start + b], 3), atol=1e-6)
        start += b
    assert start == n


def test_same_class_needs_class_labels():
    gen = keras.random.SeedGenerator(1)
    x = keras.ops.zeros((4, 2))
    with pytest.raises(ValueError, match="pairing='same_class'.*no labels"):
        mixup_batch(x, seed=gen, alpha=1.0, pairing="same_class")
    with pytest.raises(ValueError, match=r"pairing='same_class'.*shape \(4, 1\)"):
        mixup_batch(x, keras.ops.zeros((4, 1)), seed=gen, alpha=1.0,
                           pairing="same_class")
    with pytest.raises(ValueError, match="2 label tensors"):
        mixup_batch(x, (keras.ops.zeros((4, 3)), keras.ops.zeros((4, 3))),
                           seed=gen, alpha=1.0, pairing="same_class")


# ----------------------------------------------------------------------------
# Closer-example targets ("mix inputs only").


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("per_sample", [False, True])
def test_closer_target_is_the_label_of_the_heavier_example(mode, per_sample):
    rng = np.random.default_rng(2)
    b = 12
    x = {"probe": np.eye(b, dtype="float32"),
         "tabular": rng.normal(size=(b, 5)).astype("float32")}
    labels = rng.integers(0, K, size=b).astype("int32")
    sw = rng.uniform(0.5, 2.0, size=(b,)).astype("float32")
    eps = 0.2
    gen = keras.random.SeedGenerator(13)

    def fn(x, y, sw):
        return mixup_batch(x, y, sw, seed=gen, alpha=1.0, num_classes=K,
                                  label_smoothing=eps, target="closer",
                                  per_sample=per_sample)

    for _ in range(3):  # several draws: both sides of lam = 0.5 get seen
        xo, yo, swo = run(mode, fn, *to_tensors((x, labels, sw)),
                          stateful=(gen,))
        lam, perm = read_draw_from_identity(xo["probe"])
        lam = np.broadcast_to(lam, (b,)) if np.ndim(lam) else lam
        np.testing.assert_allclose(xo["tabular"],
                                   np_mix(x["tabular"], lam, perm),
                                   rtol=2e-5, atol=2e-6)
        # The paper's smoothing: eps/K for the wrong classes, 1 - eps + eps/K
        # for the right one (eps/10 and 1 - 9 eps/10 with 10 classes).
        smoothed = np_one_hot(labels, K) * (1 - eps) + eps / K
        own = lam >= 0.5
        want_y = np.where(own[:, None], smoothed, smoothed[perm])
        np.testing.assert_array_equal(yo, want_y.astype("float32"))
        np.testing.assert_array_equal(swo, np.where(own, sw, sw[perm]))


def test_closer_pair_breaks_the_tie_at_one_half_towards_the_first():
    a, c = keras.ops.ones((3, 2)), keras.ops.zeros((3, 2))
    out = to_numpy(mixing.closer_pair(a, c, keras.ops.convert_to_tensor(
        np.array([0.5, 0.4999, 0.75], "float32"))))
    np.testing.assert_array_equal(out[:, 0], [1.0, 0.0, 1.0])


def test_mixup_map_closer_target_in_tf_data():
    n, k = 32, 5
    labels = np.arange(n) % k
    x = np.eye(n, dtype="float32")
    ds = tf.data.Dataset.from_tensor_slices((x, labels)).batch(n).map(
        keras_mixup.mixup_map(1.0, num_classes=k, target="closer", seed=3))
    xo, yo = next(ds.as_numpy_iterator())
    lam, perm = read_draw_from_identity(xo)
    lam = lam[perm != np.arange(n)][0]
    want = np_one_hot(labels if lam >= 0.5 else labels[perm], k)
    np.testing.assert_array_equal(yo, want)


# ----------------------------------------------------------------------------
# Options through the layer and the model.


def test_layer_takes_pairing_and_target_on_data_and_round_trips():
    layer = keras_mixup.MixUp(1.0, num_classes=K, pairing="same_class",
                              target="closer", seed=2)
    config = layer.get_config()
    assert config["pairing"] == "same_class" and config["target"] == "closer"
    clone = keras_mixup.MixUp.from_config(config)
    assert clone.pairing == "same_class" and clone.target == "closer"
    x = np.eye(B, dtype="float32")
    xo, yo = to_numpy(layer((x, CLASSES)))
    lam, perm = read_draw_from_identity(xo)
    assert_within_class_permutation(perm, CLASSES)
    np.testing.assert_array_equal(yo, np_one_hot(CLASSES, K))


@pytest.mark.parametrize("make", [
    lambda **kw: keras_mixup.MixUp(1.0, **kw),
    lambda **kw: keras_mixup.mixup_map(1.0, **kw),
], ids=["layer", "mixup_map"])
def test_bad_pairing_or_target_is_a_value_error_naming_it(make):
    with pytest.raises(ValueError, match=r"`pairing`.*Received: pairing='knn'"):
        make(pairing="knn")
    with pytest.raises(ValueError, match=r"`target`.*Received: target='hard'"):
        make(target="hard")


def test_model_refuses_same_class_layers_inside():
    inputs = keras.Input((4,))
    h = keras_mixup.MixUp(1.0, pairing="same_class")(inputs)
    inner = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))
    with pytest.raises(ValueError, match="pairing='random'"):
        keras_mixup.MixUpModel(inner)


@pytest.mark.parametrize("loss", ["categorical_crossentropy",
                                  "sparse_categorical_crossentropy"])
def test_model_closer_target_uses_the_heavier_examples_label(loss):
    """The loss of a closer-target MixUpModel equals the loss on the labels
    of the heavier example of each pair (one lam per example, so both sides
    of 0.5 occur), with sample weights following the labels."""
    b, k = 10, 3
    inputs = keras.Input((b,))
    h = keras_mixup.MixUp(1.0, per_sample=True, target="closer", seed=1)(inputs)
    outputs = keras.layers.Dense(k, activation="softmax")(h)
    model = keras_mixup.MixUpModel(keras.Model(inputs, outputs))
    model.compile("sgd", loss=loss)
    x = np.eye(b, dtype="float32")
    labels = np.arange(b) % k
    y = labels if "sparse" in loss else np_one_hot(labels, k)
    sw = np.linspace(0.5, 2.0, b).astype("float32")
    y_pred = model(x, training=True)
    lam, perm = to_numpy(mixup_scope._local.last.draw())
    got = float(keras.ops.convert_to_numpy(
        model.compute_loss(x, keras.ops.convert_to_tensor(y), y_pred,
                           keras.ops.convert_to_tensor(sw))))
    own = lam >= 0.5
    assert own.any() and (~own).any()
    target = np.where(own, labels, labels[perm])
    weight = np.where(own, sw, sw[perm])
    p = keras.ops.convert_to_numpy(y_pred).astype("float64")
    want = np.mean(-np.log(p[np.arange(b), target]) * weight)
    np.testing.assert_allclose(got, want, rtol=1e-5)


# ----------------------------------------------------------------------------
# Nearest neighbours ("KNN", k = 200 in the paper).


def brute_force_neighbours(x, k, labels=None):
    """float64 numpy: argsort of all squared distances, self excluded."""
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    d = ((flat[:, None, :] - flat[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    if labels is not None:
        d[labels[:, None] != labels[None, :]] = np.inf
    return np.argsort(d, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("chunk_size", [7, 1024])
def test_nearest_neighbours_all_classes_match_brute_force(chunk_size):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(90, 4, 3)).astype("float32") + 5.0
    table = keras_mixup.nearest_neighbours(x, 6, chunk_size=chunk_size)
    assert table.dtype == np.int32 and table.shape == (90, 6)
    np.testing.assert_array_equal(table, brute_force_neighbours(x, 6))


def test_nearest_neighbours_same_class_match_brute_force():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(80, 5)).astype("float32")
    labels = rng.integers(0, 3, size=80)
    table = keras_mixup.nearest_neighbours(x, 8, labels=labels, chunk_size=10)
    np.testing.assert_array_equal(table, brute_force_neighbours(x, 8, labels))
    assert np.all(labels[table] == labels[:, None])


def test_nearest_neighbours_exclude_self_but_keep_duplicates():
    x = np.array([[0.0], [0.0], [1.0], [3.0]], "float32")
    table = keras_mixup.nearest_neighbours(x, 2)
    np.testing.assert_array_equal(table, [[1, 2], [0, 2], [0, 1], [2, 0]])


def test_nearest_neighbours_validate_their_arguments():
    x = np.zeros((5, 2), "float32")
    with pytest.raises(ValueError, match=r"`k` must be smaller.*\(5\).*k=5"):
        keras_mixup.nearest_neighbours(x, 5)
    with pytest.raises(ValueError, match=r"`k` must be a positive integer.*k=0"):
        keras_mixup.nearest_neighbours(x, 0)
    with pytest.raises(ValueError, match=r"`labels`.*shape \(5,\).*\(4,\)"):
        keras_mixup.nearest_neighbours(x, 1, labels=np.zeros(4, "int32"))
    with pytest.raises(ValueError, match=r"class 1 has 1 examples"):
        keras_mixup.nearest_neighbours(x, 1, labels=np.array([0, 0, 0, 0, 1]))
    with pytest.raises(ValueError, match=r"`x`.*shape \(5,\)"):
        keras_mixup.nearest_neighbours(np.zeros(5), 1)


def _neighbour_setup(n=40, k=4, seed=6):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 3))
    table = keras_mixup.nearest_neighbours(features, k)
    labels = rng.integers(0, 3, size=n).astype("int32")
    return table, labels


def test_neighbour_pairs_draw_each_example_once_with_a_uniform_neighbour():
    n, k, epochs = 40, 4, 40
    table, labels = _neighbour_setup(n, k)
    ds = keras_mixup.neighbour_pairs(np.arange(n), labels, table, seed=9)
    slots = np.zeros((n, k))
    orders = set()
    for _ in range(epochs):
        pairs = list(ds.as_numpy_iterator())
        anchors = [int(a[0]) for a, _ in pairs]
        assert sorted(anchors) == list(range(n))  # every example once
        orders.add(tuple(anchors))
        for (i, y_i), (j, y_j) in pairs:
            assert y_i == labels[i] and y_j == labels[j]
            slot = np.flatnonzero(table[i] == j)
            assert slot.size == 1, (i, j, table[i])  # j is a neighbour of i
            slots[i, slot[0]] += 1
    assert len(orders) == epochs  # reshuffled every epoch
    # Slots are drawn uniformly and afresh each epoch: chi-square on the totals.
    assert stats.chisquare(slots.sum(axis=0)).pvalue > P_MIN, slots.sum(axis=0)
    assert (slots > 0).sum(axis=1).min() >= 2  # not one fixed partner


def test_neighbour_mixup_dataset_mixes_each_example_with_a_neighbour():
    n, k, batch = 40, 4, 16
    table, labels = _neighbour_setup(n, k)
    x = np.eye(n, dtype="float32")
    ds = keras_mixup.neighbour_mixup_dataset(
        x, labels, table, batch_size=batch, alpha=1.0, num_classes=3,
        shuffle=False, seed=2,
        preprocess=lambda image, label: (image * 2.0, label),
    )
    for _ in range(2):
        start, lams = 0, []
        for xo, yo in ds.as_numpy_iterator():
            b = xo.shape[0]
            anchors = np.arange(start, start + b)
            lam = xo[np.arange(b), anchors] / 2.0  # preprocess doubled x
            assert np.all(lam == lam[0])  # one lam per batch
            lams.append(lam[0])
            other = xo.copy()
            other[np.arange(b), anchors] = 0.0
            partner = other.argmax(axis=1)
            for i, j in zip(anchors, partner):
                assert j in table[i], (i, j, table[i])
            np.testing.assert_allclose(other.max(axis=1) / 2.0, 1.0 - lam,
                                       rtol=1e-5)
            want_y = (lam[0] * np_one_hot(labels[anchors], 3)
                      + (1 - lam[0]) * np_one_hot(labels[partner], 3))
            np.testing.assert_allclose(yo, want_y, rtol=1e-5, atol=1e-6)
            start += b
        assert start == n and len(set(lams)) == len(lams)


def test_neighbour_mixup_dataset_closer_target():
    n, k = 40, 4
    table, labels = _neighbour_setup(n, k)
    x = np.eye(n, dtype="float32")
    ds = keras_mixup.neighbour_mixup_dataset(
        x, labels, table, batch_size=n, alpha=1.0, num_classes=3,
        target="closer", per_sample=True, shuffle=False, seed=5)
    xo, yo = next(ds.as_numpy_iterator())
    lam = np.diag(xo)
    other = xo - np.diag(lam)
    partner = other.argmax(axis=1)
    want = np.where((lam >= 0.5)[:, None], np_one_hot(labels, 3),
                    np_one_hot(labels[partner], 3))
    assert (lam >= 0.5).any() and (lam < 0.5).any()
    np.testing.assert_array_equal(yo, want)


def test_neighbour_pairs_validate_their_arguments():
    x = np.zeros((5, 2), "float32")
    y = np.zeros(5, "int32")
    with pytest.raises(ValueError, match=r"`neighbours`.*\(5, k\).*\(4, 2\)"):
        keras_mixup.neighbour_pairs(x, y, np.zeros((4, 2), "int32"))
    with pytest.raises(ValueError, match=r"`neighbours`.*\[0, 5\).*\[5, 5\]"):
        keras_mixup.neighbour_pairs(x, y, np.full((5, 2), 5))
    with pytest.raises(ValueError, match=r"`y`.*\(3,\)"):
        keras_mixup.neighbour_pairs(x, y[:3], np.zeros((5, 2), "int32"))
    with pytest.raises(ValueError, match=r"`batch_size`.*0"):
        keras_mixup.neighbour_mixup_dataset(x, y, np.zeros((5, 2), "int32"),
                                            batch_size=0)
    with pytest.raises(ValueError, match=r"`target`"):
        keras_mixup.mixup_pairs_map(target="nearest")


def test_mixup_pairs_alpha_zero_is_the_first_batch_unmixed():
    a = (keras.ops.ones((3, 2)), keras.ops.convert_to_tensor(np.array([0, 1, 2])))
    c = (keras.ops.zeros((3, 2)), keras.ops.convert_to_tensor(np.array([2, 2, 2])))
    x, y = to_numpy(mixup_pairs(a, c, seed=keras.random.SeedGenerator(1),
                                       alpha=0.0, num_classes=3))
    np.testing.assert_array_equal(x, np.ones((3, 2)))
    np.testing.assert_array_equal(y, np.eye(3))


def test_distribution_sanity_same_class_pairs_mix_less_across_classes():
    """Over many batches, random pairs cross classes at rate 1 - sum_c p_c^2;
    same-class pairs never do."""
    gen = keras.random.SeedGenerator(31)
    ids = keras.ops.convert_to_tensor(CLASSES)
    f = compiled(lambda t: (mixing.sample_same_class_permutation(gen, t),
                            mixing.sample_permutation(gen, B)), gen)
    cross_random = 0
    draws = 300
    for _ in range(draws):
        same, rand = to_numpy(f(ids))
        assert np.all(CLASSES[same] == CLASSES)
        cross_random += np.sum(CLASSES[rand] != CLASSES)
    # A uniform permutation of B sends i to any of the B positions (itself
    # included), so outside its class of n_c with probability (B - n_c) / B.
    counts = np.bincount(CLASSES)[CLASSES]
    expected = np.mean((B - counts) / B)
    rate = cross_random / (draws * B)
    assert abs(rate - expected) < 0.03, (rate, expected)
