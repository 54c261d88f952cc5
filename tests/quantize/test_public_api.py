import tfbig.quantize


def test_public_names_are_pinned():
    assert sorted(tfbig.quantize.__all__) == [
        "LayerQuantizeConfig",
        "NamedLastValueQuantizer",
        "NamedMovingAverageQuantizer",
        "QuantizableMultiHeadAttention",
        "QuantizationReport",
        "SparsityPreservingWeightsQuantizer",
        "is_pruned",
        "qat",
        "quantization_report",
        "tfbig_quantize_config",
    ]
    for name in tfbig.quantize.__all__:
        assert getattr(tfbig.quantize, name).__doc__


def test_config_round_trips():
    from tfbig.quantize import LayerQuantizeConfig

    config = LayerQuantizeConfig(["_query_dense.kernel"], ["scores_quant"], True, True)
    again = LayerQuantizeConfig.from_config(config.get_config())
    assert again == config and again.get_config() == config.get_config()
