"""Pipeline (GPipe-style) model parallelism for tf_keras models.

When a model does not fit on one device, data parallelism cannot help: every
replica holds the whole model. :func:`pipeline` cuts a Sequential or
functional model into K contiguous stages, creates each stage's variables on
its own device and runs its computation there, and returns a Keras model that
trains with ordinary ``compile``/``fit``. Each batch is split into M
micro-batches that flow through the stages (TF's executor overlaps stage k on
micro-batch m with stage k+1 on micro-batch m-1); their gradients are summed
on each stage's device and applied in one update, which equals full-batch
training of the unpartitioned model.

Semantics worth knowing:

* **BatchNormalization** normalizes each micro-batch with its own statistics
  (as in GPipe) and updates its moving averages once per micro-batch, so with
  M > 1 it is not identical to full-batch training (it is for M = 1).
* **Dropout** and other random layers draw different random numbers than an
  unpartitioned run would.
* A training batch whose size is known when the step is traced must divide by
  M (``fit(x, batch_size=...)`` checks up front). A final smaller batch of
  unknown size, and any inference batch, is split into near-equal parts,
  weighted so that the result still equals the full batch.
* Keras masks do not cross stage boundaries; mixed-precision loss scaling and
  ``tf.distribute`` strategies are not combined with a pipeline.
"""

from tfbig.distribute import _pipeline_build
from tfbig.distribute._pipeline_graph import read_graph
from tfbig.distribute._pipeline_model import PipelineModel
from tfbig.distribute._pipeline_model import check_pipeline_args
from tfbig.distribute._pipeline_plan import PipelinePlan
from tfbig.distribute._pipeline_plan import StagePlan

__all__ = ["pipeline", "plan_pipeline", "PipelineModel", "PipelinePlan", "StagePlan"]


def pipeline(model, devices=None, num_microbatches=1, cuts=None, balance="params",
             sample_inputs=None, name=None):
    """Splits a model into pipeline stages on several devices.

    The model is copied (with its current weights) layer by layer, each layer
    created under its stage's device; the user's model is left untouched.
    Stages are contiguous runs of layer calls. A model is cut only where no
    skip connection spans the cut; the tensors that cross a cut (several for
    multi-input graphs) are sent from the stage that computes them straight
    to the stages that use them.

    Args:
        model: a built tf_keras Sequential or functional model.
        devices: the device of each stage (``["/gpu:0", "/gpu:1"]``), or a
            number of stages placed on the first logical GPUs (CPUs when there
            is no GPU). Defaults to ``None``: every logical GPU (or CPU).
        num_microbatches: M, the micro-batches each training batch is split
            into; the pipeline bubble is ``(K-1)/(M+K-1)``. Defaults to 1.
        cuts: names of the last layer of every stage but the last, e.g.
            ``["dense2"]`` for two stages; ``None`` chooses them automatically.
            Defaults to ``None``.
        balance: how automatic cuts balance the stages: ``"params"`` (equal
            parameter bytes, i.e. memory) or ``"time"`` (equal measured forward
            time of the layers on ``sample_inputs``). Defaults to ``"params"``.
        sample_inputs: a batch of inputs timed by ``balance="time"``; random
            data of batch 32 when ``None``. Defaults to ``None``.
        name: name of the returned model. Defaults to ``None``
            (``"<model name>_pipeline"``).

    Returns:
        A :class:`PipelineModel`. Its ``plan`` (and ``summary()``) shows the
        stages, ``model`` is the placed unpartitioned copy, and ``save`` /
        ``save_weights`` write that ordinary model.

    Raises:
        TypeError: for a Keras 3 model, a non-model or a subclassed model.
        ValueError: for an unbuilt model, more stages than layers (or than
            valid cuts), an unknown cut name, a cut inside a skip connection, a
            wrong number of devices, or a bad ``num_microbatches``.

    Example:

    >>> import numpy as np
    >>> from tfbig import keras
    >>> model = keras.Sequential([keras.layers.Dense(8, input_shape=(4,), name="d1"),
    ...                           keras.layers.Dense(2, name="d2")])
    >>> piped = pipeline(model, devices=["/cpu:0", "/cpu:0"], num_microbatches=2)
    >>> piped.plan.cuts, piped.plan.bubble_fraction
    (('d1',), 0.3333333333333333)
    >>> piped.compile("sgd", "mse")
    >>> piped.fit(np.ones((4, 4)), np.ones((4, 2)), batch_size=4, verbose=0).epoch
    [0]
    """
    kwargs = {} if name is None else {"name": name}
    return PipelineModel(model, devices=devices, num_microbatches=num_microbatches,
                         cuts=cuts, balance=balance, sample_inputs=sample_inputs, **kwargs)


def plan_pipeline(model, devices=None, num_microbatches=1, cuts=None, balance="params",
                  sample_inputs=None):
    """Dry run of :func:`pipeline`: the stages it would build, nothing placed.

    Args:
        model: a built tf_keras Sequential or functional model.
        devices: as in :func:`pipeline`. Defaults to ``None``.
        num_microbatches: as in :func:`pipeline`. Defaults to 1.
        cuts: as in :func:`pipeline`. Defaults to ``None``.
        balance: as in :func:`pipeline`. Defaults to ``"params"``.
        sample_inputs: as in :func:`pipeline`. Defaults to ``None``.

    Returns:
        A :class:`PipelinePlan`; ``print(plan)`` shows a table of stages,
        devices, layers, parameter bytes and the bubble fraction.

    Raises:
        TypeError: as :func:`pipeline`.
        ValueError: as :func:`pipeline`.

    Example:

    >>> from tfbig import keras
    >>> inputs = keras.Input((4,))
    >>> h = keras.layers.Dense(4, name="d0")(inputs)
    >>> r = keras.layers.Add(name="add")([h, keras.layers.Dense(4, name="d1")(h)])
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(r))
    >>> plan = plan_pipeline(model, devices=["/cpu:0", "/cpu:0"])
    >>> [s.layers for s in plan.stages]  # "d1" cannot end a stage: "h" skips over it
    [('d0',), ('d1', 'add', 'head')]
    """
    check_pipeline_args(model, num_microbatches)
    devices = _pipeline_build.resolve_devices(devices)
    return _pipeline_build.make_plan(model, read_graph(model), devices, num_microbatches,
                                     cuts, balance, sample_inputs)
