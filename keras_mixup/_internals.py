"""Every private Keras and TensorFlow symbol that keras_mixup uses, in one place.

No other module of the library imports `keras.src`, `tensorflow.python` or a
private attribute of a Keras object: a Keras upgrade that moves one of them
breaks this module and nothing else. Each entry says why no public API
serves. Every entry was checked with Keras 3.15.1 / TF 2.21 (JAX 0.10.2,
torch 2.13); CONTRIBUTING.md has the command that runs the core tests against
the newest Keras on the registry.

Importing this module does not import TensorFlow (the library runs on JAX and
torch without it); the TensorFlow entries import it when called.

Replaced by public API (no longer here): `keras.src.losses.loss.
scale_loss_for_distribution` (the GAN's TF step divides by
`tf.distribute.get_strategy().num_replicas_in_sync` itself), the GAN's
`_trainable_variables`/`_non_trainable_variables` (the seed state is saved
through `Layer.save_own_variables`/`load_own_variables`, see `seed_state`),
and the MixUp layer's private `_alpha` read by other modules (the mixing
layers have `alpha_variable`, `base_alphas` and `assign_alphas`).
"""

import keras
# Keras 3.15.1: keras/src/losses/losses.py. Checked with Keras 3.15.1 / TF 2.21.
from keras.src.losses.losses import LossFunctionWrapper
# Keras 3.15.1: keras/src/utils/backend_utils.py. Checked with Keras 3.15.1 / TF 2.21.
from keras.src.utils import backend_utils as _backend_utils
# Keras 3.15.1: keras/src/utils/tracking.py. Checked with Keras 3.15.1 / TF 2.21.
from keras.src.utils import tracking as _tracking

__all__ = [
    "LossFunctionWrapper",
    "GANOptimizers",
    "allow_structured_call",
    "backend_namespace",
    "flatten_layers",
    "in_tf_graph",
    "is_functional",
    "ops_for",
    "sync_jax_trainer_state",
    "tf_graph_in_xla_context",
    "tf_seed_generator",
    "tf_stateless_seed",
    "untracked",
]

# LossFunctionWrapper (imported above): `keras.losses.get("name")` returns a
# plain function for a string name, and `Model.compile` wraps such functions
# in this private class (reduction, masks, serialization). `MixedLoss` wraps
# them the same way, so that a loss given by name saves and loads as Keras's
# own do. keras.losses exports no such wrapper. Checked with Keras 3.15.1 / TF 2.21.


def backend_namespace(name=None):
    """The ops of one Keras backend as a namespace (`numpy`, `random`, `nn`,
    `cast`, `cond`, `shape`, `name`...), switchable with `set_backend(name)`
    and `reset()`.

    Why private: `keras.ops` always runs on the configured backend, and the
    tf.data map must run TensorFlow ops while Keras runs on JAX or torch.
    Keras exports no namespace of another backend's ops; its own tf.data-
    compatible preprocessing layers use this `DynamicBackend` for the same
    reason. Checked with Keras 3.15.1 / TF 2.21.
    """
    return _backend_utils.DynamicBackend(name)


def ops_for(backend=None):
    """`backend` (a namespace from `backend_namespace`) or, when None, the
    running backend's. Every maths function takes such a `backend`."""
    return backend if backend is not None else _backend_utils.DynamicBackend()


def in_tf_graph():
    """Whether a TensorFlow graph (a tf.data map, a tf.function) is traced.

    Why private: besides `tf.executing_eagerly()`, Keras keeps a global flag
    (`TFGraphScope`) set while it traces preprocessing for tf.data, which no
    public API reads; this function reads both without importing
    TensorFlow. Checked with Keras 3.15.1 / TF 2.21.
    """
    return _backend_utils.in_tf_graph()


def tf_seed_generator(seed):
    """A `keras.random.SeedGenerator` whose state is a `tf.Variable`, for
    tf.data maps under any Keras backend; created in TF's init scope (TF
    creates variables there only, even when called inside a trace).

    Why private: the generator's `backend=` argument is undocumented (taken
    from `**kwargs`); it is how Keras's own preprocessing layers keep a
    TensorFlow-side stream while Keras runs another backend. Checked with
    Keras 3.15.1 / TF 2.21.
    """
    import tensorflow as tf

    with tf.init_scope():
        return keras.random.SeedGenerator(
            seed, backend=backend_namespace("tensorflow")
        )


def untracked():
    """A context in which attributes set on a layer are not tracked.

    Why private: Keras tracks every SeedGenerator assigned to a layer as the
    layer's state (saved with it; on JAX threaded through the stateless train
    step). The TF-side generator of a tf.data map under JAX must not be:
    its state is a tf.Variable. Keras has no public switch for tracking; it
    uses this scope itself. Checked with Keras 3.15.1 / TF 2.21.
    """
    return _tracking.DotNotTrackScope()


def tf_stateless_seed(seed):
    """The int32 seed that `keras.random.normal`/`uniform` pass to
    `tf.random.stateless_*` on TensorFlow for this `seed` (a SeedGenerator,
    advanced by the call, or an int).

    Why private: the sampler calls `tf.random.stateless_*` itself (to name
    Philox under XLA) and must draw exactly Keras's numbers; Keras derives
    the seed with `draw_seed` and casts the int64 state with `_cast_seed`,
    neither public. Checked with Keras 3.15.1 / TF 2.21.
    """
    from keras.src.backend.tensorflow.random import _cast_seed
    from keras.src.random.seed_generator import draw_seed

    return _cast_seed(draw_seed(seed))


def tf_graph_in_xla_context(graph):
    """Whether `graph` (or a graph it is nested in) is compiled with XLA
    (`tf.function(jit_compile=True)`).

    Why private: TensorFlow has no public way to ask; this is TF's own
    `control_flow_util.GraphOrParentsInXlaContext`. A TF without it answers
    True (the caller then always names Philox: same numbers on CPU). Checked
    with Keras 3.15.1 / TF 2.21.
    """
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - a TF without it
        return True
    return control_flow_util.GraphOrParentsInXlaContext(graph)


def flatten_layers(model):
    """Every layer inside `model` (itself excluded), recursively, once each.

    Why private: `Model.layers` lists direct children only, and a plain
    layer that owns layers has no public list of them; Keras walks them with
    `_flatten_layers`. Checked with Keras 3.15.1 / TF 2.21.
    """
    return model._flatten_layers(include_self=False, recursive=True)


def allow_structured_call(layer):
    """Let `layer.__call__` take (x, y) tuples, dicts with labels and
    tf.data tensors as they are.

    Why private: `Layer.__call__` otherwise converts the inputs to the
    running backend's tensors (a TF tensor inside tf.data under JAX would be
    converted eagerly and fail) and refuses non-tensor positional arguments.
    Keras's own `keras.layers.MixUp` sets these two attributes for the same
    reason. Checked with Keras 3.15.1 / TF 2.21.
    """
    layer._allow_non_tensor_positional_args = True
    layer._convert_input_args = False


def sync_jax_trainer_state(model):
    """Write the JAX trainer's copy of the variables back into the model,
    mid-fit, so that an assignment from a callback is read back.

    Why private: `JAXTrainer.jax_state_sync` is undocumented; during `fit` on
    JAX the variables live in the trainer's state and a callback that
    assigns one must sync first. Checked with Keras 3.15.1 / TF 2.21.
    """
    if keras.backend.backend() == "jax" and hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


class GANOptimizers:
    """The GAN's two optimizers, seen by Keras's `fit` as `model.optimizer`.

    Why a stand-in: Keras's trainers hold one optimizer per model. This
    object answers what they read from it (`variables`, `built`, `build`,
    `iterations`, `scale_loss`, `name`; its `optimizers` for Keras's
    learning-rate callbacks), which is not a public contract. `fit` keeps
    the model's state as (trainable, non-trainable, optimizer, metrics)
    variables; here the optimizer variables are the discriminator's
    optimizer's followed by the generator's. `iterations` counts fit steps
    (generator updates). Checked with Keras 3.15.1 / TF 2.21.
    """

    def __init__(self, gan, variables_of):
        self._gan = gan
        # variables_of(network) -> (indices, variables): the network's
        # trainable variables in the order of the GAN's.
        self._variables_of = variables_of
        self.name = "gan_optimizers"

    @property
    def optimizers(self):
        return [self._gan.d_optimizer, self._gan.g_optimizer]

    @property
    def variables(self):
        return list(self._gan.d_optimizer.variables) + list(
            self._gan.g_optimizer.variables
        )

    @property
    def built(self):
        return all(optimizer.built for optimizer in self.optimizers)

    def build(self, var_list=None):
        gan = self._gan
        for network, optimizer in ((gan.discriminator, gan.d_optimizer),
                                   (gan.generator, gan.g_optimizer)):
            if not optimizer.built:
                optimizer.build(self._variables_of(network)[1])

    @property
    def iterations(self):
        return self._gan.g_optimizer.iterations

    @property
    def learning_rate(self):
        raise AttributeError(
            "A MixUpGAN has two optimizers: read or set the learning rate on "
            "`gan.d_optimizer` and `gan.g_optimizer`."
        )

    def scale_loss(self, loss):
        return loss


def is_functional(model):
    """Whether `model` is a Functional model (built from `keras.Input` and
    layer calls; `keras.applications` models and KerasHub backbones are),
    whose graph `keras.models.clone_model(call_function=...)` can copy.

    Why private: Keras exports no name for the Functional class
    (`keras.Model(inputs, outputs)` returns an instance of it), and a
    subclassed model looks like any other `keras.Model` from the public API.
    Checked with Keras 3.15.1 / TF 2.21.
    """
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)
