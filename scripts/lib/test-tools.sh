# ensure_test_tools: install the programs the test suite drives when they are missing.
# Sourced, not run:
#
#   source scripts/lib/test-tools.sh
#   ensure_test_tools
#
#   redis-server     (Debian package redis-server)  tests/cluster: real Redis processes
#   redis-sentinel   (Debian package redis-sentinel) tests/cluster: Sentinel failover
#   systemd-analyze  (Debian package systemd)       tests/ops/test_systemd_units.py
#   promtool         (Debian package prometheus)    checks of the Prometheus rules
#   chromium         (Debian package chromium)      tests/browser: the pages in a real browser
#   initdb, postgres (Debian package postgresql)    tests/store: a real PostgreSQL server; the
#                    binaries are not on PATH: quizd.testing.procs finds the newest
#                    /usr/lib/postgresql/<ver>/bin/initdb (the server itself is not started)
#
# Installs through apt-get, non-interactively, as root or through sudo, in one
# `apt-get update` + `apt-get install`, and only when something is missing.  Returns
# non-zero (and says why) when a program is still missing afterwards.  Does not change
# shell options.  Playwright drives Debian's Chromium (executable_path): it never
# downloads a browser of its own.

ensure_test_tools() {
    local -a missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
    command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    _pg_initdb >/dev/null || missing+=(postgresql)
    [ "${#missing[@]}" -eq 0 ] && return 0

    local -a sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "ensure_test_tools: need root or sudo to install: ${missing[*]}" >&2
            return 1
        fi
        sudo=(sudo -n)
    fi
    echo "ensure_test_tools: installing ${missing[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || {
        echo "ensure_test_tools: apt-get update failed" >&2
        return 1
    }
    # Note: on a host where systemd runs as PID 1, Debian's prometheus and redis-server
    # packages enable and start their servers as they install; in CI and containers
    # nothing is started.  The old config files are kept if any exist.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null || {
        echo "ensure_test_tools: apt-get install ${missing[*]} failed" >&2
        return 1
    }

    local tool status=0
    for tool in redis-server redis-sentinel systemd-analyze promtool /usr/bin/chromium; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "ensure_test_tools: $tool is still missing" >&2
            status=1
        fi
    done
    if ! _pg_initdb >/dev/null; then
        echo "ensure_test_tools: PostgreSQL (initdb) is still missing" >&2
        status=1
    fi
    return "$status"
}

# The newest Debian PostgreSQL initdb (/usr/lib/postgresql/<ver>/bin/initdb), or non-zero.
_pg_initdb() {
    local found
    found=$(ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [ -n "$found" ] && [ -x "$found" ] && echo "$found"
}
