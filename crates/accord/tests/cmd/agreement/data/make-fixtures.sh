#!/bin/sh
# Regenerates the agreement fixtures of the CLI tests (signatures are randomized, so the
# files change on every run; the expected outputs of the cases do not).
# Usage: sh make-fixtures.sh /path/to/accord   (run inside this directory), then
#   TRYCMD=overwrite cargo test -p accord --test cli_agreement
# and review the changed expected outputs (verify-renewal-wrong-predecessor names a digest).
# The private keys live in a temporary directory and are deleted: only public
# documents are kept.
set -eu
A=${1:-accord}
K=$(mktemp -d)
trap 'rm -rf "$K"' EXIT
$A keygen --out "$K/pak" --party PAK --name Pakistan --authority "Joint Staff Headquarters" --policy PAK >/dev/null
$A keygen --out "$K/usa" --party USA --name "United States" --authority "Department of Defense" --policy USA >/dev/null
rm -f *.toml
$A agreement init --id CISMOA-2005 --title "Communication Interoperability and Security Memorandum of Agreement" \
  --party "$K/pak/party.json" --party "$K/usa/party.json" --scope EXERCISES,TRAINING \
  --effective 2005-10-01 --years 15 --ceiling SECRET -o draft.toml >/dev/null
cp draft.toml cismoa-2005.toml
$A agreement approve cismoa-2005.toml --key "$K/pak/signing.key" --reference "Cabinet circulation summary" --at 2005-09-01 >/dev/null
$A agreement approve cismoa-2005.toml --key "$K/usa/signing.key" --reference "DoD approval" --at 2005-09-02 >/dev/null
$A agreement sign cismoa-2005.toml --key "$K/pak/signing.key" --at 2005-09-20T00:00:00Z >/dev/null
cp cismoa-2005.toml partly-signed.toml
$A agreement sign cismoa-2005.toml --key "$K/usa/signing.key" --at 2005-09-21T00:00:00Z >/dev/null
cp cismoa-2005.toml terminated.toml
$A agreement terminate terminated.toml --key "$K/pak/signing.key" --effective 2012-01-01 --at 2011-06-01 >/dev/null
$A agreement renew cismoa-2005.toml --years 15 --effective 2023-08-01 --id CISMOA-2023 -o cismoa-2023.toml >/dev/null
cp cismoa-2023.toml renewal-draft.toml
$A agreement approve cismoa-2023.toml --key "$K/pak/signing.key" --reference "Federal cabinet approval by circulation summary" --at 2023-07-20 >/dev/null
$A agreement approve cismoa-2023.toml --key "$K/usa/signing.key" --reference "DoD approval" --at 2023-07-25 >/dev/null
$A agreement sign cismoa-2023.toml --key "$K/usa/signing.key" --at 2023-08-05 >/dev/null
$A agreement sign cismoa-2023.toml --key "$K/pak/signing.key" --at 2023-08-10 >/dev/null
# One byte changed: the title.
sed 's/^title = "Communication/title = "Communicatiom/' cismoa-2005.toml > tampered.toml
# A renewal moved back into its predecessor's term (unsigned, so only the overlap shows).
sed 's/^effective-from = "2023-08-01T00:00:00Z"/effective-from = "2019-01-01T00:00:00Z"/' renewal-draft.toml > overlap.toml
# Records 2 and 3 swapped.
python3 - <<'PY'
text = open("cismoa-2005.toml").read()
head, *records = text.split("[[records]]")
records[1], records[2] = records[2], records[1]
open("out-of-order.toml", "w").write(head + "".join("[[records]]" + r for r in records))
PY
# A time without a zone.
sed 's/^expires = "2020-10-01T00:00:00Z"/expires = "2020-10-01T00:00:00"/' draft.toml > no-zone.toml
