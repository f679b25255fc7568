#!/usr/bin/env bash
# The collapse study (issue 14): train the demo setting with one suspect changed at a time and
# print each run's per-class diversity curve from the collapse guard (metrics.jsonl).
#
#   scripts/collapse_study.sh baseline 'loss.ce_weight=0.0'
#   STEPS=2000 scripts/collapse_study.sh ttur 'train.lr_g=1e-4'
#   scripts/collapse_study.sh --table            # every run under $OUT, one table
#
# A variant is a name and space-separated `--set` overrides on configs/demo.toml. Runs resume,
# so a longer STEPS continues a shorter run of the same name.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/probegan}
OUT=${OUT:-runs/collapse}
STEPS=${STEPS:-1000}
UNSEEN=${UNSEEN:-Trouser}

table() {
  python3 - "$OUT" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
print("| run | step | unseen diversity | seen diversity (mean) | seen (min) | collapsed |")
print("|---|---|---|---|---|---|")
for m in sorted(root.glob("*/metrics.jsonl")):
    run = json.loads((m.parent / "run.json").read_text())
    unseen = set(run["unseen"])
    for line in m.read_text().splitlines():
        row = json.loads(line)
        d = row.get("diversity")
        if not d:
            continue
        seen = [v for k, v in d.items() if k not in unseen]
        un = [v for k, v in d.items() if k in unseen]
        print(f"| {m.parent.name} | {row['step']} | {', '.join(f'{v:.2f}' for v in un) or '-'} | "
              f"{sum(seen)/len(seen):.2f} | {min(seen):.2f} | {', '.join(row.get('collapsed', []))} |")
PY
}

if [ "${1:-}" = --table ]; then table; exit 0; fi
name=${1:?usage: collapse_study.sh NAME 'key=value ...' | --table}
read -r -a kvs <<< "${2:-}"
sets=()
for kv in "${kvs[@]}"; do sets+=(--set "$kv"); done
dir="$OUT/$name"
resume=()
[ -d "$dir/checkpoints" ] && resume=(--resume)
[ -x "$BIN" ] || cargo build --release
"$BIN" train --config configs/demo.toml --quiet "${resume[@]}" \
  --set "run.out_dir=\"$dir\"" --set "run.steps=$STEPS" --set "data.unseen=[\"$UNSEEN\"]" \
  --set run.sample_every=100 "${sets[@]}"
table | grep -E "^\| (run|---|$name) "
