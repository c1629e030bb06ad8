"""Charts for the monitoring phase: the health-check chart and HTTP 500 per minute.

Figures are drawn with matplotlib's Agg backend (no display needed: papermill runs
headless) and returned, so a notebook both shows and archives them::

    fig = charts.health_chart(samples)
    ph.figure("health", fig)

Example
-------
>>> fig = health_chart([{"t": 0.0, "status": 200, "latency_ms": 4.2}, {"t": 0.5, "status": None, "latency_ms": None}])
>>> fig.axes[0].get_title()
'Health check: 1 of 2 answers HTTP 200'
"""

from __future__ import annotations

import sys

import matplotlib

if "ipykernel" not in sys.modules:
    # Headless scripts and tests draw with Agg; a Jupyter kernel keeps its inline backend,
    # which is what displays a returned Figure as the cell's output.
    matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

GREEN, RED, GREY = "#1a7f37", "#cf222e", "#8c959f"
_BINS = (1, 5, 15, 60, 360, 1440)  # bar widths in minutes; the chart keeps at most ~240 bars


def health_chart(samples: list[dict], title: str = "Health check") -> Figure:
    """Latency over time, each sample a marker coloured by its answer.

    Parameters
    ----------
    samples : list of dict
        From :func:`runbook.health.sample_health` / ``poll_health``: ``t`` (seconds),
        ``status`` (None when nothing answered) and ``latency_ms``.

    Returns
    -------
    Figure
        One Axes: a grey latency line, green markers for HTTP 200, red for any other
        status, grey crosses (at 0 ms) for samples that got no answer.

    Examples
    --------
    >>> fig = health_chart([{"t": 0, "status": 500, "latency_ms": 3.0}])
    >>> [c.get_label() for c in fig.axes[0].collections]
    ['HTTP 200', 'other status', 'no answer']
    """
    df = pd.DataFrame(samples, columns=["t", "status", "latency_ms"])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    answered = df["status"].notna()
    ok = answered & (df["status"] == 200)
    latency = pd.to_numeric(df["latency_ms"], errors="coerce").where(answered)
    ax.plot(df["t"], latency, color=GREY, linewidth=1, zorder=1, label="latency")
    # All three groups are always drawn (maybe empty) so the legend and tests are stable.
    ax.scatter(df["t"][ok], latency[ok], color=GREEN, s=40, zorder=3, label="HTTP 200")
    other = answered & ~ok
    ax.scatter(df["t"][other], latency[other], color=RED, s=40, zorder=3, label="other status")
    silent = ~answered
    ax.scatter(df["t"][silent], [0.0] * int(silent.sum()), color=GREY, marker="x", s=50, zorder=3,
               label="no answer")
    for t, y, s in zip(df["t"][other], latency[other], df["status"][other]):
        ax.annotate(str(int(s)), (t, y), textcoords="offset points", xytext=(0, 6), ha="center",
                    fontsize=8, color=RED)
    ax.set_title(f"{title}: {int(ok.sum())} of {len(df)} answers HTTP 200")
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    plt.close(fig)  # the caller shows it; avoid a second copy from pyplot's state
    return fig


def errors_per_minute_chart(df: pd.DataFrame, repair_at=None, status: int = 500) -> Figure:
    """Bars of HTTP ``status`` responses per minute, split at the repair time.

    Parameters
    ----------
    df : DataFrame
        ``minute`` and ``count``, from :func:`runbook.logs.count_status_per_minute`.
    repair_at : str or datetime, optional
        When the repair was applied (ISO UTC). Draws a vertical line there, shades the
        time before (red) and after (green), and counts each side in the legend.

    Returns
    -------
    Figure

    Examples
    --------
    >>> df = pd.DataFrame({"minute": pd.to_datetime(["2026-12-03T18:50Z", "2026-12-03T18:52Z"]), "count": [4, 1]})
    >>> fig = errors_per_minute_chart(df, "2026-12-03T18:51:10Z")
    >>> len(fig.axes[0].patches) >= 2
    True
    """
    fig, ax = plt.subplots(figsize=(9, 3.6))
    minutes = pd.to_datetime(df["minute"], utc=True) if len(df) else pd.Series([], dtype="datetime64[ns, UTC]")
    counts = df["count"].astype(int) if len(df) else pd.Series([], dtype=int)
    at = None
    if repair_at is not None:
        at = pd.Timestamp(repair_at)
        at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    total = int(counts.sum())
    before = int(counts[minutes <= at.floor("min")].sum()) if at is not None and len(df) else 0
    # One-minute bars vanish (under a pixel) over hours of logs: group them into wider bins.
    span = (max(minutes) - min(minutes)).total_seconds() / 60 if len(df) else 0
    step = next((b for b in _BINS if span / b <= 240), _BINS[-1])
    if step > 1:
        grouped = pd.Series(counts.to_numpy(), index=pd.DatetimeIndex(minutes)).resample(f"{step}min").sum()
        minutes, counts = pd.to_datetime(grouped.index, utc=True), grouped
    unit = "minute" if step == 1 else f"{step} minutes"
    # Plot in naive UTC: matplotlib's date axis then labels exactly what the log says.
    xs = [m.tz_localize(None).to_pydatetime() for m in minutes]
    pad = pd.Timedelta(minutes=max(1, step))
    ax.bar(xs, list(counts), width=step / (24 * 60) * 0.9, align="edge", color=RED,
           label=f"HTTP {status} per {unit} (total {total})")
    if at is not None:
        x_at = at.tz_localize(None).to_pydatetime()
        left = min([x_at, *xs]) - pad
        right = max([x_at, *xs]) + 2 * pad
        ax.axvspan(left, x_at, color=RED, alpha=0.07, label=f"before repair: {before}")
        ax.axvspan(x_at, right, color=GREEN, alpha=0.07, label=f"after repair: {total - before}")
        ax.axvline(x_at, color="black", linestyle="--", linewidth=1.2, label=f"repair {at:%H:%M:%S} UTC")
        ax.set_xlim(left, right)
    elif xs:
        # at least three minutes wide, so the axis never falls back to second ticks
        ax.set_xlim(min(xs) - pad, max(xs) + 2 * pad)
    if not xs:
        ax.text(0.5, 0.5, f"no HTTP {status} in the logs", transform=ax.transAxes, ha="center",
                va="center", color=GREY)
    # minticks=3: whole minutes (not 30 s steps) once the span is a few minutes
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=10))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    fig.autofmt_xdate()
    ax.set_title(f"HTTP {status} responses per {unit} (request log)")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"HTTP {status} responses")
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


__all__ = ["health_chart", "errors_per_minute_chart"]
