#!/usr/bin/env bash
# Builds the substrate folders the substrate method's configs name, from Debian packages that
# scripts/setup.sh installs (nothing is downloaded here):
#   .cache/substrates/wallpapers  one image per KDE wallpaper (plasma-workspace-wallpapers,
#                                 GPL-2+; 30 landscape, water and abstract pictures), the size
#                                 closest to 1920x1200 so decoding stays quick;
#   .cache/substrates/stamps      the clothes cut-outs of tuxpaint-stamps-default (PNG with
#                                 alpha: composited over white, the mask loss's background).
# They are not shipped in the repo (licences); the tests use the embedded Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/substrates
mkdir -p "$out/wallpapers" "$out/stamps"
if [ -d /usr/share/wallpapers ]; then
  for d in /usr/share/wallpapers/*/contents/images; do
    name=$(basename "$(dirname "$(dirname "$d")")")
    best=""; best_gap=999999999
    for f in "$d"/*; do
      dims=$(basename "$f"); dims=${dims%.*}
      w=${dims%x*}; h=${dims#*x}
      [[ "$w" =~ ^[0-9]+$ && "$h" =~ ^[0-9]+$ ]] || continue
      gap=$(( (w * h - 1920 * 1200) )); gap=${gap#-}
      if [ "$gap" -lt "$best_gap" ]; then best=$f; best_gap=$gap; fi
    done
    [ -n "$best" ] && cp -u "$best" "$out/wallpapers/$name.${best##*.}"
  done
  echo "[substrates] $(ls "$out/wallpapers" | wc -l) wallpapers in $out/wallpapers"
else
  echo "[substrates] /usr/share/wallpapers missing: apt-get install plasma-workspace-wallpapers" >&2
fi
if [ -d /usr/share/tuxpaint/stamps/clothes ]; then
  find /usr/share/tuxpaint/stamps/clothes -name '*.png' -exec cp -u {} "$out/stamps/" \;
  echo "[substrates] $(ls "$out/stamps" | wc -l) clothes cut-outs in $out/stamps"
fi
