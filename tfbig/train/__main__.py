"""tfbig-train: train, distill, prune, quantize and export a model; print the report.

With no flags it runs the whole story on the embedded digits data: a CNN
teacher, a much smaller distilled student, pruned, QAT fine-tuned and shipped
as an int8 TFLite file, evaluated, and compared with the teacher's float32
TFLite file. Options come as flags or from a --flagfile; --helpfull lists them.

Examples:
  python -m tfbig.train
  python -m tfbig.train --output_dir=run2 --sparsity=0.8 --export=tflite-int8,keras
  python -m tfbig.train --flagfile=recipe.flags --resume
  python -m tfbig.distribute.launch --num_workers 2 -- python -m tfbig.train --epochs=5
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

from tfbig.train.flags import config_from_flags
from tfbig.train.flags import define_flags

define_flags(flags.FLAGS)


def _quiet_logs(verbose):
    """Shows tfbig's progress (absl INFO) but not TensorFlow's chatter."""
    import logging as std_logging

    logging.set_verbosity(logging.INFO)
    if verbose:
        return

    class _TfbigOrWarnings(std_logging.Filter):
        def filter(self, record):
            return record.levelno >= std_logging.ERROR or (
                f"{os.sep}tfbig{os.sep}" in record.pathname
            )

    logging.get_absl_handler().addFilter(_TfbigOrWarnings())
    std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)


def main(argv):
    """Validates every flag before any training, then runs the pipeline."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected positional arguments: {argv[1:]}")
    from tfbig.train import _output

    try:
        config = config_from_flags(flags.FLAGS)
        from tfbig.distribute import is_chief

        if is_chief():  # from TF_CONFIG: workers leave the directory to the chief
            _output.check(config)
    except ValueError as err:
        raise app.UsageError(str(err)) from None
    _quiet_logs(config.verbose)
    from tfbig.train.pipeline import run_pipeline

    print(f"tfbig-train: output in {os.path.abspath(config.output_dir)}", flush=True)
    report = run_pipeline(config)
    if len(report):
        print()
        print(report)
        print(f"\nReport: {os.path.join(config.output_dir, 'report.md')} (.json, .png); "
              f"TensorBoard: {os.path.join(config.output_dir, 'tensorboard')}")
    return 0


def run():
    """Console-script entry point (``tfbig-train``)."""
    app.run(main)


if __name__ == "__main__":
    sys.exit(run())
