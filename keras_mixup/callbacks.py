"""Alpha schedules: change mixup's strength between epochs or steps."""

import keras

from keras_mixup import _internals
from keras_mixup import validation
from keras_mixup.base import mixing_layers_of


class AlphaScheduler(keras.callbacks.Callback):
    """Sets the alpha of every MixUp layer in the model as training goes.

    alpha lives in a variable of each layer, so changing it neither retraces
    nor recompiles. alpha = 0 makes a step exactly ERM.

    ```python
    # The paper's speech recipe: 5 epochs of plain ERM first.
    keras_mixup.AlphaScheduler(warmup_epochs=5)
    # timm's --mixup-off-epoch: no mixing from epoch 190 on.
    keras_mixup.AlphaScheduler(off_epoch=190)
    # Anything: a function of (epoch, base_alpha), or of (step, base_alpha).
    keras_mixup.AlphaScheduler(lambda epoch, alpha: alpha * min(1, epoch / 10))
    keras_mixup.AlphaScheduler(lambda step, alpha: ..., unit="step")
    ```

    Args:
        schedule: `fn(epoch_or_step, base_alpha) -> alpha`, where base_alpha
            is the alpha each layer was built with. Applied after the
            warm-up and switch-off rules, which take precedence.
        warmup_epochs: epochs (from 0) with alpha = 0.
        off_epoch: first epoch with alpha = 0 until the end.
        unit: "epoch" (applied at the start of each epoch) or "step"
            (before every training batch; counts steps from epoch 0 using the
            epoch length, so it stays right after a resume).
        verbose: print alpha when it changes.
    """

    def __init__(self, schedule=None, *, warmup_epochs=0, off_epoch=None,
                 unit="epoch", verbose=0):
        super().__init__()
        if schedule is not None and not callable(schedule):
            raise ValueError(
                "Argument `schedule` must be a callable (epoch_or_step, "
                f"base_alpha) -> alpha, or None. Received: schedule={schedule!r}"
            )
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) \
                or warmup_epochs < 0:
            raise ValueError(
                "Argument `warmup_epochs` must be a non-negative int. "
                f"Received: warmup_epochs={warmup_epochs!r}"
            )
        if off_epoch is not None and (
            isinstance(off_epoch, bool) or not isinstance(off_epoch, int)
            or off_epoch < 0
        ):
            raise ValueError(
                "Argument `off_epoch` must be a non-negative int or None. "
                f"Received: off_epoch={off_epoch!r}"
            )
        if unit not in ("epoch", "step"):
            raise ValueError(
                'Argument `unit` must be "epoch" or "step". '
                f"Received: unit={unit!r}"
            )
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
        self.off_epoch = off_epoch
        self.unit = unit
        self.verbose = verbose
        self._epoch = 0
        self._last = None

    def alpha_at(self, epoch, base_alpha, step=None):
        """The alpha for a layer built with `base_alpha` at this point."""
        if epoch < self.warmup_epochs:
            return 0.0
        if self.off_epoch is not None and epoch >= self.off_epoch:
            return 0.0
        if self.schedule is None:
            return base_alpha
        value = self.schedule(epoch if self.unit == "epoch" else step, base_alpha)
        return validation.validate_alpha(value, name="schedule(...)")

    def _apply(self, epoch, step=None):
        layers = mixing_layers_of(self.model)
        # Every alpha of every layer (MixUpOrCutMix has two) follows the
        # schedule from its own base value.
        values = [{name: self.alpha_at(epoch, base, step)
                   for name, base in layer.base_alphas.items()}
                  for layer in layers]
        if values == self._last:
            return
        # Mid-fit the JAX trainer holds variables in its own state; sync it
        # out, assign, and the trainer reads the new values back.
        _internals.sync_jax_trainer_state(self.model)
        for layer, value in zip(layers, values):
            layer.assign_alphas(value)
        if self.verbose and values != self._last:
            print(f"\nAlphaScheduler: epoch {epoch}: alpha = {values}")
        self._last = values

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.unit == "epoch":
            self._apply(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.unit == "step":
            steps = self.params.get("steps") or 0
            self._apply(self._epoch, self._epoch * steps + batch)
