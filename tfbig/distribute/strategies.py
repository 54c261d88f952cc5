"""Pick the right ``tf.distribute.Strategy`` from the environment.

``tfbig.distribute.strategy()`` returns ``MultiWorkerMirroredStrategy`` when a
cluster is described (``TF_CONFIG`` as Kubernetes TFJob, Vertex AI and tfbig's
launcher set it, or a multi-task SLURM step), ``MirroredStrategy`` when more
than one GPU (or logical device) is visible, and the default strategy
otherwise. Explicit kinds skip the detection.
"""

import os

from absl import logging

from tfbig.distribute import _cluster
from tfbig.distribute import devices as _devices

__all__ = ["strategy", "STRATEGY_KINDS", "COMMUNICATIONS"]

STRATEGY_KINDS = ("auto", "mirrored", "multi_worker", "one_device", "default")
COMMUNICATIONS = ("auto", "ring", "nccl", "hierarchical_copy", "reduce_to_one")
_MULTI_WORKER_COMMUNICATIONS = ("auto", "ring", "nccl")


def strategy(kind="auto", devices=None, devices_per_worker=None, communication="auto",
             slurm_port_base=8888):
    """Returns a ``tf.distribute.Strategy`` for this process.

    With ``kind="auto"``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` or
    a multi-task SLURM step describes a cluster; else ``MirroredStrategy`` when
    more than one GPU (or, without GPUs, more than one logical CPU) is visible;
    else the default strategy. Call it at the start of the program:
    multi-worker strategies must be created before other TensorFlow work,
    and a second call returns the same multi-worker strategy.

    Args:
        kind: one of ``"auto"``, ``"mirrored"``, ``"multi_worker"``,
            ``"one_device"``, ``"default"``. Defaults to ``"auto"``.
        devices: device names for ``"mirrored"`` / ``"one_device"`` (e.g.
            ``["/gpu:0", "/gpu:1"]``); ``None`` uses what is visible. Defaults
            to ``None``.
        devices_per_worker: devices each process trains on: that many GPUs,
            or, on CPU-only hosts, the CPU split into that many logical
            devices (before TensorFlow initializes). ``None`` takes the value
            tfbig's launcher set (``--devices_per_worker``), else all visible
            devices. Defaults to ``None``.
        communication: the all-reduce: ``"auto"``, ``"ring"`` or ``"nccl"``
            for multi-worker; ``"auto"``, ``"nccl"``, ``"hierarchical_copy"``
            or ``"reduce_to_one"`` for mirrored. Defaults to ``"auto"``.
        slurm_port_base: first port of the workers on each SLURM node.
            Defaults to ``8888``.

    Returns:
        A ``tf.distribute.Strategy``.

    Raises:
        ValueError: for an unknown ``kind`` or ``communication``, a malformed
            ``TF_CONFIG``, SLURM variables that do not add up, or more devices
            than exist.
        RuntimeError: when logical devices are needed but TensorFlow is
            already initialized with fewer.

    Example:

    >>> s = strategy("default")
    >>> s.num_replicas_in_sync
    1
    """
    if kind not in STRATEGY_KINDS:
        raise ValueError(
            f"Unknown strategy kind. Use one of {STRATEGY_KINDS}. Received: kind={kind!r}"
        )
    if communication not in COMMUNICATIONS:
        raise ValueError(
            f"Unknown `communication`. Use one of {COMMUNICATIONS}. "
            f"Received: communication={communication!r}"
        )
    import tensorflow as tf

    if kind == "default":
        return tf.distribute.get_strategy()
    launched_k = _cluster.launcher_devices_per_worker()
    if devices_per_worker is None:
        devices_per_worker = launched_k
    elif isinstance(devices_per_worker, bool) or not isinstance(devices_per_worker, int) or (
        devices_per_worker < 1
    ):
        raise ValueError(
            "`devices_per_worker` must be an integer >= 1 or None. "
            f"Received: devices_per_worker={devices_per_worker!r}"
        )
    if kind in ("auto", "multi_worker"):
        resolver, rank = _cluster_resolver(slurm_port_base)
        if resolver is not None or kind == "multi_worker":
            local = _local_devices(devices_per_worker, rank if launched_k else 0)
            return _multi_worker(resolver, local, communication)
    if devices_per_worker is not None and devices is None:
        devices = _local_devices(devices_per_worker, 0)[0]
    if kind == "one_device":
        names = devices or _visible_devices()
        return tf.distribute.OneDeviceStrategy(names[0])
    names = devices or _visible_devices()
    if kind == "auto" and len(names) < 2:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(
        names, cross_device_ops=_cross_device_ops(communication, names))


def _visible_devices():
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    return gpus or [d.name for d in tf.config.list_logical_devices("CPU")]


def _cluster_resolver(slurm_port_base):
    """``(resolver, rank)`` from TF_CONFIG or SLURM; ``(None, 0)`` without a cluster."""
    import tensorflow as tf

    config = _cluster.parse_tf_config(os.environ.get("TF_CONFIG"))
    if config is not None:
        return tf.distribute.cluster_resolver.TFConfigClusterResolver(), config["task"].get(
            "index", 0)
    num_gpus = len(tf.config.list_physical_devices("GPU"))
    found = _cluster.slurm_resolver(os.environ, slurm_port_base, num_gpus)
    if found is None:
        return None, 0
    resolver, gpu_indices = found
    if num_gpus:
        gpus = tf.config.list_physical_devices("GPU")
        try:
            tf.config.set_visible_devices([gpus[i] for i in gpu_indices], "GPU")
        except RuntimeError:
            logging.warning("TensorFlow is already initialized; keeping its visible GPUs")
    return resolver, resolver.task_id


def _local_devices(count, rank):
    """``(names, kind)`` of ``count`` local devices: GPUs, else logical CPUs.

    Does not initialize TensorFlow (multi-worker strategies must come first).
    ``rank`` offsets the GPUs for workers sharing a host (tfbig's launcher).
    ``count=None`` means all visible devices.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    kind = "GPU" if gpus else "CPU"
    if count is None:
        return [d.name for d in tf.config.list_logical_devices(kind)], kind
    if gpus:
        chosen = gpus[rank * count:(rank + 1) * count]
        if len(chosen) < count:
            raise ValueError(
                f"Worker {rank} needs GPUs {rank * count}..{(rank + 1) * count - 1} but only "
                f"{len(gpus)} GPU(s) are visible. Lower devices_per_worker or the number of "
                f"workers. Received: devices_per_worker={count}"
            )
        try:
            tf.config.set_visible_devices(chosen, "GPU")
        except RuntimeError:
            logging.warning("TensorFlow is already initialized; using its first %d GPUs", count)
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        current = tf.config.get_logical_device_configuration(cpu)
        if current is None or len(current) < count:
            try:
                _devices.configure_logical_devices(cpu, count)
            except RuntimeError:
                if len(tf.config.list_logical_devices("CPU")) < count:
                    raise
    return [f"/device:{kind}:{i}" for i in range(count)], kind


# TF can configure collective ops once per process, so the multi-worker
# strategy is created once and handed out again for the same request.
_MULTI_WORKER_CACHE = {}


def _multi_worker(resolver, local, communication):
    if communication not in _MULTI_WORKER_COMMUNICATIONS:
        raise ValueError(
            f"Multi-worker all-reduce is one of {_MULTI_WORKER_COMMUNICATIONS}. "
            f"Received: communication={communication!r}"
        )
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    key = (repr(sorted(spec.items())), tuple(local[0]), local[1], communication)
    if _MULTI_WORKER_CACHE:
        (cached_key, cached), = _MULTI_WORKER_CACHE.items()
        if cached_key != key:
            raise RuntimeError(
                "A process can create one multi-worker strategy (TensorFlow configures "
                "collective ops once); this one asks for different devices, cluster or "
                "communication. Call tfbig.distribute.strategy() once and reuse it. "
                f"Received: communication={communication!r}, devices={list(local[0])}"
            )
        return cached
    _MULTI_WORKER_CACHE[key] = _create_multi_worker(resolver, local, communication)
    return _MULTI_WORKER_CACHE[key]


def _create_multi_worker(resolver, local, communication):
    import tensorflow as tf

    implementation = getattr(
        tf.distribute.experimental.CommunicationImplementation, communication.upper()
    )
    options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
    names, device_kind = local
    if device_kind == "CPU" and len(names) > 1:
        from tfbig.distribute._multi_cpu import MultiCpuWorkerStrategy

        return MultiCpuWorkerStrategy(len(names), resolver, options)
    return tf.distribute.MultiWorkerMirroredStrategy(
        cluster_resolver=resolver, communication_options=options
    )


def _cross_device_ops(communication, names):
    """The all-reduce for a MirroredStrategy over ``names``.

    On logical CPUs "auto" means ``ReductionToOneDevice``: TF's default there
    (collective ops) numbers its groups from 1 in every strategy, so two
    strategies of different sizes in one process abort each other.
    """
    import tensorflow as tf

    if communication == "auto" and all("CPU" in name.upper() for name in names):
        return tf.distribute.ReductionToOneDevice()

    if communication == "ring":
        raise ValueError(
            "Ring all-reduce is a multi-worker collective; for one process use 'auto', "
            "'nccl', 'hierarchical_copy' or 'reduce_to_one', or kind='multi_worker'. "
            "Received: communication='ring'"
        )
    factories = {
        "nccl": tf.distribute.NcclAllReduce,
        "hierarchical_copy": tf.distribute.HierarchicalCopyAllReduce,
        "reduce_to_one": tf.distribute.ReductionToOneDevice,
    }
    return factories[communication]() if communication in factories else None
