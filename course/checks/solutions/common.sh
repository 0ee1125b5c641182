# Sourced by the reference solutions: stop at the first error, find minidocker,
# and give each solution a scratch directory for its build contexts.
set -eu
if ! command -v minidocker >/dev/null 2>&1; then
    minidocker() { "${PYTHON:-python3}" -m minidocker "$@"; }
fi
repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { printf '\n$ %s\n' "$*"; }
