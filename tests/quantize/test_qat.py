import os

import keras as keras3
import numpy as np
import pytest
import tensorflow as tf

from tests.quantize import trained
from tfbig import export
from tfbig import keras
from tfbig.quantize import qat
from tfbig.quantize import quantization_report


def _ops(summary):
    return summary.int8_ops, summary.float_ops


@pytest.fixture(scope="module")
def data():
    return trained.digits()


def test_cnn_qat_converts_to_int8_within_half_a_point(data, tmp_path):
    x, _, xt, yt = data
    float_acc = trained.accuracy(trained.float_cnn(), xt, yt)
    model = trained.qat_cnn()
    report = quantization_report(model)
    assert not report.float_layers, report.summary()
    summary = export.tflite(model, tmp_path / "cnn.tflite", quantize="int8", calibration=x)
    int8_ops, float_ops = _ops(summary)
    assert float_ops == {} and int8_ops["CONV_2D"] == 2 and int8_ops["FULLY_CONNECTED"] == 2
    int8_acc = export.evaluate_tflite(summary.path, (xt, yt))["accuracy"]
    assert float_acc - int8_acc <= 0.005 + 1e-9, (float_acc, int8_acc)


def test_transformer_block_qat_runs_int8_matmuls_within_one_point(data, tmp_path):
    x, _, xt, yt = data
    float_acc = trained.accuracy(trained.float_transformer(), xt, yt)
    model = trained.qat_transformer()
    report = quantization_report(model)
    assert not report.float_layers, report.summary()
    assert report.quantized["quant_block1_mha"] == "QuantizableMultiHeadAttention"
    for name in ("quant_block1_ln1", "quant_block1_add1", "quant_block1_ff1", "quant_pos_emb"):
        assert name in report.quantized
    summary = export.tflite(model, tmp_path / "t.tflite", quantize="int8", calibration=x)
    int8_ops, float_ops = _ops(summary)
    assert float_ops == {} and summary.hybrid_ops == {}
    # Q/K/V/output projections + 2 FFN + embedding + head, and the two attention matmuls.
    assert int8_ops["FULLY_CONNECTED"] >= 6 and int8_ops["BATCH_MATMUL"] == 2
    assert int8_ops["SOFTMAX"] == 1 and int8_ops["RSQRT"] == 2 and int8_ops["GELU"] == 1
    int8_acc = export.evaluate_tflite(summary.path, (xt, yt))["accuracy"]
    assert float_acc - int8_acc <= 0.01 + 1e-9, (float_acc, int8_acc)


def _plus_residual_block(d_model=16):
    """A transformer block written with raw `+` residuals and a causal MHA."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Reshape((8, 8))(inputs)
    x = keras.layers.Dense(d_model, name="embed")(x)
    attn = keras.layers.MultiHeadAttention(2, d_model // 2, name="mha")(x, x, use_causal_mask=True)
    x = keras.layers.LayerNormalization(name="ln1")(x + attn)
    h = keras.layers.Dense(2 * d_model, activation="gelu", name="ff1")(x)
    x = keras.layers.LayerNormalization(name="ln2")(x + keras.layers.Dense(d_model, name="ff2")(h))
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="head")(x), name="plus_block")


def test_plus_residual_and_causal_attention_are_rewritten_with_equal_outputs(data):
    x = data[0][:32]
    keras.utils.set_random_seed(7)
    model = _plus_residual_block()
    assert sum(type(layer).__name__ == "TFOpLambda" for layer in model.layers) == 2
    quantized = qat(model)
    report = quantization_report(quantized)
    assert not report.float_layers, report.summary()
    assert report.quantized["quant_mha"] == "QuantizableMultiHeadAttention"
    assert sum(cls == "Add" for cls in report.quantized.values()) == 2
    # The rewrite itself (before fake quantization) keeps the function.
    from tfbig.quantize._graph import make_wrappable

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    rewritten, swapped = make_wrappable(copy)
    assert set(swapped.values()) == {"QuantizableMultiHeadAttention", "Add"}
    np.testing.assert_allclose(rewritten.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_plus_residual_block_converts_to_int8(data, tmp_path):
    x, y, _, _ = data
    keras.utils.set_random_seed(8)
    model = trained.compile_for_digits(qat(_plus_residual_block()))
    model.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0)
    summary = export.tflite(model, tmp_path / "p.tflite", quantize="int8", calibration=x[:64])
    assert summary.float_ops == {} and summary.int8_ops["BATCH_MATMUL"] == 2
    parity = export.tflite_parity(model, summary.path, x[:128], min_top1_agreement=0.9)
    assert parity.mode == "statistical" and parity.passed, parity


def test_layers_selects_what_is_quantized():
    model = trained.float_transformer()
    quantized = qat(model, layers=["logits", keras.layers.LayerNormalization])
    report = quantization_report(quantized)
    assert set(report.quantized) >= {"quant_logits", "quant_block1_ln1", "quant_block1_ln2"}
    assert "block1_mha" in report.float_layers and "token_proj" in report.float_layers
    assert len(model.layers) == len(trained.float_transformer().layers)  # input untouched


def test_user_config_for_unknown_layer():
    from tfbig.quantize import LayerQuantizeConfig

    @keras.saving.register_keras_serializable("tfbig_tests_quantize")
    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(Scale(name="scale")(inputs)))
    assert "scale" in quantization_report(qat(model)).float_layers
    forced = qat(model, configs={"Scale": LayerQuantizeConfig(quantize_output=True)})
    assert "quant_scale" in quantization_report(forced).quantized


def test_qat_leaves_the_input_model_unchanged(data):
    model = trained.float_cnn()
    before = model.get_weights()
    qat(model)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert not any("Quantize" in type(layer).__name__ for layer in model.layers)


def test_bad_arguments():
    model = keras.Sequential([keras.layers.Dense(2, input_shape=(3,), name="fc")])
    with pytest.raises(ValueError, match="preserve_sparsity.*Received: preserve_sparsity='yes'"):
        qat(model, preserve_sparsity="yes")
    with pytest.raises(ValueError, match=r"match no layer.*Received: layers=\['nope'\]"):
        qat(model, layers=["nope"])
    with pytest.raises(TypeError, match="list of layer names"):
        qat(model, layers="fc")


def test_keras3_and_subclassed_models_are_refused():
    m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    with pytest.raises(TypeError, match="Keras 3"):
        qat(m3)

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="subclassed"):
        qat(Sub())


def test_pruning_wrappers_must_be_stripped_first():
    import tensorflow_model_optimization as tfmot

    model = keras.Sequential([keras.layers.Dense(4, input_shape=(3,))])
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model)
    with pytest.raises(ValueError, match="strip"):
        qat(pruned)


def test_masked_attention_stays_float_and_is_reported():
    inputs, mask = keras.Input((6, 8)), keras.Input((6, 6), dtype="bool")
    x = keras.layers.Dense(8, name="embed")(inputs)
    attn = keras.layers.MultiHeadAttention(2, 4, name="mha")(x, x, attention_mask=mask)
    model = keras.Model([inputs, mask], keras.layers.Dense(3)(keras.layers.Add()([x, attn])))
    report = quantization_report(qat(model))
    assert report.float_layers == {"mha": "MultiHeadAttention"}
    assert "quant_embed" in report.quantized
