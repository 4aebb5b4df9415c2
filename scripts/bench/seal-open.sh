#!/usr/bin/env bash
# Seal and open a file (default 1 GiB) on tmpfs, side by side in one run with:
#   cp (the copy floor), aws-lc-rs AES-256-GCM in memory (the AEAD limit),
#   age, rage and gpg encrypting the same file.
# Prints each time, peak RSS (via /usr/bin/time -v) and the ratios.
#
#   scripts/bench/seal-open.sh [SIZE_MIB]      (needs: age, gpg, /usr/bin/time; rage optional)
#   apt-get install age gnupg time; cargo install rage
set -euo pipefail
SIZE_MIB=${1:-1024}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DIR=$(mktemp -d /dev/shm/accord-bench.XXXXXX)
trap 'rm -rf "$DIR"' EXIT

cargo build --release -q -p accord --manifest-path "$ROOT/Cargo.toml"
cargo build --release -q -p accord-tdf --example aead_limit --manifest-path "$ROOT/Cargo.toml"
ACCORD=$TARGET/release/accord
LIMIT=$TARGET/release/examples/aead_limit

echo "making a ${SIZE_MIB} MiB random file on tmpfs ($DIR)"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$DIR/in.bin"
"$ACCORD" keygen --out "$DIR/pak" --party PAK > /dev/null
"$ACCORD" keygen --out "$DIR/usa" --party USA > /dev/null

# run NAME CMD...: time CMD with /usr/bin/time -v; sets T_NAME (seconds) and R_NAME (KiB).
run() {
  local name=$1; shift
  /usr/bin/time -v -o "$DIR/time.$name" "$@" > /dev/null
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$DIR/time.$name" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$DIR/time.$name")
  printf -v "T_$name" '%s' "$wall"
  printf -v "R_$name" '%s' "$rss"
  printf '%-10s %8.3f s  %8.0f MiB/s  peak RSS %6.1f MiB\n' "$name" "$wall" "$(echo "$SIZE_MIB / $wall" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
}
sync_rm() { rm -f "$DIR/out.$1"; }

run cp cp "$DIR/in.bin" "$DIR/out.cp"; sync_rm cp
LIM=$("$LIMIT" "$SIZE_MIB" | sed -n 's/.*aead_limit_seconds=\([0-9.]*\).*/\1/p')
printf '%-10s %8.3f s  %8.0f MiB/s  (in memory, both cores)\n' aead "$LIM" "$(echo "$SIZE_MIB / $LIM" | bc -l)"
run seal "$ACCORD" seal --policy "$ROOT/policies" --label "SECRET//REL TO USA, PAK" \
  --kas-pub "$DIR/pak/party.json" --signing-key "$DIR/usa/signing.key" "$DIR/in.bin" -o "$DIR/in.tdf"
run open "$ACCORD" open --kas-key "$DIR/pak/kas.key" --trust-signer "$DIR/usa/party.json" "$DIR/in.tdf" -o "$DIR/out.open"
cmp -s "$DIR/in.bin" "$DIR/out.open" || { echo "open did not round-trip" >&2; exit 1; }
rm -f "$DIR/out.open"
T_age=; T_rage=; T_gpg=
if command -v age > /dev/null; then
  age-keygen -o "$DIR/age.key" 2> /dev/null
  run age age -e -r "$(age-keygen -y "$DIR/age.key")" -o "$DIR/out.age" "$DIR/in.bin"; sync_rm age
else echo "age        not installed"; fi
if command -v rage > /dev/null; then
  age-keygen -o "$DIR/rage.key" 2> /dev/null || rage-keygen -o "$DIR/rage.key"
  run rage rage -e -r "$(grep -o 'age1[a-z0-9]*' "$DIR/rage.key" | head -1)" -o "$DIR/out.rage" "$DIR/in.bin"; sync_rm rage
else echo "rage       not installed (cargo install rage)"; fi
if command -v gpg > /dev/null; then
  run gpg gpg --batch --yes --quiet --homedir "$DIR" --pinentry-mode loopback --passphrase bench \
    --symmetric --cipher-algo AES256 --compress-algo none -o "$DIR/out.gpg" "$DIR/in.bin"; sync_rm gpg
else echo "gpg        not installed"; fi

ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo
echo "ratios (time / time; lower first term is faster):"
echo "  seal / cp            $(ratio "$T_seal" "$T_cp")   (target <= 1.3)"
echo "  open / cp            $(ratio "$T_open" "$T_cp")   (target <= 1.3)"
echo "  seal / aead limit    $(ratio "$T_seal" "$LIM")"
echo "  open / aead limit    $(ratio "$T_open" "$LIM")"
[ -n "$T_age" ] && echo "  age / seal           $(ratio "$T_age" "$T_seal")   (target >= 1.5)"
[ -n "$T_rage" ] && echo "  rage / seal          $(ratio "$T_rage" "$T_seal")"
[ -n "$T_gpg" ] && echo "  gpg / seal           $(ratio "$T_gpg" "$T_seal")"
echo "  peak RSS seal/open   $(echo "$R_seal / 1024" | bc) / $(echo "$R_open / 1024" | bc) MiB   (target < 64)"
