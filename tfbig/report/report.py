"""The per-stage comparison of a compression run: table, JSON, Markdown, plot."""

import json
import os

from tfbig.report._atomic import write_text
from tfbig.report.stage import StageResult
from tfbig.report.stage import measure_stage

__all__ = ["Report"]

_COLUMNS = (
    ("stage", "stage"),
    ("artifact", "artifact"),
    ("accuracy", "accuracy"),
    ("delta_pt", "Δacc (pt)"),
    ("params", "params"),
    ("nonzero_params", "non-zero"),
    ("sparsity", "sparsity"),
    ("flops", "FLOPs"),
    ("size", "size"),
    ("gzip", "gzip"),
    ("smaller", "x smaller (gzip)"),
    ("latency", "lat b1 (ms)"),
    ("batch_latency", "lat bN (ms)"),
)


def _si(value, unit=""):
    if value is None:
        return "-"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f}{prefix}{unit}"
    return f"{value:g}{unit}"


def _bytes(value):
    if value is None:
        return "-"
    for factor, unit in ((2**20, "MiB"), (2**10, "KiB")):
        if value >= factor:
            return f"{value / factor:.1f} {unit}"
    return f"{value} B"


def _percent(fraction, digits):
    return "-" if fraction is None else f"{100 * fraction:.{digits}f}%"


def _maybe(value, fmt):
    return "-" if value is None else fmt.format(value)


class Report:
    """Stages of a compression run side by side, against a baseline stage.

    Add stages with :meth:`add_stage` (measures a model and/or file) or
    :meth:`add` (an existing :class:`StageResult`); print the report for a
    table; :meth:`save` writes ``report.json``, ``report.md`` and
    ``report.png`` (accuracy vs gzipped size and vs latency).

    Args:
        stages: initial :class:`StageResult` objects. Defaults to ``None``.
        baseline: the name of the stage others are compared to.
            Defaults to ``None`` (the first stage).
        title: a title for Markdown and the plot.
            Defaults to ``"tfbig compression report"``.
        highlight: the stage :meth:`summary` describes (the shipped file).
            Defaults to ``None`` (the last stage).

    Example:

    >>> r = Report([StageResult("big", accuracy=0.99, gzip_bytes=1000),
    ...             StageResult("small", accuracy=0.985, gzip_bytes=20)])
    >>> c = r.compare("small")
    >>> round(c["gzip_ratio"], 1), round(c["accuracy_delta_pt"], 2)
    (50.0, -0.5)
    """

    def __init__(self, stages=None, baseline=None, title="tfbig compression report",
                 highlight=None):
        self.stages = []
        self.baseline = baseline
        self.title = title
        self.highlight = highlight
        for stage in stages or ():
            self.add(stage)

    def add(self, stage):
        """Appends a :class:`StageResult` (its name must be new); returns it."""
        if not isinstance(stage, StageResult):
            raise TypeError(
                "`stage` must be a tfbig.report.StageResult (see measure_stage). "
                f"Received: stage of type {type(stage).__name__}"
            )
        if stage.name in self.names:
            raise ValueError(
                f"A stage named {stage.name!r} is already in the report; use a new "
                f"name. Received: stage.name={stage.name!r}"
            )
        self.stages.append(stage)
        return stage

    def add_stage(self, name, model=None, path=None, **kwargs):
        """Measures a stage with :func:`measure_stage` and appends it; returns it."""
        if name in self.names:
            raise ValueError(
                f"A stage named {name!r} is already in the report. Received: name={name!r}"
            )
        return self.add(measure_stage(name, model=model, path=path, **kwargs))

    @property
    def names(self):
        """Stage names, in order."""
        return [s.name for s in self.stages]

    def __getitem__(self, name):
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"No stage {name!r}; the report has {self.names}")

    def __len__(self):
        return len(self.stages)

    def _baseline(self):
        if not self.stages:
            return None
        return self[self.baseline] if self.baseline else self.stages[0]

    def compare(self, stage, against=None):
        """Ratios of ``stage`` against ``against`` (the baseline by default).

        Returns:
            A dict: ``gzip_ratio`` and ``size_ratio`` (how many times smaller),
            ``accuracy_delta_pt`` (stage minus reference, in percentage
            points), ``latency_ratio`` (how many times faster at batch 1);
            ``None`` where a number is missing.
        """
        one = self[stage] if isinstance(stage, str) else stage
        ref = self[against] if against else self._baseline()

        def ratio(a, b):
            return a / b if a is not None and b else None

        delta = None
        if one.accuracy is not None and ref.accuracy is not None:
            delta = 100.0 * (one.accuracy - ref.accuracy)
        return {
            "stage": one.name,
            "against": ref.name,
            "gzip_ratio": ratio(ref.gzip_bytes, one.gzip_bytes),
            "size_ratio": ratio(ref.size_bytes, one.size_bytes),
            "accuracy_delta_pt": delta,
            "latency_ratio": ratio(ref.latency_ms, one.latency_ms),
        }

    def rows(self):
        """One dict of formatted cells per stage (the table's content)."""
        rows = []
        for stage in self.stages:
            c = self.compare(stage)
            rows.append({
                "stage": stage.name,
                "artifact": stage.artifact,
                "accuracy": _percent(stage.accuracy, 2),
                "delta_pt": _maybe(c["accuracy_delta_pt"], "{:+.2f}"),
                "params": _maybe(stage.params, "{:,}"),
                "nonzero_params": _maybe(stage.nonzero_params, "{:,}"),
                "sparsity": _percent(stage.sparsity, 1),
                "flops": _si(stage.flops),
                "size": _bytes(stage.size_bytes),
                "gzip": _bytes(stage.gzip_bytes),
                "smaller": _maybe(c["gzip_ratio"], "{:.1f}x"),
                "latency": _maybe(stage.latency_ms, "{:.3f}"),
                "batch_latency": _maybe(stage.batch_latency_ms, "{:.3f}")
                + (f" (N={stage.batch_size})" if stage.batch_size else ""),
            })
        return rows

    def summary(self, stage=None, against=None):
        """One line: ``stage`` (default: ``highlight``, else the last) against the baseline."""
        if not self.stages:
            return "(empty report)"
        stage = stage or (self.highlight if self.highlight in self.names else None)
        one = self[stage] if stage else self.stages[-1]
        c = self.compare(one, against)
        ref = self[c["against"]]
        parts = [f"{one.name} ({one.artifact}) vs {ref.name} ({ref.artifact}):"]
        if c["gzip_ratio"] is not None:
            parts.append(
                f"{c['gzip_ratio']:.1f}x smaller gzipped "
                f"({_bytes(one.gzip_bytes)} vs {_bytes(ref.gzip_bytes)})"
            )
        if c["accuracy_delta_pt"] is not None:
            parts.append(
                f"accuracy {100 * one.accuracy:.2f}% vs {100 * ref.accuracy:.2f}% "
                f"({c['accuracy_delta_pt']:+.2f} pt)"
            )
        return " ".join(parts[:1]) + " " + ", ".join(parts[1:])

    def table(self, markdown=False):
        """The comparison as a fixed-width text table, or a Markdown table."""
        rows = self.rows()
        headers = [title for _, title in _COLUMNS]
        cells = [[row[key] for key, _ in _COLUMNS] for row in rows]
        if markdown:
            lines = ["| " + " | ".join(headers) + " |"]
            lines.append("|" + "|".join(":---" if i < 2 else "---:" for i in range(len(headers))) + "|")
            lines += ["| " + " | ".join(r) + " |" for r in cells]
            return "\n".join(lines)
        widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
                  for i, h in enumerate(headers)]

        def fmt(values):
            return "  ".join(
                v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths))
            )

        return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells])

    def __str__(self):
        return f"{self.table()}\n\n{self.summary()}"

    def __repr__(self):
        return f"<Report {self.title!r} stages={self.names}>"

    def to_dict(self):
        """A JSON-ready dict: title, baseline, stages and comparisons."""
        return {
            "title": self.title,
            "baseline": self._baseline().name if self.stages else None,
            "highlight": self.highlight,
            "stages": [s.to_dict() for s in self.stages],
            "comparisons": [self.compare(s) for s in self.stages],
        }

    def to_json(self, path=None):
        """The report as JSON text; also written (atomically) to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False)
        if path is not None:
            write_text(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, path_or_text):
        """Reads a report written by :meth:`to_json` (a path or the JSON text)."""
        text = path_or_text
        if isinstance(text, os.PathLike) or not str(text).lstrip().startswith("{"):
            with open(text, encoding="utf-8") as f:
                text = f.read()
        data = json.loads(text)
        return cls(
            [StageResult.from_dict(s) for s in data["stages"]],
            baseline=data.get("baseline"),
            title=data.get("title", "tfbig compression report"),
            highlight=data.get("highlight"),
        )

    def to_markdown(self, path=None):
        """The report as Markdown; also written (atomically) to ``path`` if given."""
        text = f"# {self.title}\n\n{self.table(markdown=True)}\n\n{self.summary()}\n"
        if path is not None:
            write_text(path, text)
        return text

    def plot(self, path):
        """Writes a PNG: accuracy vs gzipped size, and accuracy vs batch-1 latency."""
        from tfbig.report.plot import plot_report

        return plot_report(self, path)

    def save(self, directory, basename="report"):
        """Writes ``<basename>.json``, ``.md`` and ``.png`` into ``directory``.

        Returns:
            A dict ``"json"|"markdown"|"png" -> path``.
        """
        os.makedirs(directory, exist_ok=True)
        paths = {
            "json": os.path.join(directory, basename + ".json"),
            "markdown": os.path.join(directory, basename + ".md"),
            "png": os.path.join(directory, basename + ".png"),
        }
        self.to_json(paths["json"])
        self.to_markdown(paths["markdown"])
        self.plot(paths["png"])
        return paths
