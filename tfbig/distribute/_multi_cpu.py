"""MultiWorkerMirroredStrategy over several logical CPUs per worker.

TF's ``MultiWorkerMirroredStrategy`` uses every local GPU, but only one CPU
device per worker. For development on CPU-only hosts (``--devices_per_worker``)
this subclass makes each worker use its first ``num_cpus`` logical CPUs, so a
2-worker x 2-device job has 4 replicas, exactly as on 2 hosts with 2 GPUs.
It is still a ``tf.distribute.MultiWorkerMirroredStrategy`` (isinstance holds),
so Keras' multi-worker saving and ``BackupAndRestore`` rules apply unchanged.
"""

import tensorflow as tf
from tensorflow.python.distribute import collective_all_reduce_strategy as _collective


class _MultiCpuExtended(_collective.CollectiveAllReduceExtended):
    def __init__(self, container, num_cpus, cluster_resolver, communication_options):
        self._tfbig_num_cpus = num_cpus
        super().__init__(
            container,
            cluster_resolver=cluster_resolver,
            communication_options=communication_options,
        )

    def _initialize_local_devices(self, cluster_resolver, worker_device):
        devices, kind = super()._initialize_local_devices(cluster_resolver, worker_device)
        if kind != "CPU":
            return devices, kind
        return tuple(
            f"{worker_device}/device:CPU:{i}" for i in range(self._tfbig_num_cpus)
        ), "CPU"


class MultiCpuWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` whose workers each use ``num_cpus`` logical CPUs."""

    def __init__(self, num_cpus, cluster_resolver=None, communication_options=None):
        if communication_options is None:
            communication_options = tf.distribute.experimental.CommunicationOptions()
        tf.distribute.Strategy.__init__(
            self,
            _MultiCpuExtended(self, num_cpus, cluster_resolver, communication_options),
        )
