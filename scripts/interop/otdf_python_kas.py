"""Use an Accord node's KAS from the OpenTDF Python SDK (otdf-python), as any OpenTDF
platform: discovery, the token endpoint (client credentials), PublicKey and Rewrap.

    python otdf_python_kas.py CLIENT.json encrypt ATTRS IN OUT.tdf   (ATTRS comma-separated)
    python otdf_python_kas.py CLIENT.json decrypt IN.tdf OUT
    python otdf_python_kas.py CLIENT.json denied IN.tdf EXPECTED-TEXT

CLIENT.json is what `accord user opentdf-client` writes. The node's CA must be trusted
(SSL_CERT_FILE). `denied` exits 0 only when decrypting fails and the error names
PermissionDenied and EXPECTED-TEXT (a rule or words of a reason).
"""

import json
import logging
import os
import sys
from io import BytesIO

import pyqwest
from otdf_python.sdk_builder import SDKBuilder

# Trust in the node's CA. otdf-python reads SSL_CERT_FILE for discovery and the token
# (httpx), but its Connect transport (pyqwest) takes its roots only as an argument the
# SDK never passes, so the harness gives the transport the same file: configuration,
# not a change to the client's behaviour.
_Transport = pyqwest.SyncHTTPTransport


def _trusting_transport(*args, **kwargs):
    ca = os.environ.get("SSL_CERT_FILE")
    if ca and "tls_ca_cert" not in kwargs:
        with open(ca, "rb") as f:
            kwargs["tls_ca_cert"] = f.read()
    return _Transport(*args, **kwargs)


pyqwest.SyncHTTPTransport = _trusting_transport


def sdk(client_file):
    with open(client_file) as f:
        c = json.load(f)
    b = SDKBuilder()
    b.set_platform_endpoint(c["platform_endpoint"])
    b.client_secret(c["client_id"], c["client_secret"])
    return b.build(), c


def main():
    client_file, op = sys.argv[1:3]
    s, c = sdk(client_file)
    if op == "encrypt":
        attrs, plain, out = sys.argv[3:6]
        config = s.new_tdf_config(attributes=[a for a in attrs.split(",") if a])
        with open(plain, "rb") as f:
            data = f.read()
        out_stream = BytesIO()
        s.create_tdf(BytesIO(data), config, out_stream)
        with open(out, "wb") as f:
            f.write(out_stream.getvalue())
        print(f"otdf-python encrypted {len(data)} bytes to {c['platform_endpoint']}")
    elif op == "decrypt":
        tdf, out = sys.argv[3:5]
        with open(tdf, "rb") as f:
            reader = s.load_tdf(f.read())
        with open(out, "wb") as f:
            f.write(reader.payload)
        print(f"otdf-python decrypted {len(reader.payload)} bytes through the node's Rewrap")
    elif op == "denied":
        tdf, expected = sys.argv[3:5]
        with open(tdf, "rb") as f:
            data = f.read()
        # The SDK logs the KAS's per-key error and raises a generic one: read both.
        said = []

        class Keep(logging.Handler):
            def emit(self, record):
                said.append(record.getMessage())

        logging.getLogger().addHandler(Keep())
        try:
            s.load_tdf(data).payload
        except Exception as e:  # the SDK raises its own exception types
            text = "\n".join(said + [str(e)])
            if "PermissionDenied" in text and expected in text:
                why = [line for line in text.splitlines() if expected in line]
                print(f"otdf-python was refused, as expected: {why[0][:300]}")
                return 0
            print(f"refused, but not as expected ({expected!r}): {text}", file=sys.stderr)
            return 1
        print("decrypting succeeded, but the node should have denied it", file=sys.stderr)
        return 1
    else:
        print(f"unknown operation {op}", file=sys.stderr)
        return 2
    return 0


sys.exit(main())
