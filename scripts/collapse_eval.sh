#!/usr/bin/env bash
# Judge checkpoints of the collapse study (issue 14) the way docs/results.md's tables do: the
# open judge with the leakage score, then the robust model as a second judge, 300 samples per
# class against full Fashion-MNIST; one markdown row per checkpoint.
#   scripts/collapse_eval.sh RUN/checkpoints/step_002000 [...]
# Each checkpoint's JSON records go to $OUT (default runs/collapse_eval/<run>_<step>).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/probegan}
N=${N:-300}
echo "| run | step | open judge unseen / seen | second judge (robust) unseen / seen | target p(unseen) | unseen intra-FID | FID | coverage | leakage all (gen / real) | leakage unseen (ratio) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for ckpt in "$@"; do
  run=$(basename "$(dirname "$(dirname "$ckpt")")")
  step=$(basename "$ckpt"); step=$((10#${step#step_}))
  out=${OUT:-runs/collapse_eval}/${run}_$step
  mkdir -p "$out"
  "$BIN" eval --checkpoint "$ckpt" --judge models/fmnist_judge_open.onnx \
    --judge-adapter adapters/fmnist_judge_open.toml --real fashion-mnist --leakage --n "$N" \
    --json --out "$out/open" > "$out/open.json" 2> "$out/open.log"
  "$BIN" eval --checkpoint "$ckpt" --judge models/fmnist_robust.onnx \
    --judge-adapter adapters/fmnist_robust.toml --real fashion-mnist --n "$N" \
    --json --out "$out/robust" > "$out/robust.json" 2> "$out/robust.log"
  python3 - "$run" "$step" "$out" <<'PY'
import json, sys
run, step, out = sys.argv[1:]
o = json.load(open(f"{out}/open.json")); r = json.load(open(f"{out}/robust.json"))
pct = lambda v: "—" if v is None else f"{100 * v:.1f}%"
num = lambda v, f="{:.1f}": "—" if v is None else f.format(v)
un = [c for c in o["classes"] if c["unseen"]]
tp = sum(c["target_confidence"] or 0 for c in un) / max(len(un), 1)
ifid = sum(c["intra_fid"] or 0 for c in un) / max(len(un), 1)
ov, rv, lk = o["overall"], r["overall"], o.get("leakage")
if lk:
    names = set(lk["unseen"])
    g = [c["accuracy"] for c in lk["generated"]["per_class"] if c["name"] in names]
    re = [c["accuracy"] for c in lk["real"]["per_class"] if c["name"] in names]
    gu, ru = sum(g) / len(g), sum(re) / len(re)
    leak_all = f"{pct(lk['generated']['accuracy'])} / {pct(lk['real']['accuracy'])}"
    leak_un = f"{pct(gu)} ({gu / ru:.2f})"
else:
    leak_all = leak_un = "—"
print(f"| {run} | {step} | {pct(ov['unseen_recognition'])} / {pct(ov['seen_recognition'])} | "
      f"{pct(rv['unseen_recognition'])} / {pct(rv['seen_recognition'])} | {pct(tp)} | {num(ifid, '{:.0f}')} | "
      f"{num(ov['fid'])} | {num(ov['prdc']['coverage'] if ov.get('prdc') else None, '{:.3f}')} | {leak_all} | {leak_un} |")
PY
done
