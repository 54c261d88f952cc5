"""The public surface of tfbig.report changes only on purpose."""

import tfbig.report


def test_public_names():
    assert sorted(tfbig.report.__all__) == [
        "LatencyInfo", "LayerStats", "ModelStats", "Report", "SizeInfo", "StageResult",
        "artifact_size", "count_flops", "count_nonzero_params", "count_params",
        "evaluate_accuracy", "flops_per_layer", "layer_sparsity", "measure_latency",
        "measure_stage", "model_size", "model_stats", "plot_report", "predict", "register_flops",
    ]
    for name in tfbig.report.__all__:
        assert getattr(tfbig.report, name).__doc__, name
