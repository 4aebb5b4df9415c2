#!/usr/bin/env bash
# A walk through what Accord does today, end to end, offline: two parties' keys, their
# countersigned agreement, a labelled document sealed by the US and opened at Pakistan's
# KAS, the access decision for a cleared officer and for a clerk, and an audit log of
# those decisions, verified from its files. Each command is printed before it runs.
#
#   bash scripts/walkthrough.sh [DIR]       (default: a fresh temporary directory)
#   ACCORD=target/release/accord bash scripts/walkthrough.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d)}
mkdir -p "$dir" && cd "$dir"
if [ -z "${ACCORD:-}" ]; then
    cargo build -q --release --manifest-path "$repo/Cargo.toml" -p accord
    ACCORD="$repo/target/release/accord"
fi
policies="$repo/policies"
run() { printf '\n$ accord %s\n' "$*" >&2; "$ACCORD" "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "Each party makes its keys (KAS: P-384 + ML-KEM-1024; signing: ES384 + ML-DSA-87)"
run keygen --out keys/pak --party PAK --name Pakistan --authority "Joint Staff Headquarters" --policy PAK
run keygen --out keys/usa --party USA --name "United States" --authority "Department of Defense" --policy USA

step "The agreement: drafted, approved by each party, signed by both (countersigned)"
run agreement init --id CISMOA-2023 --title "US-Pakistan CIS-MOA" \
    --party keys/pak/party.json --party keys/usa/party.json \
    --scope EXERCISES,OPERATIONS,TRAINING,BASING,EQUIPMENT \
    --effective 2023-08-01 --years 15 --ceiling SECRET --translate USA:PAK --translate PAK:USA -o agreement.toml
run agreement approve agreement.toml --key keys/pak/signing.key --reference "Federal cabinet circulation summary"
run agreement approve agreement.toml --key keys/usa/signing.key --reference "DoD approval"
run agreement sign agreement.toml --key keys/pak/signing.key
run agreement sign agreement.toml --key keys/usa/signing.key
run agreement verify agreement.toml
run agreement status agreement.toml

step "A US analyst labels a document and seals it for Pakistan's KAS"
printf 'Exercise plan: joint exercise, phase 2.\n' > plan.txt
run label parse --policy "$policies/usa.xml" "SECRET//REL TO USA, PAK//SCOPE EXERCISES" > label.xml
run label render --policy "$policies" label.xml
run seal --policy "$policies" --label-file label.xml --kas-pub keys/pak/party.json \
    --signing-key keys/usa/signing.key plan.txt -o plan.tdf
run inspect plan.tdf

step "Who may read it? A cleared PAK officer, and a PAK clerk without SECRET"
cat > pak-officer.json <<'JSON'
{"id": "pak-officer", "name": "Major A. Khan", "party": "PAK", "nationality": "PAK",
 "clearance": {"policy": {"name": "PAK"},
   "classifications": ["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"],
   "categories": [{"tagSet": "Releasable To", "values": ["PAK"]},
                  {"tagSet": "Scope", "values": ["EXERCISES", "TRAINING"]}]},
 "scopes": ["EXERCISES", "TRAINING"], "status": "active"}
JSON
cat > pak-clerk.json <<'JSON'
{"id": "pak-clerk", "name": "A. Clerk", "party": "PAK", "nationality": "PAK",
 "clearance": {"policy": {"name": "PAK"}, "classifications": ["UNCLASSIFIED", "RESTRICTED"],
   "categories": [{"tagSet": "Releasable To", "values": ["PAK"]},
                  {"tagSet": "Scope", "values": ["EXERCISES"]}]},
 "scopes": ["EXERCISES"], "status": "active"}
JSON
run decide --agreement agreement.toml --policy "$policies" --person pak-officer.json --label label.xml --party PAK
run decide --agreement agreement.toml --policy "$policies" --person pak-clerk.json --label label.xml --party PAK || true

step "Pakistan's KAS key opens it (the label's signature checked against the US key)"
run open --kas-key keys/pak/kas.key --trust-signer keys/usa/party.json plan.tdf -o plan.opened.txt
cmp plan.txt plan.opened.txt && echo "plan.opened.txt matches plan.txt"

step "The decisions go into PAK's audit log, which anyone holding its verifier key checks"
printf '\n$ accord audit init --log log --origin audit.pak.example/log\n'
vkey=$("$ACCORD" audit init --log log --origin audit.pak.example/log)
echo "$vkey"
printf 'permit pak-officer plan.tdf\ndeny pak-clerk plan.tdf\n' | "$ACCORD" audit append --log log
run audit checkpoint --log log
run audit verify --log log --key "$vkey"
printf '\nDone: everything above is in %s\n' "$dir"
