"""Logical devices: split one physical CPU (or GPU) into N devices for development.

This lets a laptop or a CI runner exercise ``MirroredStrategy`` code for real.
It must run before TensorFlow initializes its runtime (before the first op,
model or strategy is created).
"""

__all__ = ["set_logical_devices", "logical_device_names"]


def set_logical_devices(num_devices, device_type="CPU", memory_limit_mb=None):
    """Splits the first physical device of ``device_type`` into logical devices.

    Calling it again with the same arguments after it took effect is a no-op.

    Args:
        num_devices: how many logical devices to create (>= 1).
        device_type: ``"CPU"`` or ``"GPU"``. Defaults to ``"CPU"``.
        memory_limit_mb: memory per logical GPU in MiB; required for GPUs and
            ignored for CPUs. Defaults to ``None``.

    Returns:
        The names of the logical devices of that type, e.g.
        ``["/device:CPU:0", "/device:CPU:1"]``.

    Raises:
        ValueError: for ``num_devices < 1``, an unknown ``device_type``, a GPU
            without ``memory_limit_mb``, or no physical device of that type.
        RuntimeError: when TensorFlow is already initialized with a different
            device configuration; it says how to fix it.

    Example (at the very start of a program, ``set_logical_devices(2)``
    gives ``['/device:CPU:0', '/device:CPU:1']``):

    >>> set_logical_devices(0)
    Traceback (most recent call last):
    ...
    ValueError: `num_devices` must be an integer >= 1. Received: num_devices=0
    """
    import tensorflow as tf

    if not isinstance(num_devices, int) or num_devices < 1:
        raise ValueError(
            f"`num_devices` must be an integer >= 1. Received: num_devices={num_devices!r}"
        )
    device_type = str(device_type).upper()
    if device_type not in ("CPU", "GPU"):
        raise ValueError(
            f"`device_type` must be 'CPU' or 'GPU'. Received: device_type={device_type!r}"
        )
    if device_type == "GPU" and memory_limit_mb is None:
        raise ValueError(
            "Logical GPUs need `memory_limit_mb` (the memory each one may use). "
            "Received: memory_limit_mb=None"
        )
    physical = tf.config.list_physical_devices(device_type)
    if not physical:
        raise ValueError(
            f"No physical {device_type} device is visible, so it cannot be split. "
            f"Received: device_type={device_type!r}"
        )
    configure_logical_devices(physical[0], num_devices, memory_limit_mb)
    return logical_device_names(device_type)


def configure_logical_devices(physical, num_devices, memory_limit_mb=None):
    """Splits one physical device without initializing TensorFlow (no checks)."""
    import tensorflow as tf

    device_type = physical.device_type
    config = tf.config.LogicalDeviceConfiguration(
        memory_limit=memory_limit_mb if device_type == "GPU" else None
    )
    current = tf.config.get_logical_device_configuration(physical)
    if current is not None and len(current) == num_devices:
        return
    try:
        tf.config.set_logical_device_configuration(physical, [config] * num_devices)
    except RuntimeError as err:
        have = len(tf.config.list_logical_devices(device_type))
        raise RuntimeError(
            f"Cannot split the {device_type} into {num_devices} logical devices: "
            f"TensorFlow is already initialized with {have} logical {device_type} "
            "device(s). Call `tfbig.distribute.set_logical_devices` at the start of "
            "the program, before creating any tensor, model or strategy (in a "
            "notebook: restart the kernel and run it in the first cell). "
            f"Received: num_devices={num_devices}"
        ) from err


def logical_device_names(device_type="CPU"):
    """Names of the logical devices of a type (initializes TensorFlow).

    Args:
        device_type: ``"CPU"`` or ``"GPU"``. Defaults to ``"CPU"``.

    Returns:
        A list of device names such as ``"/device:CPU:0"``.

    Example:

    >>> logical_device_names("CPU")[0]
    '/device:CPU:0'
    """
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices(str(device_type).upper())]
