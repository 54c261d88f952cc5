"""Which coupled channels go: per group, per layer ratio, or globally ranked."""

import collections

import numpy as np


def _round_kept(n, ratio, round_to, pinned_count):
    """Channels a group of ``n`` keeps: ``n * (1 - ratio)`` rounded, >= 1."""
    if ratio <= 0:
        return n
    kept = n * (1.0 - ratio)
    if round_to > 1:
        kept = max(round_to, int(np.floor(kept / round_to + 0.5)) * round_to)
    else:
        kept = max(1, int(np.ceil(kept - 1e-9)))
    return int(min(n, max(kept, pinned_count)))


class Selector:
    """Decides the removed components of each group from their scores."""

    def __init__(self, graph, scores, roots, pinned):
        self.graph, self.scores, self.roots, self.pinned = graph, scores, roots, pinned
        comps = collections.OrderedDict()
        for atom, root in enumerate(roots.tolist()):
            comps.setdefault(root, set()).add(graph.atom_source[atom])
        groups = collections.OrderedDict()
        for root, sources in comps.items():
            groups.setdefault(frozenset(sources), []).append(root)
        self.groups = groups

    def kind(self, key):
        return "heads" if any(self.graph.sources[s].tag == "head" for s in key) else "channels"

    def candidates(self, roots):
        free = [r for r in roots if r not in self.pinned]
        return sorted(free, key=lambda r: (self.scores[r], r))

    def per_group(self, ratio_of, round_to):
        removed = {}
        for key, roots in self.groups.items():
            free = self.candidates(roots)
            step = round_to if self.kind(key) == "channels" else 1
            kept = _round_kept(len(roots), ratio_of(key), step, len(roots) - len(free))
            removed[key] = free[: len(roots) - kept]
        return removed

    def global_(self, ratio, round_to):
        pool, total = [], 0
        for key, roots in self.groups.items():
            free = self.candidates(roots)
            if not free:
                continue
            total += len(roots)
            mean = np.mean([self.scores[r] for r in roots]) or 1.0
            pool += [(self.scores[r] / mean, key, r) for r in free]
        pool.sort(key=lambda t: (t[0], t[2]))
        budget = int(np.floor(ratio * total))
        count = collections.Counter()
        for _, key, _ in pool:
            if budget <= 0:
                break
            if len(self.groups[key]) - count[key] > 1:
                count[key] += 1
                budget -= 1
        removed = {}
        for key, roots in self.groups.items():
            free = self.candidates(roots)
            share = count[key] / len(roots)
            step = round_to if self.kind(key) == "channels" else 1
            kept = _round_kept(len(roots), share, step, len(roots) - len(free))
            removed[key] = free[: len(roots) - kept]
        return removed
