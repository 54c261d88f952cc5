import tfbig.export


def test_public_names_are_pinned():
    assert sorted(tfbig.export.__all__) == [
        "ParityReport",
        "TFLiteSummary",
        "evaluate_tflite",
        "is_qat_model",
        "keras",
        "predict_tflite",
        "savedmodel",
        "tflite",
        "tflite_parity",
    ]
    for name in tfbig.export.__all__:
        assert getattr(tfbig.export, name).__doc__
