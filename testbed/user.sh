#!/bin/bash
# Creates the unprivileged test user, a member of incus-admin, with its own
# XDG_RUNTIME_DIR and session bus: the way a desktop user runs Kapsule.
# Writes the facts tests need to $TESTBED_STATE/env.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/accounts.sh"
need_root

# systemd-journal: reads the journal, as a desktop user reads their own.
ensure_user "$TESTBED_USER" "$TESTBED_UID" incus-admin incus systemd-journal
uid=$(id -u "$TESTBED_USER"); gid=$(id -g "$TESTBED_USER")
home=$(getent passwd "$TESTBED_USER" | cut -d: -f6)
# incusd reads these at start; incusd.sh runs after this script.
root_may_map "$uid" "$gid"
ensure_session_bus "$TESTBED_USER"

env_set <<ENV
KAPSULE_TESTBED=1
KAPSULE_TESTBED_USER=$TESTBED_USER
KAPSULE_TESTBED_UID=$uid
KAPSULE_TESTBED_GID=$gid
KAPSULE_TESTBED_HOME=$home
KAPSULE_TESTBED_RUNTIME_DIR=/run/user/$uid
KAPSULE_TESTBED_SESSION_BUS=unix:path=/run/user/$uid/bus
KAPSULE_TESTBED_IMAGE=$TESTBED_IMAGE_ALIAS
KAPSULE_TESTBED_INCUS_SOCKET=$INCUS_SOCKET
ENV
log "user $TESTBED_USER ok (uid $uid, bus /run/user/$uid/bus)"
