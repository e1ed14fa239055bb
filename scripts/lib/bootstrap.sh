# Shared set-up for scripts/run and scripts/test: a .venv with the package installed.
# Sourced, not run.  Installs Debian packages only when a command is missing.

PYTHON="${PYTHON:-python3}"

need_python() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "quizd needs Python 3.11 or newer ($PYTHON not found)" >&2
        exit 1
    fi
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
        echo "quizd needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
        exit 1
    }
}

apt_install() {
    # apt_install PACKAGE...: install Debian packages (as root, or through sudo).
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

bootstrap_venv() {
    # bootstrap_venv [extra]: create .venv if needed and install the package (with [extra]).
    local extra="${1:-}"
    need_python
    if [ ! -x .venv/bin/python ]; then
        "$PYTHON" -m venv .venv
    fi
    local stamp=".venv/.quizd-installed${extra:+-$extra}"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install -q --upgrade pip >/dev/null
        if [ -n "$extra" ]; then
            .venv/bin/python -m pip install -q -e ".[$extra]"
        else
            .venv/bin/python -m pip install -q -e .
        fi
        touch "$stamp"
    fi
}
