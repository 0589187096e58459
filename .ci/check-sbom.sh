#!/usr/bin/env bash
# check-sbom.sh WHEELHOUSE: the CycloneDX SBOM `make wheelhouse` writes (sbom.cdx.json) lists
# exactly the lock's pinned runtime dependencies (requirements.txt beside it), and every wheel
# built for this platform is one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
"$PWD/.venv/bin/python" - "$1" <<'PY'
import json, re, sys
from pathlib import Path
folder = Path(sys.argv[1])
def norm(name): return re.sub(r"[-_.]+", "-", name).lower()
bom = json.loads((folder / "sbom.cdx.json").read_text(encoding="utf-8"))
assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"].startswith("1."), bom.get("specVersion")
# Sets of (name, version): a package may be pinned twice, per Python version (markers).
components = {(norm(c["name"]), c["version"]) for c in bom["components"]}
assert all(c["purl"] == f"pkg:pypi/{c['name']}@{c['version']}" for c in bom["components"])
requirements = (folder / "requirements.txt").read_text(encoding="utf-8")
pinned = {(norm(n), v) for n, v in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", requirements, re.M)}
assert components == pinned, components ^ pinned
wheels = {(norm(w.name.split("-")[0]), w.name.split("-")[1]) for w in folder.glob("*.whl")}
wheels = {(name, version) for name, version in wheels if name != "fastapi-service-template"}
assert wheels <= components, wheels - components
print(f"sbom.cdx.json (CycloneDX {bom['specVersion']}): {len(components)} components = the lock's "
      f"runtime pins; the {len(wheels)} wheels for this platform are all in it")
PY
