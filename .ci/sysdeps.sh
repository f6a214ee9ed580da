#!/usr/bin/env bash
# Debian packages the tests use: Fashion-MNIST (IDX files), a second real brain (ch2), and Chromium
# for the browser tests. Installs only what is missing; needs apt-get and root or sudo. Wherever it
# cannot run (no apt-get: macOS, Fedora; not root and sudo missing or not permitted) it says so in
# one line and exits 0: the tests that need a package skip with a reason. `make demo` does not run it.
set -euo pipefail
want=()
[[ -d /usr/share/datasets/fashion-mnist ]] || want+=(dataset-fashion-mnist)
[[ -f /usr/share/mricron/templates/ch2.nii.gz ]] || want+=(mricron-data)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
(( ${#want[@]} )) || exit 0
skip() { echo "sysdeps: not installing ${want[*]} ($1); tests that need them will be skipped" >&2; exit 0; }
command -v apt-get >/dev/null 2>&1 || skip "no apt-get here"
if [[ $(id -u) -eq 0 ]]; then sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n)
else skip "not root, and sudo is missing or asks for a password"
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >/dev/null || skip "apt-get update failed"
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${want[@]}" >/dev/null || skip "apt-get install failed"
