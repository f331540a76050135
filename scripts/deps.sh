# Debian 12 packages cadenza needs to build, test and run (sourced).
CADENZA_PACKAGES="meson ninja-build pkg-config gcc g++ libevent-dev libhiredis-dev
libcurl4-openssl-dev libyaml-dev libsqlite3-dev sqlite3 libjansson-dev libssl-dev
libphonenumber-dev libre2-dev libprotobuf-dev redis-server redis-tools tzdata clang libclang-rt-14-dev valgrind
python3 python3-aiosmtpd faketime kannel prometheus"
# What the benchmarks in bench/ need besides (bench/sms.sh installs them).
CADENZA_BENCH_PACKAGES="linux-perf wrk"
# What the browser test (tests/integration/report-browser.sh) needs besides:
# Chromium with a font, node with npm, and from npm playwright-core (which
# drives the system's Chromium, no browser download) and axe-core, kept in
# a folder outside the repository.
CADENZA_BROWSER_PACKAGES="chromium fonts-dejavu-core"
CADENZA_NPM_PACKAGES="playwright-core@1.65 axe-core@4"
CADENZA_NPM_DIR=${CADENZA_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cadenza-npm}

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

# Install what the browser test needs: the packages, node and npm unless a
# node with npm is there already (a nodejs from elsewhere would conflict
# with Debian's npm), and the npm packages into CADENZA_NPM_DIR.
install_browser_deps() {
    install_missing_packages $CADENZA_BROWSER_PACKAGES || return 1
    command -v npm >/dev/null 2>&1 || install_missing_packages nodejs npm || return 1
    [ -f "$CADENZA_NPM_DIR/node_modules/playwright-core/package.json" ] &&
        [ -f "$CADENZA_NPM_DIR/node_modules/axe-core/package.json" ] && return 0
    echo "installing into $CADENZA_NPM_DIR: $CADENZA_NPM_PACKAGES" >&2
    mkdir -p "$CADENZA_NPM_DIR" &&
        npm install --prefix "$CADENZA_NPM_DIR" --no-audit --no-fund --loglevel=error \
            $CADENZA_NPM_PACKAGES >/dev/null
}
