#!/usr/bin/env bash
# Fetch a Debian 6.12-series kernel for the test VM and cache it under
# build/vm/kernel/ (repo-relative):
#   vmlinux   uncompressed ELF, booted through its PVH entry (no in-guest
#             decompression: ~4 s faster under TCG than the bzImage)
#   release   the kernel release string (uname -r in the guest)
#   config    the kernel's .config
#   modules/lib/modules/<release>/  a pruned module tree with depmod output
#             (the guest bind-mounts it so the kernel can autoload modules)
#
# apt runs with a private configuration (-o options): its sources, lists and
# cache live in build/vm/apt/, so the machine's own apt state is untouched.
# The mirror URI is read from the machine's apt sources at run time.
#
# Environment overrides:
#   NUCLEUS_VM_SUITE       suite to take the kernel from (default: trixie,
#                          whose stock kernel is 6.12 LTS)
#   NUCLEUS_VM_KERNEL_PKG  exact package, e.g. linux-image-6.12.117+deb13-amd64
#                          (default: whatever linux-image-amd64 depends on)
#   NUCLEUS_VM_MIRROR      mirror URI (default: from the machine's apt sources)
#
# Idempotent: exits at once when build/vm/kernel/ is complete.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
VMDIR=$REPO/build/vm
KDIR=$VMDIR/kernel
SUITE=${NUCLEUS_VM_SUITE:-trixie}

die() { echo "fetch-kernel: $*" >&2; exit 1; }

[[ -f $KDIR/.complete ]] && exit 0

for tool in apt-get apt-cache dpkg-deb depmod modprobe zstd xz od flock; do
    command -v "$tool" >/dev/null || die "missing tool '$tool' (see tests/vm/deps.txt)"
done

mkdir -p "$VMDIR"
# Serialise concurrent callers (e.g. prove -j); the loser finds the cache.
exec 9>"$VMDIR/.fetch.lock"
flock 9
[[ -f $KDIR/.complete ]] && exit 0

# Print "URI KEYRING" of the first Debian main-archive entry (a suite without
# '-', i.e. not -security/-updates/-backports) in the machine's apt sources.
host_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        # deb822: stanzas separated by blank lines.
        awk '
            function flush() {
                if (uris != "" && types ~ /(^| )deb( |$)/ && main) {
                    split(uris, u, " "); print u[1], (key == "" ? "-" : key); found = 1; exit
                }
                uris = ""; types = ""; key = ""; main = 0
            }
            /^[[:space:]]*$/ { flush(); next }
            /^#/ { next }
            /^Types:/ { sub(/^Types:[[:space:]]*/, ""); types = $0 }
            /^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
            /^Signed-By:/ { sub(/^Signed-By:[[:space:]]*/, ""); if ($0 ~ /^\//) key = $1 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-/) main = 1 }
            END { if (!found) flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] || continue
        # one-line format: deb [opts] URI suite components...
        awk '
            $1 != "deb" { next }
            {
                key = "-"; i = 2
                if ($2 ~ /^\[/) {
                    for (; i <= NF; i++) {
                        if ($i ~ /signed-by=/) { k = $i; sub(/.*signed-by=/, "", k); sub(/\]$/, "", k); key = k }
                        if ($i ~ /\]$/) { i++; break }
                    }
                }
                if ($(i + 1) !~ /-/) { print $i, key; exit }
            }
        ' "$f"
    done
}

read -r mirror keyring < <(host_mirror; echo "- -") || true
[[ -n ${NUCLEUS_VM_MIRROR:-} ]] && mirror=$NUCLEUS_VM_MIRROR
[[ $mirror != - ]] || die "no Debian mirror found in /etc/apt/sources*; set NUCLEUS_VM_MIRROR"
# The full archive keyring also has the keys of releases newer than the
# host's; the host stanza's own Signed-By is the fallback.
if [[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
fi
[[ $keyring != - && -r $keyring ]] || die "no Debian archive keyring (install debian-archive-keyring)"

APTDIR=$VMDIR/apt
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
echo "deb [signed-by=$keyring] $mirror $SUITE main" >"$APTDIR/sources.list"
APT_OPTS=(
    -o "Dir::Etc::SourceList=$APTDIR/sources.list"
    -o Dir::Etc::SourceParts=/dev/null
    -o Dir::Etc::Preferences=/dev/null
    -o Dir::Etc::PreferencesParts=/dev/null
    -o "Dir::State::Lists=$APTDIR/lists"
    -o "Dir::Cache=$APTDIR/cache"
    -o Dir::State::status=/dev/null
    -o Acquire::Languages=none
    -o APT::Sandbox::User=root
    -o Debug::NoLocking=1
)

echo "fetch-kernel: updating package lists for $SUITE from the machine's mirror" >&2
apt-get -qq "${APT_OPTS[@]}" update >&2 || die "apt-get update failed for $mirror $SUITE"

pkg=${NUCLEUS_VM_KERNEL_PKG:-}
if [[ -z $pkg ]]; then
    pkg=$(apt-cache "${APT_OPTS[@]}" depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.12.*-amd64$/ { print $2; exit }')
fi
[[ $pkg == linux-image-6.12*-amd64 ]] ||
    die "no linux-image-6.12*-amd64 in $SUITE (linux-image-amd64 -> '${pkg:-none}'); set NUCLEUS_VM_SUITE or NUCLEUS_VM_KERNEL_PKG"

STAGE=$(mktemp -d "$VMDIR/kernel.tmp.XXXXXX")
chmod 755 "$STAGE"
trap 'rm -rf "$STAGE"' EXIT

echo "fetch-kernel: downloading $pkg" >&2
(cd "$STAGE" && apt-get -qq "${APT_OPTS[@]}" download "$pkg" >&2) || die "apt-get download $pkg failed"
dpkg-deb -x "$STAGE"/*.deb "$STAGE/x"
rm -f "$STAGE"/*.deb

vmlinuz=$(echo "$STAGE"/x/boot/vmlinuz-*)
[[ -f $vmlinuz ]] || die "no vmlinuz in $pkg"
release=${vmlinuz##*/vmlinuz-}

# bzImage -> vmlinux. The setup header gives the payload's place exactly:
# setup_sects (0x1f1), payload_offset (0x248) and payload_length (0x24c,
# which includes a trailing 4-byte little-endian uncompressed size).
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
setup_sects=$(u8 "$vmlinuz" $((0x1f1)))
((setup_sects == 0)) && setup_sects=4
start=$(((setup_sects + 1) * 512 + $(u32 "$vmlinuz" $((0x248)))))
len=$(u32 "$vmlinuz" $((0x24c)))
dd if="$vmlinuz" of="$STAGE/payload" iflag=skip_bytes,count_bytes skip="$start" count="$len" status=none
want=$(u32 "$STAGE/payload" $((len - 4)))
truncate -s $((len - 4)) "$STAGE/payload"
magic=$(od -An -tx1 -N6 "$STAGE/payload" | tr -d ' ')
case $magic in
28b52ffd*) zstd -dcq "$STAGE/payload" >"$STAGE/vmlinux" ;;
fd377a585a00) xz -dc "$STAGE/payload" >"$STAGE/vmlinux" ;;
1f8b*) gzip -dc "$STAGE/payload" >"$STAGE/vmlinux" ;;
*) die "unknown kernel compression (magic $magic) in $vmlinuz" ;;
esac
rm -f "$STAGE/payload"
[[ $(stat -c %s "$STAGE/vmlinux") == "$want" ]] || die "decompressed vmlinux has the wrong size"
[[ $(od -An -c -N4 "$STAGE/vmlinux" | tr -d ' ') == 177ELF ]] || die "vmlinux is not an ELF file"
grep -q '^CONFIG_PVH=y' "$STAGE"/x/boot/config-* || die "$pkg lacks CONFIG_PVH"

# Module tree, normalised to lib/modules/<release> (trixie ships it under usr/).
src=$STAGE/x/lib/modules/$release
[[ -d $src ]] || src=$STAGE/x/usr/lib/modules/$release
[[ -d $src ]] || die "no module tree in $pkg"
mkdir -p "$STAGE/modules/lib/modules"
mv "$src" "$STAGE/modules/lib/modules/$release"
# Prune hardware drivers a virtio-only guest never loads (~116 MB -> ~24 MB).
# Everything under fs/, net/, crypto/, lib/, arch/ stays, and so do the
# virtual network/block drivers (veth, bridge, macvlan, dummy, loop, ...).
kmods=$STAGE/modules/lib/modules/$release/kernel
rm -rf "$kmods/sound"
for d in "$kmods"/drivers/*; do
    case ${d##*/} in
    net | block | md | char | virtio | vhost) ;;
    *) rm -rf "$d" ;;
    esac
done
for d in wireless ethernet usb can wwan ieee802154 hamradio wan phy pcs mdio dsa \
    arcnet fddi plip slip ppp hyperv thunderbolt ipa; do
    rm -rf "$kmods/drivers/net/$d"
done
depmod -b "$STAGE/modules" "$release"
for m in 9p 9pnet_virtio overlay veth bridge nf_tables; do
    modprobe -d "$STAGE/modules" -S "$release" --show-depends "$m" >/dev/null ||
        die "module $m missing from the pruned tree"
done

cp "$STAGE"/x/boot/config-* "$STAGE/config"
echo "$release" >"$STAGE/release"
echo "$pkg" >"$STAGE/package"
rm -rf "$STAGE/x"
touch "$STAGE/.complete"
rm -rf "$KDIR"
mv "$STAGE" "$KDIR"
trap - EXIT
# The lists are only needed to resolve the package; drop ~10 MB.
rm -rf "$APTDIR/lists" "$APTDIR/cache"
echo "fetch-kernel: cached $pkg ($release) in build/vm/kernel" >&2
