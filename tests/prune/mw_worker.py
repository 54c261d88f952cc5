"""Worker of test_multiworker.py: prunes every model kind under MultiWorkerMirroredStrategy.

Writes, per model kind, the sparsity report and every mask to ``--out``.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from tfbig.distribute import strategy

    strat = strategy()  # MultiWorkerMirroredStrategy from TF_CONFIG
    import numpy as np

    from tests.prune.conftest import BUILDERS
    from tests.prune.conftest import compile_model
    from tests.prune.conftest import data_for
    from tfbig.prune import magnitude
    from tfbig.prune import sparsity_report
    from tfbig.prune._walk import wrappers

    rank = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    summary, masks = {"strategy": type(strat).__name__,
                      "replicas": strat.num_replicas_in_sync}, {}
    runs = [(kind, "layer") for kind in sorted(BUILDERS)] + [("nested", "global")]
    for kind, ranking in runs:
        x, y = data_for(kind)
        with strat.scope():
            pruned = compile_model(magnitude(BUILDERS[kind](), target_sparsity=0.7, end_step=2,
                                             frequency=1, ranking=ranking))
        pruned.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)  # 2 steps
        key = f"{kind}-{ranking}"
        report = sparsity_report(pruned)
        summary[key] = {"overall": report.overall,
                        "layers": {r.name: r.sparsity for r in report.layers}}
        for path, wrapper in wrappers(pruned):
            for i, (_, mask, _) in enumerate(wrapper.pruning_vars):
                masks[f"{key}|{path}|{i}"] = np.asarray(mask.numpy())
    np.savez(os.path.join(args.out, f"masks{rank}.npz"), **masks)
    with open(os.path.join(args.out, f"summary{rank}.json"), "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    main()
