"""bench/memory.png: the worker's RSS over time, one panel per chart the
phases recorded. Needs matplotlib; without it there is no chart."""

from pathlib import Path

from bench.procmem import MIB


def write_chart(charts: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(len(charts), 1, figsize=(8, 2.2 * len(charts)), squeeze=False)
    for axis, (name, samples) in zip(axes[:, 0], charts.items(), strict=True):
        axis.plot([t for t, _ in samples], [rss / MIB for _, rss in samples])
        axis.set_title(name, fontsize=9)
        axis.set_ylabel("RSS MiB")
        axis.set_ylim(bottom=0)  # from zero: a flat line must look flat
    axes[-1, 0].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    return True
