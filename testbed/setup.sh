#!/bin/bash
# Brings up Kapsule's test bed on a fresh Debian 12 machine (root,
# idempotent): packages, the test user and its session bus, journald,
# incusd with a storage pool, incus-user with the restricted test user, the
# test image (in both users' projects), and the test users' way into this
# checkout. A second run takes seconds.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/packages.sh"
"$HERE/user.sh"
"$HERE/journald.sh"
"$HERE/incusd.sh"
"$HERE/incus-user.sh"
"$HERE/image.sh"
"$HERE/checkout.sh"
