"""Cluster description: TF_CONFIG and SLURM, validated before TF sees them.

The cluster description is the one thing tfbig reads from the environment:
``TF_CONFIG`` (as Kubernetes TFJob, Vertex AI and tfbig's launcher set it), the
SLURM step variables, and the two variables tfbig's launcher adds beside
``TF_CONFIG`` (devices per worker, restart count).
"""

import json
import os

DEVICES_PER_WORKER_ENV = "TFBIG_DEVICES_PER_WORKER"
RESTART_COUNT_ENV = "TFBIG_RESTART_COUNT"

_SLURM_VARS = ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NODELIST",
               "SLURM_STEP_TASKS_PER_NODE")
_TASK_TYPES = ("chief", "worker", "ps", "evaluator")


def _bad_tf_config(problem, raw):
    shown = raw if len(raw) <= 300 else raw[:300] + "..."
    return ValueError(
        f"The TF_CONFIG environment variable is malformed: {problem}. Expected JSON like "
        '{"cluster": {"worker": ["host0:port", "host1:port"]}, '
        '"task": {"type": "worker", "index": 0}}. '
        f"Fix or unset TF_CONFIG. Received: TF_CONFIG={shown!r}"
    )


def parse_tf_config(raw):
    """Validates a ``TF_CONFIG`` string; returns the parsed dict (or None if empty)."""
    if raw is None or not raw.strip():
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise _bad_tf_config(f"not valid JSON ({err.msg} at char {err.pos})", raw) from None
    if not isinstance(config, dict):
        raise _bad_tf_config("it must be a JSON object", raw)
    cluster = config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise _bad_tf_config('"cluster" must be a non-empty object of job -> addresses', raw)
    for job, addresses in cluster.items():
        if job not in _TASK_TYPES:
            raise _bad_tf_config(f"unknown job {job!r} in \"cluster\" (use {_TASK_TYPES})", raw)
        if not isinstance(addresses, list) or not addresses:
            raise _bad_tf_config(f'cluster job {job!r} must be a non-empty list', raw)
        for address in addresses:
            if not isinstance(address, str) or address.rpartition(":")[2].isdigit() is False:
                raise _bad_tf_config(f"address {address!r} of job {job!r} is not host:port", raw)
    if not set(cluster) & {"chief", "worker"}:
        raise _bad_tf_config('"cluster" has neither a "chief" nor a "worker" job', raw)
    task = config.get("task")
    if not isinstance(task, dict):
        raise _bad_tf_config('"task" must be an object with "type" and "index"', raw)
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in cluster:
        raise _bad_tf_config(f"task type {task_type!r} is not a job of \"cluster\"", raw)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(
        cluster[task_type]
    ):
        raise _bad_tf_config(
            f"task index {index!r} is out of range for job {task_type!r} "
            f"({len(cluster[task_type])} task(s))", raw)
    return config


def _bad_slurm(problem, env):
    shown = {k: env.get(k) for k in _SLURM_VARS}
    return ValueError(
        f"The SLURM variables do not add up: {problem}. Run the job with `srun` "
        f"(one task per worker) or unset them. Received: {shown}"
    )


def parse_slurm(env):
    """Validates the SLURM step variables; returns ``(rank, tasks_by_host)``.

    Returns ``None`` when this is not a multi-task SLURM step (no SLURM, or a
    single task), so that the caller falls back to single-worker strategies.
    """
    if "SLURM_PROCID" not in env:
        return None
    from tensorflow.python.distribute.cluster_resolver import slurm_cluster_resolver as slurm

    try:
        rank = int(env["SLURM_PROCID"])
        num_tasks = int(env.get("SLURM_STEP_NUM_TASKS", env.get("SLURM_NTASKS", "1")))
    except ValueError:
        raise _bad_slurm("SLURM_PROCID and SLURM_STEP_NUM_TASKS must be integers", env) from None
    if num_tasks < 1 or not 0 <= rank < num_tasks:
        raise _bad_slurm(f"SLURM_PROCID={rank} is not in [0, {num_tasks})", env)
    if num_tasks == 1:
        return None
    missing = [k for k in _SLURM_VARS[2:] if not env.get(k)]
    if missing:
        raise _bad_slurm(f"{', '.join(missing)} missing for a {num_tasks}-task step", env)
    try:
        hosts = slurm.expand_hostlist(env["SLURM_STEP_NODELIST"])
        per_node = slurm.expand_tasks_per_node(env["SLURM_STEP_TASKS_PER_NODE"])
    except (ValueError, IndexError) as err:
        raise _bad_slurm(f"cannot parse the node or tasks-per-node list ({err})", env) from None
    if len(hosts) != len(per_node):
        raise _bad_slurm(
            f"{len(hosts)} node(s) in SLURM_STEP_NODELIST but {len(per_node)} entries "
            "in SLURM_STEP_TASKS_PER_NODE", env)
    if sum(per_node) != num_tasks:
        raise _bad_slurm(
            f"SLURM_STEP_TASKS_PER_NODE sums to {sum(per_node)} tasks but "
            f"SLURM_STEP_NUM_TASKS={num_tasks}", env)
    return rank, dict(zip(hosts, per_node))


def slurm_resolver(env, port_base, num_gpus):
    """A cluster resolver for a validated multi-task SLURM step, or None.

    ``env`` must be ``os.environ`` (or agree with it): TF's resolver reads it.

    Returns ``(resolver, gpu_indices)``: ``gpu_indices`` are the local GPUs this
    task should use (an even share of ``num_gpus`` among the node's tasks, by
    ``SLURM_LOCALID``); empty on CPU-only nodes.
    """
    import tensorflow as tf

    parsed = parse_slurm(env)
    if parsed is None:
        return None
    _, tasks_by_host = parsed
    max_tasks = max(tasks_by_host.values())
    # TF's resolver divides GPU slots among a node's tasks; give it one slot per
    # task so it also works on CPU-only nodes, and choose GPUs here instead of
    # letting it rewrite CUDA_VISIBLE_DEVICES after TF listed the devices.
    spec_resolver = tf.distribute.cluster_resolver.SlurmClusterResolver(
        port_base=port_base, gpus_per_node=max_tasks, gpus_per_task=1,
        tasks_per_node=tasks_by_host, auto_set_gpu=False)
    spec = spec_resolver.cluster_spec()
    gpus_per_task = num_gpus // max_tasks
    local_id = int(env.get("SLURM_LOCALID", "0"))
    gpu_indices = list(range(local_id * gpus_per_task, (local_id + 1) * gpus_per_task))
    accelerators = {"GPU": gpus_per_task} if gpus_per_task else {}
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        spec, task_type=spec_resolver.task_type, task_id=spec_resolver.task_id,
        num_accelerators=accelerators, rpc_layer="grpc")
    return resolver, gpu_indices


def launcher_devices_per_worker(env=None):
    """Devices per worker set by tfbig's launcher beside TF_CONFIG, or None."""
    env = os.environ if env is None else env
    raw = env.get(DEVICES_PER_WORKER_ENV)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(
            f"{DEVICES_PER_WORKER_ENV} (set by tfbig's launcher) must be an integer >= 1. "
            f"Received: {DEVICES_PER_WORKER_ENV}={raw!r}")
    return int(raw)


def restart_count(env=None):
    """How many times tfbig's launcher restarted this cluster (0 if not launched)."""
    env = os.environ if env is None else env
    raw = env.get(RESTART_COUNT_ENV, "0")
    return int(raw) if raw.isdigit() else 0
