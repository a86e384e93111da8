"""A trainee's ratings as a picture (SVG) and their portfolio as one self-contained HTML file:
progress toward accreditation, the supervision log, and the ratings history with its chart.

The chart has one small panel per item of the scale: the supervisor's rating over time as a
solid line, the trainee's self-rating as a dashed one (levels up the side, supervisions along).
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from vigremote.records import Records

PANEL_W, PANEL_H, COLUMNS, PAD = 240, 120, 3, 26
INNER_W, INNER_H = PANEL_W - 2 * PAD, PANEL_H - 2 * PAD
SUPERVISOR_COLOUR, SELF_COLOUR = "#1f6f8b", "#b3261e"


def ratings_history(records: Records, trainee_id: str) -> list[dict[str, Any]]:
    """[{"held_at", "kind", "self": {item: level}|None, "supervisor": …}] oldest first."""
    found = []
    for entry in records.ratings.of_trainee(trainee_id):
        given = records.ratings.ratings(entry.id)
        if not given:
            continue
        found.append(
            {
                "held_at": entry.held_at,
                "kind": entry.kind,
                "self": given.get("self", {}).get("values"),
                "supervisor": given.get("supervisor", {}).get("values"),
            }
        )
    return found


def _line(points: list[tuple[float, float]], colour: str, dashed: bool) -> str:
    if not points:
        return ""
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points
    )
    return f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>{dots}'


def ratings_chart_svg(history: list[dict[str, Any]], scale: dict[str, Any]) -> str:
    """Every item of `scale` over the supervisions in `history`, as one SVG picture."""
    items, levels = scale["items"], [lv["value"] for lv in scale["levels"]]
    low, high = min(levels), max(levels)
    rows = -(-len(items) // COLUMNS)
    width, height = COLUMNS * PANEL_W, rows * PANEL_H + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="11">',
        f"<title>Ratings over {len(history)} supervisions, item by item</title>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="8" y="{height - 10}" fill="{SUPERVISOR_COLOUR}">— supervisor</text>',
        f'<text x="100" y="{height - 10}" fill="{SELF_COLOUR}">- - self-rating</text>',
    ]
    n = len(history)
    for index, item in enumerate(items):
        left, top = (index % COLUMNS) * PANEL_W, (index // COLUMNS) * PANEL_H

        def at(i: int, level: float, left: float = left, top: float = top) -> tuple[float, float]:
            x = left + PAD + (INNER_W * i / (n - 1) if n > 1 else INNER_W / 2)
            y = top + PAD + INNER_H * (high - level) / (high - low)
            return x, y

        label = escape(str(item["label"]))
        short = label if len(label) <= 38 else label[:36] + "…"
        parts.append(f'<text x="{left + 6}" y="{top + 14}" fill="#1d2b36">{short}</text>')
        for level in (low, high):
            x0, y = at(0, level)
            parts.append(
                f'<line x1="{left + PAD}" x2="{left + PANEL_W - PAD}" y1="{y:.1f}" y2="{y:.1f}" '
                'stroke="#dde"/>'
                f'<text x="{left + 6}" y="{y + 4:.1f}" fill="#555">{level}</text>'
            )
        for rater, colour, dashed in (
            ("supervisor", SUPERVISOR_COLOUR, False),
            ("self", SELF_COLOUR, True),
        ):
            points = [
                at(i, h[rater][item["id"]])
                for i, h in enumerate(history)
                if h[rater] and item["id"] in h[rater]
            ]
            parts.append(_line(points, colour, dashed))
    parts.append("</svg>")
    return "".join(parts)


def _day(at: float) -> str:
    return time.strftime("%d %b %Y", time.localtime(at))


def portfolio_html(records: Records, trainee_id: str, progress: dict[str, Any]) -> str:
    """The whole portfolio, one file, no outside resources (it opens offline)."""
    store, ratings = records.store, records.ratings
    trainee = store.user(trainee_id)
    _, scale = ratings.current_scale()
    history = ratings_history(records, trainee_id)
    figures, targets = progress["figures"], progress["targets"]
    names = {
        "families": "Families worked with",
        "cycles": "VIG cycles completed",
        "supervision_hours": "Supervision hours",
        "peer_supervisions": "Peer supervisions",
    }
    figure_rows = "".join(
        f"<tr><td>{escape(label)}</td><td>{figures[key]}</td><td>{targets.get(key, '')}</td></tr>"
        for key, label in names.items()
    )

    def needed(missing: dict[str, float]) -> str:
        return escape(", ".join(f"{names[k]}: {v} more" for k, v in missing.items()))

    milestone_rows = "".join(
        f"<tr><td>{escape(m['label'])}</td><td>{'reached' if m['reached'] else 'not yet'}</td>"
        f"<td>{needed(m['missing'])}</td></tr>"
        for m in progress["milestones"]
    )
    log_rows = "".join(
        f"<tr><td>{_day(s.held_at)}</td><td>{escape(s.kind)}</td>"
        f"<td>{round(s.duration_s / 60)} min</td>"
        f"<td>{escape(store.user(s.supervisor_id).display_name)}</td>"
        f"<td>{escape(s.strengths)}</td><td>{escape(s.next_steps)}</td>"
        f"<td>{_day(s.signed_off_at) if s.signed_off_at else 'not yet'}</td></tr>"
        for s in ratings.of_trainee(trainee_id)
    )
    header = "".join(f"<th>{escape(str(i['label']))}</th>" for i in scale["items"])
    rating_rows = "".join(
        f"<tr><td>{_day(h['held_at'])} ({rater})</td>"
        + "".join(f"<td>{(h[rater] or {}).get(i['id'], '')}</td>" for i in scale["items"])
        + "</tr>"
        for h in history
        for rater in ("self", "supervisor")
        if h[rater]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Portfolio of {escape(trainee.display_name)}</title>
<style>body{{font-family:sans-serif;margin:2rem;color:#1d2b36}}table{{border-collapse:collapse;
margin:1rem 0}}td,th{{border:1px solid #ccd;padding:.3rem .5rem;text-align:left;font-size:.9rem}}
</style></head><body>
<h1>Portfolio of {escape(trainee.display_name)}</h1>
<p>{escape(progress.get("scheme", ""))}. Made {_day(time.time())} by vigremote from its records.</p>
<h2>Progress</h2>
<table><tr><th>Figure</th><th>Now</th><th>Target</th></tr>{figure_rows}</table>
<table><tr><th>Milestone</th><th>State</th><th>Still needed</th></tr>{milestone_rows}</table>
<h2>Supervision log</h2>
<table><tr><th>Date</th><th>Kind</th><th>Length</th><th>Supervisor</th><th>Strengths</th>
<th>Next steps</th><th>Signed off</th></tr>{log_rows}</table>
<h2>Ratings ({escape(str(scale["name"]))})</h2>
{ratings_chart_svg(history, scale)}
<table><tr><th>Supervision</th>{header}</tr>{rating_rows}</table>
</body></html>
"""
