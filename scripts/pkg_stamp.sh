#!/usr/bin/env bash
# Prints a hash of everything pkg/ is built from (the browser build's sources, lock file, styles,
# loader, weights).
# `--check` fails when pkg/STAMP does not match: the committed bundle is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
# Code that never reaches the browser build is left out (the trainer, the command-line tools and
# the unit tests), so changing it does not make the committed bundle stale.
stamp=$(git ls-files -z -- Cargo.toml Cargo.lock .cargo/config.toml 'src/**' www/style.css www/page.html www/shell.svg www/modscope-element.js www/modscope-loader.js 'www/models/**' \
        ':(exclude)src/training/**' ':(exclude)src/bin/modscope.rs' ':(exclude)src/bin/modscope_train.rs' ':(exclude,glob)src/**/tests.rs' \
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
