"""keras-mixup: mixup (Zhang et al., ICLR 2018) done right for Keras 3."""

from keras_mixup.data import mixup_map
from keras_mixup.layer import MixUp

__version__ = "0.1.0"

__all__ = ["MixUp", "mixup_map"]
