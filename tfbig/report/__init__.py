"""Model statistics and the per-stage comparison of a compression run.

Each function works alone, from a notebook or a script: parameters and
non-zeros (:func:`count_params`, :func:`count_nonzero_params`,
:func:`layer_sparsity`), FLOPs (:func:`count_flops`, :func:`flops_per_layer`;
1 multiply-add = 2 FLOPs), size on disk raw and gzipped
(:func:`artifact_size`, :func:`model_size`), latency at batch 1 and batch N
(:func:`measure_latency`), and accuracy of a Keras model or a TFLite file
(:func:`evaluate_accuracy`).

A :class:`Report` puts the stages of a run (baseline, distilled, pruned,
structured, QAT, int8 file) side by side: printed as a table and saved as
JSON, Markdown and a PNG plot. :func:`measure_stage` measures one stage.
"""

from tfbig.report.accuracy import evaluate_accuracy
from tfbig.report.accuracy import predict
from tfbig.report.flops import count_flops
from tfbig.report.flops import flops_per_layer
from tfbig.report.flops import register_flops
from tfbig.report.latency import LatencyInfo
from tfbig.report.latency import measure_latency
from tfbig.report.params import LayerStats
from tfbig.report.params import ModelStats
from tfbig.report.params import count_nonzero_params
from tfbig.report.params import count_params
from tfbig.report.params import layer_sparsity
from tfbig.report.params import model_stats
from tfbig.report.size import SizeInfo
from tfbig.report.size import artifact_size
from tfbig.report.plot import plot_report
from tfbig.report.report import Report
from tfbig.report.size import model_size
from tfbig.report.stage import StageResult
from tfbig.report.stage import measure_stage

__all__ = [
    "LatencyInfo",
    "LayerStats",
    "Report",
    "StageResult",
    "ModelStats",
    "SizeInfo",
    "artifact_size",
    "count_flops",
    "count_nonzero_params",
    "count_params",
    "evaluate_accuracy",
    "flops_per_layer",
    "layer_sparsity",
    "measure_latency",
    "measure_stage",
    "model_size",
    "model_stats",
    "plot_report",
    "predict",
    "register_flops",
]
