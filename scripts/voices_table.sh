#!/usr/bin/env bash
# The audio table of the ProbeGAN paper's Figure 7 on our data: ProbeGAN, NAIVE and AM, each
# with men, women and non-human unseen in turn, trained against models/voices_regular.onnx and
# judged by models/voices_judge.onnx (another architecture and seed) and by pitch.
#
#   scripts/audio_data.sh .cache/audio-voices            # the data, once
#   scripts/voices_table.sh train probegan women [ROOT]  # one run (resumable; 400 steps, batch 16)
#   scripts/voices_table.sh eval [ROOT]                  # eval every finished run
#   scripts/voices_table.sh table [ROOT]                 # the markdown table
#
# Runs go to ROOT (default runs/voices-table)/METHOD-UNSEEN; SEED=1 (default 0) for another seed;
# SET='model.harmonic={}' (space-separated) for config overrides. Two lanes in parallel on 2 cores:
# prefix each with RAYON_NUM_THREADS=1. Measured 2026-12-05: ~1.5 s/step per 1-thread lane.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${PROBEGAN:-target/release/probegan}
steps=${STEPS:-400}
seed=${SEED:-0}
cmd=${1:?train, eval or table}
case "$cmd" in
  train)
    method=${2:?method}; unseen=${3:?unseen class}; root=${4:-runs/voices-table}
    out=$root/$method-$unseen
    extra=()
    # AM: the last 150 steps optimise the unseen class's embedding on the frozen generator.
    if [ "$method" = am ]; then extra=(--set method.steps=150 --set method.batch_size=16); fi
    if ls "$out/checkpoints" 2>/dev/null | grep -q step_; then extra+=(--resume); fi
    # SET="key=value ..." adds config overrides (no spaces inside a value).
    for kv in ${SET:-}; do extra+=(--set "$kv"); done
    "$bin" train --config configs/probegan_voices.toml \
      --set "run.out_dir=\"$out\"" --set "data.unseen=[\"$unseen\"]" --set "method.name=\"$method\"" \
      --set train.batch_size=16 --set run.steps="$steps" --set run.seed="$seed" --set run.checkpoint_every=100 \
      --set run.sample_every=100 "${extra[@]}" --quiet
    ;;
  eval)
    root=${2:-runs/voices-table}
    for run in "$root"/*-*/; do
      run=${run%/}
      [ -f "$run/eval/eval.json" ] && [ "$run/eval/eval.json" -nt "$run/metrics.jsonl" ] && continue
      echo "== $run"
      "$bin" eval --run "$run" --judge models/voices_judge.onnx --judge-adapter adapters/voices_judge.toml \
        --real .cache/audio-voices --n 64 > "$run/eval.txt"
    done
    ;;
  table)
    python3 scripts/voices_table.py "${2:-runs/voices-table}"
    ;;
  *) echo "unknown command $cmd (train, eval, table)" >&2; exit 2 ;;
esac
