"""Run by tests/test_distributed.py: two CPU processes over gloo (torch DDP).

Keras's distribution API does not cover torch, and Keras's `fit` does not
drive `DistributedDataParallel`; as in Keras's guide to distributed training
with PyTorch, each process runs a torch loop over its own batches: the
MixUpModel wrapped in DDP is called with training=True,
`MixUpModel.compute_loss` mixes the labels with the draw of that process's
MixUp layer, and `backward` all-reduces the gradients (DDP's hooks), which
the Keras optimizer then applies.

Usage: python torch_ddp.py WORKDIR (writes rank_<r>.json, prints RESULT).
"""

import json
import os
import pathlib
import sys

os.environ["KERAS_BACKEND"] = "torch"
# Gloo talks over the loopback interface only.
os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

WORLD_SIZE = 2
LOCAL_BATCH = 8
FEATURES = 4
STEPS = 3


def echo_model(keras, keras_mixup, *, hidden, per_sample, seed):
    """Output = (mixed) input + a zero Dense: trained with y == x the loss is
    exactly 0 only if y was mixed with the inputs' lam and pairs. The Dense
    is trainable (DDP needs parameters) and, with a zero loss, stays zero."""
    inputs = keras.Input((LOCAL_BATCH + FEATURES,))
    h = keras.layers.Identity()(inputs) if hidden else inputs
    h = keras_mixup.MixUp(1.0, per_sample=per_sample, seed=seed)(h)
    zero = keras.layers.Dense(LOCAL_BATCH + FEATURES, kernel_initializer="zeros")
    model = keras_mixup.MixUpModel(keras.Model(inputs, keras.layers.Add()([h, zero(h)])))
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    return model


def train_step(model, ddp, x, y):
    """One DDP step: forward, mixed-label loss, all-reduced backward, update."""
    y_pred = ddp(x, training=True)
    loss = model.compute_loss(x, y, y_pred)
    model.zero_grad()
    loss.backward()
    variables = model.trainable_variables
    with torch.no_grad():
        model.optimizer.apply([v.value.grad for v in variables], variables)
    return float(loss.detach()), y_pred.detach().numpy()


def worker(rank, workdir):
    dist.init_process_group(
        "gloo", init_method=f"file://{workdir}/store", rank=rank,
        world_size=WORLD_SIZE,
    )
    import keras
    import keras_mixup
    from torch.nn.parallel import DistributedDataParallel

    # DDP copies rank 0's variables to every process when it wraps the
    # model, the MixUp layers' seed states included: every process then draws
    # the same lam and local permutation each step. Reseeding the layers after
    # wrapping ("reseeded") gives each process draws of its own.
    rng = np.random.default_rng(100 + rank)  # each process its own data
    result = {}
    cases = [(hidden, per_sample, False) for hidden in (False, True)
             for per_sample in (False, True)] + [(True, True, True)]
    for hidden, per_sample, reseeded in cases:
        model = echo_model(keras, keras_mixup, hidden=hidden,
                           per_sample=per_sample, seed=10 + rank)
        ddp = DistributedDataParallel(model)
        if reseeded:
            for layer in model.mixup_layers:
                layer.seed_generator.state.assign(
                    keras.random.SeedGenerator(1000 + rank).state.value
                )
        losses, perms, lams = [], [], []
        for _ in range(STEPS):
            # An identity block reveals the draw: row i of the output is
            # lam_i e_i + (1 - lam_i) e_perm[i].
            x = np.concatenate(
                [np.eye(LOCAL_BATCH), rng.random((LOCAL_BATCH, FEATURES))],
                axis=1,
            ).astype("float32")
            x = torch.from_numpy(x)
            loss, y_pred = train_step(model, ddp, x, x)
            probe = y_pred[:, :LOCAL_BATCH].astype("float64")
            losses.append(loss)
            lams.append(np.diag(probe).tolist())
            off = probe - np.diag(np.diag(probe))
            perms.append(np.where(off.max(axis=1) > 0, off.argmax(axis=1),
                                  np.arange(LOCAL_BATCH)).tolist())
        name = f"hidden_{hidden}_per_sample_{per_sample}"
        result[name + ("_reseeded" if reseeded else "")] = {
            "losses": losses, "perms": perms, "lams": lams,
        }

    # Gradients are averaged across processes: a model that learns (random
    # targets, different data per process) ends with the same weights on
    # every rank, and they moved.
    inputs = keras.Input((FEATURES,))
    outputs = keras.layers.Dense(3)(keras_mixup.MixUp(1.0, seed=20 + rank)(inputs))
    model = keras_mixup.MixUpModel(keras.Model(inputs, outputs))
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    ddp = DistributedDataParallel(model)
    initial = [v.numpy().tolist() for v in model.weights if v.trainable]
    learn_losses = []
    for _ in range(STEPS):
        x = torch.from_numpy(rng.random((LOCAL_BATCH, FEATURES)).astype("float32"))
        y = torch.from_numpy(rng.random((LOCAL_BATCH, 3)).astype("float32"))
        learn_losses.append(train_step(model, ddp, x, y)[0])
    result["learn"] = {
        "initial": initial,
        "final": [v.numpy().tolist() for v in model.weights if v.trainable],
        "losses": learn_losses,
    }
    pathlib.Path(workdir, f"rank_{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    workdir = sys.argv[1]
    mp.spawn(worker, args=(workdir,), nprocs=WORLD_SIZE, join=True)
    ranks = [json.loads(pathlib.Path(workdir, f"rank_{r}.json").read_text())
             for r in range(WORLD_SIZE)]
    print("RESULT " + json.dumps({"world_size": WORLD_SIZE, "ranks": ranks}))
