# rootlib.sh: a fresh Debian root for the package tests: a minimal root of this machine's release
# (debootstrap, cached as a tarball), unpacked anew into the test's temp dir, and programs run inside
# it with a clean environment.  Source it from bash after simlib's t_init:
#   . "$top_srcdir/tests/package/rootlib.sh"
# SPDX-License-Identifier: AGPL-3.0-or-later
#
#   root_require            # skips the test (TAP) when it cannot run here (not root, no debootstrap...)
#   root_create || ...      # ROOT: a new root at $T_DIR/root, its apt lists updated
#   root_run CMD ARGS...    # CMD inside ROOT as root, env -i; $T_DIR is seen at the same path inside
#   root_apt ARGS...        # apt-get inside ROOT
#   root_wrap NAME PATH     # $T_DIR/bin/NAME runs PATH inside ROOT (for helpers that take a program)
#   root_kill_all           # every process still running inside ROOT
#
# Each command inside gets a mount namespace of its own (unshare): /proc, /dev and $T_DIR are mounted
# there and vanish with its last process, so nothing stays mounted on this machine, whatever happens.
# Loopback is this machine's: servers on either side reach each other on 127.0.0.1.
# The packages apt downloads are kept in the cache beside the tarball for the next run.
#
# Environment: MBH_ROOT_CACHE (default /var/tmp/mongo-backup-hooks-roots): the tarballs and apt's
# downloads, one set per release.

ROOT=""
ROOT_SUITE=""
ROOT_CACHE=${MBH_ROOT_CACHE:-/var/tmp/mongo-backup-hooks-roots}
ROOT_MIRROR=""
ROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# In a new mount namespace: make every mount private, so that nothing mounted there shows on this
# machine.  Inside a chroot (a fresh root of fresh-debian-try, say) "/" is no mount point and cannot be
# changed: go on only when no mount of the machine is shared (pid 1's view), as then none propagates.
ROOT_PRIVATE_SH='mount --make-rprivate / 2>/dev/null || { [ -r /proc/1/mountinfo ] && ! grep -q " shared:" /proc/1/mountinfo; }'

# root_mirror: the Debian mirror this machine's own apt uses (deb822 sources first, then sources.list).
root_mirror() {
	local m
	m=$(sed -n 's/^URIs: *\([^ ]*\/debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	[ -n "$m" ] || m=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\/debian\)\/\{0,1\} .*/\2/p' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
	echo "$m"
}

# root_require: skip the whole test unless a fresh root can be made and used here.
root_require() {
	local p missing=""
	[ "$(id -u)" = 0 ] || tap_skip_all "needs root: it installs packages into a fresh Debian root (chroot, mounts)"
	for p in debootstrap unshare chroot mount flock; do
		command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] || tap_skip_all "missing:$missing (tools/install-deps installs them)"
	ROOT_SUITE=$(. /etc/os-release 2>/dev/null && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}")
	[ -n "$ROOT_SUITE" ] || tap_skip_all "not a Debian release with a codename (/etc/os-release): the packages are for Debian"
	ROOT_MIRROR=$(root_mirror)
	[ -n "$ROOT_MIRROR" ] || tap_skip_all "no Debian mirror in this machine's apt sources"
	unshare --mount --propagation unchanged -- /bin/sh -c "$ROOT_PRIVATE_SH" 2>/dev/null ||
		tap_skip_all "no mount namespace with private mounts can be made here (unshare --mount refused, or a chroot on a machine with shared mounts)"
}

# root_tarball: the cached minimal root of ROOT_SUITE (made once, under a lock: tests may run at once).
root_tarball() {
	local tgz=$ROOT_CACHE/$ROOT_SUITE-minbase.tgz
	mkdir -p "$ROOT_CACHE" || return 1
	(
		flock 9 || exit 1
		[ -s "$tgz" ] && exit 0
		boot=$(mktemp -d "$ROOT_CACHE/boot.XXXXXX") || exit 1
		if ! debootstrap --variant=minbase "$ROOT_SUITE" "$boot" "$ROOT_MIRROR" >"$ROOT_CACHE/debootstrap.log" 2>&1; then
			tap_diag "debootstrap $ROOT_SUITE $ROOT_MIRROR failed; the end of $ROOT_CACHE/debootstrap.log:" >&2
			tail -n 15 "$ROOT_CACHE/debootstrap.log" | sed 's/^/#   /' >&2
			rm -rf "$boot"
			exit 1
		fi
		tar -C "$boot" -czf "$tgz.tmp" . && mv "$tgz.tmp" "$tgz"
		rc=$?
		rm -rf "$boot"
		exit $rc
	) 9>"$ROOT_CACHE/.lock"
}

# root_write_enter: $T_DIR/bin/in-root [--apt-cache DIR] CMD...: CMD inside ROOT in a mount namespace of
# its own, keeping the caller's pid (unshare, sh, chroot and env all exec).
root_write_enter() {
	mkdir -p "$T_DIR/bin" || return 1
	{
		echo '#!/bin/sh'
		echo '# in-root [--apt-cache DIR] CMD...: run CMD inside the fresh root (written by tests/package/rootlib.sh)'
		echo "root='$ROOT' share='$T_DIR' path='$ROOT_PATH'"
		echo "private='$ROOT_PRIVATE_SH'"
		cat <<'EOF'
cache=""
if [ "$1" = --apt-cache ]; then
	cache=$2
	shift 2
fi
exec unshare --mount --propagation unchanged -- /bin/sh -c '
	root=$1 share=$2 cache=$3 path=$4 private=$5
	shift 5
	eval "$private" || exit 71
	mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" && mount --bind "$share" "$root$share" || exit 70
	if [ -n "$cache" ]; then
		mount --bind "$cache" "$root/var/cache/apt/archives" || exit 70
	fi
	exec chroot "$root" /usr/bin/env -i PATH="$path" HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
' sh "$root" "$share" "$cache" "$path" "$private" "$@"
EOF
	} >"$T_DIR/bin/in-root" && chmod 0755 "$T_DIR/bin/in-root"
}

# root_create: a new root at $T_DIR/root from the tarball, with this machine's resolver, a policy-rc.d
# that lets no package start a service (as on these machines), and fresh apt lists.
root_create() {
	root_tarball || return 1
	ROOT=$T_DIR/root
	mkdir -m 0755 "$ROOT" && tar -C "$ROOT" -xzf "$ROOT_CACHE/$ROOT_SUITE-minbase.tgz" || return 1
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d" && chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
	# where $T_DIR is mounted inside
	mkdir -p "$ROOT$T_DIR" "$ROOT_CACHE/$ROOT_SUITE-archives/partial" || return 1
	root_write_enter || return 1
	root_apt update -q >"$T_OUT/root-apt-update.log" 2>&1 || {
		tap_diag "apt-get update fails in the fresh root:" >&2
		tail -n 15 "$T_OUT/root-apt-update.log" | sed 's/^/#   /' >&2
		return 1
	}
}

# root_run CMD...: CMD inside ROOT.
root_run() {
	"$T_DIR/bin/in-root" "$@"
}

# root_apt ARGS...: apt-get inside ROOT with the shared download cache (one apt at a time on it).
root_apt() {
	(
		flock 9 || exit 1
		"$T_DIR/bin/in-root" --apt-cache "$ROOT_CACHE/$ROOT_SUITE-archives" apt-get -o Dpkg::Use-Pty=0 "$@"
	) 9>"$ROOT_CACHE/.apt-lock"
}

# root_wrap NAME PATH: $T_DIR/bin/NAME runs PATH inside ROOT with its arguments, stdin and pid, so a
# helper that starts NAME and then watches or signals its pid works as with a program of this machine.
root_wrap() {
	printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$T_DIR/bin/in-root" "$2" >"$T_DIR/bin/$1" && chmod 0755 "$T_DIR/bin/$1"
}

# root_kill_all: stop every process whose root is ROOT (what the daemons inside started and left).
root_kill_all() {
	local d
	[ -n "$ROOT" ] && [ -d "$ROOT" ] || return 0
	for d in /proc/[0-9]*; do
		[ "$d/root" -ef "$ROOT" ] && kill -KILL "${d#/proc/}" 2>/dev/null
	done
	return 0
}
