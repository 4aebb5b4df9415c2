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
#   3. A running PAK node serves OpenTDF clients (`accord opentdf enable`, DPoP
#      optional since otdf-python 0.11 sends Bearer tokens): otdf-python discovers it,
#      gets a token with the client credentials `accord user opentdf-client` wrote,
#      fetches its RSA key, encrypts with attributes that map to a PAK label and
#      decrypts through the node's Rewrap; it decrypts an object Accord sealed through
#      the node (hybrid post-quantum key access); a clerk the decision denies, a SECRET
#      object (above the classical ceiling) and an object with no attributes are
#      refused with the decision's reasons; `accord open --credential` opens, through
#      the node, the object otdf-python sealed (decided from its policy's attributes)
#      and refuses the one whose attributes map to no label; each decision is in the
#      node's audit log.
#
#   4. The node trusts an external OpenID Connect issuer (`accord opentdf issuer`):
#      node-oidc-provider from npm (OpenID Certified, pinned in
#      scripts/interop/oidc-provider/package-lock.json) issuing RS256 access tokens
#      for the audience accord-kas, `accord_person` naming a person of the node.
#      otdf-python finds the issuer's token endpoint through the node's discovery
#      document, takes a token from it with the issuer's client credentials and
#      decrypts through the node's Rewrap; the clerk's issuer client is denied as the
#      clerk; the audit log names the issuer's client on each decision.
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

# 3. otdf-python against a running node's KAS, through the OpenTDF API.
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ACCORD" init --party PAK --dir pak --policy "$repo/policies" \
    --listen "127.0.0.1:$port" --url "https://localhost:$port" >/dev/null
"$ACCORD" opentdf enable --dir pak --dpop optional >/dev/null
clearance() {
    printf '{"policy": {"name": "PAK"}, "classifications": [%s],
 "categories": [{"tagSet": "Releasable To", "values": ["PAK"]}, {"tagSet": "Scope", "values": ["EXERCISES"]}]}' "$1"
}
clearance '"UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"' >analyst.clearance.json
clearance '"UNCLASSIFIED", "RESTRICTED"' >clerk.clearance.json
for who in analyst clerk; do
    "$ACCORD" user add --dir pak --id "pak-$who" --name "$who" --nationality PAK \
        --clearance "$who.clearance.json" --scope EXERCISES -o "$who.credential" >/dev/null
    "$ACCORD" user opentdf-client --dir pak --id "pak-$who" -o "$who.opentdf.json" >/dev/null
done
"$ACCORD" serve --dir pak >serve.log 2>&1 &
node_pid=$!
# On the way out (as on an error): the node stopped and waited for, then its home gone.
# Nothing here may fail, or it would become the script's status under `set -e`.
trap 'kill $node_pid 2>/dev/null || true; wait $node_pid 2>/dev/null || true; rm -rf "$work" || true' EXIT
up() {
    "$py" -c "import ssl, sys, urllib.request as u
ctx = ssl.create_default_context(cafile='pak/keys/ca.crt')
u.urlopen('https://localhost:$port/health', context=ctx, timeout=2)" 2>/dev/null
}
for _ in $(seq 1 150); do up && break; sleep 0.2; done
up || fail "the node did not start: $(cat serve.log)"
# The node's CA beside the system's, for otdf-python (see otdf_python_kas.py).
cat /etc/ssl/certs/ca-certificates.crt pak/keys/ca.crt >trust.pem 2>/dev/null || cp pak/keys/ca.crt trust.pem
export SSL_CERT_FILE="$work/trust.pem"
kas() { "$py" "$here/otdf_python_kas.py" "$@" 2>kas.err || { cat kas.err >&2; return 1; }; }
ns="https://pak.label.accord/attr"
head -c 100000 /dev/urandom >small.bin

kas analyst.opentdf.json encrypt "$ns/classification/value/confidential,$ns/releasable%20to/value/pak" small.bin conf.tdf
kas analyst.opentdf.json decrypt conf.tdf conf.out
cmp -s small.bin conf.out || fail "otdf-python decrypted other bytes through the node than it encrypted"
echo "ok: otdf-python encrypts to the node's KAS and decrypts through its Rewrap"

"$ACCORD" seal --credential analyst.credential --label "CONFIDENTIAL//REL TO PAK" small.bin -o sealed.tdf 2>/dev/null
kas analyst.opentdf.json decrypt sealed.tdf sealed.out
cmp -s small.bin sealed.out || fail "otdf-python decrypted other bytes than Accord sealed"
echo "ok: otdf-python opens an object Accord sealed through the node (hybrid key access)"

kas clerk.opentdf.json denied conf.tdf "clearance does not hold classification CONFIDENTIAL"
kas analyst.opentdf.json encrypt "$ns/classification/value/secret,$ns/releasable%20to/value/pak" small.bin secret.tdf
kas analyst.opentdf.json denied secret.tdf "classical-wrapping: SECRET is above"
kas analyst.opentdf.json encrypt "" small.bin none.tdf
kas analyst.opentdf.json denied none.tdf "carries no attributes"
kas analyst.opentdf.json encrypt "https://partner.example/attr/classification/value/secret" small.bin other.tdf
kas analyst.opentdf.json denied other.tdf "maps to no label"

# And the other way: Accord opens, through its node, what otdf-python sealed.
"$ACCORD" open --credential analyst.credential conf.tdf -o conf.accord.out 2>open.err \
    || fail "accord open of otdf-python's object through the node: $(cat open.err)"
cmp -s small.bin conf.accord.out || fail "accord open wrote other bytes than otdf-python sealed"
grep -q "decided by the node from the policy's attributes" open.err || fail "accord open said: $(cat open.err)"
echo "ok: accord open --credential opens otdf-python's object: $(cat open.err)"
set +e
"$ACCORD" open --credential analyst.credential other.tdf -o other.accord.out 2>open.err
code=$?
set -e
[ "$code" = 3 ] || fail "accord open of an object with unmapped attributes exited $code, not 3 (no key released): $(cat open.err)"
grep -q "maps to no label" open.err || fail "accord open said: $(cat open.err)"
[ ! -e other.accord.out ] || fail "accord open wrote plaintext of an object the node denied"
echo "ok: accord open refuses one whose attributes map to no label (exit 3, no key released)"

kill $node_pid
wait $node_pid 2>/dev/null || true
"$ACCORD" --json audit show --log pak/log >audit.json
"$py" - <<'PY' || fail "the node's audit log does not hold the OpenTDF decisions as made"
import base64, json
entries = [json.loads(base64.b64decode(e["data"])) for e in json.load(open("audit.json"))["entries"]]
entries = [e for e in entries if e.get("kind") == "rewrap"]
got = [(e["person"], e["decision"], [r["rule"] for r in e["reasons"] if e["decision"] == "deny"]) for e in entries]
want = [
    ("pak-analyst", "permit", []),
    ("pak-analyst", "permit", []),
    ("pak-clerk", "deny", ["clearance"]),
    ("pak-analyst", "deny", ["classical-wrapping"]),
    ("pak-analyst", "deny", ["label"]),
    ("pak-analyst", "deny", ["label"]),
    ("pak-analyst", "permit", []),
    ("pak-analyst", "deny", ["label"]),
]
assert got == want, got
assert all(e["credential"].startswith("opentdf-client:pak-") for e in entries[:6]), entries
assert all(e["detail"] == "label from the policy's attributes (unsigned)" for e in entries[6:]), entries
assert entries[0]["marking"] == "CONFIDENTIAL//REL TO PAK", entries[0]
assert "label from the policy's attributes" in entries[0]["detail"], entries[0]
PY
echo "ok: each OpenTDF decision is in the node's audit log with its reasons"

# 4. An external OpenID Connect issuer (node-oidc-provider) for the node's people.
command -v node >/dev/null || fail "Node.js is needed for the OpenID issuer (node-oidc-provider)"
cp -r "$here/oidc-provider" idp
(cd idp && npm ci --silent --no-audit --no-fund >/dev/null) || fail "npm ci of node-oidc-provider failed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout idp-ca.key \
    -out idp-ca.crt -days 2 -subj /CN=interop-idp-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout idp.key -out idp.csr \
    -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >idp.ext
openssl x509 -req -in idp.csr -CA idp-ca.crt -CAkey idp-ca.key -CAcreateserial -out idp.crt \
    -days 1 -extfile idp.ext 2>/dev/null
idp_port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >idp-clients.json <<JSON
[{"client_id": "analyst-app", "client_secret": "analyst-app-secret-0123456789abcdef", "person": "pak-analyst"},
 {"client_id": "clerk-app", "client_secret": "clerk-app-secret-0123456789abcdef", "person": "pak-clerk"}]
JSON
node idp/issuer.mjs "$idp_port" idp.crt idp.key idp-clients.json >idp.log 2>&1 &
idp_pid=$!
trap 'kill $node_pid $idp_pid 2>/dev/null || true; wait $node_pid $idp_pid 2>/dev/null || true; rm -rf "$work" || true' EXIT
for _ in $(seq 1 100); do grep -q ready idp.log && break; sleep 0.2; done
grep -q ready idp.log || fail "the OpenID issuer did not start: $(cat idp.log)"
"$ACCORD" opentdf issuer --dir pak --discovery "https://localhost:$idp_port" \
    --audience accord-kas --person-claim accord_person --ca-file idp-ca.crt >issuer.out \
    || fail "accord opentdf issuer: $(cat issuer.out)"
echo "ok: $(head -1 issuer.out)"
"$ACCORD" serve --dir pak >serve.log 2>&1 &
node_pid=$!
for _ in $(seq 1 150); do up && break; sleep 0.2; done
up || fail "the node did not start again: $(cat serve.log)"
cat trust.pem idp-ca.crt >trust2.pem
export SSL_CERT_FILE="$work/trust2.pem"
for who in analyst clerk; do
    printf '{"platform_endpoint": "https://localhost:%s", "client_id": "%s-app", "client_secret": "%s-app-secret-0123456789abcdef"}' \
        "$port" "$who" "$who" >"$who.idp.json"
done
kas analyst.idp.json decrypt conf.tdf conf.idp.out
cmp -s small.bin conf.idp.out || fail "otdf-python decrypted other bytes with the issuer's token"
echo "ok: otdf-python decrypts through the node's Rewrap with a token of node-oidc-provider"
kas clerk.idp.json denied conf.tdf "clearance does not hold classification CONFIDENTIAL"
kill $node_pid
wait $node_pid 2>/dev/null || true
"$ACCORD" --json audit show --log pak/log >audit.json
IDP="https://localhost:$idp_port" "$py" - <<'PY' || fail "the node's audit log does not hold the decisions on the issuer's tokens"
import base64, json, os
entries = [json.loads(base64.b64decode(e["data"])) for e in json.load(open("audit.json"))["entries"]]
idp = os.environ["IDP"]
got = [(e["person"], e["decision"], e["credential"]) for e in entries
       if e.get("kind") == "rewrap" and e.get("credential", "").startswith("oidc:")]
assert got == [
    ("pak-analyst", "permit", f"oidc:analyst-app@{idp}"),
    ("pak-clerk", "deny", f"oidc:clerk-app@{idp}"),
], got
PY
echo "ok: the audit log names the issuer's client on each decision"
