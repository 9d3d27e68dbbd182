"""insert_mixup: MixUp layers in a Functional model you did not build."""

import difflib

import keras

from keras_mixup import _internals
from keras_mixup.layer import MixUp

INPUTS_NAME = "mixup_inputs"


def insert_mixup(model, at, alpha=1.0, *, inputs=False, allow_bypass=False,
                 **mixup_kwargs):
    """A copy of a Functional model with `MixUp` layers after named layers.

    The copy calls the original's own layers (same objects, same weights:
    nothing is copied, training the copy trains the original) on a new
    graph in which a `keras_mixup.MixUp` layer follows each layer named in
    `at`, and the model's inputs too with `inputs=True`. Wrapped in
    `keras_mixup.MixUpModel`, it trains with manifold mixup (Verma et al.,
    2019): every training step one of its MixUp layers, chosen uniformly at
    random, mixes and the others pass their features through. In inference
    the MixUp layers are the identity, so the copy computes exactly what the
    original does, and the original keeps working as it was.

    ```python
    base = keras.applications.ResNet50(weights="imagenet", include_top=False)
    base = keras_mixup.insert_mixup(
        base, ["conv2_block3_out", "conv3_block4_out"], alpha=2.0, inputs=True
    )
    ```

    Where to insert: manifold mixup mixes the whole hidden state of each
    example, so a point of insertion must be one that everything flowing
    from the inputs to the outputs passes through (a block's output, not a
    layer inside a residual branch whose shortcut goes around it). When
    features that bypass an inserted layer meet its mixed features, or reach
    an output, the labels would be mixed for examples that were only partly
    mixed: `insert_mixup` raises and names the layer where they meet.

    Args:
        model: a Functional `keras.Model` (a `keras.applications` model, a
            Functional KerasHub backbone, your own), or a built `Sequential`
            model. Layers inside a nested Functional model may be named too:
            that submodel is copied the same way.
        at: the names of the layers to insert a MixUp layer after (a string
            for one). Each must have a single output and be called once in
            the model. May be empty with `inputs=True`.
        alpha: Beta(alpha, alpha) parameter of every inserted layer.
        inputs: also insert a MixUp layer on the model's inputs (input
            mixup); a model with several inputs has them mixed together, by
            one draw.
        allow_bypass: insert even where features that bypass a MixUp layer
            meet its mixed features. Only right when those features do not
            depend on the example (e.g. position embeddings built from the
            input's shape).
        **mixup_kwargs: the other `MixUp` arguments (`per_sample`,
            `label_smoothing`, `target`, `seed`...). With a `seed`, the
            inserted layers get `seed`, `seed + 1`, ... (the inputs' first,
            then in the order of `at`), so that their draws differ.

    Returns:
        A Functional `keras.Model` with the original's name, inputs and
        outputs. The inserted layers are named `mixup_after_<layer name>`
        and `mixup_inputs`. It is a plain Functional model: the copy of a
        model of a Functional subclass (a KerasHub `Backbone`) computes the
        same outputs but is not of that class.

    Raises:
        TypeError: `model` is not a Functional (or built Sequential) model,
            e.g. a subclassed model (no graph to edit), or `at` is not a
            string or a list of strings.
        ValueError: a name that is no layer of the model (close names are
            listed) or is a model input, a duplicate name, nothing to insert,
            a layer with several outputs or called more than once, a layer
            inside a nested Sequential model, or features that bypass an
            inserted layer (see above).
    """
    model = _as_functional(model)
    names = _validate_at(at, inputs)
    targets = _locate(model, names)
    if not isinstance(allow_bypass, bool):
        raise TypeError(
            "Argument `allow_bypass` must be a bool. "
            f"Received: allow_bypass={allow_bypass!r}"
        )
    if "name" in mixup_kwargs:
        raise TypeError(
            "insert_mixup names the MixUp layers it inserts itself "
            "('mixup_inputs', 'mixup_after_<layer name>'). Received: "
            f"name={mixup_kwargs['name']!r}"
        )
    seed = mixup_kwargs.pop("seed", None)
    # Validate the MixUp arguments once, before any graph is built.
    MixUp(alpha, seed=seed, **mixup_kwargs)
    return _Insertion(
        model, targets, inputs, allow_bypass, alpha, seed, mixup_kwargs
    ).run()


def _as_functional(model):
    if isinstance(model, keras.Sequential):
        try:
            graph = (model.inputs, model.outputs)
        except AttributeError:
            raise TypeError(
                "Argument `model` must be a Functional model, or a Sequential "
                "model built with an input shape (keras.Input). Received a "
                f"Sequential model '{model.name}' with no inputs yet."
            ) from None
        # A built Sequential model is a graph too; its Functional view shares
        # its layers (Keras clones Sequential models without call_function).
        return keras.Model(*graph, name=model.name)
    if isinstance(model, keras.Model) and _internals.is_functional(model):
        return model
    if isinstance(model, keras.Model):
        raise TypeError(
            "Argument `model` must be a Functional model (built from "
            "keras.Input and layer calls, as keras.applications models and "
            "KerasHub backbones are): a subclassed model has no graph in "
            "which to insert layers. Put keras_mixup.MixUp layers in its "
            "call() and wrap it in keras_mixup.MixUpModel instead. Received: "
            f"model of type {type(model).__name__}"
        )
    raise TypeError(
        "Argument `model` must be a Functional keras.Model. Received: "
        f"model={model!r} of type {type(model).__name__}"
    )


def _validate_at(at, inputs):
    if not isinstance(inputs, bool):
        raise TypeError(
            f"Argument `inputs` must be a bool. Received: inputs={inputs!r}"
        )
    if isinstance(at, str):
        at = [at]
    if not isinstance(at, (list, tuple)) or not all(
        isinstance(name, str) for name in at
    ):
        raise TypeError(
            "Argument `at` must be a layer name or a list of layer names. "
            f"Received: at={at!r}"
        )
    duplicates = sorted({name for name in at if list(at).count(name) > 1})
    if duplicates:
        raise ValueError(
            "Argument `at` must name each layer once. Received duplicates "
            f"{duplicates} in at={list(at)}"
        )
    if not at and not inputs:
        raise ValueError(
            "Argument `at` must name at least one layer, unless inputs=True "
            f"(input mixup only). Received: at={list(at)}, inputs=False"
        )
    return list(at)



def _locate(model, names):
    """{name: (the layer, the nested models that hold it, outermost first)}.

    A name is looked up in `model` first, then in its nested Functional
    models (names are unique within one model only).
    """
    found, in_sequential, input_names = {}, {}, set()
    level = [(model, ())]
    while level:
        nested = []
        for m, path in level:
            for layer in m.layers:
                if isinstance(layer, keras.layers.InputLayer):
                    if not path:
                        input_names.add(layer.name)
                    continue
                found.setdefault(layer.name, (layer, path))
                if isinstance(layer, keras.Sequential):
                    for inner in _all_layer_names(layer):
                        in_sequential.setdefault(inner, layer.name)
                elif (isinstance(layer, keras.Model)
                      and _internals.is_functional(layer)):
                    nested.append((layer, path + (layer,)))
        level = nested
    targets = {}
    for name in names:
        if name in input_names:
            raise ValueError(
                f"Argument `at` names '{name}', an input of model "
                f"'{model.name}'. To mix at the inputs pass inputs=True "
                "(all inputs are mixed together, by one draw)."
            )
        if name in found:
            targets[name] = found[name]
            continue
        if name in in_sequential:
            raise ValueError(
                f"Argument `at` names '{name}', a layer inside the Sequential "
                f"model '{in_sequential[name]}' nested in '{model.name}'. "
                "Keras cannot insert layers into a nested Sequential model; "
                "name the Sequential model itself (to mix after it) or build "
                "it as a Functional model."
            )
        close = difflib.get_close_matches(name, list(found), n=5, cutoff=0.6)
        hint = (f" Close names: {close}." if close
                else " `model.summary()` lists its layers.")
        raise ValueError(
            f"Argument `at` names '{name}', which is not a layer of model "
            f"'{model.name}'.{hint}"
        )
    return targets


def _all_layer_names(model):
    names = []
    for layer in model.layers:
        names.append(layer.name)
        if isinstance(layer, keras.Model):
            names.extend(_all_layer_names(layer))
    return names


class _Insertion:
    """One `keras.models.clone_model` of the model, its layers shared.

    `clone_function` returns each layer itself (so the copy shares it and
    its weights), or, for a nested Functional model that holds a named
    layer, that model's copy; `call_function` calls each layer and puts a
    MixUp layer after the named ones.

    On the way, every tensor carries the inserted layers it passed through
    (`mixed`) and those it went around (`bypass`), as sets of their indices.
    A tensor that comes from the inputs went around all of them. A layer
    that takes tensors with an index in both sets would combine mixed and
    unmixed features of one example.
    """

    def __init__(self, model, targets, inputs, allow_bypass, alpha, seed,
                 mixup_kwargs):
        self.model = model
        # Indices: 0 for the inputs (if asked), then `at`'s order.
        self.index = {name: i + int(inputs) for i, name in enumerate(targets)}
        self.all = frozenset(range(len(targets) + int(inputs)))
        self.target_names = {id(layer): name
                             for name, (layer, _) in targets.items()}
        self.holders = {id(m) for _, path in targets.values() for m in path}
        self.inputs = inputs
        self.allow_bypass = allow_bypass
        self.alpha = alpha
        self.seed = seed
        self.mixup_kwargs = mixup_kwargs
        self.names_by_index = {i: f"'{name}'" for name, i in self.index.items()}
        if inputs:
            self.names_by_index[0] = "the inputs"
        self.paths = {}     # id(tensor) -> (mixed, bypass)
        self.replace = {}   # id(input tensor) -> its mixed tensor
        self.calls = {}     # id(layer) -> times called
        self.copies = {}    # id(nested model) -> its copy
        self.copy_ids = set()
        self.inserted = set()  # names of `at` inserted so far

    def run(self):
        copied = self.copy(self.model, outer=True)
        missing = sorted(set(self.index) - self.inserted)
        if missing:
            raise ValueError(
                f"Argument `at` names {missing}, which model "
                f"'{self.model.name}' never calls on a path from its inputs "
                "to its outputs."
            )
        return copied

    def new_mixup(self, name, index):
        seed = None if self.seed is None else self.seed + index
        return MixUp(self.alpha, seed=seed, name=name, **self.mixup_kwargs)

    def path_of(self, tensor):
        return self.paths.get(id(tensor), (frozenset(), self.all))

    def check(self, paths, where):
        """The union of `paths`; raises where mixed meets unmixed."""
        mixed = frozenset().union(*(p[0] for p in paths))
        bypass = frozenset().union(*(p[1] for p in paths))
        both = sorted(mixed & bypass)
        if both and not self.allow_bypass:
            points = ", ".join(self.names_by_index[i] for i in both)
            raise ValueError(
                f"insert_mixup: {where} combines features mixed after "
                f"{points} with features that bypass it (a shortcut around "
                "it, or another input), so the labels would be mixed for "
                "examples that were only partly mixed. Argument `at` must "
                "name layers that every path from the inputs to the outputs "
                "passes through, such as a block's output. Pass "
                "allow_bypass=True only if the bypassing features do not "
                "depend on the example."
            )
        return mixed, bypass

    def copy(self, model, outer=False):
        input_tensors = keras.tree.map_structure(
            lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype,
                                  name=t.name),
            model.input,
        )
        if outer and self.inputs:
            flat = keras.tree.flatten(input_tensors)
            mixup = self.new_mixup(INPUTS_NAME, 0)
            # One call on all inputs: an example's inputs share its draw.
            mixed = keras.tree.flatten(mixup(flat[0] if len(flat) == 1
                                             else list(flat)))
            for t, m in zip(flat, mixed):
                self.replace[id(t)] = m
                self.paths[id(m)] = (frozenset({0}), self.all - {0})
        copied = keras.models.clone_model(
            model,
            input_tensors=input_tensors,
            clone_function=self.clone_layer,
            call_function=self.call_layer,
        )
        self.check([self.path_of(t) for t in copied.outputs],
                   f"the outputs of model '{model.name}'")
        return copied

    def clone_layer(self, layer):
        if id(layer) not in self.holders:
            return layer
        if id(layer) not in self.copies:
            copied = self.copy(layer)
            self.copies[id(layer)] = copied
            self.copy_ids.add(id(copied))
            if id(layer) in self.target_names:
                # Named itself: the MixUp layer goes after its copy.
                self.target_names[id(copied)] = self.target_names[id(layer)]
        return self.copies[id(layer)]

    def call_layer(self, layer, *args, **kwargs):
        if self.replace:
            args, kwargs = keras.tree.map_structure(
                lambda t: self.replace.get(id(t), t), (args, kwargs)
            )
        path = self.check(
            [self.path_of(t) for t in keras.tree.flatten((args, kwargs))
             if isinstance(t, keras.KerasTensor)],
            f"layer '{layer.name}'",
        )
        outputs = layer(*args, **kwargs)
        name = self.target_names.get(id(layer))
        holds_mixup = id(layer) in self.copy_ids
        if name is not None or holds_mixup:
            self.calls[id(layer)] = self.calls.get(id(layer), 0) + 1
            if self.calls[id(layer)] > 1:
                raise ValueError(
                    f"Argument `at`: layer '{layer.name}' is called more than "
                    "once in the model (a shared layer), so a MixUp layer in "
                    "or after it would mix each call with a draw of its own. "
                    "Name a layer that is called once."
                )
        if holds_mixup:
            # The copy's outputs were checked when it was made; what they
            # passed through and went around carries over to this call.
            inner = self.check([self.path_of(t) for t in layer.outputs],
                               f"the outputs of model '{layer.name}'")
            path = (path[0] | inner[0], path[1] & inner[1])
        if name is not None:
            flat = keras.tree.flatten(outputs)
            if len(flat) != 1:
                raise ValueError(
                    f"Argument `at` names '{name}', a layer with {len(flat)} "
                    "outputs; a MixUp layer goes after a layer with one "
                    "output. Name a layer that takes the output to mix."
                )
            index = self.index[name]
            self.inserted.add(name)
            # On the tensor itself: a MixUp layer takes tuples for (x, y).
            outputs = self.new_mixup(f"mixup_after_{name}", index)(flat[0])
            path = (path[0] | {index}, path[1] - {index})
        for t in keras.tree.flatten(outputs):
            self.paths[id(t)] = path
        return outputs
