#!/usr/bin/env bash
# Seal and open a file (default 1 GiB) on tmpfs, side by side in one run with:
#   cp (the copy floor), aws-lc-rs AES-256-GCM in memory (the AEAD limit),
#   age, rage and gpg encrypting the same file.
# Every command runs ROUNDS times (default 3), the rounds interleaved so that every
# tool sees the same machine; the best wall time of each is kept (first-touch costs of
# fresh tmpfs pages on a VM vary run to run by 2x or more). Prints each best time, the
# peak RSS (via /usr/bin/time -v), the load average, and the ratios.
#
#   scripts/bench/seal-open.sh [SIZE_MIB] [ROUNDS]   (needs: age, gpg, /usr/bin/time, bc; rage optional)
#   apt-get install age gnupg time bc; cargo install rage --locked
#   NO_BUILD=1 measures the binaries already built (when the tree is mid-change).
set -euo pipefail
SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DIR=$(mktemp -d /dev/shm/accord-bench.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
PATH=$PATH:$HOME/.cargo/bin

if [ -z "${NO_BUILD:-}" ]; then
  cargo build --release -q -p accord --manifest-path "$ROOT/Cargo.toml"
  cargo build --release -q -p accord-tdf --example aead_limit --manifest-path "$ROOT/Cargo.toml"
fi
ACCORD=$TARGET/release/accord
LIMIT=$TARGET/release/examples/aead_limit

echo "making a ${SIZE_MIB} MiB random file on tmpfs ($DIR); $ROUNDS rounds, best of each kept"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$DIR/in.bin"
"$ACCORD" keygen --out "$DIR/pak" --party PAK > /dev/null
"$ACCORD" keygen --out "$DIR/usa" --party USA > /dev/null
HAVE_AGE=; HAVE_RAGE=; HAVE_GPG=
if command -v age > /dev/null; then
  HAVE_AGE=1; age-keygen -o "$DIR/age.key" 2> /dev/null
  AGE_RCPT=$(grep -o 'age1[a-z0-9]*' "$DIR/age.key" | head -1)
fi
if command -v rage > /dev/null; then
  HAVE_RAGE=1; rage-keygen -o "$DIR/rage.key" 2> /dev/null
  RAGE_RCPT=$(grep -o 'age1[a-z0-9]*' "$DIR/rage.key" | head -1)
fi
command -v gpg > /dev/null && HAVE_GPG=1

# run NAME CMD...: time CMD with /usr/bin/time -v; keeps the best wall time in T_NAME
# (seconds) and the largest peak RSS in R_NAME (KiB).
run() {
  local name=$1; shift
  /usr/bin/time -v -o "$DIR/time.$name" "$@" > /dev/null 2> "$DIR/err.$name" || { cat "$DIR/err.$name" >&2; exit 1; }
  local wall rss best rbest
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$DIR/time.$name" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$DIR/time.$name")
  best=$(eval echo "\${T_$name:-}"); rbest=$(eval echo "\${R_$name:-0}")
  if [ -z "$best" ] || [ "$(echo "$wall < $best" | bc -l)" = 1 ]; then printf -v "T_$name" '%s' "$wall"; fi
  if [ "$rss" -gt "$rbest" ]; then printf -v "R_$name" '%s' "$rss"; fi
  printf '  %-6s %7.3f s\n' "$name" "$wall"
}

LIM=
for round in $(seq "$ROUNDS"); do
  echo "round $round (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  run cp cp "$DIR/in.bin" "$DIR/out.cp"; rm -f "$DIR/out.cp"
  l=$("$LIMIT" "$SIZE_MIB" | sed -n 's/.*aead_limit_seconds=\([0-9.]*\).*/\1/p')
  if [ -z "$LIM" ] || [ "$(echo "$l < $LIM" | bc -l)" = 1 ]; then LIM=$l; fi
  printf '  %-6s %7.3f s (in memory, all cores)\n' aead "$l"
  rm -f "$DIR/in.tdf"
  run seal "$ACCORD" seal --policy "$ROOT/policies" --label "SECRET//REL TO USA, PAK" \
    --kas-pub "$DIR/pak/party.json" --signing-key "$DIR/usa/signing.key" "$DIR/in.bin" -o "$DIR/in.tdf"
  run open "$ACCORD" open --kas-key "$DIR/pak/kas.key" --trust-signer "$DIR/usa/party.json" "$DIR/in.tdf" -o "$DIR/out.open"
  cmp -s "$DIR/in.bin" "$DIR/out.open" || { echo "open did not round-trip" >&2; exit 1; }
  rm -f "$DIR/out.open"
  if [ -n "$HAVE_AGE" ]; then run age age -e -r "$AGE_RCPT" -o "$DIR/out.age" "$DIR/in.bin"; rm -f "$DIR/out.age"; fi
  if [ -n "$HAVE_RAGE" ]; then run rage rage -e -r "$RAGE_RCPT" -o "$DIR/out.rage" "$DIR/in.bin"; rm -f "$DIR/out.rage"; fi
  if [ -n "$HAVE_GPG" ]; then
    run gpg gpg --batch --yes --quiet --homedir "$DIR" --pinentry-mode loopback --passphrase bench \
      --symmetric --cipher-algo AES256 --compress-algo none -o "$DIR/out.gpg" "$DIR/in.bin"; rm -f "$DIR/out.gpg"
  fi
done

echo
echo "best of $ROUNDS, ${SIZE_MIB} MiB on tmpfs, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg):"
show() { printf '%-10s %8.3f s  %8.0f MiB/s  peak RSS %6.1f MiB\n' "$1" "$2" "$(echo "$SIZE_MIB / $2" | bc -l)" "$(echo "$3 / 1024" | bc -l)"; }
show cp "$T_cp" "$R_cp"
printf '%-10s %8.3f s  %8.0f MiB/s  (in memory, all cores)\n' aead "$LIM" "$(echo "$SIZE_MIB / $LIM" | bc -l)"
show seal "$T_seal" "$R_seal"
show open "$T_open" "$R_open"
[ -n "$HAVE_AGE" ] && show age "$T_age" "$R_age"
[ -n "$HAVE_RAGE" ] && show rage "$T_rage" "$R_rage" || echo "rage       not installed (cargo install rage --locked)"
[ -n "$HAVE_GPG" ] && show gpg "$T_gpg" "$R_gpg"

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
echo
echo "ratios (time / time):"
echo "  seal / cp            $(ratio "$T_seal" "$T_cp")   (target <= 1.3)"
echo "  open / cp            $(ratio "$T_open" "$T_cp")   (target <= 1.3)"
echo "  seal / aead limit    $(ratio "$T_seal" "$LIM")"
echo "  open / aead limit    $(ratio "$T_open" "$LIM")"
[ -n "$HAVE_AGE" ] && echo "  age / seal           $(ratio "$T_age" "$T_seal")   (target >= 1.5)"
[ -n "$HAVE_RAGE" ] && echo "  rage / seal          $(ratio "$T_rage" "$T_seal")   (target >= 1.5)"
[ -n "$HAVE_GPG" ] && echo "  gpg / seal           $(ratio "$T_gpg" "$T_seal")"
echo "  peak RSS seal/open   $(echo "$R_seal / 1024" | bc) / $(echo "$R_open / 1024" | bc) MiB   (target < 64)"
