#!/usr/bin/env bash
# Debian packages the tests and demos use: Fashion-MNIST (IDX files), a second real brain (ch2),
# and Chromium for the browser test. Installs only what is missing; needs root or sudo.
set -euo pipefail
want=()
[[ -d /usr/share/datasets/fashion-mnist ]] || want+=(dataset-fashion-mnist)
[[ -f /usr/share/mricron/templates/ch2.nii.gz ]] || want+=(mricron-data)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
(( ${#want[@]} )) || exit 0
if [[ $(id -u) -eq 0 ]]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "sysdeps: cannot install ${want[*]} (not root, no sudo); tests that need them will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >/dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null
