"""Pipeline planning: balanced/named cuts, the plan table, and clear errors."""

import numpy as np
import pytest
import tensorflow as tf

from tfbig import keras
from tfbig.distribute.pipeline import pipeline
from tfbig.distribute.pipeline import plan_pipeline
from tfbig.testing import mirrored_strategy


def _mlp(widths=(32, 16, 16, 8)):
    layers = [keras.layers.Dense(widths[0], input_shape=(12,), name="d0")]
    layers += [keras.layers.Dense(w, name=f"d{i + 1}") for i, w in enumerate(widths[1:])]
    return keras.Sequential(layers, name="mlp")


def _residual():
    inputs = keras.Input((6,), name="x")
    h = keras.layers.Dense(6, name="stem")(inputs)
    r = keras.layers.Dense(6, name="branch")(h)
    h = keras.layers.Add(name="add")([h, r])
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(h), name="res")


def test_params_balance_minimizes_the_largest_stage():
    plan = plan_pipeline(_mlp(), devices=2)
    sizes = [s.param_bytes for s in plan.stages]
    assert [s.layers for s in plan.stages] == [("d0",), ("d1", "d2", "d3")]
    assert sizes == [(12 * 32 + 32) * 4, (32 * 16 + 16 + 16 * 16 + 16 + 16 * 8 + 8) * 4]
    assert plan.max_stage_param_fraction == max(sizes) / sum(sizes)
    assert plan.total_param_bytes == _mlp().count_params() * 4


def test_plan_table_and_bubble_fraction():
    plan = plan_pipeline(_mlp(), devices=4, num_microbatches=8)
    assert plan.num_stages == 4 and plan.cuts == ("d0", "d1", "d2")
    assert plan.bubble_fraction == pytest.approx(3 / 11)
    text = str(plan)
    assert "bubble fraction 0.273" in text and "/device:CPU:3" in text
    assert "stage 1 layers: d1" in text
    lines = []
    pipeline(_mlp(), devices=2).summary(print_fn=lines.append)
    assert "2 stage(s) x 1 micro-batch(es)" in lines[0]


def test_time_balance_measures_layers():
    wide = keras.Sequential([keras.layers.Dense(256, input_shape=(64,), name="big"),
                             keras.layers.Dense(4, name="small1"),
                             keras.layers.Dense(4, name="small2")])
    plan = plan_pipeline(wide, devices=2, balance="time",
                         sample_inputs=np.ones((64, 64), "float32"))
    assert plan.balance == "time" and plan.num_stages == 2
    assert all(s.cost > 0 for s in plan.stages)


def test_skip_connections_are_not_cut():
    plan = plan_pipeline(_residual(), devices=2)
    assert plan.cuts in (("stem",), ("add",))
    assert plan.stages[1].receives == (plan.cuts[0],)


def test_more_stages_than_layers():
    with pytest.raises(ValueError, match=r"Cannot make 4 stages .* 3 layer call"):
        plan_pipeline(_mlp((4, 4, 4)), devices=4)


def test_more_stages_than_valid_cuts():
    with pytest.raises(ValueError, match=r"can be cut only after \['stem', 'add'\]"):
        plan_pipeline(_residual(), devices=4)


def test_unknown_cut_name():
    with pytest.raises(ValueError, match=r"'nope' that is not in the model.*Received: cuts"):
        plan_pipeline(_mlp(), devices=2, cuts=["nope"])


def test_cut_inside_a_skip_connection():
    with pytest.raises(ValueError, match=r"after layer 'branch'.*skip connection.*'stem' is "
                                         r"used by 'branch' before the cut and by 'add'"):
        plan_pipeline(_residual(), devices=2, cuts=["branch"])


def test_cuts_and_devices_must_agree():
    with pytest.raises(ValueError, match="1 cut.* 2 stages but 3 device"):
        plan_pipeline(_mlp(), devices=3, cuts=["d1"])


def test_batch_not_divisible_by_microbatches():
    piped = pipeline(_mlp(), devices=2, num_microbatches=4)
    piped.compile("sgd", "mse")
    x, y = np.ones((12, 12), "float32"), np.ones((12, 8), "float32")
    with pytest.raises(ValueError, match=r"batch_size` \(6\) is not divisible by "
                                         r"num_microbatches=4.*Received: batch_size=6"):
        piped.fit(x, y, batch_size=6, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(6, drop_remainder=True)
    with pytest.raises(ValueError, match=r"batch size 6 is not divisible by num_microbatches=4"):
        piped.fit(dataset, verbose=0)


def test_subclassed_model_is_refused_with_what_is_needed():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.ones((1, 3), "float32"))
    with pytest.raises(TypeError, match=r"needs a Sequential or functional model.*Rebuild"):
        pipeline(net, devices=2)


def test_keras3_model_is_refused():
    keras3 = pytest.importorskip("keras")
    if not keras3.__version__.startswith("3"):
        pytest.skip("the installed `keras` is not Keras 3")
    model = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    with pytest.raises(TypeError, match="Keras 3"):
        pipeline(model, devices=2)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="no known input shape"):
        pipeline(keras.Sequential([keras.layers.Dense(2)]), devices=2)
    with pytest.raises(ValueError, match="num_microbatches=0"):
        pipeline(_mlp(), devices=2, num_microbatches=0)
    with pytest.raises(ValueError, match="asks for 9"):
        pipeline(_mlp(), devices=9)
    with pytest.raises(ValueError, match="'/gpu:7' does not exist"):
        pipeline(_mlp(), devices=["/cpu:0", "/gpu:7"])
    with pytest.raises(ValueError, match="balance="):
        pipeline(_mlp(), devices=2, balance="flops")
    with mirrored_strategy(2).scope():
        with pytest.raises(ValueError, match="strategy"):
            pipeline(_mlp(), devices=2)
