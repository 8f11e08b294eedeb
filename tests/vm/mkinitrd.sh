#!/usr/bin/env bash
# Build the test VM's initramfs (build/vm/initrd.img) and the small static
# guest helpers (build/vm/bin/*) from tests/vm/helpers/*.c.
#
# The initramfs holds only what is needed to reach the host's root fs:
# a static busybox, /init (tests/vm/init.sh) and the 9p modules in load
# order. Everything else comes from the host root over 9p.
#
# Idempotent: rebuilds only when an input changed (content stamp).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/tests/vm
VMDIR=$REPO/build/vm
KDIR=$VMDIR/kernel
OUT=$VMDIR/initrd.img
BUSYBOX=${NUCLEUS_VM_BUSYBOX:-/bin/busybox}

die() { echo "mkinitrd: $*" >&2; exit 1; }

"$HERE/fetch-kernel.sh"
release=$(cat "$KDIR/release")
# Serialise concurrent callers (prove -j runs vm.t and harness.t together).
exec 8>"$VMDIR/.initrd.lock"
flock 8
tree=$KDIR/modules

# --- static guest helpers (rebuilt when the source is newer) ---------------
mkdir -p "$VMDIR/bin"
for src in "$HERE"/helpers/*.c; do
    [[ -e $src ]] || continue
    bin=$VMDIR/bin/$(basename "$src" .c)
    if [[ ! -x $bin || $src -nt $bin ]]; then
        command -v gcc >/dev/null || die "gcc is needed to build $(basename "$src")"
        gcc -static -O2 -Wall -Wextra -Werror -o "$bin.tmp.$$" "$src" ||
            die "cannot build $src (static link needs libc6-dev)"
        mv "$bin.tmp.$$" "$bin"
    fi
done

# --- initramfs --------------------------------------------------------------
[[ -x $BUSYBOX ]] || die "no $BUSYBOX (install busybox-static)"
# A dynamic busybox would need its libraries in the initramfs.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install busybox-static"
fi
for tool in cpio gzip xz modprobe sha256sum; do
    command -v "$tool" >/dev/null || die "missing tool '$tool' (see tests/vm/deps.txt)"
done

# The 9p client and its dependencies, in load order (virtio, virtio_pci and
# virtio_ring are built into Debian's 6.12 kernel; modprobe prints them as
# "builtin" and they are skipped).
mods=()
for m in 9p 9pnet_virtio; do
    while read -r verb path _; do
        [[ $verb == insmod ]] || continue
        for seen in "${mods[@]}"; do [[ $seen == "$path" ]] && continue 2; done
        mods+=("$path")
    done < <(modprobe -d "$tree" -S "$release" --show-depends "$m")
done
((${#mods[@]} > 0)) || die "no 9p modules found for $release"

stamp=$(
    {
        echo "$release"
        cat "$HERE/mkinitrd.sh" "$HERE/init.sh"
        sha256sum "$BUSYBOX"
        printf '%s\n' "${mods[@]##*/}"
    } | sha256sum | cut -d' ' -f1
)
if [[ -f $OUT && -f $OUT.stamp && $(cat "$OUT.stamp") == "$stamp" ]]; then
    exit 0
fi

STAGE=$(mktemp -d "$VMDIR/initrd.tmp.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
root=$STAGE/root
mkdir -p "$root"/{bin,dev,proc,sys,newroot,lib/modules}
cp "$BUSYBOX" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 755 "$HERE/init.sh" "$root/init"
# Uncompressed .ko files: no need to rely on busybox insmod handling .xz.
for path in "${mods[@]}"; do
    name=$(basename "$path")
    case $name in
    *.ko.xz) xz -dc "$path" >"$root/lib/modules/${name%.xz}" ;;
    *.ko.zst) zstd -dcq "$path" >"$root/lib/modules/${name%.zst}" ;;
    *.ko.gz) gzip -dc "$path" >"$root/lib/modules/${name%.gz}" ;;
    *) cp "$path" "$root/lib/modules/$name" ;;
    esac
    echo "${name%.ko*}.ko" >>"$root/lib/modules/load-order"
done
# The console device must exist before devtmpfs is mounted, for /init's output.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) |
    gzip -1 >"$STAGE/initrd.img"
mv "$STAGE/initrd.img" "$OUT"
echo "$stamp" >"$OUT.stamp"
echo "mkinitrd: built $OUT ($(du -h "$OUT" | cut -f1)) for $release" >&2
