"""keras-mixup: mixup (Zhang et al., ICLR 2018) done right for Keras 3."""

from keras_mixup.callbacks import AlphaScheduler
from keras_mixup.cutmix import CutMix
from keras_mixup.data import mixup_map
from keras_mixup.gan import MixUpGAN
from keras_mixup.insert import insert_mixup
from keras_mixup.layer import MixUp
from keras_mixup.model import MixedLoss
from keras_mixup.model import MixUpModel
from keras_mixup.mixup_or_cutmix import MixUpOrCutMix
from keras_mixup.neighbours import mixup_pairs_map
from keras_mixup.neighbours import nearest_neighbours
from keras_mixup.neighbours import neighbour_mixup_dataset
from keras_mixup.neighbours import neighbour_pairs

__version__ = "0.1.0"

__all__ = [
    "AlphaScheduler",
    "CutMix",
    "MixUp",
    "MixUpGAN",
    "MixUpModel",
    "MixUpOrCutMix",
    "MixedLoss",
    "insert_mixup",
    "mixup_map",
    "mixup_pairs_map",
    "nearest_neighbours",
    "neighbour_mixup_dataset",
    "neighbour_pairs",
]
