#!/usr/bin/env bash
# Installs what cnnc needs on Debian 12 and is quick when everything is there.
#   apt:  the toolchain and libraries listed in ../shared/ARCHITECTURE.md
#   .venv: pinned onnxruntime / onnx / numpy (reference frameworks for tests)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build git
  clang-14 clang-format-14 lld-14 llvm-14-dev llvm-14-tools libclang-rt-14-dev
  libhalide14-0-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libonnx-dev libonnx-testdata libprotobuf-dev protobuf-compiler
  python3 python3-venv python3-psutil python3-torch python3-torchvision python3-numpy
  dataset-fashion-mnist zlib1g-dev
)
# Pinned so that every machine tests against the same reference frameworks.
PIP_PACKAGES=(numpy==1.26.4 onnx==1.17.0 onnxruntime==1.20.1)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv uses Debian's interpreter so that its ABI matches python3-torch's.
stamp=.venv/.cnnc-pins
want="${PIP_PACKAGES[*]}"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv with ${want}" >&2
  /usr/bin/python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
  echo "$want" >"$stamp"
fi
