#!/bin/bash
# Starts systemd-journald when it is not running, so that kapsuled's
# structured logging is tested against the real journal. There is no
# systemd as PID 1 on the test machines: journald runs detached and opens
# its sockets itself.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/accounts.sh"
need_root
mkdir -p "$TESTBED_LOG"

# Containers run journald too (seen from here by pgrep): ask the host's
# sockets instead.
journal_up() { [ -S /run/systemd/journal/socket ] && true | systemd-cat -t kapsule-testbed 2>/dev/null; }

if ! journal_up; then
	log "starting systemd-journald"
	setsid /lib/systemd/systemd-journald </dev/null >>"$TESTBED_LOG/journald.out" 2>&1 &
	for _ in $(seq 1 40); do
		journal_up && break
		sleep 0.25
	done
	journal_up || die "systemd-journald did not start; see $TESTBED_LOG/journald.out"
fi
# What systemd-tmpfiles does at boot: group systemd-journal may read the
# journal files (the test user is a member).
systemd-tmpfiles --create --prefix /run/log/journal --prefix /var/log/journal >/dev/null 2>&1 || true
env_set <<ENV
KAPSULE_TESTBED_JOURNAL=/run/systemd/journal/socket
ENV
log "journald ok"
