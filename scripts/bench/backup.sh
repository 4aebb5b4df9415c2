#!/usr/bin/env bash
# Backup and restore of a node home with OBJECTS received objects of MIB MiB each and
# ENTRIES audit log entries, side by side with `tar -cf` of the same home (the peer:
# a copy with no consistency, hashing or encryption).
#   scripts/bench/backup.sh [OBJECTS] [MIB] [ENTRIES]     (default 1000 1 100000)
set -euo pipefail
objects=${1:-1000}
mib=${2:-1}
entries=${3:-100000}
accord=${ACCORD:-target/release/accord}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/accord-backup-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$accord" init --party PAK --dir pak --policy "$root/policies" --listen 127.0.0.1:18443 >/dev/null
# The objects: files in blobs/inbox/ (a backup copies them all), random bytes.
mkdir -p pak/blobs/inbox
for i in $(seq 1 "$objects"); do
    head -c $((mib << 20)) /dev/urandom >"pak/blobs/inbox/USA.obj-$i.$(printf %064d "$i").tdf"
done
seq 1 "$entries" | sed 's/^/{"kind":"rewrap","decision":"permit","n":/; s/$/}/' |
    "$accord" audit append --log pak/log >/dev/null
"$accord" backup keygen --out rk >/dev/null
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
sync
peer=$(secs tar -cf peer.tar -C "$work" pak)
plain=$(secs "$accord" backup --dir pak -o pak.backup)
enc=$(secs "$accord" backup --dir pak -o pak.enc --recovery-key rk/recovery.pub)
rplain=$(secs "$accord" restore pak.backup --dir r1)
renc=$(secs "$accord" restore pak.enc --dir r2 --recovery-key rk/recovery.key)
size() { stat -c %s "$1"; }
total=$((objects * mib))
printf 'home: %d objects of %d MiB (%d MiB), %d log entries\n' "$objects" "$mib" "$total" "$entries"
printf '%-28s %8s s %10s MiB  %6s MB/s\n' \
    "tar -cf (peer)" "$peer" "$(($(size peer.tar) >> 20))" "$(echo "scale=0; $(size peer.tar) / $peer / 1000000" | bc)" \
    "accord backup" "$plain" "$(($(size pak.backup) >> 20))" "$(echo "scale=0; $(size pak.backup) / $plain / 1000000" | bc)" \
    "accord backup (encrypted)" "$enc" "$(($(size pak.enc) >> 20))" "$(echo "scale=0; $(size pak.enc) / $enc / 1000000" | bc)" \
    "accord restore" "$rplain" "$(($(size pak.backup) >> 20))" "$(echo "scale=0; $(size pak.backup) / $rplain / 1000000" | bc)" \
    "accord restore (encrypted)" "$renc" "$(($(size pak.enc) >> 20))" "$(echo "scale=0; $(size pak.enc) / $renc / 1000000" | bc)"
printf 'backup / tar time: %s\n' "$(echo "scale=2; $plain / $peer" | bc)"
