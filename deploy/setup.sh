#!/usr/bin/env bash
# vigia set-up for Debian 12 (bookworm). Idempotent: quick when everything is in place.
#
# Makes sure of:
#   1. the Debian packages (GStreamer 1.22 + plugins, gst-rtsp-server, mosquitto, etcd, build
#      tools with protoc for the etcd client);
#   2. the ONNX Runtime 1.31.1 shared library, extracted from the onnxruntime wheel on PyPI
#      into .vigia/onnxruntime/ and checked by sha256 (ort loads it at run time);
#   3. the default models (models/fetch.py: ../shared/models, PyPI, or upstream, by sha256);
#   with --tests also what only the tests use: Chromium and chromedriver (the web console's
#   browser tests), promtool, the ONVIF test consumer.
# Anything it cannot do is reported with what is missing and how to get it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# --- 0. /dev/null ---------------------------------------------------------------------
# A /dev/null that some program (run as root) replaced by a regular file fills up with
# whatever is written to it; cargo then feeds that text to rustc as the source of its
# target probe and stops with "failed to run rustc to learn about target-specific
# information" (seen on a CI machine). Put the device back when we can, say so either way.
if [ ! -c /dev/null ]; then
  if [ "$(id -u)" -eq 0 ] && rm -f /dev/null && mknod -m 0666 /dev/null c 1 3; then
    say "WARNING: /dev/null was not the null device (something replaced it); recreated it"
  else
    die "/dev/null is not the null device (something replaced it with a file); as root: rm -f /dev/null && mknod -m 0666 /dev/null c 1 3"
  fi
fi

# --- 1. Debian packages -------------------------------------------------------------
PACKAGES=(
  pkg-config build-essential python3 python3-pip
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp
  mosquitto mosquitto-clients
  fonts-liberation
  protobuf-compiler etcd-server
)
FOR_TESTS=0
[ "${1:-}" = "--tests" ] && FOR_TESTS=1
# The web console's browser tests drive Debian's Chromium through chromedriver.
((FOR_TESTS)) && PACKAGES+=(chromium chromium-driver)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# python3/pip may come from elsewhere (pyenv): only their absence as commands matters.
if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
  missing=("${missing[@]/python3-pip}")
  missing=("${missing[@]/python3}")
fi
read -r -a missing <<<"${missing[*]:-}"
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    die "missing packages: ${missing[*]}; this set-up expects Debian 12 (apt-get). Install the equivalents by hand."
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then SUDO="sudo"; else
      die "missing packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
    fi
  fi
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs), 1.89 or newer"

# --- 2. ONNX Runtime ----------------------------------------------------------------
ORT_VERSION=1.31.1
ORT_SHA256=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3
ORT_DIR="$ROOT/.vigia/onnxruntime"
ORT_LIB="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"
have_ort() { [ -f "$ORT_LIB" ] && echo "$ORT_SHA256  $ORT_LIB" | sha256sum -c --status; }
if ! have_ort; then
  say "fetching ONNX Runtime $ORT_VERSION from the onnxruntime wheel on PyPI"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: \
      --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
      "onnxruntime==$ORT_VERSION" -d "$tmp" \
    || die "could not download onnxruntime==$ORT_VERSION from PyPI. Put libonnxruntime.so.$ORT_VERSION (from that wheel's onnxruntime/capi/) at $ORT_LIB, or set ORT_DYLIB_PATH."
  mkdir -p "$ORT_DIR"
  python3 - "$tmp" "$ORT_LIB" "$ORT_VERSION" <<'PY'
import sys, zipfile, glob, os
tmp, dest, ver = sys.argv[1:]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z, open(dest + ".part", "wb") as out:
    out.write(z.read(f"onnxruntime/capi/libonnxruntime.so.{ver}"))
os.replace(dest + ".part", dest)
PY
  have_ort || die "$ORT_LIB does not have the expected sha256 $ORT_SHA256"
fi

# --- 3. Models ----------------------------------------------------------------------
python3 "$ROOT/models/fetch.py" || die "models are missing (see above)"

# --- 4b. promtool, to check the alert rules (Debian ships it only inside `prometheus`;
#         installed without recommends; its server is not needed and not enabled here) ----
if ((FOR_TESTS)) && ! command -v promtool >/dev/null; then
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    say "installing promtool (Debian package prometheus)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
      || die "cannot install the Debian package prometheus (for promtool)"
    if command -v systemctl >/dev/null && systemctl is-enabled prometheus >/dev/null 2>&1; then
      $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
  else
    die "promtool is missing: install the Debian package prometheus"
  fi
fi

# --- 4. The ONVIF consumer the tests check the ONVIF mirror with (PyPI, pinned) ---------
ONVIF_VENV="$ROOT/.vigia/venv-onvif"
if ((FOR_TESTS)) && ! "$ONVIF_VENV/bin/python" -c 'import onvif_parsers, zeep, onvif' 2>/dev/null; then
  say "installing the ONVIF test consumer (tests/onvif/requirements.txt) into .vigia/venv-onvif"
  python3 -m venv "$ONVIF_VENV" && "$ONVIF_VENV/bin/pip" install -q -r "$ROOT/tests/onvif/requirements.txt" \
    || die "cannot install tests/onvif/requirements.txt from PyPI"
fi

if ((FOR_TESTS)); then say "ok (packages, ONNX Runtime $ORT_VERSION, models, test tools)"; else say "ok (packages, ONNX Runtime $ORT_VERSION, models)"; fi
