#!/usr/bin/env bash
# Browser assets for the review portal: three.js from npm (package.json / package-lock.json, exact versions),
# copied into the package so that the portal serves them itself (never from a CDN at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
dest=src/prelabel/review/static/vendor/three
rm -rf "$dest"
mkdir -p "$dest"
cp node_modules/three/build/three.module.js node_modules/three/build/three.core.js "$dest/"
cp node_modules/three/LICENSE "$dest/LICENSE"
for f in controls/OrbitControls.js; do
  # the examples import the bare specifier 'three'; the portal has no import map (its CSP forbids inline scripts)
  sed -e "s#from 'three'#from './three.module.js'#g" "node_modules/three/examples/jsm/$f" > "$dest/$(basename "$f")"
done
echo "three.js $(node -p "require('./node_modules/three/package.json').version") -> $dest"
