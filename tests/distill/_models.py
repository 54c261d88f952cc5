"""Tiny models and helpers shared by the distillation tests."""

import tensorflow as tf

from tfbig import keras


@keras.saving.register_keras_serializable(package="tfbig_tests_distill")
class SubclassedNet(keras.Model):
    """A subclassed classifier with named layers: flatten -> hidden -> logits."""

    def __init__(self, width=16, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.num_classes = num_classes
        self.flatten = keras.layers.Flatten(name="flat")
        self.hidden = keras.layers.Dense(width, activation="relu", name="hidden")
        self.head = keras.layers.Dense(num_classes, name="logits")

    def call(self, inputs, training=None):
        return self.head(self.hidden(self.flatten(inputs)))

    def get_config(self):
        return {"width": self.width, "num_classes": self.num_classes, "name": self.name}


class InlineFeatureNet(SubclassedNet):
    """Computes its hidden feature with a raw TF op: not a layer output."""

    def call(self, inputs, training=None):
        x = self.flatten(inputs)
        if not self.hidden.built:
            self.hidden.build(x.shape)
        return self.head(tf.nn.relu(tf.matmul(x, self.hidden.kernel)))


def mirrored(num_replicas):
    """A MirroredStrategy over logical CPUs that several tests can create in one
    process: tfbig.distribute picks ReductionToOneDevice on CPUs (TF's default
    collective all-reduce numbers its groups from 1 in every strategy, and two
    live strategies then abort each other)."""
    from tfbig.distribute import logical_device_names
    from tfbig.distribute import strategy

    return strategy("mirrored", devices=logical_device_names("CPU")[:num_replicas])


def sequential_mlp(width, name):
    return keras.Sequential(
        [
            keras.layers.Flatten(input_shape=(8, 8, 1), name="flat"),
            keras.layers.Dense(width, activation="relu", name="hidden"),
            keras.layers.Dense(10, name="logits"),
        ],
        name=name,
    )
