#!/usr/bin/env bash
# Starts the demo at http://127.0.0.1:8080 (installing the build tools on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec trunk serve --release --offline --address 127.0.0.1 --port "${PORT:-8080}" "$@"
