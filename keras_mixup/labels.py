"""Labels made mixable: float32 targets, sparse labels one-hot encoded and
range-checked, class targets smoothed; and the class of each example for
same-class pairs."""

import keras

from keras_mixup import _internals
from keras_mixup.mixing import smooth_labels

_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
               "uint64", "bool")

_ns = _internals.ops_for


def is_integer_dtype(dtype):
    return keras.backend.standardize_dtype(dtype) in _INT_DTYPES


def _check_label_range(y, valid, num_classes, b):
    """Sparse labels must lie in [0, num_classes): loudly, in every mode.
    `valid` is (0 <= y) & (y < num_classes), computed once by the caller."""
    message = (
        f"Sparse labels must be integers in [0, num_classes) = [0, {num_classes})"
    )
    if b.name == "tensorflow":
        import tensorflow as tf

        if tf.executing_eagerly():
            _raise_if_out_of_range(keras.ops.convert_to_numpy(y), num_classes)
            return y
        # The raw op: tf.debugging.Assert wraps an Assert whose data are not
        # all int32 or strings (int64 labels) in an If, a function call per
        # batch (benchmarks/README.md).
        check = tf.raw_ops.Assert(
            condition=tf.reduce_all(valid), data=[message, y], summarize=10
        )
        with tf.control_dependencies([check]):
            return tf.identity(y)
    if b.name == "jax":
        import jax

        if isinstance(y, jax.core.Tracer):
            # Inside jit: the callback raises when the step runs.
            jax.debug.callback(_raise_if_out_of_range, y, num_classes)
            return y
    _raise_if_out_of_range(keras.ops.convert_to_numpy(y), num_classes)
    return y


def _raise_if_out_of_range(values, num_classes):
    import numpy as np

    values = np.asarray(values)
    bad = (values < 0) | (values >= num_classes)
    if bad.any():
        raise ValueError(
            "Sparse labels must be integers in [0, num_classes) = "
            f"[0, {num_classes}). Received labels with values "
            f"{sorted(set(values[bad].ravel().tolist()))[:10]}"
        )


def prepare_labels(y, *, num_classes=None, label_smoothing=0.0, backend=None):
    """Targets that can be mixed: float32, class targets one-hot and smoothed.

    - Integer labels of shape (B,) or (B, 1) are sparse class indices: one-hot
      encoded with `num_classes` (required: they are never broadcast).
      Integer labels with a last axis other than 1 and `num_classes`
      are sparse indices per position, e.g. (B, T) -> (B, T, K); with a last
      axis equal to `num_classes` (or no `num_classes`) they are multi-hot.
    - Float labels are one-hot, soft, multi-hot or regression targets and are
      mixed as they are. With `num_classes`, a class axis must match it.
    - `label_smoothing` applies to every class target (last axis > 1) and is
      refused for targets without a class axis.
    """
    b = _ns(backend)
    rank = len(y.shape)
    if rank == 0:
        raise ValueError(
            "Expected labels with a batch axis first, of shape (batch_size, ...)."
            f" Received labels of shape {tuple(y.shape)} (rank 0)."
        )
    last = y.shape[-1] if rank > 1 else None
    if is_integer_dtype(y.dtype) and keras.backend.standardize_dtype(
        y.dtype
    ) != "bool":
        sparse = rank == 1 or last == 1 or (
            num_classes is not None and last is not None and last != num_classes
        )
        if sparse:
            if num_classes is None:
                raise ValueError(
                    "Sparse integer labels need `num_classes` to be one-hot "
                    "encoded before mixing (mixing class indices, or "
                    "broadcasting them to (batch_size, batch_size), would be "
                    f"wrong). Received labels of shape {tuple(y.shape)} and "
                    f"dtype {keras.backend.standardize_dtype(y.dtype)} with "
                    "num_classes=None. Pass `num_classes=K`, or one-hot "
                    "encode the labels."
                )
            if last == 1:
                y = b.numpy.squeeze(y, -1)
            valid = b.numpy.logical_and(y >= 0, y < num_classes)
            y = _check_label_range(y, valid, num_classes, b)
            y = b.nn.one_hot(y, num_classes, dtype="float32")
            # Where no error can be raised (XLA drops graph assertions), an
            # out-of-range label gets NaN targets, hence a NaN loss: loud,
            # never an all-zeros row that trains silently wrong.
            y = b.numpy.where(b.numpy.expand_dims(valid, -1), y, float("nan"))
            return smooth_labels(y, label_smoothing, backend=b)
    y = b.cast(y, "float32")
    if num_classes is not None and last is not None and last not in (
        1, num_classes
    ):
        raise ValueError(
            f"Expected labels with a class axis of size num_classes="
            f"{num_classes} (one-hot or soft), or sparse integer labels of "
            f"shape (batch_size,). Received float labels of shape "
            f"{tuple(y.shape)}."
        )
    if label_smoothing:
        if last is None or last == 1:
            raise ValueError(
                "`label_smoothing` applies to class targets (one-hot, soft or "
                "sparse labels with num_classes). Received label_smoothing="
                f"{label_smoothing} with targets of shape {tuple(y.shape)}, "
                "which have no class axis (regression or binary targets)."
            )
        y = smooth_labels(y, label_smoothing, backend=b)
    return y


def class_ids_of(y, *, backend=None):
    """The class of each example from prepared (one-hot/soft) class targets:
    argmax over the class axis, int32 of shape (B,)."""
    b = _ns(backend)
    leaves = keras.tree.flatten(y) if y is not None else []
    if len(leaves) != 1:
        raise ValueError(
            "pairing='same_class' needs one class label per example (a "
            "single label tensor). Received "
            + ("no labels." if not leaves else f"{len(leaves)} label tensors.")
        )
    t = leaves[0]
    if len(t.shape) != 2 or t.shape[-1] in (None, 1):
        raise ValueError(
            "pairing='same_class' needs class labels: sparse integers of "
            "shape (batch_size,) with num_classes, or one-hot/soft labels of "
            f"shape (batch_size, num_classes). Received labels of shape "
            f"{tuple(t.shape)}."
        )
    return b.cast(b.numpy.argmax(t, axis=-1), "int32")
