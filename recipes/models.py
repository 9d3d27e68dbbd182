"""Model builders for the recipes: one function per architecture of the paper,
each returning an uncompiled keras.Model that outputs class probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

import keras_mixup


def mlp(
    input_dim: int,
    num_classes: int,
    hidden: Sequence[int] = (128, 128),
    *,
    activation: str = "relu",
    name: str = "mlp",
) -> keras.Model:
    """Fully connected classifier; the paper's UCI net (section 3.6) is the
    default: two hidden layers of 128 ReLU units, softmax output."""
    if not isinstance(input_dim, int) or input_dim < 1:
        raise ValueError(f"mlp: input_dim must be a positive int, got {input_dim!r}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"mlp: num_classes must be an int >= 2, got {num_classes!r}")
    hidden = tuple(hidden)
    if not all(isinstance(units, int) and units >= 1 for units in hidden):
        raise ValueError(f"mlp: hidden must be positive ints, got {hidden!r}")
    inputs = keras.Input((input_dim,), name="features")
    x = inputs
    for index, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation=activation, name=f"hidden_{index}")(x)
    # float32 probabilities even under a mixed-precision policy: the loss on
    # mixed soft labels needs them.
    outputs = layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------
# PreAct ResNet-18: the CIFAR variant of (Liu, 2017), kuangliu/pytorch-cifar,
# which the paper uses for CIFAR-10/100 (section 3.2), the corrupted labels
# (section 3.4) and the ablation (section 3.8).


def _torch_like_init():
    """PyTorch's default init for conv and linear weights (as in the reference
    code): kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def _l2(weight_decay):
    # PyTorch's SGD weight_decay=wd adds wd * w to the gradient: the gradient
    # of (wd / 2) * ||w||^2, i.e. keras L2(wd / 2).
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None


def _preact_block(x, planes, stride, *, weight_decay, dropout, name):
    """PreActBlock: BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3 + shortcut; the
    shortcut is a 1x1 conv of the pre-activated input when the shape changes,
    else the input itself."""
    reg = _l2(weight_decay)

    def bn(h, suffix):
        return layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, gamma_regularizer=reg,
            beta_regularizer=reg, name=f"{name}_{suffix}",
        )(h)

    def conv(h, filters, kernel, strides, suffix):
        return layers.Conv2D(
            filters, kernel, strides=strides, padding="same", use_bias=False,
            kernel_initializer=_torch_like_init(), kernel_regularizer=reg,
            name=f"{name}_{suffix}",
        )(h)

    out = layers.ReLU(name=f"{name}_relu1")(bn(x, "bn1"))
    if stride != 1 or x.shape[-1] != planes:
        shortcut = conv(out, planes, 1, stride, "shortcut")
    else:
        shortcut = x
    out = conv(out, planes, 3, stride, "conv1")
    out = layers.ReLU(name=f"{name}_relu2")(bn(out, "bn2"))
    if dropout:
        # The paper's section 3.4: one dropout layer per PreAct block, after
        # the ReLU between the two convolutions.
        out = layers.Dropout(dropout, name=f"{name}_dropout")(out)
    out = conv(out, planes, 3, 1, "conv2")
    return layers.Add(name=f"{name}_add")([out, shortcut])


def preact_resnet18(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    weight_decay: float = 1e-4,
    dropout: float = 0.0,
    mixup_alpha: float | None = None,
    mixup_at: Sequence[int] = (0,),
    mixup_per_sample: bool = False,
    mixup_seed: int | None = None,
    name: str = "preact_resnet18",
) -> keras.Model:
    """PreAct ResNet-18 for CIFAR (He et al., 2016) as implemented in
    kuangliu/pytorch-cifar (Liu, 2017): a 3x3 conv stem with 64 filters (no
    pooling), four stages of two PreAct blocks (64, 128, 256, 512 filters;
    strides 1, 2, 2, 2), global average pooling and a linear classifier.
    11,177,930 parameters for 10 classes (11,171,146 trainable, as PyTorch
    counts them; the rest are BatchNorm moving statistics).

    Args:
        input_shape: (height, width, channels), channels last.
        num_classes: output classes (softmax probabilities, float32).
        weight_decay: PyTorch-style SGD weight decay (the paper: 1e-4; 5e-4
            in the ablation), applied to every parameter as PyTorch's SGD
            does, as L2(weight_decay / 2) regularizers.
        dropout: dropout probability after the middle ReLU of each block
            (the paper's section 3.4); 0 adds no layer.
        mixup_alpha: if set, `keras_mixup.MixUp(mixup_alpha)` layers are
            placed at `mixup_at`; wrap the model in `keras_mixup.MixUpModel`
            to train it.
        mixup_at: where to mix (the ablation's "Layer k", Table 5): 0 the
            input, 1-4 the input of residual stage k, 5 the pooled features
            before the classifier. Several positions give manifold mixup
            (one chosen per step).
        mixup_per_sample: one lam per example.
        mixup_seed: seed of the MixUp layers (position k gets seed + k).
        name: model name.

    The outputs of the stem and of the four stages are the layers named
    "stem", "stage1_block2_add", ..., "stage4_block2_add": the hidden
    representations the ablation mixes (section 3.8).
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or not all(
        isinstance(d, int) and d >= 1 for d in input_shape
    ):
        raise ValueError(
            "preact_resnet18: input_shape must be (height, width, channels) of "
            f"positive ints, got {input_shape!r}"
        )
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"preact_resnet18: num_classes must be an int >= 2, got {num_classes!r}"
        )
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(
            "preact_resnet18: weight_decay must be a number >= 0, got "
            f"{weight_decay!r}"
        )
    if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
        raise ValueError(
            f"preact_resnet18: dropout must be a number in [0, 1), got {dropout!r}"
        )
    mixup_at = tuple(mixup_at)
    if mixup_alpha is not None and (
        not mixup_at or any(k not in range(6) for k in mixup_at)
        or len(set(mixup_at)) != len(mixup_at)
    ):
        raise ValueError(
            "preact_resnet18: mixup_at must be distinct positions in 0..5 "
            f"(0 input, 1-4 residual stages, 5 before the classifier), got "
            f"{mixup_at!r}"
        )

    def maybe_mix(x, position):
        if mixup_alpha is None or position not in mixup_at:
            return x
        seed = None if mixup_seed is None else mixup_seed + position
        return keras_mixup.MixUp(
            mixup_alpha, per_sample=mixup_per_sample, seed=seed,
            name=f"mixup_layer{position}",
        )(x)

    reg = _l2(weight_decay)
    inputs = keras.Input(input_shape, name="images")
    x = layers.Conv2D(
        64, 3, padding="same", use_bias=False,
        kernel_initializer=_torch_like_init(), kernel_regularizer=reg,
        name="stem",
    )(maybe_mix(inputs, 0))
    for stage, (planes, stride) in enumerate(
        [(64, 1), (128, 2), (256, 2), (512, 2)], start=1
    ):
        x = maybe_mix(x, stage)
        for block, block_stride in enumerate((stride, 1), start=1):
            x = _preact_block(
                x, planes, block_stride, weight_decay=weight_decay,
                dropout=dropout, name=f"stage{stage}_block{block}",
            )
    # The reference pools the 4x4 map of a 32x32 input with avg_pool2d(4),
    # without a last BN-ReLU: global average pooling, any input size.
    x = maybe_mix(layers.GlobalAveragePooling2D(name="pool")(x), 5)
    outputs = layers.Dense(
        num_classes, activation="softmax", dtype="float32",
        kernel_initializer=_torch_like_init(), kernel_regularizer=reg,
        bias_regularizer=reg, name="probabilities",
    )(x)
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------
# Small CNN for Optical Digits (8x8): the laptop-scale stand-in for PreAct
# ResNet-18 in the robustness and ablation recipes (issue 6).


def small_cnn(
    input_shape: Sequence[int] = (8, 8, 1),
    num_classes: int = 10,
    *,
    filters: Sequence[int] = (32, 64, 128),
    weight_decay: float = 0.0,
    dropout: float = 0.0,
    mixup_alpha: float | None = None,
    mixup_at: Sequence[int] = (0,),
    mixup_per_sample: bool = False,
    mixup_seed: int | None = None,
    name: str = "small_cnn",
) -> keras.Model:
    """A small VGG-style CNN: per entry of `filters` a stage of two 3x3
    conv-BN-ReLU layers (a dropout layer between them when dropout > 0, as
    section 3.4 places it in PreAct blocks) followed by 2x2 max pooling while
    the map is larger than 1x1; then global average pooling and a softmax
    classifier. 289,066 parameters with the defaults (288,170 trainable; the
    rest are BatchNorm moving statistics).

    mixup positions (as `preact_resnet18`'s "Layer k"): 0 the input, k in
    1..len(filters)-1 the output of stage k, len(filters) the pooled
    features before the classifier. weight_decay is PyTorch-style, as in
    `preact_resnet18`.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or not all(
        isinstance(d, int) and d >= 1 for d in input_shape
    ):
        raise ValueError(
            "small_cnn: input_shape must be (height, width, channels) of "
            f"positive ints, got {input_shape!r}"
        )
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"small_cnn: num_classes must be an int >= 2, got {num_classes!r}"
        )
    filters = tuple(filters)
    if not filters or not all(isinstance(f, int) and f >= 1 for f in filters):
        raise ValueError(
            f"small_cnn: filters must be one or more positive ints, got {filters!r}"
        )
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(
            f"small_cnn: weight_decay must be a number >= 0, got {weight_decay!r}"
        )
    if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
        raise ValueError(
            f"small_cnn: dropout must be a number in [0, 1), got {dropout!r}"
        )
    positions = range(len(filters) + 1)
    mixup_at = tuple(mixup_at)
    if mixup_alpha is not None and (
        not mixup_at or any(k not in positions for k in mixup_at)
        or len(set(mixup_at)) != len(mixup_at)
    ):
        raise ValueError(
            f"small_cnn: mixup_at must be distinct positions in 0..{len(filters)} "
            f"(0 input, 1-{len(filters) - 1} stage outputs, {len(filters)} before "
            f"the classifier), got {mixup_at!r}"
        )

    def maybe_mix(x, position):
        if mixup_alpha is None or position not in mixup_at:
            return x
        seed = None if mixup_seed is None else mixup_seed + position
        return keras_mixup.MixUp(
            mixup_alpha, per_sample=mixup_per_sample, seed=seed,
            name=f"mixup_layer{position}",
        )(x)

    reg = _l2(weight_decay)

    def conv_bn_relu(h, units, label):
        h = layers.Conv2D(
            units, 3, padding="same", use_bias=False, kernel_regularizer=reg,
            name=f"{label}_conv",
        )(h)
        h = layers.BatchNormalization(
            gamma_regularizer=reg, beta_regularizer=reg, name=f"{label}_bn"
        )(h)
        return layers.ReLU(name=f"{label}_relu")(h)

    inputs = keras.Input(input_shape, name="images")
    x = maybe_mix(inputs, 0)
    for stage, units in enumerate(filters, start=1):
        x = conv_bn_relu(x, units, f"stage{stage}_1")
        if dropout:
            x = layers.Dropout(dropout, name=f"stage{stage}_dropout")(x)
        x = conv_bn_relu(x, units, f"stage{stage}_2")
        if min(x.shape[1], x.shape[2]) > 1:
            x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        if stage < len(filters):
            x = maybe_mix(x, stage)
    x = maybe_mix(layers.GlobalAveragePooling2D(name="pool")(x), len(filters))
    outputs = layers.Dense(
        num_classes, activation="softmax", dtype="float32",
        kernel_regularizer=reg, bias_regularizer=reg, name="probabilities",
    )(x)
    return keras.Model(inputs, outputs, name=name)
