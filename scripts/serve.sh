#!/usr/bin/env bash
# Starts the demo at http://127.0.0.1:8080.
#
# When the committed bundle pkg/ was built from exactly these sources (its stamp matches), it is
# served as it is: the page opens in seconds, with nothing to install or compile. Otherwise, or
# with --dev, trunk builds the page from source and serves it, rebuilding on every change
# (installing the build tools on first use; a cold build takes several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${PORT:-8080}"
if [ "${1:-}" != "--dev" ] && ./scripts/pkg_stamp.sh --check >/dev/null 2>&1; then
    echo "Serving the committed bundle pkg/ (its stamp matches the sources) at http://127.0.0.1:$port/"
    echo "To build from source instead: ./scripts/serve.sh --dev"
    exec python3 -m http.server "$port" --bind 127.0.0.1 --directory pkg
fi
if [ "${1:-}" = "--dev" ]; then
    shift
    echo "Building from source with trunk (--dev)."
else
    echo "pkg/ is stale (the sources changed since it was built): building from source with trunk."
fi
./scripts/setup.sh
exec trunk serve --release --offline --address 127.0.0.1 --port "$port" "$@"
