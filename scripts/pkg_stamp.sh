#!/usr/bin/env bash
# Prints a hash of everything pkg/ is built from (sources, lock file, styles, loader, weights).
# `--check` fails when pkg/STAMP does not match: the committed bundle is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=$(git ls-files -z -- Cargo.toml Cargo.lock .cargo/config.toml 'src/**' www/style.css www/page.html www/shell.svg www/modscope-element.js www/modscope-loader.js 'www/models/**' \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ "${1:-}" = "--check" ]; then
    if [ "$(cat pkg/STAMP 2>/dev/null)" != "$stamp" ]; then
        echo "pkg/ is stale: its sources changed since it was built. Run scripts/build_pkg.sh and commit pkg/." >&2
        exit 1
    fi
    echo "pkg/ is up to date ($stamp)"
else
    echo "$stamp"
fi
