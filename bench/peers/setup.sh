#!/usr/bin/env bash
# Installs the peers the load harness compares ctibridge with, from the
# registries: panoramisk (PyPI) in bench/peers/venv, asterisk-manager (npm)
# in bench/peers/node_modules (versions locked by package-lock.json).
# Idempotent; run by bench/run. Not run by CI.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x venv/bin/python ]; then
  python3 -m venv venv
fi
venv/bin/pip install --quiet --disable-pip-version-check 'panoramisk==1.4'
if [ -f package-lock.json ]; then
  npm ci --silent --no-audit --no-fund
else
  npm install --silent --no-audit --no-fund
fi
venv/bin/python -c 'import panoramisk; print("panoramisk", panoramisk.__version__ if hasattr(panoramisk, "__version__") else "1.4")'
node -e 'console.log("asterisk-manager", require("asterisk-manager/package.json").version)'
