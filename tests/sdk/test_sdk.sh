#!/bin/sh
# SPDX-License-Identifier: MIT
#
# test_sdk.sh - the installed guest SDK builds a guest with the one cc line
# of docs/guest-abi.md, "Building a guest outside the tree". TAP output.
#
# Usage: test_sdk.sh build|run SRCDIR BUILDDIR PREFIX LIBDIR SPP CHECKER \
#                    MESON...
#
# Both modes install BUILDDIR with `meson install --destdir` into a
# temporary directory, take the example program and the line starting with
# "cc " from that section of the doc, and run the line as it stands in a
# directory holding only the program, with PKG_CONFIG_PATH at the staged
# LIBDIR/pkgconfig. The staged tree is not at PREFIX, so, as the doc says
# for such a tree, pkg-config gets --define-variable=prefix=STAGE/PREFIX:
# a pkg-config placed before the real one on PATH adds it.
#
#   build  what is installed; every path in the pkg-config flags lies in
#          the staged tree and exists; every header the program includes
#          comes from there or from the compiler, and they compile with
#          -std=c11 -Wall -Wextra -Werror -pedantic; the program builds; the
#          ELF passes the VMM's loader checks (CHECKER: test_vmm_guest_elfs,
#          headers, segments, entry at the load base, spp_elf_load) and,
#          without /dev/kvm, spp run's (it gets as far as exit 10, no KVM)
#   run    needs /dev/kvm (skips without): spp run prints the program's
#          line and exits with its status
set -u

mode=$1
srcdir=$2
builddir=$3
prefix=$4
libdir=$5
spp=$6
checker=$7
shift 7 # "$@": the meson command

doc=$srcdir/docs/guest-abi.md
section='## Building a guest outside the tree'
# The doc's example prints this and returns 7: status (7 << 1) | 1.
expect_line='hello from vCPU 0 of 1'
expect_status=15

n=0
failed=0
ok() { # DESCRIPTION
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() { # DESCRIPTION [DIAGNOSTICS_FILE]
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	if [ $# -gt 1 ] && [ -s "$2" ]; then
		sed 's/^/# /' "$2"
	fi
}
bail() { # REASON: nothing further can be checked
	echo "Bail out! $1"
	exit 1
}

case $mode in
build) ;;
run)
	if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
		echo "1..0 # SKIP no /dev/kvm: cannot open it read-write"
		exit 0
	fi
	;;
*)
	echo "test_sdk.sh: unknown mode '$mode'" >&2
	exit 2
	;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spp-sdk.XXXXXX") || bail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
# meson's libdir is relative to the prefix unless it lies outside it.
case $libdir in
/*) libpath=$libdir ;;
*) libpath=$prefix/$libdir ;;
esac
sprefix=$stage$prefix
slib=$stage$libpath
sinc=$sprefix/include
log=$tmp/log

if "$@" install -C "$builddir" --no-rebuild --quiet --destdir "$stage" \
	>"$log" 2>&1; then
	ok "meson install --destdir"
else
	not_ok "meson install --destdir" "$log"
	bail "nothing installed"
fi

if [ "$mode" = build ]; then
	missing=
	for f in "$sinc/spp_guest.h" "$sinc/spp/guest_abi.h" \
		"$sinc/spp/layout.h" "$slib/spp/libspp_guest.a" \
		"$slib/spp/guest.ld" "$slib/pkgconfig/spp-guest.pc"; do
		[ -f "$f" ] || missing="$missing ${f#"$stage"}"
	done
	if [ -z "$missing" ]; then
		ok "the guest SDK is installed"
	else
		echo "missing:$missing" >"$log"
		not_ok "the guest SDK is installed" "$log"
	fi
fi

# The example program and the build line, from the doc.
work=$tmp/work
mkdir "$work" "$tmp/bin" || bail "mkdir failed"
sed -n "/^$section\$/,/^## /p" "$doc" >"$tmp/section"
awk '/^```c$/ { on = 1; next } /^```/ { if (on) exit } on' \
	"$tmp/section" >"$work/hello.c"
grep '^cc ' "$tmp/section" >"$tmp/line"
if ! [ -s "$work/hello.c" ] || [ "$(wc -l <"$tmp/line")" -ne 1 ]; then
	bail "$doc: no section '$section' with a C example and one 'cc ' line"
fi
line=$(cat "$tmp/line")

real_pkg_config=$(command -v pkg-config) || bail "no pkg-config"
cat >"$tmp/bin/pkg-config" <<EOF
#!/bin/sh
exec "$real_pkg_config" --define-variable=prefix="$sprefix" "\$@"
EOF
chmod +x "$tmp/bin/pkg-config"
PATH=$tmp/bin:$PATH
PKG_CONFIG_PATH=$slib/pkgconfig
export PATH PKG_CONFIG_PATH
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

if [ "$mode" = build ]; then
	# Every path in the flags: in the staged tree, present. A path into
	# the source or build tree would work here and nowhere else.
	if flags=$(pkg-config --cflags --libs spp-guest 2>"$log"); then
		bad=
		for f in $flags; do
			case $f in
			-I* | -L*) p=${f#-?} ;;
			-Wl,-T,*) p=${f#-Wl,-T,} ;;
			-T*) p=${f#-T} ;;
			*) continue ;;
			esac
			case $p in
			"$stage"/*) [ -e "$p" ] || bad="$bad $f (absent)" ;;
			*) bad="$bad $f (outside the installed tree)" ;;
			esac
		done
		case " $flags " in
		*" -Wl,-T,"*) ;;
		*) bad="$bad (no -Wl,-T,guest.ld)" ;;
		esac
		if [ -z "$bad" ]; then
			ok "pkg-config --cflags --libs spp-guest: $flags"
		else
			echo "bad flags:$bad" >"$log"
			not_ok "pkg-config --cflags --libs spp-guest" "$log"
		fi
	else
		not_ok "pkg-config --cflags --libs spp-guest" "$log"
	fi

	# Headers only from the staged tree or the compiler (not from the
	# source tree or an older install at PREFIX), warning-free.
	gccinc=$(cc -print-file-name=include)
	# shellcheck disable=SC2046 # the flags, split
	if (cd "$work" && cc -M $(pkg-config --cflags spp-guest) hello.c) \
		>"$tmp/deps" 2>"$log" &&
		(cd "$work" && cc -std=c11 -Wall -Wextra -Werror -pedantic \
			-fsyntax-only $(pkg-config --cflags spp-guest) \
			hello.c) >>"$log" 2>&1; then
		bad=
		# shellcheck disable=SC2013 # file names, one or more a line
		for h in $(sed 's/\\$//; s/^[^ ]*: //' "$tmp/deps"); do
			case $h in
			hello.c | "$stage"/* | "$gccinc"/*) ;;
			*) bad="$bad $h" ;;
			esac
		done
		grep -q "$sinc/spp_guest.h" "$tmp/deps" ||
			bad="$bad (spp_guest.h not from $sinc)"
		if [ -z "$bad" ]; then
			ok "the installed headers are self-contained"
		else
			echo "headers from elsewhere:$bad" >"$log"
			not_ok "the installed headers are self-contained" "$log"
		fi
	else
		not_ok "the installed headers are self-contained" "$log"
	fi
fi

if (cd "$work" && sh -c "$line") >"$log" 2>&1 && [ -f "$work/hello.elf" ]
then
	ok "$line"
else
	not_ok "$line" "$log"
	bail "no guest built"
fi

if [ "$mode" = build ]; then
	if "$checker" "$work/hello.elf" >"$log" 2>&1; then
		ok "the VMM's loader checks accept hello.elf"
	else
		not_ok "the VMM's loader checks accept hello.elf" "$log"
	fi
	if ! [ -e /dev/kvm ]; then
		"$spp" run "$work/hello.elf" >"$log" 2>&1
		rc=$?
		if [ $rc -eq 10 ] && grep -q 'KVM unavailable' "$log"; then
			ok "spp run accepts hello.elf (exit 10: no KVM)"
		else
			echo "exit status $rc" >>"$log"
			not_ok "spp run accepts hello.elf" "$log"
		fi
	fi
else
	"$spp" run "$work/hello.elf" >"$tmp/out" 2>"$log"
	rc=$?
	if [ $rc -eq $expect_status ] &&
		grep -qx "$expect_line" "$tmp/out"; then
		ok "spp run hello.elf: '$expect_line', status $rc"
	else
		{
			echo "exit status $rc, expected $expect_status"
			echo "stdout:"
			cat "$tmp/out"
			echo "stderr:"
			cat "$log"
		} >"$tmp/diag"
		not_ok "spp run hello.elf" "$tmp/diag"
	fi
fi

echo "1..$n"
[ $failed -eq 0 ]
