#!/usr/bin/env bash
# torch into the venv before the project, so that no open range pulls a build this machine cannot use, and one
# line saying which build went in and its size. Usage: .ci/torch.sh VENV_PYTHON [VERSION]
#
# With an NVIDIA GPU (nvidia-smi lists one): torch from the default index (CUDA; about 6.0 GB installed, 3.2 GB
# of it CUDA libraries). Without one, the CPU build (about 0.2 GB to download, 0.75 GB installed), from the first
# of: PyTorch's CPU wheel index where it answers (download.pytorch.org/whl/cpu), a CPU wheel the configured
# sources hold (a local wheel folder, a mirror: `torch==VERSION+cpu`), and last the default index as before
# (PyPI's Linux wheel is the CUDA build: the line says so). TORCH_INDEX_URL overrides the CPU index.
set -euo pipefail
py=$1
version=${2:-2.13.0}
cpu_index=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
pip=("$py" -m pip install -q)

say() {  # the build installed, where from, and its size on disk
  PYTHONWARNINGS=ignore "$py" - "$1" <<'EOF'
import pathlib, sys
import torch

def size(folder):
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0

root = pathlib.Path(torch.__file__).parent
cuda = size(root.parent / "nvidia")  # the nvidia-* wheels' CUDA libraries, beside torch
build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
extra = f" + {cuda / 1e9:.1f} GB of CUDA libraries" if cuda else ""
print(f"torch: {torch.__version__}, the {build} build, {size(root) / 1e9:.2f} GB installed{extra}; from {sys.argv[1]}")
EOF
}

if "$py" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$version')" 2>/dev/null; then
  say "the venv (already installed)"
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
  "${pip[@]}" "torch==$version"
  say "the default index (a GPU is here: the CUDA build)"
  exit 0
fi
if "$py" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/torch/', timeout=5)" "$cpu_index" \
    >/dev/null 2>&1 && "${pip[@]}" "torch==$version" --index-url "$cpu_index"; then
  say "PyTorch's CPU index ($cpu_index)"
elif "${pip[@]}" "torch==$version+cpu" 2>/dev/null; then
  say "a CPU wheel of the configured sources ($cpu_index does not answer here)"
else
  echo "torch: no CPU build reachable ($cpu_index does not answer, no torch==$version+cpu in the configured" \
       "sources); taking the default index's, which on Linux is the CUDA build (about 6.0 GB)" >&2
  "${pip[@]}" "torch==$version"
  say "the default index"
fi
