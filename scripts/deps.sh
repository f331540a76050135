# Debian 12 packages cadenza needs to build, test and run (sourced).
CADENZA_PACKAGES="meson ninja-build pkg-config gcc g++ libevent-dev libhiredis-dev
libcurl4-openssl-dev libyaml-dev libsqlite3-dev sqlite3 libjansson-dev libssl-dev
libphonenumber-dev libre2-dev libprotobuf-dev redis-server redis-tools tzdata clang libclang-rt-14-dev valgrind
python3 python3-aiosmtpd faketime kannel prometheus chromium fonts-dejavu-core nodejs npm"
# What the benchmarks in bench/ need besides (bench/sms.sh installs them).
CADENZA_BENCH_PACKAGES="linux-perf wrk"

# Install whatever is missing of the packages named, by default
# CADENZA_PACKAGES (needs root or sudo); quiet when all present.
install_missing_packages() {
    missing=""
    for p in ${*:-$CADENZA_PACKAGES}; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
}
