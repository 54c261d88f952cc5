"""The report's plot: accuracy against gzipped size and against latency.

Drawn with Matplotlib's Agg canvas directly (no pyplot, no display needed).
"""

import io

from tfbig.report._atomic import write_bytes

__all__ = ["plot_report"]


def _panel(ax, report, x_field, x_label):
    points = [
        (getattr(s, x_field), 100 * s.accuracy, s.name)
        for s in report.stages
        if getattr(s, x_field) is not None and s.accuracy is not None
    ]
    for x, y, name in points:
        ax.scatter([x], [y], s=40)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if len(points) > 1:
        ax.plot([p[0] for p in points], [p[1] for p in points], color="0.7", lw=1, zorder=0)
        ax.set_xscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel("held-out accuracy (%)")
    ax.grid(True, which="both", alpha=0.3)
    if not points:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)


def plot_report(report, path=None):
    """Draws a :class:`~tfbig.report.Report` as a PNG.

    Args:
        report: the report.
        path: where to write the PNG (atomically). Defaults to ``None``
            (return the figure only).

    Returns:
        The Matplotlib ``Figure``.

    Example:

    >>> from tfbig.report import Report, StageResult
    >>> r = Report([StageResult("a", accuracy=0.9, gzip_bytes=100, latency_ms=1.0)])
    >>> len(plot_report(r).axes)
    2
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    _panel(left, report, "gzip_bytes", "gzipped size (bytes, log)")
    _panel(right, report, "latency_ms", "latency, batch 1 (ms, log)")
    fig.suptitle(report.title)
    fig.tight_layout()
    if path is not None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        write_bytes(path, buffer.getvalue())
    return fig
