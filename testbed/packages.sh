#!/bin/bash
# Installs what Kapsule's tests need and the machine lacks (Debian 12, root).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root

backports_source() {
	if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return
	fi
	local uri keyring
	uri=$(debian_mirror)
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	log "adding bookworm-backports ($uri)"
	cat >/etc/apt/sources.list.d/kapsule-backports.sources <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: $keyring
SRC
	APT_UPDATED=no
}

APT_UPDATED=${APT_UPDATED:-}
apt_update_once() {
	if [ "$APT_UPDATED" != yes ]; then
		apt-get update -qq
		APT_UPDATED=yes
	fi
}

missing=()
want() { # want PACKAGE [COMMAND-OR-PATH]
	local pkg=$1 probe=${2:-}
	if [ -n "$probe" ]; then
		if [ -e "$probe" ] || command -v "$probe" >/dev/null 2>&1; then return; fi
	elif dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
		return
	fi
	missing+=("$pkg")
}

want dbus-daemon dbus-daemon
want dbus-bin dbus-send
want debootstrap debootstrap
want packagekit-tools pkcon
want dpkg-dev dpkg-scanpackages
want iproute2 ip
want util-linux nsenter
want tmux tmux
want xz-utils xz
want systemd systemd-analyze
want ca-certificates /etc/ssl/certs/ca-certificates.crt
want openssl openssl
want procps pgrep
want acl setfacl
want uidmap newuidmap
# incus-user's bridges serve DHCP and DNS with dnsmasq (Incus's packages
# recommend it; we install them without recommends).
want dnsmasq-base dnsmasq

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt_update_once
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! [ -x /usr/libexec/incus/incusd ] || ! command -v incus >/dev/null; then
	backports_source
	apt_update_once
	log "installing incus from bookworm-backports"
	apt-get install -y -qq -t bookworm-backports --no-install-recommends incus incus-client >/dev/null
fi
log "packages ok (incus $(incus --version 2>/dev/null || echo '?'))"
