"""Saving a layer's or model's seed stream with its weights."""

import keras

# The key of the SeedGenerator state among a layer's saved variables.
SEED_STATE_KEY = "seed_generator_state"


class SavesSeedState:
    """Mixin for a Keras layer or model with a `seed_generator`: its state is
    saved and loaded with the object's own variables.

    Keras saves a layer's own variables only, not its SeedGenerators' state;
    with this, a loaded (or `BackupAndRestore`-resumed) object continues its
    stream of draws instead of restarting it. Put it before the Keras base
    class: `class MixUp(SavesSeedState, keras.layers.Layer)`.
    """

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[SEED_STATE_KEY] = keras.ops.convert_to_numpy(
            self.seed_generator.state.value
        )

    def load_own_variables(self, store):
        own = {k: store[k] for k in store.keys() if k != SEED_STATE_KEY}
        super().load_own_variables(own)
        if SEED_STATE_KEY in store.keys():
            self.seed_generator.state.assign(store[SEED_STATE_KEY][...])
