import tfbig.distill


def test_public_names_are_pinned():
    assert sorted(tfbig.distill.__all__) == [
        "AttentionLoss",
        "DistillationLoss",
        "Distiller",
        "FeatureLoss",
        "LogitsLoss",
        "cache_teacher_outputs",
    ]
    for name in tfbig.distill.__all__:
        assert getattr(tfbig.distill, name).__doc__


def test_objects_are_registered_for_loading_without_scope():
    from tfbig import keras

    for name in ("Distiller", "LogitsLoss", "FeatureLoss", "AttentionLoss"):
        assert keras.saving.get_registered_object(f"tfbig>{name}") is getattr(tfbig.distill, name)
