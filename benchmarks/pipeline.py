"""Pipeline model parallelism: step time vs micro-batches, per-device parameters.

Runs a 4-block transformer on the embedded digits data, unpartitioned (K=1)
and as a ``tfbig.distribute.pipeline`` over K = 2 and 4 logical devices with
M = 1, 2, 4, 8 micro-batches. Timings are interleaved (every configuration
once per round, several rounds) and the median is reported. On a machine with
a GPU the GPU is split into 4 logical GPUs and their peak memory is reported;
otherwise the CPU is split into 4 logical CPUs (which share the same cores, so
there is no real parallel speed-up to expect, only the pipeline's overhead).

Usage: ``python benchmarks/pipeline.py [--rounds 3] [--steps 10]``. The last
line printed is a JSON object.

``python benchmarks/pipeline.py --dtensor`` instead runs the DTensor
tensor-parallel assessment recorded in ``build_notes/pipeline.md``: Dense,
MultiHeadAttention and the reference transformer with weights sharded over a
4-device ``"model"`` mesh axis in tf_keras, each check printed OK/FAIL.
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfbig.distribute.devices import set_logical_devices  # noqa: E402

GPU = bool(tf.config.list_physical_devices("GPU"))
DEVICES = set_logical_devices(4, "GPU", memory_limit_mb=8192) if GPU else set_logical_devices(4)

from tfbig import keras  # noqa: E402
from tfbig import models  # noqa: E402
from tfbig.data import load_digits  # noqa: E402
from tfbig.distribute.pipeline import pipeline  # noqa: E402

BATCH = 64


def make_model(seed=0):
    keras.utils.set_random_seed(seed)
    return models.transformer(num_layers=4, d_model=64, num_heads=4, ff_dim=256, dropout=0.0)


def compile_model(model):
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def equivalence(x, y, steps=5):
    """Max |w_pipeline - w_unpartitioned| after `steps` SGD steps (K=4, M=4)."""
    base = make_model(1)
    reference = compile_model(keras.models.clone_model(base))
    reference.set_weights(base.get_weights())
    n = BATCH * steps
    reference.fit(x[:n], y[:n], batch_size=BATCH, shuffle=False, verbose=0)
    piped = compile_model(pipeline(base, devices=4, num_microbatches=4))
    piped.fit(x[:n], y[:n], batch_size=BATCH, shuffle=False, verbose=0)
    return max(float(np.max(np.abs(a - b)))
               for a, b in zip(piped.get_weights(), reference.get_weights()))


def device_bytes(model):
    result = {}
    for v in model.weights:
        spec = tf.DeviceSpec.from_string(v.device)
        key = f"{spec.device_type}:{spec.device_index}"
        result[key] = result.get(key, 0) + int(np.prod(v.shape)) * v.dtype.size
    return result


def time_steps(model, dataset, steps):
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dtensor", action="store_true")
    args = parser.parse_args()
    if args.dtensor:
        return dtensor_assessment()

    x, y = load_digits("train")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(
        BATCH, drop_remainder=True).prefetch(2)
    diff = equivalence(x, y)

    base = make_model()
    configs = {"K1": compile_model(make_model())}
    for k in (2, 4):
        for m in (1, 2, 4, 8):
            configs[f"K{k}_M{m}"] = compile_model(pipeline(base, devices=k, num_microbatches=m))
    for model in configs.values():  # trace and warm up
        time_steps(model, dataset, 2)
    samples = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, model in configs.items():
            samples[name].append(time_steps(model, dataset, args.steps))
    step_ms = {name: 1000 * statistics.median(s) for name, s in samples.items()}

    total = configs["K1"].count_params() * 4
    print(f"devices: {DEVICES} ({'GPU' if GPU else 'logical CPUs sharing the cores'})")
    print(f"model: transformer 4 blocks, {total:,} parameter bytes; batch {BATCH}")
    print(f"equivalence after 5 steps (K=4, M=4): max |dw| = {diff:.2e}")
    fractions = {}
    for k in (2, 4):
        piped = configs[f"K{k}_M1"]
        fractions[k] = piped.plan.max_stage_param_fraction
        print(piped.plan)
        print(f"measured bytes per device: {device_bytes(piped.model)}; "
              f"largest share {fractions[k]:.3f} of the unpartitioned model")
    print(f"{'config':<8}{'bubble':>8}{'step ms':>10}{'vs K1':>8}")
    for name, ms in step_ms.items():
        bubble = configs[name].plan.bubble_fraction if name != "K1" else 0.0
        print(f"{name:<8}{bubble:>8.3f}{ms:>10.1f}{ms / step_ms['K1']:>8.2f}")
    result = {
        "equivalence_max_abs_diff": diff,
        "max_stage_param_fraction_k2": fractions[2],
        "max_stage_param_fraction_k4": fractions[4],
        "param_bytes_unpartitioned": total,
        "step_ms": {k: round(v, 2) for k, v in step_ms.items()},
        "batch_size": BATCH,
        "device": "gpu" if GPU else "logical_cpu",
    }
    if GPU:
        result["peak_memory_bytes"] = {
            d: tf.config.experimental.get_memory_info(d)["peak"] for d in DEVICES}
    print(json.dumps(result))


# --------------------------------------------------------------------- DTensor
def dtensor_assessment():
    """Tries tensor (intra-layer) parallelism with DTensor layouts in tf_keras."""
    from tensorflow.experimental import dtensor

    keras.backend.experimental.enable_tf_random_generator()  # DTensor needs it (MHA)
    unsharded = dtensor.UNSHARDED
    mesh = dtensor.create_mesh([("model", 4)], devices=DEVICES)
    results = {}

    def layout(*specs):
        return dtensor.Layout(list(specs), mesh)

    def gather(t):  # all shards -> one host array
        t = tf.convert_to_tensor(t)
        return dtensor.relayout(t, dtensor.Layout.replicated(mesh, t.shape.rank)).numpy()

    def replicated(a):
        return dtensor.copy_to_mesh(tf.constant(a), dtensor.Layout.replicated(mesh, a.ndim))

    def dataset(x, y, batch):
        return dtensor.DTensorDataset(
            tf.data.Dataset.from_tensor_slices((x, y)).repeat(), global_batch_size=batch,
            mesh=mesh, batch_dim=None, layouts=(dtensor.Layout.replicated(mesh, x.ndim),
                                                dtensor.Layout.replicated(mesh, y.ndim)))

    def check(name, fn):
        try:
            value = fn()
            results[name] = "OK" if value is None else value
            print(f"OK    {name}: {value if value is not None else ''}")
        except Exception as err:  # noqa: BLE001 - recording what fails is the point
            results[name] = f"FAIL {type(err).__name__}"
            print(f"FAIL  {name}: {type(err).__name__}: {str(err).splitlines()[0][:200]}")

    def max_diff(sharded_model, plain_model):
        return max(float(np.max(np.abs(gather(a) - b)))
                   for a, b in zip(sharded_model.weights, plain_model.get_weights()))

    # Megatron-style MLP: column-parallel d1, row-parallel d2.
    mlp_map = keras.dtensor.experimental.LayoutMap(mesh=mesh)
    mlp_map["d1.kernel"], mlp_map["d1.bias"] = layout(unsharded, "model"), layout("model")
    mlp_map["d2.kernel"] = layout("model", unsharded)

    def mlp():
        inputs = keras.Input((16,), batch_size=8)
        h = keras.layers.Dense(32, activation="relu", name="d1")(inputs)
        return keras.Model(inputs, keras.layers.Dense(4, name="d2")(h))

    with mlp_map.scope():
        sharded = mlp()
    plain = mlp()
    x = np.random.RandomState(0).randn(8, 16).astype("float32")
    y = np.random.RandomState(1).randn(8, 4).astype("float32")
    kernel = sharded.get_layer("d1").kernel
    check("dense_kernel_shard_shapes",
          lambda: [t.shape.as_list() for t in dtensor.unpack(kernel.read_value())])
    check("dense_set_weights", lambda: sharded.set_weights(plain.get_weights()))
    check("dense_get_weights", lambda: len(sharded.get_weights()))
    check("dense_forward_plain_input", lambda: sharded(x).shape.as_list())
    check("dense_forward_max_diff", lambda: float(np.max(np.abs(
        gather(sharded(replicated(x))) - plain(x).numpy()))))
    sharded.compile(keras.dtensor.experimental.optimizers.SGD(0.1, mesh=mesh), "mse")
    plain.compile(keras.optimizers.SGD(0.1), "mse")
    check("dense_fit_numpy", lambda: sharded.fit(x, y, batch_size=8, verbose=0).history["loss"])

    def fit_dataset():
        sharded.fit(dataset(x, y, 8), steps_per_epoch=3, verbose=0)
        plain.fit(x, y, batch_size=8, epochs=3, verbose=0)
        return max_diff(sharded, plain)

    check("dense_fit_dtensor_dataset_max_dw", fit_dataset)
    check("dense_save_weights_h5", lambda: sharded.save_weights("/tmp/tfbig_dtensor.h5"))
    check("dense_save_keras", lambda: sharded.save("/tmp/tfbig_dtensor.keras"))

    def checkpoint():
        path = tf.train.Checkpoint(model=sharded).write("/tmp/tfbig_dtensor_ckpt")
        restored = mlp()
        tf.train.Checkpoint(model=restored).read(path).expect_partial()
        return max_diff(sharded, restored)

    check("dense_tf_checkpoint_to_plain_max_dw", checkpoint)

    # The reference transformer: heads-parallel attention, column/row feed-forward.
    tr_map = keras.dtensor.experimental.LayoutMap(mesh=mesh)
    tr_map[r".*_mha.*(query|key|value).*kernel"] = layout(unsharded, "model", unsharded)
    tr_map[r".*_mha.*(query|key|value).*bias"] = layout("model", unsharded)
    tr_map[r".*_mha.*_output_dense.*kernel"] = layout("model", unsharded, unsharded)
    tr_map[r".*_ff1.kernel"], tr_map[r".*_ff1.bias"] = layout(unsharded, "model"), layout("model")
    tr_map[r".*_ff2.kernel"] = layout("model", unsharded)

    def transformer_parity():
        kwargs = dict(num_layers=1, d_model=16, num_heads=4, ff_dim=32, dropout=0.0)
        with tr_map.scope():
            tsharded = models.transformer(**kwargs)
        tplain = models.transformer(**kwargs)
        tsharded.set_weights(tplain.get_weights())
        xd, yd = load_digits("train")
        xd, yd = xd[:48], yd[:48].astype("int32")
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        tsharded.compile(keras.dtensor.experimental.optimizers.SGD(0.1, mesh=mesh), loss)
        compile_plain = keras.optimizers.SGD(0.1)
        tplain.compile(compile_plain, loss)
        tsharded.fit(dataset(xd, yd, 16), steps_per_epoch=3, verbose=0)
        tplain.fit(xd, yd, batch_size=16, shuffle=False, verbose=0)
        specs = [dtensor.fetch_layout(w).sharding_specs for w in tsharded.weights]
        return {"sharded_variables": sum("model" in s for s in specs),
                "variables": len(specs), "max_dw_after_3_steps": max_diff(tsharded, tplain)}

    check("transformer_mha_ffn_fit_dtensor_dataset", transformer_parity)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
