#!/usr/bin/env bash
# Builds a service's container image FROM scratch, offline: no base image is
# pulled. The image holds the release binary, the shared libraries `ldd`
# names (with the dynamic loader), /etc/passwd and /etc/group with the
# unprivileged user 65532 "nonroot" (as distroless), an empty /tmp, and the
# Debian package records of the copied libraries (so image scanners see the
# glibc version). Nothing else: no shell, no package manager.
#
# No CA bundle: reqwest is built with `rustls-tls`, which trusts the Mozilla
# roots compiled into the binary (webpki-roots), not the system store.
# tests/tests/e2e/image checks Cargo.lock still says so.
#
#   deploy/build-image.sh SERVICE [BINARY]       build the image (podman or buildah)
#   deploy/build-image.sh --rootfs DIR SERVICE [BINARY]
#                                                only assemble the root filesystem
#                                                (deploy/Dockerfile's runtime stages)
#   deploy/build-image.sh --containerfile SERVICE
#                                                print the Containerfile
#
# SERVICE: public-service, private-service or handoff-gate. BINARY: the release binary,
# target/release/SERVICE by default. IMAGE: the tag (localhost/SERVICE:latest).
# Prints the image's size, uncompressed and gzip-compressed.
set -euo pipefail

usage() {
    echo "usage: $0 [--rootfs DIR | --containerfile] public-service|private-service|handoff-gate [BINARY]" >&2
    exit 2
}

rootfs_only="" containerfile_only=""
case "${1:-}" in
    --rootfs)
        [ $# -ge 3 ] || usage
        rootfs_only="$2"
        shift 2
        ;;
    --containerfile)
        containerfile_only=1
        shift
        ;;
esac
service="${1:-}"
case "$service" in
    public-service | private-service | handoff-gate) ;;
    *) usage ;;
esac
# The same user id as distroless's "nonroot", so volumes and policies
# written for distroless images apply unchanged.
uid=65532

# The runtime stage: the same lines as deploy/Dockerfile's (tests/tests/e2e/image
# checks they agree).
containerfile() {
    cat <<EOF
FROM scratch
COPY rootfs/ /
USER $uid:$uid
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/$service"]
EOF
}
if [ -n "$containerfile_only" ]; then
    containerfile
    exit 0
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
binary="${2:-${CARGO_TARGET_DIR:-$root/target}/release/$service}"
[ -x "$binary" ] || {
    echo "no executable $binary (cargo build --release --locked --bin $service)" >&2
    exit 1
}

assemble() {
    local rootfs="$1"
    mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/var/lib/dpkg/status.d"
    chmod 1777 "$rootfs/tmp"
    install -m 0755 "$binary" "$rootfs/usr/local/bin/$service"

    # The libraries at the paths ldd names (the loader under its PT_INTERP
    # path): the loader finds them there without an ld.so.cache.
    local libs
    libs="$(ldd "$binary" | grep -o '/[^ ]*' || true)"
    [ -n "$libs" ] || echo "$binary is static: no libraries to copy"
    local lib packages=""
    for lib in $libs; do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
        # The Debian package that ships it (merged /usr: try both spellings).
        local owner
        owner="$(dpkg-query -S "$lib" 2>/dev/null || dpkg-query -S "$(readlink -f "$lib")" 2>/dev/null || true)"
        owner="${owner%%:*}"
        [ -z "$owner" ] || packages="$packages $owner"
    done
    # Package records and licences of what was copied, the way distroless
    # ships them (/var/lib/dpkg/status.d/<package>): scanners such as
    # Artifact Analysis or Trivy read them to match glibc's advisories.
    local package
    for package in $(echo "$packages" | tr ' ' '\n' | sort -u); do
        dpkg-query -s "$package" > "$rootfs/var/lib/dpkg/status.d/$package"
        if [ -f "/usr/share/doc/$package/copyright" ]; then
            mkdir -p "$rootfs/usr/share/doc/$package"
            cp "/usr/share/doc/$package/copyright" "$rootfs/usr/share/doc/$package/"
        fi
    done
    [ ! -e /etc/os-release ] || cp -L /etc/os-release "$rootfs/etc/os-release"
    [ ! -e /etc/debian_version ] || cp /etc/debian_version "$rootfs/etc/debian_version"

    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' \
        "$uid" "$uid" > "$rootfs/etc/passwd"
    printf 'root:x:0:\nnonroot:x:%s:\n' "$uid" > "$rootfs/etc/group"
    # Without it glibc asks DNS first and believes its "not found" before
    # reading /etc/hosts ("dns [!UNAVAIL=return] files",
    # https://www.gnu.org/software/libc/manual/html_node/Notes-on-NSS-Configuration-File.html).
    echo 'hosts: files dns' > "$rootfs/etc/nsswitch.conf"
}

if [ -n "$rootfs_only" ]; then
    assemble "$rootfs_only"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
assemble "$work/rootfs"
containerfile > "$work/Containerfile"
image="${IMAGE:-localhost/$service:latest}"

# FROM scratch and COPY only: nothing to pull and no RUN step, so neither a
# registry nor a container runtime is needed to build.
if command -v podman > /dev/null; then
    builder=podman
elif command -v buildah > /dev/null; then
    builder=buildah
else
    echo "neither podman nor buildah is installed (apt-get install podman)" >&2
    exit 1
fi
"$builder" build --quiet --pull=never -f "$work/Containerfile" -t "$image" "$work" > /dev/null

# The image is one layer: the root filesystem. A registry stores it as a
# gzip-compressed tarball, the figure registries and `docker pull` report.
layer() { tar -C "$work/rootfs" --numeric-owner --owner=0 --group=0 -cf - .; }
size="$(layer | wc -c)"
compressed="$(layer | gzip -c | wc -c)"
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
echo "$image: $(mb "$size") uncompressed, $(mb "$compressed") compressed (gzip)"
