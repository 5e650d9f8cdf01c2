# The independent programs the tests run as judges, defined once: `.ci/run` and `./dev test`
# both source this file. Each entry is COMMAND:DEBIAN-PACKAGE.
#   whois (issue 5); rpki-client, FORT, OctoRPKI, rsync (issue 6); rtr-tools, BIRD 2, StayRTR
#   (issue 7); iproute2 (`ip netns`) and util-linux (`setpriv`) for the network-namespace lab
#   (tests/netlab.py); promtool (package prometheus) judges each node's /metrics (issue 11);
#   Node.js and npm run node-rdap in the client matrix (issue 13); Chromium and its WebDriver
#   drive the web explorer's browser tests (issue 14).
ONEREG_JUDGES=(
    whois:whois
    rpki-client:rpki-client
    fort:fort-validator
    octorpki:octorpki
    rsync:rsync
    rtrclient:rtr-tools
    bird:bird2
    stayrtr:stayrtr
    ip:iproute2
    setpriv:util-linux
    promtool:prometheus
    node:nodejs
    npm:npm
    chromium:chromium
    chromedriver:chromium-driver
)
# Installed without recommended packages: only promtool is wanted, not a Prometheus server's.
ONEREG_JUDGES_NO_RECOMMENDS=" prometheus "

# The commands of missing judges, one per line.
missing_judges() {
    local entry
    for entry in "${ONEREG_JUDGES[@]}"; do
        command -v "${entry%%:*}" >/dev/null 2>&1 || echo "${entry%%:*}"
    done
}

# The Debian packages of missing judges, one per line.
missing_judge_packages() {
    local entry
    for entry in "${ONEREG_JUDGES[@]}"; do
        command -v "${entry%%:*}" >/dev/null 2>&1 || echo "${entry#*:}"
    done
}

# True when this shell may install packages: root, apt-get, and no ONEREG_NO_INSTALL.
can_install_judges() {
    [ -z "${ONEREG_NO_INSTALL:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

# apt-get install every missing judge (as root), as on a fresh Debian 12 CI machine.
install_judges() {
    local package plain=() bare=()
    while read -r package; do
        [ -n "$package" ] || continue
        if [[ "$ONEREG_JUDGES_NO_RECOMMENDS" == *" $package "* ]]; then
            bare+=("$package")
        else
            plain+=("$package")
        fi
    done < <(missing_judge_packages)
    [ ${#plain[@]} -gt 0 ] || [ ${#bare[@]} -gt 0 ] || return 0
    apt-get update -qq
    if [ ${#plain[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${plain[@]}"
    fi
    if [ ${#bare[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${bare[@]}"
    fi
}

# One line naming the judges still missing and the command that installs them (nothing when
# every judge is there).
report_missing_judges() {
    local commands packages
    commands=$(missing_judges | paste -sd, - | sed 's/,/, /g')
    packages=$(missing_judge_packages | paste -sd' ' -)
    [ -n "$commands" ] || return 0
    echo "judge tests skipped: ${commands} not installed; install them with:" \
        "sudo apt-get install -y ${packages} (or run ./dev test as root, which does)" >&2
}

# node-rdap for the client matrix, in the cache where tests/clientmatrix.py looks for it (the
# test installs it too when npm can reach the registry; it says why when it cannot).
install_node_rdap() {
    local cache="${HOME:-/root}/.cache/onereg-tests/npm"
    command -v npm >/dev/null 2>&1 || return 0
    [ -f "$cache/node_modules/node-rdap/package.json" ] \
        || npm install --prefix "$cache" --no-audit --no-fund node-rdap@0.5.0 >/dev/null \
        || echo "npm could not install node-rdap; the client matrix will try again and say why" >&2
}
