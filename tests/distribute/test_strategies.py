"""strategy(): detection, explicit kinds, and errors for bad cluster descriptions.

The test session has 4 logical CPUs (tests/conftest.py) and no cluster; creating
a MultiWorkerMirroredStrategy here would reconfigure this process, so the
multi-worker path runs in real processes (test_multi_worker.py) and here only
the cluster parsing is checked.
"""

import numpy as np

import pytest
import tensorflow as tf

from tfbig.distribute import strategy
from tfbig.distribute import _cluster


@pytest.fixture(autouse=True)
def _no_cluster(monkeypatch):
    for name in ("TF_CONFIG", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS",
                 "SLURM_STEP_NODELIST", "SLURM_STEP_TASKS_PER_NODE",
                 _cluster.DEVICES_PER_WORKER_ENV):
        monkeypatch.delenv(name, raising=False)


def test_auto_without_cluster_mirrors_over_the_logical_cpus():
    s = strategy()
    assert isinstance(s, tf.distribute.MirroredStrategy)
    assert s.num_replicas_in_sync == 4


def test_explicit_kinds():
    assert strategy("default") is tf.distribute.get_strategy()
    assert isinstance(strategy("one_device"), tf.distribute.OneDeviceStrategy)
    two = strategy("mirrored", devices_per_worker=2)
    assert two.num_replicas_in_sync == 2
    reduce_to_one = strategy("mirrored", communication="reduce_to_one")
    assert isinstance(reduce_to_one.extended._cross_device_ops, tf.distribute.ReductionToOneDevice)
    assert strategy("auto", devices_per_worker=1) is tf.distribute.get_strategy()


def test_launcher_devices_per_worker_is_honoured(monkeypatch):
    monkeypatch.setenv(_cluster.DEVICES_PER_WORKER_ENV, "2")
    assert strategy("mirrored").num_replicas_in_sync == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "horovod"}, "Received: kind='horovod'"),
        ({"communication": "mpi"}, "Received: communication='mpi'"),
        ({"kind": "mirrored", "communication": "ring"}, "Received: communication='ring'"),
        ({"devices_per_worker": 0}, "Received: devices_per_worker=0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        strategy(**kwargs)


def test_more_logical_devices_than_tf_was_initialized_with():
    with pytest.raises(RuntimeError, match="already initialized"):
        strategy("mirrored", devices_per_worker=8)


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"cluster": {}}', '"cluster" must be'),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
         "not host:port"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
         "out of range"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
         "not a job"),
        ('{"cluster": {"worker": ["a:1"]}}', '"task" must be'),
    ],
)
def test_malformed_tf_config(monkeypatch, raw, problem):
    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(ValueError, match="TF_CONFIG") as info:
        strategy()
    assert problem in str(info.value) and "Received: TF_CONFIG=" in str(info.value)


_SLURM_OK = {
    "SLURM_PROCID": "3",
    "SLURM_STEP_NUM_TASKS": "4",
    "SLURM_STEP_NODELIST": "node[01-02]",
    "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
    "SLURM_LOCALID": "1",
}


def test_slurm_step_gives_the_cluster_spec(monkeypatch):
    for name, value in _SLURM_OK.items():
        monkeypatch.setenv(name, value)
    resolver, gpus = _cluster.slurm_resolver(_SLURM_OK, port_base=9000, num_gpus=0)
    assert resolver.cluster_spec().as_dict() == {
        "worker": ["node01:9000", "node01:9001", "node02:9000", "node02:9001"]
    }
    assert (resolver.task_type, resolver.task_id, gpus) == ("worker", 3, [])
    _, gpus = _cluster.slurm_resolver(_SLURM_OK, port_base=9000, num_gpus=4)
    assert gpus == [2, 3]
    assert _cluster.slurm_resolver({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}, 1, 0) is None


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"SLURM_PROCID": "4"}, "not in [0, 4)"),
        ({"SLURM_PROCID": "x"}, "must be integers"),
        ({"SLURM_STEP_TASKS_PER_NODE": "3(x2)"}, "sums to 6 tasks"),
        ({"SLURM_STEP_NODELIST": "node01"}, "1 node(s)"),
        ({"SLURM_STEP_NODELIST": ""}, "SLURM_STEP_NODELIST missing"),
    ],
)
def test_slurm_variables_that_do_not_add_up(monkeypatch, change, problem):
    for name, value in {**_SLURM_OK, **change}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="SLURM variables do not add up") as info:
        strategy()
    assert problem in str(info.value)


def _cnn(seed=0):
    from tfbig.models import cnn

    from tfbig import keras

    keras.utils.set_random_seed(seed)
    return cnn(filters=(8,), dense_units=16, batch_norm=False, dropout=0.0)


@pytest.mark.parametrize("replicas", [2, 4])
def test_one_mirrored_step_equals_one_single_device_step(digits_train, replicas):
    """Same global batch (32) on N replicas and on one device: same weights."""
    from tfbig import keras
    from tfbig.distribute import distribute_dataset
    from tfbig.testing import assert_weights_close

    x, y = digits_train
    x, y = x[:32], y[:32]
    weights = _cnn().get_weights()
    models = []
    for s in (tf.distribute.get_strategy(), strategy("mirrored", devices_per_worker=replicas)):
        with s.scope():
            model = _cnn()
            model.set_weights(weights)
            model.compile(keras.optimizers.SGD(0.5),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        data = distribute_dataset((x, y), per_replica_batch_size=32 // s.num_replicas_in_sync,
                                  strategy=s)
        model.fit(data, epochs=1, verbose=0)
        models.append(model)
    assert models[1].distribute_strategy.num_replicas_in_sync == replicas
    assert not np.allclose(models[0].get_weights()[0], weights[0])
    assert_weights_close(models[0], models[1], atol=1e-5)
