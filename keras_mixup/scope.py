"""How labels follow MixUp layers inside a model.

`MixUpModel` opens a `MixUpScope` around the forward pass of each training
step. Every mixing layer called on features inside it (`MixUp`, `CutMix`,
`MixUpOrCutMix`) draws, mixes, and records (weight, perm): lam for mixup,
the kept fraction of each example's pixels for CutMix;
`MixUpModel.compute_loss` then takes the scope and mixes the labels with
the draw of the layer that was active. Keras calls
`compute_loss` in the same trace as the forward pass on every backend, so the
recorded tensors (JAX tracers included) are valid there.

Scopes live in thread-local storage: `tf.distribute.MirroredStrategy` runs
each replica's step in its own thread, so replicas never see each other's
draws.

Manifold mixup: with several MixUp layers, the scope holds `chosen`, the
index of the one layer that mixes this step (drawn uniformly by the model);
the others see alpha = 0 and pass their features through untouched, so the
graph is static.
"""

import threading

import keras


_local = threading.local()


class MixUpScope:
    """The draws of one forward pass.

    Args:
        candidates: the MixUp layers of the model, in a fixed order.
        chosen: scalar int tensor, index into `candidates` of the layer that
            mixes this step; None when there is a single candidate.
        groups: pairs are drawn within `groups` equal blocks of the batch
            (one per data-parallel device).
    """

    def __init__(self, candidates, chosen=None, groups=1):
        self.candidates = list(candidates)
        self.chosen = chosen
        self.groups = groups
        self.records = []  # (active, lam, perm), in call order

    def __enter__(self):
        self._outer = getattr(_local, "scope", None)
        _local.scope = self
        return self

    def __exit__(self, *exc):
        _local.scope = self._outer
        _local.last = self

    def index_of(self, layer):
        for i, candidate in enumerate(self.candidates):
            if candidate is layer:
                return i
        names = [c.name for c in self.candidates]
        raise RuntimeError(
            f"The MixUp layer '{layer.name}' ran inside a MixUpModel whose "
            f"candidate layers are {names}. A MixUp layer must be part of "
            "the wrapped model when the MixUpModel is created."
        )

    def mix(self, layer, features):
        """Mix `features` with a fresh draw of `layer` (a mixing layer's
        `draw_and_mix`); record its (weight, pairs)."""
        if self.chosen is not None:
            active = keras.ops.equal(self.chosen, self.index_of(layer))
        else:
            self.index_of(layer)
            active = keras.ops.convert_to_tensor(True)
        mixed, weight, perm = layer.draw_and_mix(
            features, active=active, groups=self.groups)
        self.records.append((active, weight, perm))
        return mixed

    def draw(self):
        """(lam, perm) of the layer that mixed, or None if none ran.

        Inactive layers drew lam == 1 exactly, so selecting by `active`
        gives the draw that the features saw.
        """
        if not self.records:
            return None
        _, lam, perm = self.records[0]
        for active, lam_i, perm_i in self.records[1:]:
            lam = keras.ops.where(active, lam_i, lam)
            perm = keras.ops.where(active, perm_i, perm)
        return lam, perm


def current():
    """The scope of the forward pass being traced in this thread, or None."""
    return getattr(_local, "scope", None)


def take_last():
    """The scope of this thread's last forward pass (and forget it)."""
    scope = getattr(_local, "last", None)
    _local.last = None
    return scope
