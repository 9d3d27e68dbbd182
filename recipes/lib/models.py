"""Model builders for the recipes: one function per architecture of the paper,
each returning an uncompiled keras.Model that outputs class probabilities."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

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


def _check_dropout(builder, dropout):
    if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
        raise ValueError(
            f"{builder}: dropout must be a number in [0, 1), got {dropout!r}"
        )


def _latent_mixer(builder, mixup_alpha, mixup_at, positions, layout, per_sample,
                  seed):
    """maybe_mix(x, position): x through a MixUp layer where `mixup_at` asks
    for one (none when mixup_alpha is None); position k's layer is named
    mixup_layer{k} and seeded seed + k."""
    mixup_at = tuple(mixup_at)
    if mixup_alpha is not None and (
        not mixup_at or any(k not in positions for k in mixup_at)
        or len(set(mixup_at)) != len(mixup_at)
    ):
        raise ValueError(
            f"{builder}: mixup_at must be distinct positions in "
            f"{positions[0]}..{positions[-1]} ({layout}), got {mixup_at!r}"
        )

    def maybe_mix(x, position):
        if mixup_alpha is None or position not in mixup_at:
            return x
        return keras_mixup.MixUp(
            mixup_alpha, per_sample=per_sample,
            seed=None if seed is None else seed + position,
            name=f"mixup_layer{position}",
        )(x)

    return maybe_mix


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
    input_shape = _check_image_model_args(
        "preact_resnet18", input_shape, num_classes, weight_decay
    )
    _check_dropout("preact_resnet18", dropout)
    maybe_mix = _latent_mixer(
        "preact_resnet18", mixup_alpha, mixup_at, range(6),
        "0 input, 1-4 residual stages, 5 before the classifier",
        mixup_per_sample, mixup_seed,
    )

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

# The small CNN's stages: the one the robustness and ablation recipes train on
# digits, Fashion-MNIST and the user's data (settings.build_classifier), and
# CIFAR's small_cnn.
SMALL_CNN_FILTERS = (32, 64, 128)


def small_cnn(
    input_shape: Sequence[int] = (8, 8, 1),
    num_classes: int = 10,
    *,
    filters: Sequence[int] = SMALL_CNN_FILTERS,
    weight_decay: float = 0.0,
    dropout: float = 0.0,
    batchnorm_momentum: float = 0.99,
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
    `preact_resnet18`. batchnorm_momentum is Keras's (0.99 by default;
    PyTorch's momentum 0.1 is Keras's 0.9).
    """
    input_shape = _check_image_model_args(
        "small_cnn", input_shape, num_classes, weight_decay
    )
    filters = tuple(filters)
    if not filters or not all(isinstance(f, int) and f >= 1 for f in filters):
        raise ValueError(
            f"small_cnn: filters must be one or more positive ints, got {filters!r}"
        )
    _check_dropout("small_cnn", dropout)
    if not (isinstance(batchnorm_momentum, (int, float))
            and 0.0 <= batchnorm_momentum < 1.0):
        raise ValueError(
            "small_cnn: batchnorm_momentum must be a number in [0, 1), got "
            f"{batchnorm_momentum!r}"
        )
    maybe_mix = _latent_mixer(
        "small_cnn", mixup_alpha, mixup_at, range(len(filters) + 1),
        f"0 input, 1-{len(filters) - 1} stage outputs, {len(filters)} before "
        f"the classifier",
        mixup_per_sample, mixup_seed,
    )

    reg = _l2(weight_decay)

    def conv_bn_relu(h, units, label):
        h = layers.Conv2D(
            units, 3, padding="same", use_bias=False, kernel_regularizer=reg,
            name=f"{label}_conv",
        )(h)
        h = layers.BatchNormalization(
            momentum=batchnorm_momentum, gamma_regularizer=reg,
            beta_regularizer=reg, name=f"{label}_bn",
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


# ----------------------------------------------------------------------------
# CIFAR models of section 3.2 beside PreAct ResNet-18: WideResNet-28-10 and
# DenseNet-BC-190 (growth rate 40); ImageNet models of section 3.1: ResNet-50,
# ResNet-101, ResNeXt-101 32x4d and 64x4d.


def _he_fan_out():
    """kaiming_normal_(mode="fan_out"): the conv init of the reference codes
    (WideResNet, DenseNet, torchvision's ResNet/ResNeXt)."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def _check_image_model_args(builder, input_shape, num_classes, weight_decay):
    input_shape = _check_shape_and_classes(
        builder, input_shape, num_classes, "height, width, channels"
    )
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(
            f"{builder}: weight_decay must be a number >= 0, got {weight_decay!r}"
        )
    return input_shape


def _check_shape_and_classes(builder, input_shape, num_classes, layout):
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or not all(
        isinstance(d, int) and d >= 1 for d in input_shape
    ):
        raise ValueError(
            f"{builder}: input_shape must be ({layout}) of positive ints, got "
            f"{input_shape!r}"
        )
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(
            f"{builder}: num_classes must be an int >= 2, got {num_classes!r}"
        )
    return input_shape


def _bn(reg, name, gamma_initializer="ones"):
    return layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, gamma_regularizer=reg, beta_regularizer=reg,
        gamma_initializer=gamma_initializer, name=name,
    )


def _conv(filters, kernel, strides, reg, name, groups=1):
    return layers.Conv2D(
        filters, kernel, strides=strides, padding="same", use_bias=False,
        groups=groups, kernel_initializer=_he_fan_out(), kernel_regularizer=reg,
        name=name,
    )


def _classifier(x, num_classes, reg):
    # float32 probabilities even under a mixed-precision policy.
    return layers.Dense(
        num_classes, activation="softmax", dtype="float32",
        kernel_initializer=_torch_like_init(), kernel_regularizer=reg,
        bias_regularizer=reg, name="probabilities",
    )(x)


def wide_resnet(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    depth: int = 28,
    widen_factor: int = 10,
    weight_decay: float = 1e-4,
    dropout: float = 0.0,
    name: str | None = None,
) -> keras.Model:
    """WideResNet-depth-k for CIFAR (Zagoruyko & Komodakis, 2016) as in their
    reference code: a 3x3 conv stem with 16 filters, three stages of
    (depth - 4) / 6 pre-activation blocks with 16k, 32k, 64k filters (strides
    1, 2, 2; a 1x1 conv shortcut where the width or stride changes), a final
    BN-ReLU, global average pooling and a linear classifier. WRN-28-10 (the
    default) has 36,479,194 trainable parameters for 10 classes (36.5M, as
    published). The paper trains it without dropout (`dropout=0`).

    weight_decay is PyTorch-style SGD weight decay on every parameter, as in
    `preact_resnet18`. `depth=10, widen_factor=1` is a tiny WRN for smoke runs.
    """
    input_shape = _check_image_model_args(
        "wide_resnet", input_shape, num_classes, weight_decay
    )
    if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(
            f"wide_resnet: depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, "
            f"...), got {depth!r}"
        )
    if not isinstance(widen_factor, int) or widen_factor < 1:
        raise ValueError(
            f"wide_resnet: widen_factor must be a positive int, got {widen_factor!r}"
        )
    if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
        raise ValueError(
            f"wide_resnet: dropout must be a number in [0, 1), got {dropout!r}"
        )
    reg = _l2(weight_decay)
    blocks = (depth - 4) // 6
    inputs = keras.Input(input_shape, name="images")
    x = _conv(16, 3, 1, reg, "stem")(inputs)
    for stage, (width, stride) in enumerate(
        [(16 * widen_factor, 1), (32 * widen_factor, 2), (64 * widen_factor, 2)],
        start=1,
    ):
        for block in range(1, blocks + 1):
            prefix = f"stage{stage}_block{block}"
            block_stride = stride if block == 1 else 1
            out = layers.ReLU(name=f"{prefix}_relu1")(_bn(reg, f"{prefix}_bn1")(x))
            if x.shape[-1] != width or block_stride != 1:
                shortcut = _conv(width, 1, block_stride, reg, f"{prefix}_shortcut")(out)
            else:
                shortcut = x
            out = _conv(width, 3, block_stride, reg, f"{prefix}_conv1")(out)
            out = layers.ReLU(name=f"{prefix}_relu2")(_bn(reg, f"{prefix}_bn2")(out))
            if dropout:
                out = layers.Dropout(dropout, name=f"{prefix}_dropout")(out)
            out = _conv(width, 3, 1, reg, f"{prefix}_conv2")(out)
            x = layers.Add(name=f"{prefix}_add")([out, shortcut])
    x = layers.ReLU(name="final_relu")(_bn(reg, "final_bn")(x))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = _classifier(x, num_classes, reg)
    return keras.Model(inputs, outputs, name=name or f"wrn_{depth}_{widen_factor}")


def densenet_bc(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    depth: int = 190,
    growth_rate: int = 40,
    compression: float = 0.5,
    weight_decay: float = 1e-4,
    name: str | None = None,
) -> keras.Model:
    """DenseNet-BC for CIFAR (Huang et al., 2017) as in (Veit, 2017),
    andreasveit/densenet-pytorch, the implementation the paper uses: a 3x3
    conv stem with 2k filters, three dense blocks of (depth - 4) / 6
    bottleneck layers (BN-ReLU-conv1x1 to 4k, BN-ReLU-conv3x3 to k,
    concatenated), transitions BN-ReLU-conv1x1 (channels x compression) and
    2x2 average pooling, a final BN-ReLU, global average pooling and a linear
    classifier; no dropout. DenseNet-BC-190 with k = 40 (the default) has
    25,624,430 trainable parameters for 10 classes (25.6M, as published).
    """
    input_shape = _check_image_model_args(
        "densenet_bc", input_shape, num_classes, weight_decay
    )
    if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(
            f"densenet_bc: depth must be 6n + 4 with n >= 1 (e.g. 100, 190, "
            f"250), got {depth!r}"
        )
    if not isinstance(growth_rate, int) or growth_rate < 1:
        raise ValueError(
            f"densenet_bc: growth_rate must be a positive int, got {growth_rate!r}"
        )
    if not (isinstance(compression, (int, float)) and 0.0 < compression <= 1.0):
        raise ValueError(
            f"densenet_bc: compression must be in (0, 1], got {compression!r}"
        )
    reg = _l2(weight_decay)
    layers_per_block = (depth - 4) // 6
    inputs = keras.Input(input_shape, name="images")
    x = _conv(2 * growth_rate, 3, 1, reg, "stem")(inputs)
    for block in range(1, 4):
        for index in range(1, layers_per_block + 1):
            prefix = f"block{block}_layer{index}"
            h = layers.ReLU(name=f"{prefix}_relu1")(_bn(reg, f"{prefix}_bn1")(x))
            h = _conv(4 * growth_rate, 1, 1, reg, f"{prefix}_conv1")(h)
            h = layers.ReLU(name=f"{prefix}_relu2")(_bn(reg, f"{prefix}_bn2")(h))
            h = _conv(growth_rate, 3, 1, reg, f"{prefix}_conv2")(h)
            x = layers.Concatenate(name=f"{prefix}_concat")([x, h])
        if block < 3:
            prefix = f"transition{block}"
            # int(): the reference's int(math.floor(in_planes * reduction)).
            channels = int(x.shape[-1] * compression)
            h = layers.ReLU(name=f"{prefix}_relu")(_bn(reg, f"{prefix}_bn")(x))
            h = _conv(channels, 1, 1, reg, f"{prefix}_conv")(h)
            x = layers.AveragePooling2D(2, name=f"{prefix}_pool")(h)
    x = layers.ReLU(name="final_relu")(_bn(reg, "final_bn")(x))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = _classifier(x, num_classes, reg)
    return keras.Model(
        inputs, outputs, name=name or f"densenet_bc_{depth}_{growth_rate}"
    )


# Bottleneck blocks per stage of the ImageNet ResNets (He et al., 2016).
RESNET_BLOCKS = {14: (1, 1, 1, 1), 26: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3),
                 152: (3, 8, 36, 3)}


def resnet(
    input_shape: Sequence[int] = (224, 224, 3),
    num_classes: int = 1000,
    *,
    depth: int = 50,
    groups: int = 1,
    width_per_group: int = 64,
    stem_width: int = 64,
    weight_decay: float = 1e-4,
    name: str | None = None,
) -> keras.Model:
    """ImageNet ResNet (He et al., 2016) and ResNeXt (Xie et al., 2017) with
    bottleneck blocks, as torchvision builds them: a 7x7/2 conv stem and 3x3/2
    max pooling, four stages of bottleneck blocks (1x1, 3x3 with `groups`
    groups, 1x1 to 4x the stage's planes; strides 1, 2, 2, 2, the stride on
    the 3x3 conv), global average pooling and a linear classifier.

    The 3x3 width of stage s is planes * width_per_group / 64 * groups with
    planes = 64, 128, 256, 512: ResNet-50 is depth 50, groups 1, width 64
    (25,557,032 trainable parameters, 25.6M); ResNet-101 44,549,160;
    ResNeXt-101 32x4d (groups 32, width 4) 44,177,704; ResNeXt-101 64x4d
    83,455,272; the counts of torchvision.

    As in (Goyal et al., 2017), the last BN of each residual block starts at
    gamma = 0 (each block starts as the identity, which makes large-batch
    training stable) and weight decay (L2, weight_decay / 2 as in
    `preact_resnet18`) applies to conv and linear weights only, not to BN.
    `stem_width` scales every width (64 is the published net; smaller values
    give tiny nets for smoke runs).
    """
    input_shape = _check_image_model_args(
        "resnet", input_shape, num_classes, weight_decay
    )
    if depth not in RESNET_BLOCKS:
        raise ValueError(
            f"resnet: depth must be one of {sorted(RESNET_BLOCKS)}, got {depth!r}"
        )
    for argument, value in [
        ("groups", groups), ("width_per_group", width_per_group),
        ("stem_width", stem_width),
    ]:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"resnet: {argument} must be a positive int, got {value!r}")
    reg = _l2(weight_decay)
    inputs = keras.Input(input_shape, name="images")
    x = _conv(stem_width, 7, 2, reg, "stem_conv")(inputs)
    x = layers.ReLU(name="stem_relu")(_bn(None, "stem_bn")(x))
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, blocks in enumerate(RESNET_BLOCKS[depth], start=1):
        planes = stem_width * 2 ** (stage - 1)
        width = max(1, planes * width_per_group // 64) * groups
        for block in range(1, blocks + 1):
            prefix = f"stage{stage}_block{block}"
            stride = 2 if stage > 1 and block == 1 else 1
            out = _conv(width, 1, 1, reg, f"{prefix}_conv1")(x)
            out = layers.ReLU(name=f"{prefix}_relu1")(_bn(None, f"{prefix}_bn1")(out))
            out = _conv(width, 3, stride, reg, f"{prefix}_conv2", groups=groups)(out)
            out = layers.ReLU(name=f"{prefix}_relu2")(_bn(None, f"{prefix}_bn2")(out))
            out = _conv(4 * planes, 1, 1, reg, f"{prefix}_conv3")(out)
            out = _bn(None, f"{prefix}_bn3", gamma_initializer="zeros")(out)
            if block == 1:
                shortcut = _conv(4 * planes, 1, stride, reg, f"{prefix}_shortcut")(x)
                shortcut = _bn(None, f"{prefix}_shortcut_bn")(shortcut)
            else:
                shortcut = x
            x = layers.ReLU(name=f"{prefix}_out")(
                layers.Add(name=f"{prefix}_add")([out, shortcut])
            )
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(
        num_classes, activation="softmax", dtype="float32",
        kernel_initializer=_torch_like_init(), kernel_regularizer=reg,
        name="probabilities",
    )(x)
    if name is None:
        name = f"resnet{depth}" if groups == 1 else (
            f"resnext{depth}_{groups}x{width_per_group}d"
        )
    return keras.Model(inputs, outputs, name=name)


# ----------------------------------------------------------------------------
# LeNet and VGG-11 for speech spectrograms (section 3.3, Figure 4), as in
# GCommandsPytorch (adiyoss), the code the paper's speech experiment builds
# on: single-channel (frequency, frames, 1) inputs, 160 x 101 x 1 in the
# paper; log-softmax there, softmax probabilities (float32) here.

SPEECH_INPUT_SHAPE = (160, 101, 1)


def _check_speech_args(builder, input_shape, num_classes):
    return _check_shape_and_classes(
        builder, input_shape, num_classes, "frequency bins, frames, channels"
    )


def lenet(
    input_shape: Sequence[int] = SPEECH_INPUT_SHAPE,
    num_classes: int = 30,
    *,
    name: str = "lenet",
) -> keras.Model:
    """LeNet (LeCun et al., 2001) for spectrograms, GCommandsPytorch's layout:
    conv5x5(20) - maxpool2 - ReLU - conv5x5(20) - spatial dropout 0.5 -
    maxpool2 - ReLU - dense 1000 ReLU - dropout 0.5 - dense num_classes.
    On 160 x 101 x 1 inputs the flattened features are 37 x 22 x 20 = 16,280
    (as in the reference on its 161 x 101 inputs), and the net has
    16,291,540 + 1,001 * num_classes parameters."""
    input_shape = _check_speech_args("lenet", input_shape, num_classes)
    inputs = keras.Input(input_shape, name="spectrograms")
    x = layers.Conv2D(20, 5, kernel_initializer=_torch_like_init(), name="conv1")(
        inputs
    )
    x = layers.ReLU(name="relu1")(layers.MaxPooling2D(2, name="pool1")(x))
    x = layers.Conv2D(20, 5, kernel_initializer=_torch_like_init(), name="conv2")(x)
    # torch's Dropout2d after conv2 drops whole feature maps.
    x = layers.SpatialDropout2D(0.5, name="conv2_dropout")(x)
    x = layers.ReLU(name="relu2")(layers.MaxPooling2D(2, name="pool2")(x))
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(
        1000, activation="relu", kernel_initializer=_torch_like_init(), name="fc1"
    )(x)
    x = layers.Dropout(0.5, name="fc1_dropout")(x)
    outputs = layers.Dense(
        num_classes, activation="softmax", dtype="float32",
        kernel_initializer=_torch_like_init(), name="probabilities",
    )(x)
    return keras.Model(inputs, outputs, name=name)


VGG11_LAYERS = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def vgg11(
    input_shape: Sequence[int] = SPEECH_INPUT_SHAPE,
    num_classes: int = 30,
    *,
    name: str = "vgg11",
) -> keras.Model:
    """VGG-11 (Simonyan & Zisserman, 2015) for spectrograms, GCommandsPytorch's
    layout: eight conv3x3-BN-ReLU layers (64, M, 128, M, 256, 256, M, 512,
    512, M, 512, 512, M; M = maxpool2), then dense 512 and dense
    num_classes. On 160 x 101 x 1 inputs the last feature map is 5 x 3 x 512
    = 7,680 (as in the reference on 161 x 101). The reference has no
    activation between its two dense layers; neither has this net."""
    input_shape = _check_speech_args("vgg11", input_shape, num_classes)
    inputs = keras.Input(input_shape, name="spectrograms")
    x = inputs
    conv_index, pool_index = 0, 0
    for entry in VGG11_LAYERS:
        if entry == "M":
            pool_index += 1
            x = layers.MaxPooling2D(2, name=f"pool{pool_index}")(x)
            continue
        conv_index += 1
        x = layers.Conv2D(
            entry, 3, padding="same", kernel_initializer=_torch_like_init(),
            name=f"conv{conv_index}",
        )(x)
        # torch BatchNorm2d: momentum 0.1 (keras 0.9), eps 1e-5.
        x = layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, name=f"conv{conv_index}_bn"
        )(x)
        x = layers.ReLU(name=f"conv{conv_index}_relu")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, kernel_initializer=_torch_like_init(), name="fc1")(x)
    outputs = layers.Dense(
        num_classes, activation="softmax", dtype="float32",
        kernel_initializer=_torch_like_init(), name="probabilities",
    )(x)
    return keras.Model(inputs, outputs, name=name)


class Architecture(NamedTuple):
    """A network a recipe offers by name: the paper's name for it, its
    builder (`builder(input_shape, num_classes, weight_decay=..., **options)`)
    and the builder's options."""

    title: str
    builder: Callable[..., keras.Model]
    options: dict

    def build(self, input_shape, num_classes, weight_decay) -> keras.Model:
        return self.builder(
            input_shape, num_classes, weight_decay=weight_decay, **self.options
        )
