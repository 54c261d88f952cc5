"""Pipeline model parallelism: training equals the unpartitioned model, placement, saving."""

import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig import models
from tfbig.distribute.pipeline import PipelineModel
from tfbig.distribute.pipeline import pipeline
from tfbig.testing import assert_weights_close
from tfbig.testing import run_saving_test

BATCH, STEPS = 16, 3


def _sequential():
    return keras.Sequential([
        keras.layers.Flatten(input_shape=(8, 8, 1)),
        keras.layers.Dense(16, activation="relu", kernel_regularizer="l2"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(16, activation="tanh"),
        keras.layers.Dense(10),
    ], name="seq")


def _residual():
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Flatten(name="flatten")(inputs)
    h = keras.layers.Dense(16, activation="relu", name="d0")(h)
    for b in range(3):
        r = keras.layers.Dense(16, activation="relu", name=f"r{b}",
                               kernel_regularizer=keras.regularizers.l2(1e-3))(h)
        h = keras.layers.Add(name=f"add{b}")([h, r])
    return keras.Model(inputs, keras.layers.Dense(10, name="head")(h), name="residual")


def _transformer():
    return models.transformer(num_layers=1, d_model=8, num_heads=2, ff_dim=16, dropout=0.0)


MAKERS = {"sequential": _sequential, "residual": _residual, "transformer": _transformer}


def _compile(model, optimizer=None):
    model.compile(
        optimizer or keras.optimizers.SGD(0.1, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


@pytest.fixture(scope="module")
def data(digits_train):
    x, y = digits_train
    return x[: BATCH * STEPS], y[: BATCH * STEPS]


@pytest.fixture(scope="module")
def trained_reference(data):
    """kind -> (initial model, unpartitioned model after STEPS steps, loss)."""
    cache = {}

    def get(kind):
        if kind not in cache:
            keras.utils.set_random_seed(0)
            initial = MAKERS[kind]()
            reference = keras.models.clone_model(initial)
            reference.set_weights(initial.get_weights())
            history = _compile(reference).fit(*data, batch_size=BATCH, shuffle=False, verbose=0)
            cache[kind] = (initial, reference, history.history["loss"][0])
        return cache[kind]

    return get


@pytest.mark.parametrize("num_microbatches", [1, 4])
@pytest.mark.parametrize("num_stages", [2, 4])
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_training_equals_unpartitioned(trained_reference, data, kind, num_stages,
                                       num_microbatches):
    initial, reference, reference_loss = trained_reference(kind)
    before = initial.get_weights()
    piped = pipeline(initial, devices=num_stages, num_microbatches=num_microbatches)
    assert piped.plan.num_stages == num_stages
    history = _compile(piped).fit(*data, batch_size=BATCH, shuffle=False, verbose=0)
    assert_weights_close(piped, reference, atol=1e-5)
    np.testing.assert_allclose(history.history["loss"][0], reference_loss, rtol=1e-5)
    for a, b in zip(initial.get_weights(), before):  # the user's model is untouched
        np.testing.assert_array_equal(a, b)


def test_multi_input_tensor_skips_a_stage(data):
    """A model input first used by stage 2 is sent there directly."""
    x, y = data
    image = keras.Input((8, 8, 1), name="image")
    extra = keras.Input((4,), name="extra")
    h = keras.layers.Flatten(name="flatten")(image)
    h = keras.layers.Dense(8, activation="relu", name="a")(h)
    h = keras.layers.Dense(8, activation="relu", name="b")(h)
    h = keras.layers.Concatenate(name="concat")([h, extra])
    model = keras.Model([image, extra], keras.layers.Dense(10, name="head")(h))
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    inputs = [x, np.linspace(-1, 1, len(x) * 4, dtype="float32").reshape(-1, 4)]
    _compile(reference).fit(inputs, y, batch_size=BATCH, shuffle=False, verbose=0)
    piped = pipeline(model, devices=3, num_microbatches=2, cuts=["a", "b"])
    assert piped.plan.stages[2].receives == ("b", "extra")
    _compile(piped).fit(inputs, y, batch_size=BATCH, shuffle=False, verbose=0)
    assert_weights_close(piped, reference, atol=1e-5)



def test_int_inputs_embedding_dict_outputs_and_sample_weights():
    """Sparse (IndexedSlices) gradients, two weighted losses, an output of a middle stage."""
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(20, 8, name="emb")(tokens)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    h = keras.layers.Dense(8, activation="relu", name="d0")(h)
    aux = keras.layers.Dense(3, name="aux")(h)
    main = keras.layers.Dense(3, name="main")(keras.layers.Dense(8, name="d1")(h))
    model = keras.Model(tokens, {"aux": aux, "main": main})
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    rng = np.random.RandomState(0)
    x, sw = rng.randint(0, 20, (32, 6)).astype("int32"), rng.rand(32).astype("float32")
    y = {"aux": rng.randint(0, 3, 32), "main": rng.randint(0, 3, 32)}

    def fit(m):
        xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        m.compile(keras.optimizers.SGD(0.1), {"aux": xent, "main": xent},
                  loss_weights={"aux": 0.3, "main": 1.0})
        return m.fit(x, y, sample_weight=sw, batch_size=8, shuffle=False, verbose=0).history

    expected = fit(reference)
    piped = pipeline(model, devices=3, num_microbatches=4)
    assert piped.plan.cuts == ("emb", "d0")
    got = fit(piped)
    assert_weights_close(piped, reference, atol=1e-5)
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-5)
    assert sorted(piped.predict(x[:3], verbose=0)) == ["aux", "main"]


def test_batch_normalization_with_one_microbatch_equals_full_batch(data):
    keras.utils.set_random_seed(3)
    model = models.cnn(filters=(4, 8), dense_units=None, dropout=0.0)
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    _compile(reference).fit(*data, batch_size=BATCH, shuffle=False, verbose=0)
    piped = _compile(pipeline(model, devices=2, num_microbatches=1))
    piped.fit(*data, batch_size=BATCH, shuffle=False, verbose=0)
    assert_weights_close(piped, reference, atol=1e-5)  # includes the moving statistics

def _same_device(a, b):
    a, b = tf.DeviceSpec.from_string(a), tf.DeviceSpec.from_string(b)
    return (a.device_type, a.device_index) == (b.device_type, b.device_index)


def test_placement_matches_plan(data):
    keras.utils.set_random_seed(1)
    piped = pipeline(_transformer(), devices=4, num_microbatches=2)
    _compile(piped, keras.optimizers.Adam(1e-3)).fit(
        *data, batch_size=BATCH, epochs=1, steps_per_epoch=1, verbose=0)
    plan, on_device = piped.plan, {}
    for stage, stage_model in zip(plan.stages, piped.stage_models):
        assert stage_model.weights
        for v in stage_model.weights:
            assert _same_device(v.device, stage.device), (v.name, v.device, stage.device)
    for v in piped.model.weights:
        key = tf.DeviceSpec.from_string(v.device)
        on_device[(key.device_type, key.device_index)] = (
            on_device.get((key.device_type, key.device_index), 0)
            + int(np.prod(v.shape)) * v.dtype.size)
    expected = {}
    for device, size in plan.param_bytes_by_device().items():
        spec = tf.DeviceSpec.from_string(device)
        expected[(spec.device_type, spec.device_index)] = size
    assert {k: v for k, v in on_device.items() if v} == {k: v for k, v in expected.items() if v}
    assert plan.total_param_bytes == piped.model.count_params() * 4
    by_name = {v.name: v.device for v in piped.model.weights}
    slots = [v for v in piped.optimizer.variables if v.name.startswith(("Adam/m/", "Adam/v/"))]
    assert len(slots) == 2 * len(piped.trainable_weights)
    for slot in slots:  # optimizer slots live beside their variable
        assert _same_device(slot.device, by_name[slot.name.split("/", 2)[2]]), slot.name


def test_inference_matches_unpartitioned_on_uneven_batches(trained_reference, digits_test):
    x, y = digits_test[0][:37], digits_test[1][:37]
    _, reference, _ = trained_reference("residual")
    piped = _compile(pipeline(reference, devices=2, num_microbatches=4))
    _compile(reference)
    np.testing.assert_allclose(piped.predict(x, batch_size=16, verbose=0),
                               reference.predict(x, batch_size=16, verbose=0), atol=1e-5)
    np.testing.assert_allclose(np.asarray(piped(x[:3])), np.asarray(reference(x[:3])), atol=1e-5)
    np.testing.assert_allclose(piped.evaluate(x, y, batch_size=16, verbose=0),
                               reference.evaluate(x, y, batch_size=16, verbose=0), rtol=1e-5)


def test_partial_final_batch_still_equals_full_batch(data):
    """fit(batch_size=16) on 40 samples: the last batch of 8 splits 2+2+2+2."""
    x, y = data[0][:40], data[1][:40]
    keras.utils.set_random_seed(2)
    model = _sequential()
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    _compile(reference).fit(x, y, batch_size=16, shuffle=False, verbose=0)
    piped = _compile(pipeline(model, devices=2, num_microbatches=4))
    piped.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    assert_weights_close(piped, reference, atol=1e-5)


def test_save_load_and_export_give_ordinary_models(trained_reference, digits_test, tmp_path):
    x = digits_test[0][:8]
    _, reference, _ = trained_reference("residual")
    piped = pipeline(reference, devices=2, num_microbatches=2)
    loaded = run_saving_test(piped, x, directory=str(tmp_path), atol=1e-5)
    for model in loaded.values():
        assert not isinstance(model, PipelineModel)
        assert [l.name for l in model.layers] == [l.name for l in reference.layers]
    fresh = _residual()
    piped.save_weights(str(tmp_path / "w.h5"))
    fresh.load_weights(str(tmp_path / "w.h5"))
    assert_weights_close(fresh, reference, atol=0)
    converter = tf.lite.TFLiteConverter.from_keras_model(piped.model)
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    runner = interpreter.get_signature_runner()
    (got,) = runner(image=x[:1]).values()
    np.testing.assert_allclose(got, np.asarray(reference(x[:1])), atol=1e-4)


def test_config_round_trip_keeps_the_plan():
    piped = pipeline(_residual(), devices=2, num_microbatches=2, cuts=["add0"])
    clone = PipelineModel.from_config(piped.get_config())
    assert clone.plan == piped.plan
    assert clone.cuts == ["add0"] and clone.num_microbatches == 2


_REMOTE_WORKER = '''
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf

done = sys.argv[1]
config = json.loads(os.environ["TF_CONFIG"])
cluster = tf.train.ClusterSpec(config["cluster"])
if config["task"]["index"] == 1:  # a plain TF server that hosts stage 1
    server = tf.distribute.Server(cluster, job_name="worker", task_index=1)
    while not os.path.exists(done):
        time.sleep(0.2)
    os._exit(0)
resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(cluster, rpc_layer="grpc")
tf.config.experimental_connect_to_cluster(resolver, job_name="worker", task_index=0,
                                        make_master_device_default=False)
from tfbig import keras
from tfbig.distribute.pipeline import pipeline

model = keras.Sequential([keras.layers.Dense(16, activation="relu", input_shape=(8,), name="a"),
                          keras.layers.Dense(16, name="b"), keras.layers.Dense(3, name="c")])
reference = keras.models.clone_model(model)
reference.set_weights(model.get_weights())
x = np.random.RandomState(0).randn(32, 8).astype("float32")
y = np.random.RandomState(1).randint(0, 3, 32)
for m in (reference, None):
    if m is None:
        stage_devices = [f"/job:worker/replica:0/task:{t}/device:CPU:0" for t in (0, 1)]
        m = pipeline(model, num_microbatches=2, devices=stage_devices)
        piped = m
    m.compile(keras.optimizers.SGD(0.1),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(x, y, batch_size=8, shuffle=False, verbose=0)
diff = max(float(np.abs(a - b).max()) for a, b in zip(piped.get_weights(), reference.get_weights()))
print("DEVICES", sorted({v.device for v in piped.model.weights}))
print("MAX_DIFF", diff, flush=True)
open(done, "w").close()
os._exit(0)
'''


@pytest.mark.multiworker
def test_stages_on_two_worker_processes(tmp_path):
    import sys

    from tfbig.distribute import launch_workers

    script = tmp_path / "remote_pipeline.py"
    script.write_text(_REMOTE_WORKER)
    result = launch_workers([sys.executable, str(script), str(tmp_path / "done")],
                            num_workers=2, timeout=240)
    assert result.returncode == 0, result.outputs
    out = result.outputs[0]
    assert "task:0/device:CPU:0" in out and "task:1/device:CPU:0" in out, out
    diff = float(out.split("MAX_DIFF")[1].split()[0])
    assert diff < 1e-5
