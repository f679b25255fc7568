#!/usr/bin/env bash
# A folder of real photographs for the README's "audit your own classifier" walkthrough:
# fruit cut-outs from Debian's tuxpaint-stamps-default (scripts/setup.sh installs it), one
# subfolder per ImageNet class, named as the ImageNet labels name them. Banana is left out on
# purpose: it is the class the walkthrough's audit has no data for.
#   scripts/fruit_folder.sh [OUT]        # default .cache/fruit
# Not shipped in the repo (tuxpaint's licence); nothing is downloaded here.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.cache/fruit}
src=/usr/share/tuxpaint/stamps/food/fruit
if [ ! -d "$src" ]; then
  echo "[fruit] $src missing: apt-get install tuxpaint-stamps-default (scripts/setup.sh)" >&2
  exit 1
fi
put() { # class, files...
  local class=$1; shift
  mkdir -p "$out/$class"
  for f in "$@"; do cp -u "$src/$f" "$out/$class/"; done
}
put "Granny Smith" apple_granny_smith.png apple_green.png
put "strawberry" strawberry.png Strawberry2.png
put "orange" orange.png orange_seville.png
put "lemon" lemon.png
put "pineapple, ananas" pineapple.png
put "pomegranate" pomegranate.png
echo "[fruit] $(find "$out" -name '*.png' | wc -l) photos in $(ls "$out" | wc -l) classes under $out"
