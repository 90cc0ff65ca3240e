#!/usr/bin/env bash
# Render the systemd units in deploy/ for this checkout and a user, into a unit directory.
#
#   sudo deploy/install.sh [--user NAME] [--dest DIR] [--python PATH] [--env-file PATH]
#                          [--once-at HH:MM] [--zone ZONE] [--worker-args "ARGS"]
#                          [--enable worker|once]
#
# Writes quant-*.service, quant-*.timer and quant-alert@.service into --dest (default
# /etc/systemd/system), replacing @ROOT@ (this checkout), @USER@, @PYTHON@ (default the
# checkout's .venv/bin/python), @ENV_FILE@ (default /etc/quant-trading/quant.env),
# @ONCE_AT@ (default 09:45, after live.rebalance_time), @ZONE@ (default America/New_York, the
# exchange's zone) and @WORKER_ARGS@ (default none; "--live" for a live account, the only
# flag taken: config overrides go in the environment file, --resume is run by hand).
# It enables and starts nothing unless asked: --enable worker (daemon-reload, then enable
# --now the worker, the cockpit and the health timer) or --enable once (the --once timer and
# the cockpit). Exit 0 done, 2 a bad option or value (named), 1 a write that failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
user=${SUDO_USER:-$(id -un)}
dest=/etc/systemd/system
python=""
env_file=/etc/quant-trading/quant.env
once_at=09:45
zone=America/New_York
worker_args=""
enable=""

die() { echo "install.sh: $*" >&2; exit 2; }
usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
        --user|--dest|--python|--env-file|--once-at|--zone|--worker-args|--enable)
            [ $# -ge 2 ] || die "$1 needs a value"
            case $1 in
                --user) user=$2 ;;
                --dest) dest=$2 ;;
                --python) python=$2 ;;
                --env-file) env_file=$2 ;;
                --once-at) once_at=$2 ;;
                --zone) zone=$2 ;;
                --worker-args) worker_args=$2 ;;
                --enable) enable=$2 ;;
            esac
            shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
python=${python:-$root/.venv/bin/python}

# Values land inside unit files: a space, %, $, quote or backslash would change their meaning.
safe_path() {
    [[ $2 =~ ^/[A-Za-z0-9._/+@:-]*$ ]] \
        || die "$1 '$2' must be an absolute path of letters, digits and ._/+@:- only"
}
safe_path "the checkout" "$root"
safe_path --python "$python"
safe_path --env-file "$env_file"
[ -f "$root/run_live_strategy.py" ] || die "$root is not the checkout (no run_live_strategy.py)"
[ -x "$python" ] || die "--python $python is not an executable (make install creates .venv)"
[[ $user =~ ^[a-z_][a-z0-9_.-]*\$?$ ]] || die "--user '$user' is not a user name"
id -u "$user" >/dev/null 2>&1 || die "--user $user does not exist on this machine"
[[ $once_at =~ ^([01][0-9]|2[0-3]):[0-5][0-9]$ ]] || die "--once-at '$once_at' is not HH:MM"
[[ $zone =~ ^[A-Za-z0-9_+/-]+$ ]] && [ -f "/usr/share/zoneinfo/$zone" ] \
    || die "--zone '$zone' is not a time zone (see /usr/share/zoneinfo)"
[[ $worker_args =~ ^[A-Za-z0-9\ ._=:/-]*$ ]] \
    || die "--worker-args '$worker_args' may hold letters, digits, spaces and ._=:/- only"
# The units share one configuration (the environment file) and the worker must keep its latch.
for arg in $worker_args; do
    case $arg in
        --live) ;;
        --resume) die "--worker-args: --resume in a unit lifts the STOP latch at every start (a" \
            "reboot, a restart after a crash): run it once by hand (deploy/README.md)" ;;
        --set|--set=*) die "--worker-args: --set reaches the worker only, not the health check" \
            "or the cockpit: put QC__SECTION__KEY=value in the environment file ($env_file)" ;;
        *) die "--worker-args: $arg does not belong in the long-running worker's unit (only --live)" ;;
    esac
done
case $enable in ""|worker|once) ;; *) die "--enable takes worker or once, not '$enable'" ;; esac

mkdir -p "$dest" || { echo "install.sh: cannot create $dest" >&2; exit 1; }
units=()
for template in "$here"/*.service "$here"/*.timer; do
    name=$(basename "$template")
    tmp="$dest/.$name.tmp"
    sed -e "s|@ROOT@|$root|g" -e "s|@USER@|$user|g" -e "s|@PYTHON@|$python|g" \
        -e "s|@ENV_FILE@|$env_file|g" -e "s|@ONCE_AT@|$once_at|g" -e "s|@ZONE@|$zone|g" \
        -e "s|@WORKER_ARGS@|$worker_args|g" -e 's| *$||' "$template" >"$tmp" \
        || { rm -f "$tmp"; echo "install.sh: cannot write $dest/$name" >&2; exit 1; }
    if grep -q '@[A-Z_]*@' "$tmp"; then
        rm -f "$tmp"
        echo "install.sh: $name has a placeholder this script does not know" >&2
        exit 1
    fi
    chmod 0644 "$tmp"
    mv -f "$tmp" "$dest/$name"
    units+=("$name")
done
echo "Wrote ${units[*]} to $dest (checkout $root, user $user)."

case $enable in
    worker)
        systemctl daemon-reload
        systemctl enable --now quant-worker.service quant-cockpit.service quant-health.timer ;;
    once)
        systemctl daemon-reload
        systemctl enable --now quant-worker-once.timer quant-cockpit.service ;;
    "")
        cat <<EOF
Nothing enabled. Next (deploy/README.md):
  sudo install -D -m 600 deploy/quant.env.example $env_file   # then edit it (optional)
  sudo systemctl daemon-reload
  sudo systemctl enable --now quant-worker.service quant-cockpit.service quant-health.timer
or, for one cycle each weekday at $once_at $zone instead of the long-running worker:
  sudo systemctl enable --now quant-worker-once.timer quant-cockpit.service
EOF
        ;;
esac
