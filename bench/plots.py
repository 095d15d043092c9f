"""PNG plots of the growth measures (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a build machine

import matplotlib.pyplot as plt


def _errorbars(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[list[float]]]:
    medians = [r[key]["median"] for r in rows]
    low = [r[key]["median"] - r[key]["min"] for r in rows]
    high = [r[key]["max"] - r[key]["median"] for r in rows]
    return medians, [low, high]


def _growth_plot(
    rows: list[dict[str, Any]], x_key: str, x_label: str, path: Path, *, log_x: bool
) -> None:
    xs = [r[x_key] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    wall, wall_err = _errorbars(rows, "wall_s")
    left.errorbar(xs, wall, yerr=wall_err, marker="o", capsize=3)
    left.set_xlabel(x_label)
    left.set_ylabel("wall time (s), median, min–max")
    rss, rss_err = _errorbars(rows, "peak_rss_mb")
    right.errorbar(xs, rss, yerr=rss_err, marker="o", capsize=3, color="tab:orange")
    right.set_xlabel(x_label)
    right.set_ylabel("peak RSS (MB)")
    right.set_ylim(bottom=0)
    for axis in (left, right):
        if log_x:
            axis.set_xscale("log")
        axis.grid(True, alpha=0.3)
    if log_x:
        left.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _timeline_plot(results: dict[str, Any], path: Path) -> None:
    samples = results["memory_timeline"]["samples"]
    fig, axis = plt.subplots(figsize=(10, 3.5))
    if samples:
        axis.plot([s[0] for s in samples], [s[1] for s in samples])
    axis.set_xlabel("seconds")
    axis.set_ylabel("RSS (MB)")
    axis.set_ylim(bottom=0)
    axis.set_title(
        f"bannercheck RSS while checking {results['memory_timeline']['domains']} domains"
    )
    axis.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_plots(results: dict[str, Any], out: Path) -> list[str]:
    """Write the plots into ``out``; return their file names (for RESULTS.md)."""
    names = ["growth_domains.png", "growth_mx.png", "memory_timeline.png"]
    _growth_plot(results["growth_domains"], "domains", "domains", out / names[0], log_x=True)
    _growth_plot(
        results["growth_mx"], "mx_hosts", "MX hosts per domain", out / names[1], log_x=False
    )
    _timeline_plot(results, out / names[2])
    return names
