"""The public names of tfbig.prune change only on purpose."""

import tfbig.prune


def test_public_names():
    assert sorted(tfbig.prune.__all__) == [
        "ConstantSparsity",
        "LayerSparsity",
        "PolynomialDecay",
        "PruneLowMagnitude",
        "PrunedModel",
        "PrunedSequential",
        "PrunedSubclassedModel",
        "PruningCallback",
        "SparsityReport",
        "magnitude",
        "sparsity_report",
        "strip",
        "structured",
    ]
    for name in tfbig.prune.__all__:
        assert getattr(tfbig.prune, name).__doc__, name


def test_custom_objects_are_registered():
    from tfbig import keras

    for name in ("PruneLowMagnitude", "PrunedModel", "PrunedSequential",
                 "PrunedSubclassedModel", "PolynomialDecay", "ConstantSparsity"):
        assert keras.utils.get_registered_object(f"tfbig>{name}") is getattr(tfbig.prune, name)
