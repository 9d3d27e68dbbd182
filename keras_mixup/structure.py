"""Batches as structures: unpacking (x, y, sample_weight) tuples and dicts
with labels, converting and casting nested inputs, batch sizes."""

import keras

from keras_mixup import _internals

# Keys of `keras.layers.MixUp`'s dict form that are not model inputs.
LABEL_KEY = "labels"
SAMPLE_WEIGHT_KEYS = ("sample_weight", "sample_weights")
_UNMIXABLE_KEYS = ("bounding_boxes", "segmentation_masks")

_ns = _internals.ops_for


def unpack_data(data, *, name="data"):
    """Split a batch into (x, y, sample_weight, repack).

    Accepts Keras's (x, y) and (x, y, sample_weight) tuples and dicts with a
    "labels" key such as `keras.layers.MixUp`'s {"images": ..., "labels": ...};
    `repack(x, y, sample_weight)` rebuilds the caller's structure.
    """
    if isinstance(data, dict):
        if LABEL_KEY not in data:
            raise ValueError(
                f'Expected `{name}` as (x, y), (x, y, sample_weight) or a dict '
                f'with a "labels" key. Received a dict with keys '
                f"{sorted(data)}."
            )
        refused = [k for k in _UNMIXABLE_KEYS if k in data]
        if refused:
            raise ValueError(
                f"mixup blends whole examples and has no meaning for {refused}. "
                f"Received `{name}` with keys {sorted(data)}; remove {refused} "
                "or use a detection/segmentation-aware augmentation."
            )
        weight_keys = [k for k in SAMPLE_WEIGHT_KEYS if k in data]
        input_keys = [
            k for k in data if k != LABEL_KEY and k not in SAMPLE_WEIGHT_KEYS
        ]
        if not input_keys:
            raise ValueError(
                f"Expected `{name}` to hold inputs besides labels and sample "
                f"weights. Received a dict with keys {sorted(data)}."
            )
        single = len(input_keys) == 1
        x = data[input_keys[0]] if single else {k: data[k] for k in input_keys}
        sw = data[weight_keys[0]] if weight_keys else None

        def repack(x, y, sw):
            out = dict(data)
            out.update({input_keys[0]: x} if single else x)
            out[LABEL_KEY] = y
            if weight_keys:
                out[weight_keys[0]] = sw
            return out

        return x, data[LABEL_KEY], sw, repack
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        kind = type(data)

        def repack(x, y, sw):
            return kind((x, y) if len(data) == 2 else (x, y, sw))

        return data[0], data[1], data[2] if len(data) == 3 else None, repack
    received = (
        f"a {type(data).__name__} of length {len(data)}"
        if isinstance(data, (tuple, list))
        else f"{type(data).__name__}"
    )
    raise ValueError(
        f'Expected `{name}` as (x, y), (x, y, sample_weight) or a dict with a '
        f'"labels" key. Received {received}.'
    )


def to_tensors(tree, *, backend=None):
    """Convert every array of a nested structure to the backend's tensors."""
    b = _ns(backend)
    return keras.tree.map_structure(
        lambda t: None if t is None else b.convert_to_tensor(t), tree
    )


def prepare_inputs(tree, dtype, *, backend=None):
    """Cast every input tensor (uint8 images included) to `dtype`."""
    b = _ns(backend)
    return keras.tree.map_structure(lambda t: b.cast(t, dtype), tree)


def batch_size_of(tree, *, backend=None, name="inputs"):
    """The (static if known, else dynamic) batch size of a nested structure."""
    b = _ns(backend)
    leaves = keras.tree.flatten(tree)
    if not leaves:
        raise ValueError(f"Expected at least one tensor in `{name}`. Received {tree}.")
    for t in leaves:
        if len(t.shape) == 0:
            raise ValueError(
                f"Expected every tensor in `{name}` to have a batch axis first. "
                f"Received a scalar (shape ()) in {name}."
            )
    return b.shape(leaves[0])[0]


def check_same_batch(tensors_by_name, *, backend=None):
    """Every tensor of every named structure shares the batch size.

    Static sizes are compared at trace time; unknown (tf.data) sizes are
    asserted when the graph runs.
    """
    b = _ns(backend)
    named = [
        (name, t)
        for name, tree in tensors_by_name.items()
        if tree is not None
        for t in keras.tree.flatten(tree)
    ]
    ref_name, ref = named[0]
    dynamic = []
    for name, t in named[1:]:
        if len(t.shape) == 0:
            raise ValueError(
                f"Expected `{name}` to have a batch axis first. "
                f"Received a scalar (shape ())."
            )
        n_ref, n = ref.shape[0], t.shape[0]
        if n_ref is not None and n is not None:
            if n_ref != n:
                raise ValueError(
                    f"Expected `{name}` to have the same batch size as "
                    f"`{ref_name}`. Received {ref_name} with batch size {n_ref} "
                    f"(shape {tuple(ref.shape)}) and {name} with batch size {n} "
                    f"(shape {tuple(t.shape)})."
                )
        else:
            dynamic.append((name, t))
    if dynamic and b.name == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            ref_n = tf.shape(ref)[0]
            for name, t in dynamic:
                tf.debugging.assert_equal(
                    tf.shape(t)[0], ref_n,
                    message=f"Expected `{name}` to have the same batch size as "
                    f"`{ref_name}`.",
                )
