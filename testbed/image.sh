#!/bin/bash
# Builds the Debian 12 test image with debootstrap and imports it into Incus
# under $TESTBED_IMAGE_ALIAS. The built tarballs are cached under
# $TESTBED_CACHE, keyed by a hash of the recipe (this script, the package
# list, the overlay, the templates), so only a fresh machine pays for
# debootstrap.
#
# Every container from this image has exactly one pending update and one
# installable package, served from a local apt repository inside it:
#   kapsule-fixture        1.0 installed, 1.1 available (the pending update)
#   kapsule-fixture-extra  1.0 available, not installed
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
need_root

recipe_hash() {
	(
		cd "$HERE"
		cat image.sh lib.sh image/packages.txt
		find image/overlay image/templates -type f -o -type l | LC_ALL=C sort | while read -r f; do
			echo "$f"; if [ -L "$f" ]; then readlink "$f"; else cat "$f"; fi
		done
	) | sha256sum | cut -c1-16
}

KEY=$(recipe_hash)
OUT="$TESTBED_CACHE/image-$KEY"

# build_fixture_debs DIR: the tiny packages behind the pending-update fixture.
build_fixture_debs() {
	local dir=$1 name version src
	for spec in kapsule-fixture:1.0 kapsule-fixture:1.1 kapsule-fixture-extra:1.0; do
		name=${spec%%:*}; version=${spec##*:}
		src=$(mktemp -d)
		mkdir -p "$src/DEBIAN" "$src/usr/share/$name"
		echo "$version" >"$src/usr/share/$name/version"
		cat >"$src/DEBIAN/control" <<CTL
Package: $name
Version: $version
Architecture: all
Maintainer: Kapsule test bed <kapsule@localhost>
Section: misc
Priority: optional
Description: Kapsule test bed fixture ($version)
 A tiny package used to give test containers a pending update offline.
CTL
		dpkg-deb --root-owner-group --build "$src" "$dir/${name}_${version}_all.deb" >/dev/null
		rm -rf "$src"
	done
}

build() {
	local work rootfs mirror pkgs
	work=$(mktemp -d "$TESTBED_CACHE/build.XXXXXX")
	rootfs="$work/rootfs"
	mirror=$(debian_mirror)
	pkgs=$(grep -v '^#' "$HERE/image/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
	log "debootstrap bookworm from $mirror (about 2 minutes; cached afterwards)"
	debootstrap --variant=minbase --include="$pkgs" bookworm "$rootfs" "$mirror" \
		>"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }

	cp -a "$HERE/image/overlay/." "$rootfs/"
	# No internet in test containers: no mirror, only the fixture repository.
	: >"$rootfs/etc/apt/sources.list"
	echo localhost >"$rootfs/etc/hostname"
	rm -f "$rootfs/etc/machine-id"; : >"$rootfs/etc/machine-id"

	mkdir -p "$rootfs/srv/kapsule-fixture" "$work/debs"
	build_fixture_debs "$work/debs"
	cp "$work/debs/kapsule-fixture_1.1_all.deb" "$work/debs/kapsule-fixture-extra_1.0_all.deb" "$rootfs/srv/kapsule-fixture/"
	(cd "$rootfs/srv/kapsule-fixture" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
	cp "$work/debs/kapsule-fixture_1.0_all.deb" "$rootfs/tmp/"
	chroot "$rootfs" dpkg -i /tmp/kapsule-fixture_1.0_all.deb >/dev/null
	rm -f "$rootfs/tmp/kapsule-fixture_1.0_all.deb"
	chroot "$rootfs" apt-get update -qq >/dev/null 2>&1 || die "apt-get update inside the image failed"
	chroot "$rootfs" apt-get clean
	rm -rf "$rootfs/var/cache/apt/"*.bin

	cat >"$work/metadata.yaml" <<META
architecture: x86_64
creation_date: $(date +%s)
properties:
  os: Debian
  release: bookworm
  description: Kapsule test image (Debian 12, PackageKit, fixture $KEY)
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
  /etc/hosts:
    when: [create, copy]
    template: hosts.tpl
META
	mkdir -p "$work/meta/templates"
	cp "$work/metadata.yaml" "$work/meta/"
	cp "$HERE/image/templates/"*.tpl "$work/meta/templates/"
	tar -C "$work/meta" -czf "$work/meta.tar.gz" .
	tar -C "$rootfs" --numeric-owner -czf "$work/rootfs.tar.gz" .
	rm -rf "$OUT"
	mkdir -p "$OUT"
	mv "$work/meta.tar.gz" "$work/rootfs.tar.gz" "$OUT/"
	rm -rf "$work"
	log "image built: $OUT"
}

mkdir -p "$TESTBED_CACHE"
if [ ! -f "$OUT/rootfs.tar.gz" ]; then
	build
fi

# Fingerprint of a split image = sha256(meta || rootfs).
FP=$(cat "$OUT/meta.tar.gz" "$OUT/rootfs.tar.gz" | sha256sum | cut -d' ' -f1)

# ensure_alias PROJECT: the image under $TESTBED_IMAGE_ALIAS in PROJECT.
ensure_alias() {
	local project=$1 current
	current=$(incus image alias list --project "$project" --format csv 2>/dev/null |
		awk -F, -v a="$TESTBED_IMAGE_ALIAS" '$1==a {print $2}')
	if [ -n "$current" ] && [ "${FP#"$current"}" != "$FP" ]; then
		log "image $TESTBED_IMAGE_ALIAS up to date in project $project (${FP:0:12})"
		return
	fi
	incus image alias delete "$TESTBED_IMAGE_ALIAS" --project "$project" >/dev/null 2>&1 || true
	if incus image info "$FP" --project "$project" >/dev/null 2>&1; then
		incus image alias create "$TESTBED_IMAGE_ALIAS" "$FP" --project "$project" >/dev/null
	else
		log "importing $TESTBED_IMAGE_ALIAS into project $project"
		incus image import "$OUT/meta.tar.gz" "$OUT/rootfs.tar.gz" --alias "$TESTBED_IMAGE_ALIAS" \
			--project "$project" >/dev/null
	fi
	log "image $TESTBED_IMAGE_ALIAS ready in project $project (${FP:0:12})"
}

ensure_alias default
# Images are per project in incus-user's projects (features.images=true),
# as a real user's are: the restricted user gets the image imported into
# its own project (incus-user.sh made it), not a view of the default one.
if incus project show "$TESTBED_RESTRICTED_PROJECT" >/dev/null 2>&1; then
	ensure_alias "$TESTBED_RESTRICTED_PROJECT"
fi
