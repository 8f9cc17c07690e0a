#!/bin/sh
# test_abi_exports.sh LIBSPP_SO SYMBOLS_FILE - libspp.so exports exactly
# the symbols of SYMBOLS_FILE (one name a line, sorted), each in a version
# node of src/libspp.map. Prints TAP. A symbol that disappeared breaks
# every program linked against it; one that appeared widens the ABI: both
# must be meant (update the list and, for a removal, the version node).
set -u
so=$1
list=$2
echo "1..3"
if ! command -v nm >/dev/null 2>&1; then
	echo "Bail out! no nm (binutils)"
	exit 1
fi
have=$(nm -D --defined-only "$so" 2>/dev/null) || {
	echo "Bail out! nm cannot read $so"
	exit 1
}
names=$(echo "$have" | awk 'NF == 3 && $3 !~ /^SPP_/ { n = $3; sub(/@.*/, "", n); print n }' | sort)
gone=$(echo "$names" | comm -13 - "$list")
new=$(echo "$names" | comm -23 - "$list")
if [ -z "$gone" ]; then
	echo "ok 1 - every listed symbol is exported"
else
	echo "not ok 1 - no longer exported:"
	echo "$gone" | sed 's/^/#   /'
fi
if [ -z "$new" ]; then
	echo "ok 2 - nothing exported beyond the list"
else
	echo "not ok 2 - exported but not in $(basename "$list"):"
	echo "$new" | sed 's/^/#   /'
fi
unversioned=$(echo "$have" | awk 'NF == 3 && $3 !~ /^SPP_/ && $3 !~ /@@?SPP_[0-9.]+$/ { print $3 }')
if [ -z "$unversioned" ]; then
	echo "ok 3 - every export has a version node"
else
	echo "not ok 3 - exports without a version node:"
	echo "$unversioned" | sed 's/^/#   /'
fi
