"""PruningCallback: global ranking, masks applied, TensorBoard summaries."""

import glob
import os

import numpy as np
import tensorflow as tf

from tfbig.prune import magnitude
from tfbig.prune import sparsity_report
from tests.prune.conftest import BUILDERS
from tests.prune.conftest import compile_model
from tests.prune.conftest import data_for


def test_global_ranking_differs_per_layer_with_right_overall(strategy):
    x, y = data_for("nested")
    with strategy.scope():
        pruned = compile_model(magnitude(BUILDERS["nested"](), target_sparsity=0.75,
                                         end_step=4, frequency=1, ranking="global"))
    pruned.fit(x, y, batch_size=16, verbose=0)
    report = sparsity_report(pruned)
    assert abs(report.overall - 0.75) <= 0.005
    per_layer = sorted(round(row.sparsity, 2) for row in report.layers)
    assert per_layer[-1] - per_layer[0] > 0.05, per_layer
    # One threshold: every kept weight is at least as large as every pruned one.
    from tfbig.prune._walk import wrappers

    kept, dropped = [], []
    for _, wrapper in wrappers(pruned):
        for weight, mask, _ in wrapper.pruning_vars:
            w, m = np.abs(weight.numpy()), mask.numpy().astype(bool)
            kept.append(w[m].min())
            dropped.append(w[~m].max() if (~m).any() else 0.0)
            local = [np.asarray(v) for v in strategy.experimental_local_results(mask)]
            assert all(np.array_equal(v, local[0]) for v in local)
    assert min(kept) >= max(dropped)


def test_masks_are_applied_at_the_end_of_fit():
    x, y = data_for("sequential", n=32)
    pruned = compile_model(magnitude(BUILDERS["sequential"](), target_sparsity=0.5,
                                     end_step=1, frequency=1))
    pruned.fit(x, y, batch_size=16, epochs=1, verbose=0)
    # The raw kernels (not only weight * mask) hold the zeros after fit.
    for layer in pruned.layers[1:]:
        kernel = layer.layer.kernel.numpy()
        assert abs(np.mean(kernel == 0) - 0.5) < 0.005


def test_sparsity_goes_to_tensorboard(tmp_path):
    x, y = data_for("nested", n=32)
    pruned = compile_model(magnitude(BUILDERS["nested"](), target_sparsity=0.5, end_step=2,
                                     frequency=1, log_dir=str(tmp_path)))
    pruned.fit(x, y, batch_size=16, epochs=2, verbose=0)
    values = {}
    for path in glob.glob(os.path.join(str(tmp_path), "pruning", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                values.setdefault(value.tag, []).append(
                    float(tf.make_ndarray(value.tensor)))
    assert set(values) == {"sparsity/inner/n1", "sparsity/inner/n2", "sparsity/out",
                           "sparsity/overall"}
    assert len(values["sparsity/overall"]) == 2
    assert abs(values["sparsity/overall"][-1] - 0.5) < 0.005
