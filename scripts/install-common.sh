# Shared by scripts/install and scripts/uninstall (POSIX sh, sourced, not run).
#
# Settings (environment; `make install PREFIX=...` passes them through):
#   PREFIX        where nightcramp lives; the venv is $PREFIX/venv   (default /opt/nightcramp)
#   CONFDIR       configuration directory                            (default /etc/nightcramp)
#   STATEDIR      state directory (systemd's StateDirectory=)         (default /var/lib/nightcramp)
#   UNITDIR       where the unit file goes                            (default /etc/systemd/system)
#   PYTHON        Python 3.11+ used to create the venv                (default python3)
#   DESTDIR       stage every file under this directory instead of /; host-wide steps
#                 (user, packages, systemctl, raspi-config, ownership) are only printed
#   NIGHTCRAMP_INSTALL_DRYRUN=1
#                 change nothing at all: print each command that would change the system
#   PURGE=1       (uninstall) also remove configuration, state, the user and the groups it created
#   SIMULATED=1   (install) a new configuration gets [device] simulated = true: the try-it mode,
#                 an emulated sensor and room, for a machine without the sensor (docs/install.md)
#   DEVDIR        where the device nodes are (default /dev): no $DEVDIR/i2c-* means no sensor can
#                 be read yet, and the service is only started when the configuration is simulated
#
# Output: the commands that change something, one per line starting with "+ ",
# go to stdout; explanations go to stderr.

set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/nightcramp}
CONFDIR=${CONFDIR:-/etc/nightcramp}
STATEDIR=${STATEDIR:-/var/lib/nightcramp}
UNITDIR=${UNITDIR:-/etc/systemd/system}
PYTHON=${PYTHON:-python3}
DESTDIR=${DESTDIR:-}
DRYRUN=${NIGHTCRAMP_INSTALL_DRYRUN:-0}
SIMULATED=${SIMULATED:-0}
DEVDIR=${DEVDIR:-/dev}
SERVICE_USER=nightcramp
UNIT=nightcramp.service
VENV=$PREFIX/venv

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { say "$*"; exit 1; }

# show CMD...: print a command as a shell would read it back ("+ cmd 'arg with space'").
show() {
    out="+"
    for arg in "$@"; do
        case "$arg" in
            ">" | ">>") ;;
            "" | *[!A-Za-z0-9_./:=@%+,-]*) arg="'$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")'" ;;
        esac
        out="$out $arg"
    done
    printf '%s\n' "$out"
}

is_dry() { [ "$DRYRUN" = 1 ]; }
# Staging: files land under DESTDIR; the host itself is left alone.
is_staged() { [ -n "$DESTDIR" ]; }

# run CMD...: change a file of the installation (under DESTDIR when staging).
run() {
    if is_dry; then show "$@"; else "$@"; fi
}

# host CMD...: change the host itself (users, packages, services, boot config).
host() {
    if is_dry || is_staged; then show "$@"; else "$@"; fi
}

# Refuse paths that would make `rm -rf` or `install` dangerous.
check_path() {
    case "$2" in
        /) die "$1=/ is not a safe place for nightcramp" ;;
        /?*) ;;
        *) die "$1 must be an absolute path, got '$2'" ;;
    esac
    case "$2" in
        /etc|/etc/|/opt|/opt/|/usr|/usr/|/var|/var/|/var/lib|/var/lib/|/home|/root|*..*)
            die "$1=$2 is not a safe place for nightcramp" ;;
    esac
}

check_settings() {
    check_path PREFIX "$PREFIX"
    check_path CONFDIR "$CONFDIR"
    check_path STATEDIR "$STATEDIR"
    check_path UNITDIR "$UNITDIR"
    if [ -n "$DESTDIR" ]; then
        check_path DESTDIR "$DESTDIR"
    fi
    if ! is_dry && ! is_staged && [ "$(id -u)" != 0 ]; then
        die "run as root: sudo make $PROG_TARGET (or NIGHTCRAMP_INSTALL_DRYRUN=1 to see what it would do)"
    fi
}

have() { command -v "$1" >/dev/null 2>&1; }

# systemctl is usable (present, and systemd is the running init).
have_systemd() { have systemctl && [ -d /run/systemd/system ]; }
