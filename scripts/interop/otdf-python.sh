#!/usr/bin/env bash
# Interoperability with another ZTDF implementation: the OpenTDF Python SDK
# (otdf-python on PyPI, pinned), installed into a throwaway virtualenv.
#
#   1. Accord seals a 3 MB file (three 1 MiB segments, a signed label) for an RSA-2048
#      KAS key ("wrapped", RSA-OAEP as OpenTDF); otdf-python unwraps the share with the
#      KAS private key and decrypts: the plaintext must be the same bytes.
#   2. otdf-python seals a file for the same key; `accord inspect` must read it (its
#      key access, policy attribute, segments and size), and `accord open` must refuse
#      it with exit 1, since it carries no signed label.
#
#   bash scripts/interop/otdf-python.sh            (.ci/run runs it)
#   ACCORD=target/release/accord bash scripts/interop/otdf-python.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ -z "${ACCORD:-}" ]; then
    cargo build -q --manifest-path "$repo/Cargo.toml" -p accord
    ACCORD="$repo/target/debug/accord"
fi
ACCORD=$(realpath "$ACCORD")
OTDF_PYTHON_VERSION=0.11.0
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "interop: $*" >&2; exit 1; }

"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
    "otdf-python==$OTDF_PYTHON_VERSION"
py="$work/venv/bin/python"
cd "$work"

"$ACCORD" keygen --out keys --party PAK --kas rsa2048 >/dev/null
head -c 3000000 /dev/urandom >plain.bin

# 1. Accord -> otdf-python.
"$ACCORD" seal --policy "$repo/policies" --label "SECRET//REL TO USA, PAK" \
    --kas-pub keys/kas.pub --signing-key keys/signing.key --segment-size 1048576 \
    plain.bin -o accord.tdf 2>/dev/null
"$py" "$here/otdf_python_read.py" accord.tdf keys/kas.key from-accord.bin
cmp -s plain.bin from-accord.bin || fail "otdf-python decrypted other bytes than Accord sealed"
echo "ok: otdf-python $OTDF_PYTHON_VERSION opens what Accord seals"

# 2. otdf-python -> Accord.
"$py" "$here/otdf_python_write.py" keys/kas.pub plain.bin otdf.tdf
"$ACCORD" --json inspect otdf.tdf >inspect.json
"$py" - <<'PY' || fail "accord inspect did not read otdf-python's object as written"
import json
i = json.load(open("inspect.json"))
assert i["schema_version"] == "4.3.0", i
assert i["plaintext_size"] == 3000000, i
assert i["segments"] == 2, i
assert [(k["type"], k["url"], k["kid"]) for k in i["key_access"]] == [
    ("wrapped", "https://kas.pak.example/kas", "r1")
], i
assert i["attributes"] == ["https://accord.example/attr/classification/value/secret"], i
assert i["label"]["marking"] is None, i
PY
echo "ok: accord inspect reads what otdf-python $OTDF_PYTHON_VERSION seals"
set +e
"$ACCORD" open --kas-key keys/kas.key --trust-signer keys/party.json otdf.tdf -o opened.bin 2>open.err
code=$?
set -e
[ "$code" = 1 ] || fail "accord open of an unlabelled object exited $code, not 1: $(cat open.err)"
grep -q "no signed label assertion" open.err || fail "accord open said: $(cat open.err)"
[ ! -e opened.bin ] || fail "accord open wrote plaintext of an unlabelled object"
echo "ok: accord open refuses it (exit 1): $(cat open.err)"
