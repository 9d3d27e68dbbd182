"""Input gradients of a trained classifier, on TensorFlow, JAX and PyTorch.

`InputGradient`: the per-example cross-entropy of a classifier and its
gradient with respect to the input (tf.GradientTape on TensorFlow, jax.grad
of a stateless call on JAX, torch.autograd.grad on PyTorch): the only
backend-specific code of the
adversarial and in-between recipes. `normalized`, `pixel_input_transform`:
the images as the trained model sees them; `predict_logits`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from recipes.lib import images

# ------------------------------------------------------------ input gradients


def _split_softmax_classifier(model: keras.Model):
    """(trunk, head): `head` is the model's last layer, a Dense layer with a
    softmax or linear activation, and `trunk` maps the inputs to the head's
    input. Cross-entropy is computed from the head's logits, as PyTorch's
    `F.cross_entropy` does in the paper's code: from the softmax probabilities
    the gradient of a confident prediction underflows to exactly zero (and
    Keras clips probabilities to [1e-7, 1 - 1e-7], which zeroes it too), so
    FGSM would not move and gradient norms would read 0."""
    if not isinstance(model, keras.Model) or not model.layers:
        raise ValueError(
            f"model must be a built keras.Model, received {type(model).__name__}"
        )
    head = model.layers[-1]
    activation = getattr(head, "activation", None)
    if not isinstance(head, keras.layers.Dense) or activation not in (
        keras.activations.softmax,
        keras.activations.linear,
    ):
        raise ValueError(
            "model must end with a Dense layer with a softmax or linear "
            f"activation (its logits are needed), received a last layer "
            f"{head.name!r} of type {type(head).__name__} with activation "
            f"{getattr(activation, '__name__', activation)!r}"
        )
    trunk = keras.Model(model.inputs, head.input, name=f"{model.name}_trunk")
    return trunk, head


class InputGradient:
    """Per-example cross-entropy of a classifier and its gradient with respect
    to the input.

    `gradient = InputGradient(model, input_transform=normalize)`, then
    `loss, grad = gradient(x, y_one_hot)` with numpy arrays: `loss` has shape
    (batch,), `grad` the shape of x. The model is evaluated in inference mode
    (batch-norm statistics, no dropout). `input_transform` (keras.ops) maps x to
    the model's input, e.g. pixels in [0, 1] to normalized images: the
    gradient is then taken with respect to x, through the transform.

    The gradient of the summed loss is taken, which is each example's own
    gradient: in inference mode examples do not interact.
    """

    def __init__(self, model: keras.Model, *, input_transform=None):
        self.model = model
        self.input_transform = input_transform
        self.trunk, self.head = _split_softmax_classifier(model)
        backend = keras.backend.backend()
        if backend == "tensorflow":
            self._loss_and_gradient, self._logits = self._tensorflow_functions()
        elif backend == "jax":
            self._loss_and_gradient, self._logits = self._jax_functions()
        elif backend == "torch":
            self._loss_and_gradient, self._logits = self._torch_functions()
        else:
            raise ValueError(
                "InputGradient supports the Keras backends 'tensorflow', 'jax' "
                f"and 'torch', received KERAS_BACKEND={backend!r}"
            )

    def logits(self, x):
        """Logits of the model at x (keras.ops; inference mode)."""
        if self.input_transform is not None:
            x = self.input_transform(x)
        features = ops.cast(self.trunk(x, training=False), "float32")
        logits = ops.matmul(features, ops.cast(self.head.kernel, "float32"))
        if self.head.use_bias:
            logits = logits + ops.cast(self.head.bias, "float32")
        return logits

    def per_example_loss(self, x, y):
        """Cross-entropy of each example from logits, for one-hot or soft y."""
        return -ops.sum(y * ops.log_softmax(self.logits(x), axis=-1), axis=-1)

    def _tensorflow_functions(self):
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def loss_and_gradient(x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = self.per_example_loss(x, y)
                total = tf.reduce_sum(loss)
            return loss, tape.gradient(total, x)

        return loss_and_gradient, tf.function(self.logits, reduce_retracing=True)

    def _jax_functions(self):
        import jax

        variables = list(self.model.variables)

        # The variables' values are arguments of the compiled functions rather
        # than constants baked into them (11M of them in PreAct ResNet-18).
        def summed_loss(values, x, y):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                loss = self.per_example_loss(x, y)
            return ops.sum(loss), loss

        def logits(values, x):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return self.logits(x)

        gradient = jax.jit(jax.grad(summed_loss, argnums=1, has_aux=True))
        jitted_logits = jax.jit(logits)

        def loss_and_gradient(x, y):
            grad, loss = gradient([v.value for v in variables], x, y)
            return loss, grad

        def compute_logits(x):
            return jitted_logits([v.value for v in variables], x)

        return loss_and_gradient, compute_logits

    def _torch_functions(self):
        import torch

        def loss_and_gradient(x, y):
            x = ops.convert_to_tensor(x).requires_grad_(True)
            loss = self.per_example_loss(x, ops.convert_to_tensor(y))
            (grad,) = torch.autograd.grad(ops.sum(loss), x)
            return loss.detach(), grad

        def compute_logits(x):
            with torch.no_grad():
                return self.logits(ops.convert_to_tensor(x))

        return loss_and_gradient, compute_logits

    def __call__(self, x, y):
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                "x and y must hold the same number of examples and y must be "
                f"one-hot or soft labels of shape (batch, classes), received x "
                f"of shape {x.shape} and y of shape {y.shape}"
            )
        loss, grad = self._loss_and_gradient(x, y)
        return ops.convert_to_numpy(loss), ops.convert_to_numpy(grad)

    def predict_logits(self, x, batch_size: int = 500) -> np.ndarray:
        """Logits of the model at x (numpy, in batches; the last batch is
        padded so that every call has one shape and compiles once)."""
        x = np.asarray(x, dtype=np.float32)
        outputs = []
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            padded = pad_rows(batch, batch_size) if len(x) > batch_size else batch
            logits = ops.convert_to_numpy(self._logits(padded))
            outputs.append(logits[: len(batch)])
        return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def pad_rows(batch: np.ndarray, size: int) -> np.ndarray:
    """batch padded with zeros along the first axis to `size` rows."""
    missing = size - len(batch)
    if missing <= 0:
        return batch
    return np.concatenate([batch, np.zeros((missing, *batch.shape[1:]), batch.dtype)])


def normalizer(mean, std):
    """keras.ops function (x - mean) / std, broadcast over the last axis."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    if np.any(std <= 0):
        raise ValueError(f"std must be positive, received {std}")

    def normalize(x):
        # keras.ops, not `x - mean`: a torch tensor minus a numpy array
        # converts the tensor to numpy, which fails under autograd.
        return ops.divide(ops.subtract(x, mean), std)

    return normalize


def normalized(x: np.ndarray, data: images.ImageArrays) -> np.ndarray:
    """uint8 (or [0, 255] float) images -> the model's input, as the
    pipelines of recipes.images compute it: (x / 255 - mean) / std."""
    return ((np.asarray(x, np.float32) / 255.0 - data.mean) / data.std).astype(
        np.float32
    )


def pixel_input_transform(data: images.ImageArrays):
    """keras.ops map from pixels in [0, 1] to the model's input."""
    return normalizer(data.mean, data.std)


def predict_logits(
    model: keras.Model, x: np.ndarray, data: images.ImageArrays, batch_size: int = 500
) -> np.ndarray:
    """Logits of uint8 images (normalized as in training), inference mode."""
    return InputGradient(model).predict_logits(normalized(x, data), batch_size)
