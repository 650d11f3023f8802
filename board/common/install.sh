#!/bin/sh
# Installs ctibridge on a Debian-like board: binary, config, system user,
# systemd unit. Idempotent: run it again to upgrade the binary; it never
# overwrites a config you edited.
#
#   sudo ./install.sh path/to/ctibridge [path/to/config.json]
set -eu

bin=${1:?usage: install.sh BINARY [CONFIG]}
here=$(cd "$(dirname "$0")" && pwd)
config_src=${2:-$here/../../config/example.json}
unit_src=$here/../common/ctibridge.service
[ -f "$unit_src" ] || unit_src=$here/ctibridge.service

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
"$bin" --version >/dev/null 2>&1 || { echo "install.sh: $bin does not run on this board (wrong architecture?)" >&2; exit 1; }

if ! id ctibridge >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ctibridge
fi

install -m 0755 "$bin" /usr/local/bin/ctibridge.new
mv -f /usr/local/bin/ctibridge.new /usr/local/bin/ctibridge

install -d -m 0750 -o root -g ctibridge /etc/ctibridge
if [ ! -e /etc/ctibridge/config.json ]; then
    install -m 0640 -o root -g ctibridge "$config_src" /etc/ctibridge/config.json
    echo "installed /etc/ctibridge/config.json: edit url, userName, secret and users, then:"
    echo "  sudo systemctl restart ctibridge"
elif ! cmp -s "$config_src" /etc/ctibridge/config.json; then
    echo "kept your /etc/ctibridge/config.json (it differs from $config_src)"
    chmod 0640 /etc/ctibridge/config.json
    chgrp ctibridge /etc/ctibridge/config.json
fi

install -m 0644 "$unit_src" /etc/systemd/system/ctibridge.service
systemctl daemon-reload
systemctl enable ctibridge >/dev/null
systemctl restart ctibridge
echo "ctibridge is running; check: curl -s http://127.0.0.1:2080/health"
