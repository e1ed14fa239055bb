# ensure_ops_tools: install the command-line tools the ops tests need when missing.
# Sourced, not run:
#
#   source scripts/lib/ops-tools.sh
#   ensure_ops_tools
#
#   systemd-analyze  (Debian package systemd)     tests/ops/test_systemd_units.py
#   promtool         (Debian package prometheus)  checks of the Prometheus rules
#
# Installs through apt-get, non-interactively, as root or through sudo; runs
# `apt-get update` once, and only when something is missing.  Returns non-zero (and
# says why) when a tool is still missing afterwards.  Does not change shell options.

ensure_ops_tools() {
    local -a missing=()
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
    command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
    [ "${#missing[@]}" -eq 0 ] && return 0

    local -a sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "ensure_ops_tools: need root or sudo to install: ${missing[*]}" >&2
            return 1
        fi
        sudo=(sudo -n)
    fi
    echo "ensure_ops_tools: installing ${missing[*]}" >&2
    if [ -z "${_QUIZD_OPS_APT_UPDATED:-}" ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || {
            echo "ensure_ops_tools: apt-get update failed" >&2
            return 1
        }
        _QUIZD_OPS_APT_UPDATED=1
    fi
    # Note: on a host where systemd runs as PID 1, Debian's prometheus package enables
    # and starts a Prometheus server (port 9090) as it installs; in CI and containers
    # nothing is started.  The old config files are kept if any exist.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null || {
        echo "ensure_ops_tools: apt-get install ${missing[*]} failed" >&2
        return 1
    }

    local tool status=0
    for tool in systemd-analyze promtool; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "ensure_ops_tools: $tool is still missing" >&2
            status=1
        fi
    done
    return "$status"
}
