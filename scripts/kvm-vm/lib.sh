# shellcheck shell=sh
# Shared by scripts/kvm-vm/{setup,run,check}; sourced, not run.
#
# The cache directory holds everything the VM boots from, per guest kernel
# (KERNEL: 6.1, Debian 12's, the default; 6.12, bookworm-backports'):
#   kernel/vmlinuz            the 6.1 guest kernel (a Debian 12 linux-image)
#   kernel/release            its release string, e.g. 6.1.0-56-amd64
#   kernel/modules/...        the few modules the guest loads (paths as in
#                             /lib/modules/RELEASE) and load-order, the
#                             order to insmod them in, dependencies first
#   initramfs.cpio.gz         busybox + init + those modules
#   initramfs.stamp           what initramfs.cpio.gz was built from
#   kernel-6.12/...           the same for 6.12 (6.12.x+deb12-amd64),
#   initramfs-6.12.cpio.gz    beside the default kernel's files, which
#   initramfs-6.12.stamp      keep their names
# SPP_KVM_VM_CACHE overrides its location; otherwise it is
# /var/cache/spp-kvm-vm for root and ${XDG_CACHE_HOME:-~/.cache}/spp-kvm-vm
# for anyone else (who falls back to reading /var/cache/spp-kvm-vm).

KVM_VM_HERE=$(cd "$(dirname "$0")" && pwd)

# The modules the guest needs, by name; their dependencies are added from
# modules.dep. kvm_amd: /dev/kvm (QEMU's TCG emulates SVM and NPT);
# 9p + 9pnet_virtio + virtio_pci: the host directories;
# virtio_console: the command's stdout and stderr.
# shellcheck disable=SC2034 # used by setup
KVM_VM_MODULES="kvm_amd 9p 9pnet_virtio virtio_pci virtio_console"

kvm_vm_cache()
{
	if [ -n "${SPP_KVM_VM_CACHE:-}" ]; then
		echo "$SPP_KVM_VM_CACHE"
	elif [ "$(id -u)" -eq 0 ]; then
		echo /var/cache/spp-kvm-vm
	else
		user=${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/spp-kvm-vm
		if [ ! -f "$user/kernel/vmlinuz" ] &&
			[ -f /var/cache/spp-kvm-vm/kernel/vmlinuz ]; then
			echo /var/cache/spp-kvm-vm
		else
			echo "$user"
		fi
	fi
}

kvm_vm_die()
{
	echo "kvm-vm: $*" >&2
	exit 1
}

# The guest kernels the VM can boot; the first is the default.
KVM_VM_KERNELS="6.1 6.12"

# The kernel to use: KERNEL if given, else $SPP_KVM_VM_KERNEL, else 6.1.
kvm_vm_kernel() # [KERNEL]
{
	k=${1:-${SPP_KVM_VM_KERNEL:-6.1}}
	case " $KVM_VM_KERNELS " in
	*" $k "*) echo "$k" ;;
	*) kvm_vm_die "unknown guest kernel '$k' (one of: $KVM_VM_KERNELS)" ;;
	esac
}

# Where KERNEL's files are in CACHE: the default kernel keeps the names it
# always had.
kvm_vm_kdir() # CACHE KERNEL
{
	if [ "$2" = 6.1 ]; then
		echo "$1/kernel"
	else
		echo "$1/kernel-$2"
	fi
}

kvm_vm_initrd() # CACHE KERNEL
{
	if [ "$2" = 6.1 ]; then
		echo "$1/initramfs.cpio.gz"
	else
		echo "$1/initramfs-$2.cpio.gz"
	fi
}

kvm_vm_stamp() # CACHE KERNEL
{
	if [ "$2" = 6.1 ]; then
		echo "$1/initramfs.stamp"
	else
		echo "$1/initramfs-$2.stamp"
	fi
}

# Print the modules.dep paths of MODULE... and of everything they depend on,
# dependencies before their users. Module names match with - and _ equal.
# Built-in modules (modules.builtin) are left out. Fails on an unknown one.
kvm_vm_resolve_modules() # MODDIR MODULE...
{
	moddir=$1
	shift
	[ -f "$moddir/modules.dep" ] || kvm_vm_die "no $moddir/modules.dep"
	builtin=$moddir/modules.builtin
	[ -f "$builtin" ] || builtin=/dev/null
	awk -v roots="$*" -v builtin_file="$builtin" '
	function modname(p) {
		sub(/.*\//, "", p)
		sub(/\.ko(\.[a-z]+)?$/, "", p)
		gsub(/-/, "_", p)
		return p
	}
	function visit(n,    d, k, c) {
		if (n in done)
			return
		done[n] = 1
		if (n in builtin)
			return
		if (!(n in path)) {
			print "kvm-vm: module " n " not found" > "/dev/stderr"
			bad = 1
			return
		}
		c = split(deps[n], d, " ")
		for (k = c; k >= 1; k--)
			visit(d[k])
		print path[n]
	}
	BEGIN {
		while ((getline l < builtin_file) > 0)
			builtin[modname(l)] = 1
	}
	{
		p = $1
		sub(/:$/, "", p)
		n = modname(p)
		path[n] = p
		deps[n] = ""
		for (i = 2; i <= NF; i++)
			deps[n] = deps[n] " " modname($i)
	}
	END {
		c = split(roots, r, " ")
		for (i = 1; i <= c; i++) {
			n = r[i]
			gsub(/-/, "_", n)
			visit(n)
		}
		exit bad
	}' "$moddir/modules.dep"
}

# What KERNEL's initramfs is built from: init, the module list, busybox.
kvm_vm_initramfs_inputs() # CACHE [KERNEL]
{
	kd=$(kvm_vm_kdir "$1" "${2:-6.1}")
	{
		cat "$KVM_VM_HERE/init" "$kd/release" "$kd/modules/load-order"
		wc -c <"$(command -v busybox)"
	} | cksum
}

kvm_vm_initramfs_current() # CACHE [KERNEL]
{
	st=$(kvm_vm_stamp "$1" "${2:-6.1}")
	[ -f "$(kvm_vm_initrd "$1" "${2:-6.1}")" ] && [ -f "$st" ] &&
		[ "$(cat "$st")" = "$(kvm_vm_initramfs_inputs "$1" "${2:-6.1}")" ]
}

# (Re)build KERNEL's initramfs in CACHE: a static busybox, our init and the
# kernel modules listed in its modules/load-order.
kvm_vm_build_initramfs() # CACHE [KERNEL]
{
	cache=$1
	kernel=${2:-6.1}
	kd=$(kvm_vm_kdir "$cache" "$kernel")
	initrd=$(kvm_vm_initrd "$cache" "$kernel")
	bb=$(command -v busybox) || kvm_vm_die "no busybox (apt-get install busybox-static)"
	if LC_ALL=C ldd "$bb" >/dev/null 2>&1; then
		kvm_vm_die "$bb is dynamically linked (apt-get install busybox-static)"
	fi
	command -v cpio >/dev/null || kvm_vm_die "no cpio (apt-get install cpio)"
	root=$(mktemp -d "$cache/initramfs.XXXXXX")
	mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" \
		"$root/ctl" "$root/host" "$root/mods"
	cp "$bb" "$root/bin/busybox"
	for a in sh mount umount insmod ls dmesg cat grep tail mkdir cp sync \
		poweroff chroot ip sleep; do
		ln -s busybox "$root/bin/$a"
	done
	cp "$KVM_VM_HERE/init" "$root/init"
	chmod 755 "$root/init"
	n=0
	while read -r m; do
		n=$((n + 1))
		cp "$kd/modules/$m" "$root/mods/$(printf '%02d' $n)-${m##*/}"
	done <"$kd/modules/load-order"
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet |
		gzip -1) >"$initrd.new.$$"
	rm -rf "$root"
	mv "$initrd.new.$$" "$initrd"
	kvm_vm_initramfs_inputs "$cache" "$kernel" \
		>"$(kvm_vm_stamp "$cache" "$kernel")"
}
