#!/usr/bin/env python3
"""The audio table from the eval.json of each METHOD-UNSEEN run under ROOT (scripts/voices_table.sh)."""
import json
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/voices-table")
rows = []


def step(e):
    return e.get("step")


for run in sorted(root.glob("*-*")):
    ev = run / "eval" / "eval.json"
    if not ev.is_file():
        continue
    method, unseen = run.name.split("-", 1)
    e = json.loads(ev.read_text())
    classes = {c["name"]: c for c in e["classes"]}
    audio = {c["name"]: c for c in (e.get("audio") or {}).get("per_class", [])}
    u = classes[unseen]
    seen = [c for c in e["classes"] if not c["unseen"]]

    def f0(name, side="generated"):
        """Median F0 over the clips that have a pitch, and how many of the clips do."""
        a = audio.get(name) or {}
        s = a.get(side) or {}
        v = s.get("median_f0_hz")
        share = f"{len(s.get('f0_per_clip') or [])}/{s.get('clips', 0)}"
        return f"{v:.0f} [{share}]" if v is not None else f"unv. [{share}]"

    def voiced(name):
        a = audio.get(name) or {}
        return f"{100 * (a.get('generated') or {}).get('voiced_fraction', 0):.0f}%"

    rec, real = u.get("judge_recognition"), u.get("real_judge_recognition")
    ratio = f"{rec / real:.2f}" if rec is not None and real else "—"
    seen_rec = sum(c["judge_recognition"] or 0 for c in seen) / max(len(seen), 1)
    tp = u.get("target_confidence")
    target = f"{100 * tp:.0f}%" if tp is not None else "—"
    ifid = u.get("intra_fid")
    intra = f"{ifid:,.0f}" if ifid is not None else "—"
    rows.append(
        f"| {method} | {unseen} | {100 * rec:.0f}% | {100 * real:.0f}% | {ratio} | {100 * seen_rec:.0f}% "
        f"| {target} | {intra} "
        f"| {f0('men')} ({f0('men', 'real')}) | {f0('women')} ({f0('women', 'real')}) "
        f"| {voiced('non-human')} ({step(e)}) |"
    )


print("| method | unseen | judge: unseen generated | judge: unseen real | ratio | judge: seen generated "
      "| target p(unseen) | unseen intra-FID (judge features) "
      "| median F0 men, Hz [clips with a pitch] (real) | median F0 women, Hz [clips with a pitch] (real) | non-human voiced frames (step) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(r)
