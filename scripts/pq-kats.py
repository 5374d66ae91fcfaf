#!/usr/bin/env python3
"""Writes the ML-DSA-65 and ML-KEM-768 known-answer vectors the SDK's tests
run (sdk/src/pq/kats/*.txt) from the KAT files of PyCA's
`cryptography_vectors` package (kat_MLDSA_65_det_pure.rsp: deterministic,
pure ML-DSA with a context; kat_MLKEM_768.rsp: key generation,
encapsulation and implicit rejection).

Inputs are kept whole and the large outputs (keys, signatures, ciphertexts)
as SHA-256 digests, so every vector fits on one line and the files stay
small; the tests recompute the outputs and compare digests.

    python3 -m venv /tmp/kats && /tmp/kats/bin/pip install cryptography_vectors==50.0.2
    /tmp/kats/bin/python scripts/pq-kats.py
"""
import hashlib
import os
import sys

import cryptography_vectors

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "sdk", "src", "pq", "kats")
MLKEM_VECTORS = 100
MLKEM_REJECTION_VECTORS = 10


def entries(path):
    with cryptography_vectors.open_vector_file(path, "r") as f:
        entry = {}
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition(" = ")
            if key == "count" and entry:
                yield entry
                entry = {}
            entry[key] = value
        if entry:
            yield entry


def digest(hex_value):
    return hashlib.sha256(bytes.fromhex(hex_value)).hexdigest()


def mldsa():
    lines = ["# xi msg ctx sha256(pk) sha256(sk) sha256(signature)"]
    for e in entries(os.path.join("asymmetric", "MLDSA", "kat_MLDSA_65_det_pure.rsp")):
        sm, msg = e["sm"], e["msg"]
        assert sm.endswith(msg), "sm is the signature followed by the message"
        signature = sm[: len(sm) - len(msg)]
        assert len(signature) == 2 * 3309
        lines.append(" ".join([e["xi"], msg, e["ctx"], digest(e["pk"]), digest(e["sk"]), digest(signature)]))
    return lines


def mlkem():
    lines = ["# d z m sha256(ek) sha256(dk) sha256(ct) ss [ct_n ss_n]"]
    for i, e in enumerate(entries(os.path.join("asymmetric", "MLKEM", "kat_MLKEM_768.rsp"))):
        if i >= MLKEM_VECTORS:
            break
        fields = [e["d"], e["z"], e["msg"], digest(e["pk"]), digest(e["sk"]), digest(e["ct"]), e["ss"]]
        if i < MLKEM_REJECTION_VECTORS:
            fields += [e["ct_n"], e["ss_n"]]
        lines.append(" ".join(fields))
    return lines


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, lines in [("mldsa65.txt", mldsa()), ("mlkem768.txt", mlkem())]:
        with open(os.path.join(OUT, name), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{name}: {len(lines) - 1} vectors", file=sys.stderr)


if __name__ == "__main__":
    main()
