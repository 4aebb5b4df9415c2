"""Open an Accord-sealed object with the OpenTDF Python SDK (otdf-python), unwrapping
the key share locally with the KAS private key (its offline path), and write the
plaintext.

    python otdf_python_read.py SEALED.tdf KAS.key OUT
"""

import sys

from otdf_python.tdf import TDF, TDFReaderConfig

sealed, kas_key, out = sys.argv[1:4]
with open(kas_key) as f:
    key_pem = f.read()
with open(sealed, "rb") as f:
    data = f.read()
reader = TDF().load_tdf(data, TDFReaderConfig(kas_private_key=key_pem))
with open(out, "wb") as f:
    f.write(reader.payload)
m = reader.manifest
print(
    f"otdf-python read schemaVersion {m.schemaVersion}, "
    f"{len(m.encryptionInformation.integrityInformation.segments)} segments, "
    f"{len(m.assertions or [])} assertions, {len(reader.payload)} bytes"
)
