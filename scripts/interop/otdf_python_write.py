"""Seal a file with the OpenTDF Python SDK (otdf-python) for one KAS RSA public key.

    python otdf_python_write.py KAS.pub IN OUT.tdf
"""

import sys

from otdf_python.config import KASInfo, TDFConfig
from otdf_python.tdf import TDF

kas_pub, plain, out = sys.argv[1:4]
with open(kas_pub) as f:
    pub = f.read()
config = TDFConfig(
    kas_info_list=[KASInfo(url="https://kas.pak.example/kas", public_key=pub, kid="r1")],
    attributes=["https://accord.example/attr/classification/value/secret"],
)
with open(plain, "rb") as f:
    data = f.read()
_, size, stream = TDF().create_tdf(data, config)
with open(out, "wb") as f:
    f.write(stream.getvalue())
print(f"otdf-python sealed {len(data)} bytes into {size} bytes")
