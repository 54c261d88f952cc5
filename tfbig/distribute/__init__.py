"""Data-parallel and model-parallel training inside ordinary ``model.fit``."""

from tfbig.distribute.devices import logical_device_names
from tfbig.distribute.devices import set_logical_devices

__all__ = ["logical_device_names", "set_logical_devices"]
