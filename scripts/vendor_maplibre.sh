#!/usr/bin/env bash
# Fetch MapLibre GL JS from the npm registry into the console's vendor folder, so the page needs
# no CDN. Redo with another version: scripts/vendor_maplibre.sh 5.24.1
set -euo pipefail
version="${1:-5.24.1}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/src/detente/web/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "maplibre-gl@$version" > /dev/null && tar -xzf maplibre-gl-*.tgz)
# Check the tarball against the integrity the registry publishes, and record it.
integrity="$(npm view "maplibre-gl@$version" dist.integrity)"
actual="sha512-$(openssl dgst -sha512 -binary "$tmp"/maplibre-gl-*.tgz | base64 -w0)"
[ "$actual" = "$integrity" ] || { echo "integrity mismatch: $actual != $integrity" >&2; exit 1; }
mkdir -p "$dest"
cp "$tmp/package/dist/maplibre-gl.js" "$tmp/package/dist/maplibre-gl.css" "$dest/"
cp "$tmp/package/LICENSE.txt" "$dest/maplibre-gl.LICENSE.txt"
echo "maplibre-gl $version $integrity" > "$dest/maplibre-gl.VERSION"
echo "vendored maplibre-gl $version into $dest"
