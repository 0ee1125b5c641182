#!/usr/bin/env bash
# The README's two commands: `bash dev.sh demo` and `bash dev.sh test`.
# Each sets up what is missing first (system packages through apt-get, a
# virtualenv with the Python dependencies), so they work on a fresh
# Debian/Ubuntu machine as root.
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
venv="$here/.venv"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'dev.sh: %s\n' "$*" >&2; exit 1; }

# Debian packages the project needs, as "command:package" pairs; a package is
# installed only when its command is missing.
system_packages=(
    "busybox:busybox-static"
    "dot:graphviz"
    "skopeo:skopeo"
    "umoci:umoci"
    "tar:tar"
    "iptables:iptables"
)

find_python() {
    local py
    for py in python3 python3.13 python3.12 python3.11; do
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$py"; return 0
        fi
    done
    return 1
}

install_system_packages() {
    local missing=() pair cmd pkg
    for pair in "${system_packages[@]}"; do
        cmd=${pair%%:*}; pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    local py; py=$(find_python || true)
    if [ -z "$py" ]; then
        # Older releases (Ubuntu 22.04) ship 3.10 as python3 but offer 3.11 beside it.
        missing+=(python3.11 python3.11-venv)
    elif ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        missing+=("$(basename "$py")-venv")
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and no apt-get to install them; install them by hand"
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; run as root so apt-get can install them"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine often has empty package lists; update only then or on failure.
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

setup_venv() {
    local py stamp want
    py=$(find_python) || die "Python >= 3.11 is required"
    stamp="$venv/.minidocker-deps"
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ ! -x "$venv/bin/python" ]; then
        say "creating virtualenv $venv"
        "$py" -m venv "$venv"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing Python dependencies"
        "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
        # compat mode: a plain path entry instead of setuptools' import hook, which
        # costs every `minidocker` command ~10 ms at start.
        "$venv/bin/python" -m pip install -q -e ".[test]" --config-settings editable_mode=compat
        echo "$want" > "$stamp"
    fi
    # Cached bytecode halves the start of every `minidocker` command, even where
    # PYTHONDONTWRITEBYTECODE keeps Python from writing it by itself.
    if ! PYTHONDONTWRITEBYTECODE= "$venv/bin/python" -m compileall -q minidocker >/dev/null; then
        die "compiling minidocker failed"
    fi
}

setup() {
    install_system_packages
    setup_venv
    export PATH="$venv/bin:$PATH"
}

demo() {
    setup
    say "minidocker bootstrap busybox   # a base image from the host's busybox-static"
    minidocker bootstrap busybox
    say "minidocker images"
    minidocker images
    say "minidocker history busybox"
    minidocker history busybox
    say "minidocker run --rm --memory 64m busybox sh -c '...'   # a real container"
    minidocker run --rm --memory 64m --hostname demo busybox \
        sh -c 'echo "hello from $(hostname), PID $$"; ls /'
    say "minidocker run --rm --explain busybox true   # every kernel step, with its reason"
    minidocker run --rm --explain busybox true 2>&1 | sed -n '1,200p' | grep -E 'unshare|pivot_root|overlay|cgroup.procs|execve' | head -8
    say "minidocker build -t seed-app examples/seed-app   # the seed's recipe: one layer per step"
    minidocker build -t seed-app examples/seed-app
    say "minidocker history seed-app"
    minidocker history seed-app
    say "minidocker run --rm seed-app"
    minidocker run --rm seed-app
    say "minidocker build -t seed-app examples/seed-app   # again: nothing changed, every step CACHED"
    minidocker build -t seed-app examples/seed-app 2>&1 | grep -E 'CACHED|not cached'
    local changed
    changed=$(mktemp -d)
    cp -r examples/seed-app/. "$changed"
    sed -i 's/version 1/version 2/' "$changed/app/server.sh"
    say "change app/server.sh and build again: only the steps from COPY on rebuild"
    minidocker build -t seed-app:v2 "$changed" 2>&1 | grep -E 'CACHED|not cached'
    rm -rf "$changed"
    minidocker run --rm seed-app:v2
    say "minidocker system df"
    minidocker system df
    say "MINIDOCKER_KERNEL=sim minidocker run --rm busybox sh -c 'hostname; ps'   # the simulated kernel"
    MINIDOCKER_ROOT="$(mktemp -d)" MINIDOCKER_KERNEL=sim minidocker run --rm busybox sh -c 'hostname; ps'
    say "the lessons: bash dev.sh notebooks  (runs notebooks/ and renders them to notebooks/html/)"
}

notebooks() {
    # Run every lesson notebook top to bottom and render it to HTML (notebooks/html/),
    # for students without Jupyter. MINIDOCKER_KERNEL=sim|linux picks the kernel.
    setup
    local out="notebooks/html" nb
    mkdir -p "$out"
    for nb in notebooks/[0-9][0-9]_*.ipynb; do
        [ -e "$nb" ] || die "no notebooks in notebooks/"
        say "running and rendering $nb"
        MINIDOCKER_ROOT="${MINIDOCKER_ROOT:-$(mktemp -d)}" "$venv/bin/jupyter" nbconvert \
            --execute --to html --ExecutePreprocessor.timeout=120 --output-dir "$out" "$nb"
    done
    say "open $out/*.html in a browser (or, with JupyterLab installed: $venv/bin/jupyter lab notebooks/)"
}

run_tests() {
    setup
    say "running the test suite"
    exec "$venv/bin/python" -m pytest "$@"
}

case "${1:-}" in
    demo) shift; demo "$@" ;;
    test) shift; run_tests "$@" ;;
    notebooks) shift; notebooks "$@" ;;
    setup) setup ;;
    *) die "usage: bash dev.sh demo|test [pytest args]|notebooks|setup" ;;
esac
