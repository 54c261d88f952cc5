"""``PipelineModel``: a Keras model whose stages live and run on their own devices."""

import tensorflow as tf

from tfbig._backend import check_model
from tfbig._backend import is_graph_network
from tfbig._backend import keras
from tfbig._backend import register_serializable
from tfbig.distribute import _pipeline_build
from tfbig.distribute._pipeline_graph import read_graph

__all__ = ["PipelineModel", "check_pipeline_args"]

_SUBCLASSED_FIX = (
    "Pipeline parallelism cuts a model's layer graph into stages, so it needs a "
    "Sequential or functional model (`keras.Model(inputs, outputs)`). Rebuild the "
    "subclassed model functionally, or make it a `keras.Sequential` of its blocks "
    "(each block may itself be a subclassed layer or model)."
)


def check_pipeline_args(model, num_microbatches):
    """Raises the errors every pipeline entry point gives for bad arguments."""
    check_model(model)
    if not is_graph_network(model):
        raise TypeError(f"{_SUBCLASSED_FIX} Received: model={model.name!r} "
                        f"of type {type(model).__name__}")
    if not model.built or getattr(model, "_nested_inputs", None) is None:
        raise ValueError(
            f"Model {model.name!r} has no known input shape yet. Give its first "
            "layer an `input_shape` (or start it with `keras.Input`) so the layer "
            f"graph exists. Received: model={model.name!r}"
        )
    if isinstance(num_microbatches, bool) or not isinstance(num_microbatches, int) \
            or num_microbatches < 1:
        raise ValueError("`num_microbatches` must be an integer >= 1. "
                         f"Received: num_microbatches={num_microbatches!r}")
    if tf.distribute.has_strategy():
        raise ValueError(
            "A pipeline places each stage on its own device itself and cannot be "
            "built inside a `tf.distribute` strategy scope; build it outside "
            f"`strategy.scope()`. Received: model={model.name!r}"
        )


@register_serializable()
class PipelineModel(keras.Model):
    """A model split into stages on several devices, trained GPipe-style.

    Build it with :func:`tfbig.distribute.pipeline`, which documents the
    arguments; then use ordinary ``compile``/``fit``/``evaluate``/``predict``.
    Each training batch is split into ``num_microbatches`` equal micro-batches
    that flow through the stages; every stage's forward and backward run on its
    device, gradients are accumulated on that device, and one optimizer update
    is applied per batch, so training equals full-batch training of the
    unpartitioned model. ``save``/``save_weights``/``load_weights``/
    ``get_weights`` act on the ordinary unpartitioned model ``self.model``.

    Args:
        model: a built tf_keras Sequential or functional model (copied).
        devices: one device per stage, or a count. Defaults to ``None``.
        num_microbatches: micro-batches per batch. Defaults to 1.
        cuts: names of each stage's last layer. Defaults to ``None``.
        balance: ``"params"`` or ``"time"``. Defaults to ``"params"``.
        sample_inputs: a batch used by ``balance="time"`` (not part of the
            config). Defaults to ``None``.
        **kwargs: Keras ``Model`` arguments such as ``name``.

    Attributes:
        model: the placed, unpartitioned copy (an ordinary model that shares
            the stages' variables).
        plan: the :class:`PipelinePlan` (also printed by ``summary()``).
        stage_models: one functional model per stage (views on ``model``).

    Example:

    >>> from tfbig import keras
    >>> from tfbig.distribute.pipeline import pipeline
    >>> model = keras.Sequential([keras.layers.Dense(3, input_shape=(2,)),
    ...                           keras.layers.Dense(1)])
    >>> piped = pipeline(model, devices=["/cpu:0", "/cpu:0"])
    >>> isinstance(piped, PipelineModel), len(piped.stage_models)
    (True, 2)
    >>> piped.get_config()["num_microbatches"]
    1
    """

    def __init__(self, model, devices=None, num_microbatches=1, cuts=None,
                 balance="params", sample_inputs=None, **kwargs):
        check_pipeline_args(model, num_microbatches)
        kwargs.setdefault("name", f"{model.name}_pipeline")
        super().__init__(**kwargs)
        devices = _pipeline_build.resolve_devices(devices)
        graph = read_graph(model)
        self.plan = _pipeline_build.make_plan(
            model, graph, devices, num_microbatches, cuts, balance, sample_inputs)
        self.model, stages = _pipeline_build.build_stages(model, graph, self.plan)
        self.devices = devices
        self.num_microbatches = num_microbatches
        self.cuts = list(self.plan.cuts)
        self.balance = balance
        self._stages = tuple(stages)  # not tracked: views sharing self.model's layers
        self._input_ids = list(graph.input_ids)
        self._output_ids = list(graph.output_ids)
        self.built = True

    @property
    def stage_models(self):
        """The functional model of each stage, in order."""
        return [s.model for s in self._stages]

    # ----------------------------------------------------------------- forward
    def _flatten_inputs(self, inputs):
        if isinstance(inputs, dict) and not isinstance(self.model._nested_inputs, dict):
            inputs = [inputs[n] for n in self.model.input_names]
        flat = [tf.convert_to_tensor(t) if not tf.is_tensor(t) else t
                for t in tf.nest.flatten(inputs)]
        if len(flat) != len(self._input_ids):
            raise ValueError(
                f"Model {self.model.name!r} takes {len(self._input_ids)} input(s) but "
                f"received {len(flat)}. Received: inputs={inputs!r}"
            )
        return flat

    def _split(self, flat_inputs, training):
        """Micro-batch sizes and loss weights (n_m / batch) for a batch."""
        first = flat_inputs[0]
        m = self.num_microbatches
        static = first.shape[0]
        if static is not None:
            if training and static % m:
                raise ValueError(
                    f"The batch size {static} is not divisible by num_microbatches={m}; "
                    "use a batch size that is a multiple of it (for a tf.data "
                    "pipeline: `.batch(n, drop_remainder=True)` with n % "
                    f"{m} == 0). Received: batch_size={static}"
                )
            m = max(1, min(m, static))
            base, extra = divmod(static, m)
            sizes = [base + 1] * extra + [base] * (m - extra)
            return sizes, [s / max(static, 1) for s in sizes]
        batch = tf.shape(first)[0]
        base, extra = batch // m, batch % m
        sizes = tf.where(tf.range(m) < extra, base + 1, base)
        weights = tf.math.divide_no_nan(tf.cast(sizes, tf.float32), tf.cast(batch, tf.float32))
        return sizes, [weights[i] for i in range(m)]

    def _microbatches(self, structure, sizes):
        num = len(sizes) if isinstance(sizes, list) else self.num_microbatches
        if structure is None:
            return [None] * num
        if num == 1:
            return [structure]
        parts = [tf.split(t, sizes, num=num) for t in tf.nest.flatten(structure)]
        return [tf.nest.pack_sequence_as(structure, [p[i] for p in parts])
                for i in range(num)]

    def _forward(self, values, training, tapes=None):
        """Runs every stage on one micro-batch; ``values`` maps tensor ids."""
        for stage in self._stages:
            with tf.device(stage.device):
                ins = [values[t] for t in stage.input_ids]
                if tapes is None:
                    outs = stage.model(ins, training=training)
                    values.update(zip(stage.output_ids, tf.nest.flatten(outs)))
                    continue
                with tf.GradientTape() as tape:
                    pairs = [(t, i) for t, i in zip(ins, stage.input_ids)
                             if t.dtype.is_floating and i not in self._input_ids]
                    watched = [t for t, _ in pairs]
                    watched_ids = [i for _, i in pairs]
                    tape.watch(watched)
                    outs = tf.nest.flatten(stage.model(ins, training=training))
                    reg = stage.model.losses
                    reg = tf.add_n(reg) if reg else None
                values.update(zip(stage.output_ids, outs))
                tapes.append((tape, watched, watched_ids, outs, reg))
        return [values[t] for t in self._output_ids]

    def call(self, inputs, training=None):
        flat = self._flatten_inputs(inputs)
        sizes, _ = self._split(flat, training=False)
        per_input = self._microbatches(flat, sizes)
        results = [self._forward(dict(zip(self._input_ids, x)), training) for x in per_input]
        with tf.device(self._stages[-1].device):
            flat_out = [r[0] if len(results) == 1 else tf.concat(r, axis=0)
                        for r in zip(*results)]
        return tf.nest.pack_sequence_as(self.model._nested_outputs, flat_out)

    # ---------------------------------------------------------------- training
    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        flat = self._flatten_inputs(x)
        sizes, weights = self._split(flat, training=True)
        parts = zip(self._microbatches(flat, sizes), self._microbatches(y, sizes),
                    self._microbatches(sample_weight, sizes), weights)
        grads = [[None] * len(s.model.trainable_variables) for s in self._stages]
        for x_m, y_m, sw_m, weight in parts:
            tapes = []
            flat_pred = self._forward(dict(zip(self._input_ids, x_m)), True, tapes)
            regs = [t[-1] for t in tapes if t[-1] is not None]
            with tf.device(self._stages[-1].device):
                with tf.GradientTape() as tape:
                    tape.watch(flat_pred)
                    y_pred = tf.nest.pack_sequence_as(self.model._nested_outputs, flat_pred)
                    loss = self.compiled_loss(y_m, y_pred, sw_m, regularization_losses=regs)
                    self._validate_target_and_loss(y_m, loss)
                    scaled = loss * tf.cast(weight, loss.dtype)
                out_grads = tape.gradient(scaled, flat_pred)
                self.compiled_metrics.update_state(y_m, y_pred, sw_m)
            self._backward(tapes, dict(zip(self._output_ids, out_grads)), weight, grads)
        variables = [v for s in self._stages for v in s.model.trainable_variables]
        self.optimizer.apply_gradients(zip([g for gs in grads for g in gs], variables))
        return self.get_metrics_result()

    def _backward(self, tapes, grad_of, weight, grads):
        """Back-propagates one micro-batch stage by stage, each on its device."""
        for k in reversed(range(len(self._stages))):
            stage = self._stages[k]
            tape, watched, watched_ids, outs, reg = tapes[k]
            with tf.device(stage.device):
                targets, seeds = [], []
                for out, tid in zip(outs, stage.output_ids):
                    if grad_of.get(tid) is not None:
                        targets.append(out)
                        seeds.append(tf.convert_to_tensor(grad_of[tid]))
                if reg is not None:
                    targets.append(reg)
                    seeds.append(tf.cast(weight, reg.dtype) * tf.ones_like(reg))
                if not targets:
                    continue
                variables = stage.model.trainable_variables
                result = tape.gradient(targets, watched + variables, output_gradients=seeds)
                for tid, g in zip(watched_ids, result[:len(watched)]):
                    grad_of[tid] = _add_gradients(grad_of.get(tid), g)
                for i, g in enumerate(result[len(watched):]):
                    grads[k][i] = _add_gradients(grads[k][i], g)

    def fit(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """Keras ``fit``; checks first that batches split into equal micro-batches."""
        if not _is_streamed(x):
            size = 32 if batch_size is None else batch_size
            if size % self.num_microbatches:
                raise ValueError(
                    f"`batch_size` ({size}{' by default' if batch_size is None else ''}) "
                    f"is not divisible by num_microbatches={self.num_microbatches}; "
                    "pass a batch_size that is a multiple of it. "
                    f"Received: batch_size={batch_size!r}"
                )
        return super().fit(x, y, batch_size, *args, **kwargs)

    # ------------------------------------------------- the unpartitioned model
    def get_weights(self):
        """The weights of the unpartitioned model, in its order."""
        return self.model.get_weights()

    def set_weights(self, weights):
        """Sets the weights, in the unpartitioned model's order."""
        self.model.set_weights(weights)

    def save(self, filepath, overwrite=True, save_format=None, **kwargs):
        """Saves the ordinary unpartitioned model ``self.model`` (no optimizer).

        The file loads with ``keras.models.load_model`` as a plain Sequential or
        functional model, ready to export, prune or quantize, or to pipeline
        again.
        """
        self.model.save(filepath, overwrite=overwrite, save_format=save_format, **kwargs)

    def save_weights(self, filepath, overwrite=True, save_format=None, options=None):
        """Saves the unpartitioned model's weights (loadable by the original)."""
        return self.model.save_weights(filepath, overwrite=overwrite,
                                       save_format=save_format, options=options)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, options=None):
        """Loads weights saved from this model or from the unpartitioned model."""
        return self.model.load_weights(filepath, skip_mismatch=skip_mismatch,
                                       by_name=by_name, options=options)

    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs):
        """Prints the pipeline plan: stages, devices, layers, bytes, bubble."""
        del line_length, positions, kwargs
        (print_fn or print)(str(self.plan))

    def get_config(self):
        return {
            "name": self.name,
            "model": keras.saving.serialize_keras_object(self.model),
            "devices": list(self.devices),
            "num_microbatches": self.num_microbatches,
            "cuts": list(self.cuts),
            "balance": self.balance,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        model = keras.saving.deserialize_keras_object(
            config.pop("model"), custom_objects=custom_objects)
        return cls(model, **config)


def _add_gradients(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, tf.IndexedSlices) and isinstance(b, tf.IndexedSlices):
        return tf.IndexedSlices(tf.concat([a.values, b.values], 0),
                                tf.concat([a.indices, b.indices], 0), a.dense_shape)
    return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)


def _is_streamed(x):
    """Whether ``x`` brings its own batches (dataset, Sequence, generator)."""
    return isinstance(x, (tf.data.Dataset, keras.utils.Sequence)) or hasattr(x, "__next__")
