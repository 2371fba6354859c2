"""index.html of a prediction folder: a thumbnail per image, its decision (and by which stage it was
rejected) and the lesion head's top classes, so a rejected image still shows what the classifier said."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from samderm.io import atomic_path
from samderm.predict.bundle import calibration_notes

TOP = 3


def _probabilities(row: pd.Series, task: str) -> dict[str, float]:
    """The task's calibrated probabilities where the bundle has a fitted temperature, else the raw ones."""
    for prefix in (f"{task}_cal_p_", f"{task}_p_"):
        cells = {k[len(prefix):]: float(v) for k, v in row.items() if k.startswith(prefix)}
        if cells:
            return cells
    return {}


def _decision(row: pd.Series) -> str:
    if row["decision"] == "accepted":
        return '<b class="ok">accepted</b>'
    why = "not skin (skin head)" if row["rejected_by"] == "not_skin" else \
        f"OOD score {float(row['ood_score']):.4g} &gt; threshold {float(row['ood_threshold']):.4g}"
    return f'<b class="no">rejected</b>: {why}'


def write_page(path: str | Path, predictions: pd.DataFrame, bad: pd.DataFrame, bundle: dict, counts: dict) -> None:
    cards = []
    for n, row in predictions.iterrows():
        lesion = sorted(_probabilities(row, "lesion").items(), key=lambda kv: -kv[1])[:TOP]
        malignant = _probabilities(row, "malignancy").get("malignant")
        label = "label if accepted" if row["decision"] != "accepted" else "label"
        tops = "".join(f"<li>{html.escape(c)} {p:.3f}</li>" for c, p in lesion)
        cards.append(
            f'<div class="card"><img src="thumbs/{n}.jpg" alt=""><div class="name">{html.escape(str(row["image"]))}</div>'
            f"<div>{_decision(row)}</div><div>{label}: <b>{html.escape(str(row['lesion_predicted']))}</b></div>"
            f"<ol>{tops}</ol>"
            + ("" if malignant is None else f"<div>p(malignant) {malignant:.3f}</div>") + "</div>")
    bad_rows = "".join(f"<tr><td>{html.escape(r['image'])}</td><td>{html.escape(r['reason'])}</td></tr>"
                       for _, r in bad.iterrows())
    gate = bundle["gate"]
    calibration = "; ".join(f"{task}: {note}" for task, note in calibration_notes(bundle).items())
    summary = (f"{counts['found']} image files: {counts['predicted']} predicted ({counts['accepted']} accepted, "
               f"{counts['rejected_not_skin']} rejected as not skin, {counts['rejected_ood']} rejected as OOD), "
               f"{counts['bad']} unreadable")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>samderm predictions</title><style>
body{{font-family:sans-serif}} .card{{display:inline-block;vertical-align:top;width:210px;margin:6px;padding:6px;
border:1px solid #ccc}} .card img{{max-width:128px;max-height:128px}} .name{{font-size:small;word-break:break-all}}
.ok{{color:#060}} .no{{color:#a00}} ol{{margin:2px 0;padding-left:20px}}</style></head><body>
<h1>Predictions</h1><p>{html.escape(summary)}</p>
<p>Gate: the skin head, then {html.escape(gate['detector'])} on the {html.escape(gate['head'])} head (reject when the
score &gt; {gate['threshold']:.4g}); bundle config {html.escape(bundle['config_sha256'][:12])}.</p>
<p>Calibrated probabilities (shown where a task has them, else the head's own): {html.escape(calibration)}.</p>
{''.join(cards)}
<h2>Unreadable files ({len(bad)})</h2><table><tr><th>image</th><th>reason</th></tr>{bad_rows}</table>
</body></html>
"""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
