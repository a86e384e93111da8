"""A trainee's progress toward accreditation, derived from the records (never typed in).

- families worked with: the trainee's cases with a filming that was recorded;
- VIG cycles completed: a filming recording and a later, finished shared review of the same
  family (each review completes at most one cycle, with the latest filming before it that no
  other review completed);
- supervision hours: measured supervision calls plus face-to-face sessions entered by the
  supervisor (supervision/ratings.py's log);
- peer supervisions: the log's peer entries.
The targets and milestones (mid-point review, accreditation) are data: data/accreditation.json,
or the scheme's own file (`--accreditation FILE`), so an organisation or scheme may differ.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from vigremote.records import Records

FIGURES = ("families", "cycles", "supervision_hours", "peer_supervisions")
FAILED = ("failed",)


def load_thresholds(path: Path | None = None) -> dict[str, Any]:
    """The scheme's targets and milestones: {"scheme", "targets": {figure: n}, "milestones":
    [{"id", "label", "needs": {figure: n}}]}; ValueError saying what is wrong."""
    if path is None:
        text = resources.files("vigremote.data").joinpath("accreditation.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    data = json.loads(text)
    targets = data.get("targets") if isinstance(data, dict) else None
    milestones = data.get("milestones") if isinstance(data, dict) else None
    if not isinstance(targets, dict) or not isinstance(milestones, list):
        raise ValueError("an accreditation file has 'targets' and 'milestones'")
    for needs in [targets, *(m.get("needs") for m in milestones if isinstance(m, dict))]:
        if not isinstance(needs, dict) or any(
            k not in FIGURES or not isinstance(v, int | float) for k, v in needs.items()
        ):
            raise ValueError(f"targets and needs use the figures {', '.join(FIGURES)}, as numbers")
    if any(not isinstance(m, dict) or not m.get("id") or not m.get("label") for m in milestones):
        raise ValueError("every milestone needs an 'id' and a 'label'")
    return dict(data)


def case_history(records: Records, case_id: str) -> tuple[list[float], list[float]]:
    """When the case's filmings were recorded, and when its finished shared reviews began."""
    sessions = records.store.sessions_of(case_id)
    kind = {s.id: s.kind for s in sessions}
    filmings = sorted(
        r.started_at
        for r in records.recordings.of_case(case_id)
        if kind.get(r.session_id) == "filming" and r.status not in FAILED
    )
    reviews = sorted(s.created_at for s in sessions if s.kind == "review" and s.ended_at)
    return filmings, reviews


def count_cycles(filmings: list[float], reviews: list[float]) -> int:
    """Each review completes the cycle of the latest earlier filming no review completed."""
    used: set[int] = set()
    for review_at in reviews:
        earlier = [i for i, t in enumerate(filmings) if t < review_at and i not in used]
        if earlier:
            used.add(earlier[-1])
    return len(used)


def figures(records: Records, trainee_id: str) -> dict[str, float]:
    families = cycles = 0
    for case in records.store.cases_of(trainee_id):
        filmings, reviews = case_history(records, case.id)
        families += bool(filmings)
        cycles += count_cycles(filmings, reviews)
    log = records.ratings.of_trainee(trainee_id)
    seconds = sum(s.duration_s for s in log if s.kind in ("call", "face-to-face"))
    return {
        "families": families,
        "cycles": cycles,
        "supervision_hours": round(seconds / 3600, 2),
        "peer_supervisions": sum(1 for s in log if s.kind == "peer"),
    }


def progress(records: Records, trainee_id: str, thresholds: dict[str, Any]) -> dict[str, Any]:
    """The figures against the targets, and each milestone: reached, or what it still needs."""
    have = figures(records, trainee_id)
    milestones = []
    for milestone in thresholds["milestones"]:
        missing = {k: v - have[k] for k, v in milestone["needs"].items() if have[k] < v}
        milestones.append(
            {
                "id": milestone["id"],
                "label": milestone["label"],
                "reached": not missing,
                "missing": {k: round(v, 2) for k, v in missing.items()},
            }
        )
    return {
        "scheme": thresholds.get("scheme", ""),
        "figures": have,
        "targets": thresholds["targets"],
        "milestones": milestones,
    }
