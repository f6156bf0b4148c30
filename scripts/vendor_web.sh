#!/usr/bin/env bash
# Refresh the browser libraries the watch floor ships, from the npm registry, at the versions
# pinned in web/package-lock.json. The built copies are committed (the server never fetches
# anything at run time); tests/unit/test_web_static.py checks they match the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd web && npm ci --ignore-scripts --no-audit --no-fund)
dest=src/estran/adapters/web/static/vendor
rm -rf "$dest" && mkdir -p "$dest/leaflet/images" "$dest/uplot"
cp web/node_modules/leaflet/dist/leaflet.js web/node_modules/leaflet/dist/leaflet.css "$dest/leaflet/"
cp web/node_modules/leaflet/dist/images/*.png "$dest/leaflet/images/"
cp web/node_modules/leaflet/LICENSE "$dest/leaflet/LICENSE"
cp web/node_modules/uplot/dist/uPlot.iife.min.js web/node_modules/uplot/dist/uPlot.min.css "$dest/uplot/"
cp web/node_modules/uplot/LICENSE "$dest/uplot/LICENSE"
node -e '
const lock = require("./web/package-lock.json");
const out = {};
for (const name of ["leaflet", "uplot"]) {
  const p = lock.packages["node_modules/" + name];
  out[name] = { version: p.version, integrity: p.integrity };
}
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
' > "$dest/versions.json"
echo "vendored into $dest:"; cat "$dest/versions.json"
