#!/usr/bin/env bash
# Synthesise the three-class audio set of the ProbeGAN audio experiment (men / women /
# non-human) as a WAV folder probegan reads: OUT/{train,test}/{men,women,non-human}/*.wav,
# 16 kHz mono 16-bit.
#
#   scripts/audio_data.sh [OUT] [--quick] [--seed N] [--real-voices N]
#
# * men, women: espeak-ng's male and female voice variants in five English accents, each
#   (accent, variant) pair one speaker, reading Harvard sentences at a random pitch and speed.
#   Speakers are split, not sentences: the test variants never speak in train. Pitch ranges
#   were chosen by measuring per-utterance median F0 by autocorrelation (2026-12-04, full set:
#   men -p 35..85 gave 78-157 Hz, 90 % within 89-143; women -p 40..70 gave 160-258 Hz, 90 %
#   within 167-242), the adult ranges of the F0 judge. Full set: ~1,400 files, 90 MB, 40 s.
# * non-human: sox synthesis (chirps, tones with tremolo, plucked strings, filtered noise,
#   engines, bird-like trills) with random parameters, plus the real animal and machine
#   recordings of Debian's tuxpaint-stamps-default where installed (sound effects, not the
#   spoken *_desc files), split by file.
#
# Leading and trailing silence is trimmed; the loader cuts clips (`data::audio`).
# --quick writes a few files per class (a smoke-test set). Same seed, same files.
set -euo pipefail

out="data/audio-voices"
quick=0
seed=7
fillets_cap=200
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --seed) seed="$2"; shift ;;
    --real-voices) fillets_cap="$2"; shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) out="$1" ;;
  esac
  shift
done
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
RANDOM=$seed
rand() { echo $(( $1 + RANDOM % ($2 - $1 + 1) )); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Harvard sentences (IEEE 1969 recommended practice for speech quality measurements).
sentences=(
  "The birch canoe slid on the smooth planks."
  "Glue the sheet to the dark blue background."
  "It's easy to tell the depth of a well."
  "These days a chicken leg is a rare dish."
  "Rice is often served in round bowls."
  "The juice of lemons makes fine punch."
  "The box was thrown beside the parked truck."
  "The hogs were fed chopped corn and garbage."
  "Four hours of steady work faced us."
  "A large size in stockings is hard to sell."
  "The boy was there when the sun rose."
  "A rod is used to catch pink salmon."
  "The source of the huge river is the clear spring."
  "Kick the ball straight and follow through."
  "Help the woman get back to her feet."
  "A pot of tea helps to pass the evening."
  "Smoky fires lack flame and heat."
  "The soft cushion broke the man's fall."
  "The salt breeze came across from the sea."
  "The girl at the booth sold fifty bonds."
  "The small pup gnawed a hole in the sock."
  "The fish twisted and turned on the bent hook."
  "Press the pants and sew a button on the vest."
  "The swan dive was far short of perfect."
  "The beauty of the view stunned the young boy."
  "Two blue fish swam in the tank."
  "Her purse was full of useless trash."
  "The colt reared and threw the tall rider."
  "It snowed, rained, and hailed the same morning."
  "Read verse out loud for pleasure."
  "Hoist the load to your left shoulder."
  "Take the winding path to reach the lake."
  "Note closely the size of the gas tank."
  "Wipe the grease off his dirty face."
  "Mend the coat before you go out."
  "The wrist was badly strained and hung limp."
  "The stray cat gave birth to kittens."
  "The young girl gave no clear response."
  "The meal was cooked before the bell rang."
  "What joy there is in living."
)
# "en" is British English; "en-gb" would ignore the voice variant (it speaks every variant
# at the default male pitch in espeak-ng 1.51).
accents=(en-us en en-gb-scotland en-029 en-gb-x-gbcwmd)
men_train=(m1 m2 m3 m4 m5 adam john edward benjamin robert paul)
men_test=(m6 m7 max michael)
women_train=(f1 f2 f3 f4 steph steph2)
women_test=(f5 steph3)
# Per speaker, so both classes get about as many clips from fewer female variants.
men_per_speaker=6
women_per_speaker=11
if [[ $quick == 1 ]]; then
  accents=(en-us en)
  men_per_speaker=2
  women_per_speaker=3
  fillets_cap=4
fi

# 16 kHz mono 16-bit, silence trimmed at both ends.
to_wav() {
  sox "$1" -r 16000 -c 1 -b 16 "$2" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse
}

speak() { # class split pitch_lo pitch_hi per_speaker variants...
  local class=$1 split=$2 plo=$3 phi=$4 per=$5
  shift 5
  mkdir -p "$out/$split/$class"
  for variant in "$@"; do
    for accent in "${accents[@]}"; do
      for ((i = 0; i < per; i++)); do
        local s=${sentences[$(rand 0 $((${#sentences[@]} - 1)))]}
        local pitch speed
        pitch=$(rand "$plo" "$phi")
        speed=$(rand 130 200)
        espeak-ng -v "$accent+$variant" -p "$pitch" -s "$speed" -w "$tmp/s.wav" "$s"
        to_wav "$tmp/s.wav" "$out/$split/$class/${accent}_${variant}_$i.wav"
      done
    done
  done
}

rm -rf "$out"
speak men train 35 85 $men_per_speaker "${men_train[@]}"
speak men test 35 85 $men_per_speaker "${men_test[@]}"
speak women train 40 70 $women_per_speaker "${women_train[@]}"
speak women test 40 70 $women_per_speaker "${women_test[@]}"

# One synthetic non-human sound of 1-2.5 s, kind chosen by $2.
synth() {
  local file=$1 kind=$2 d f1 f2
  d=$(rand 10 25)
  d="$((d / 10)).$((d % 10))"
  f1=$(rand 150 2500)
  f2=$(rand 150 5000)
  case $kind in
    0) sox -n -r 16000 -b 16 "$file" synth "$d" sine "$f1-$f2" vol 0.5 ;;
    1) sox -n -r 16000 -b 16 "$file" synth "$d" square "$f1" vol 0.3 tremolo "$(rand 2 12)" 80 lowpass 4000 ;;
    2) sox -n -r 16000 -b 16 "$file" synth "$d" pluck "$f1" vol 0.6 ;;
    3) sox -n -r 16000 -b 16 "$file" synth "$d" pinknoise band -n "$f1" "$(rand 100 1500)" vol 0.6 ;;
    4) sox -n -r 16000 -b 16 "$file" synth "$d" brownnoise synth sine amod "$(rand 8 40)" vol 0.7 ;;
    5) sox -n -r 16000 -b 16 "$file" synth "$d" sawtooth "$(rand 40 120)" vol 0.4 lowpass "$(rand 300 2000)" ;;
    6) sox -n -r 16000 -b 16 "$tmp/chirp.wav" synth 0.08 sine "$(rand 2500 4000)-$(rand 4000 6500)" pad 0 "0.0$(rand 3 9)"
       sox "$tmp/chirp.wav" "$file" repeat "$(rand 5 14)" vol 0.5 ;;
    7) sox -n -r 16000 -b 16 "$file" synth "$d" triangle "$f1" sine "$f2" remix - vol 0.4 ;;
  esac
}

n_synth_train=330
n_synth_test=110
if [[ $quick == 1 ]]; then
  n_synth_train=8
  n_synth_test=4
fi
mkdir -p "$out/train/non-human" "$out/test/non-human"
for ((i = 0; i < n_synth_train; i++)); do synth "$out/train/non-human/synth_$i.wav" $((i % 8)); done
for ((i = 0; i < n_synth_test; i++)); do synth "$out/test/non-human/synth_$i.wav" $((i % 8)); done

# Real recordings: tuxpaint's stamp sound effects (animals, vehicles, tools...); every
# fourth file to test. The *_desc* files are spoken names (human voices): left out.
stamps=/usr/share/tuxpaint/stamps
real=0
if [[ -d $stamps ]]; then
  i=0
  while IFS= read -r f; do
    split=train
    [[ $((i % 4)) == 3 ]] && split=test
    name=$(basename "$(dirname "$f")")_$(basename "$f" .ogg)
    to_wav "$f" "$out/$split/non-human/tuxpaint_$name.wav" 2>/dev/null && real=$((real + 1))
    i=$((i + 1))
    [[ $quick == 1 && $i -ge 4 ]] && break
  done < <(find "$stamps/animals" "$stamps/vehicles" "$stamps/household" "$stamps/town" \
             "$stamps/naturalforces" -name '*.ogg' ! -name '*_desc*' 2>/dev/null | sort)
fi

# Real voices: Fish Fillets NG's Czech dubbing (fillets-ng-data-cs), the small fish spoken by an
# adult woman (`-m-` in the file name) and the big fish by an adult man (`-v-`), one actor
# each. Split by game level (every fourth level's lines to test), so a line never lands on
# both sides; the speaker does, which the synthetic voices' speaker split makes up for.
# --real-voices N caps the files per sex (default 200: about as many clips as espeak's).
fillets=/usr/share/games/fillets-ng/sound
real_voices=0
if [[ -d $fillets ]]; then
  for pair in "women:m" "men:v"; do
    class=${pair%%:*}
    mark=${pair##*:}
    i=0
    while IFS= read -r f; do
      level=$(basename "$(dirname "$(dirname "$f")")")
      split=train
      [[ $(( $(printf '%s' "$level" | cksum | cut -d' ' -f1) % 4 )) == 3 ]] && split=test
      to_wav "$f" "$out/$split/$class/fillets_${level}_$(basename "$f" .ogg).wav" 2>/dev/null \
        && real_voices=$((real_voices + 1))
      i=$((i + 1))
      [[ $i -ge $fillets_cap ]] && break
    done < <(find "$fillets" -path "*/cs/*-$mark-*.ogg" | sort | awk -v s="$seed" 'BEGIN{srand(s)} {print rand() "\t" $0}' | sort -k1,1 | cut -f2)
  done
fi

# Silence trimming can leave a file with no samples (a header alone): drop those.
find "$out" -name '*.wav' -size -100c -delete

for split in train test; do
  for class in men women non-human; do
    echo "$split/$class: $(find "$out/$split/$class" -name '*.wav' | wc -l) files"
  done
done
echo "real recordings: $real non-human (tuxpaint-stamps-default), $real_voices voices (fillets-ng-data-cs); everything else synthetic (seed $seed) -> $out"
