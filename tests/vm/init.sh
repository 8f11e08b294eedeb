#!/bin/busybox sh
# shellcheck shell=dash
# /init of the test VM's initramfs (run by busybox sh; POSIX sh only).
#
# Stage 1 (PID 1 in the initramfs): mount proc/sys/dev, load the 9p modules,
# mount the host's root fs read-only over 9p at /newroot, put tmpfs over the
# writable places, mount the job share, then switch_root into the host root.
# switch_root (not chroot) matters: in a chroot, unshare(CLONE_NEWUSER) fails
# with EPERM, and the runtime under test needs user namespaces.
#
# Stage 2 (PID 1 in the host root, still this script run by a copy of
# busybox kept in /run/vm): mount cgroup2, enable controllers, run the job's
# command with its output and exit code in the job share, power off.
#
# Job share layout (a host temp dir, tag "job"), written by tests/vm/run:
#   cmd      sh script: cd to the repo and exec the command
#   modules  host path of the module tree (<it>/lib/modules/<release>)
#   repo-share  (optional) repo path to mount from the "repo" 9p share
# and written here:
#   booted   stage 2 was reached
#   stdout, stderr, rc

BB=/bin/busybox
JOB=/run/vm/job
# 9p msize: larger means fewer round trips; 512000 is the virtio maximum.
P9OPTS=trans=virtio,version=9p2000.L,msize=512000

log() { echo "vm-init: $*" >/dev/console; }
die() {
    log "FATAL: $*"
    $BB sync
    $BB poweroff -f
    exit 1
}

stage1() {
    $BB mkdir -p /proc /sys /dev /newroot
    $BB mount -t proc proc /proc
    $BB mount -t sysfs sysfs /sys
    $BB mount -t devtmpfs devtmpfs /dev
    # Load order was resolved on the host with modprobe --show-depends.
    while read -r m; do
        $BB insmod "/lib/modules/$m" || die "insmod $m failed"
    done </lib/modules/load-order

    # cache=loose: the host root does not change under a test run, and
    # cached metadata makes exec/stat over 9p much cheaper under TCG.
    $BB mount -t 9p -o "$P9OPTS,ro,cache=loose" hostroot /newroot ||
        die "cannot mount the host root over 9p (tag hostroot)"
    $BB mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /newroot/tmp || die "tmpfs /tmp"
    $BB mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /newroot/var/tmp || die "tmpfs /var/tmp"
    $BB mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /newroot/run || die "tmpfs /run"
    $BB mkdir -p /newroot$JOB
    $BB mount -t 9p -o "$P9OPTS" job /newroot$JOB || die "cannot mount the job share (tag job)"
    # A checkout under /tmp, /var/tmp or /run is hidden by the tmpfs above;
    # tests/vm/run then shares it on its own (tag repo).
    if [ -s /newroot$JOB/repo-share ]; then
        repo=$($BB cat /newroot$JOB/repo-share)
        $BB mkdir -p "/newroot$repo" || die "cannot create /newroot$repo"
        $BB mount -t 9p -o "$P9OPTS,ro,cache=loose" repo "/newroot$repo" ||
            die "cannot mount the repo share at $repo"
    fi
    # Stage 2 needs busybox after the initramfs is gone.
    $BB cp $BB /init /newroot/run/vm/

    for d in proc sys dev; do
        $BB mount --move /$d /newroot/$d || die "mount --move /$d"
    done
    # shellcheck disable=SC2093  # die only runs if the exec itself fails
    exec $BB switch_root /newroot /run/vm/busybox sh /run/vm/init stage2
    die "switch_root failed"
}

stage2() {
    BB=/run/vm/busybox
    export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    export HOME=/tmp LANG=C.UTF-8 NUCLEUS_VM=1 NUCLEUS_VM_JOB=$JOB
    unset TERM

    $BB mkdir -p /dev/pts /dev/shm /dev/mqueue
    $BB mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
    $BB mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
    $BB mount -t mqueue mqueue /dev/mqueue 2>/dev/null
    $BB mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
    [ -e /dev/fd ] || $BB ln -s /proc/self/fd /dev/fd
    # Pure cgroup v2 (cgroup_no_v1=all), mounted like systemd does it.
    $BB mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
        die "cannot mount cgroup2"
    ctl=""
    for c in cpuset cpu io memory pids; do
        $BB grep -qw "$c" /sys/fs/cgroup/cgroup.controllers && ctl="$ctl +$c"
    done
    echo "$ctl" >/sys/fs/cgroup/cgroup.subtree_control ||
        die "cannot enable controllers:$ctl"
    # Kernel modules (veth, bridge, nf_tables, overlay, ...): the host's
    # /lib/modules has nothing for this kernel and the root is read-only, so
    # point kmod at the cached tree (<tree>/lib/modules/<release>) instead:
    # MODPROBE_OPTIONS for modprobe run by tests, a wrapper for autoloading.
    tree=$($BB cat $JOB/modules 2>/dev/null)
    # (busybox sh prefers its own applets, so look the binary up by path)
    kmod=""
    for f in /usr/sbin/modprobe /sbin/modprobe /usr/bin/modprobe /bin/modprobe; do
        [ -x "$f" ] && kmod=$f && break
    done
    if [ -n "$tree" ] && [ -n "$kmod" ] && [ -d "$tree/lib/modules/$($BB uname -r)" ]; then
        export MODPROBE_OPTIONS="-d $tree"
        printf '#!/run/vm/busybox sh\nexec %s -d "%s" "$@"\n' "$kmod" "$tree" >/run/vm/modprobe
        $BB chmod 755 /run/vm/modprobe
        echo /run/vm/modprobe >/proc/sys/kernel/modprobe
    else
        log "warning: no module tree or no modprobe; module autoloading is off"
    fi
    $BB hostname nucleus-vm
    $BB ip link set lo up 2>/dev/null

    : >$JOB/booted
    # The host's /bin/sh, not busybox sh, so that a bare command name runs
    # the host's binary rather than a busybox applet of the same name.
    sh=/bin/sh
    [ -x $sh ] || sh="$BB sh"
    $sh $JOB/cmd >$JOB/stdout 2>$JOB/stderr </dev/null
    rc=$?
    # rc last, through a rename: its presence means stdout/stderr are final.
    echo "$rc" >$JOB/rc.tmp && $BB mv $JOB/rc.tmp $JOB/rc
    $BB sync
    $BB poweroff -f
}

case "${1:-}" in
stage2) stage2 ;;
*) stage1 ;;
esac
