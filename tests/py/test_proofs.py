"""Proof bundles from a client's side, with no dsec code: web3.py asks the
node for `dsec_getTransactionProof`, the bundle matches the published JSON
schema (docs/proof-bundle.schema.json), and the transaction's and receipt's
inclusion is checked here from Ethereum's own rules: keccak-256 of the
header's RLP is the block hash, and the Merkle-Patricia proofs lead from the
header's roots to the exact bytes."""

import json

import jsonschema
import pytest
import rlp
from eth_hash.auto import keccak

from conftest import ROOT, send

SCHEMA = json.loads((ROOT / "docs" / "proof-bundle.schema.json").read_text())
HEADER_FIELDS = [
    "parentHash", "number", "timestampMs", "proposer", "beneficiary", "gasLimit", "gasUsed", "baseFeePerGas",
    "transactionsRoot", "receiptsRoot", "logsBloom", "stateRoot", "validatorsHash", "nextValidatorsHash",
]


def unhex(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def header_hash(header: dict) -> bytes:
    fields = [header[name] if isinstance(header[name], int) else unhex(header[name]) for name in HEADER_FIELDS]
    return keccak(rlp.encode(fields))


def nibbles(key: bytes) -> list:
    return [n for b in key for n in (b >> 4, b & 0x0F)]


def compact_path(encoded: bytes):
    """Hex-prefix decoding: (nibbles, is_leaf)."""
    flag = encoded[0] >> 4
    path = nibbles(encoded)[1 if flag & 1 else 2:]
    return path, bool(flag & 2)


def trie_get(root: bytes, key: bytes, proof: list) -> bytes:
    """The value under `key` in the trie with `root`, following `proof` (root first)."""
    path, nodes, want = nibbles(key), iter(proof), root
    while True:
        if isinstance(want, list):  # a node shorter than 32 bytes, embedded in its parent
            node = want
        else:
            raw = next(nodes)
            assert keccak(raw) == want, "a proof node does not hash to its reference"
            node = rlp.decode(raw)
        if len(node) == 17:
            if not path:
                return node[16]
            want, path = node[path[0]], path[1:]
            assert want != b"", "the key is not in the trie"
        else:
            step, leaf = compact_path(node[0])
            assert path[: len(step)] == step, "the key is not in the trie"
            path = path[len(step):]
            if leaf:
                assert not path
                return node[1]
            want = node[1]


def test_a_transaction_proof_checks_out_with_ethereum_rules_alone(w3, accounts):
    receipt = send(w3, accounts[1], {"to": "0x000000000000000000000000000000000000dEaD", "value": 7})
    bundle = w3.provider.make_request("dsec_getTransactionProof", [receipt["transactionHash"].to_0x_hex()])["result"]
    jsonschema.validate(bundle, SCHEMA)
    assert bundle["format"] == "dsec-proof/1"
    assert bundle["genesisHash"] == w3.provider.make_request("dsec_genesisHash", [])["result"]

    (block,) = bundle["blocks"]
    (tx,) = bundle["transactions"]
    header = block["header"]
    assert header["number"] == receipt["blockNumber"] == tx["blockNumber"]
    assert header_hash(header) == bytes(receipt["blockHash"]) == unhex(block["certificate"]["blockHash"])
    assert keccak(unhex(tx["transaction"])) == bytes(receipt["transactionHash"])

    key = rlp.encode(tx["index"])
    assert trie_get(unhex(header["transactionsRoot"]), key, [unhex(n) for n in tx["transactionProof"]]) == unhex(
        tx["transaction"]
    )
    encoded_receipt = trie_get(unhex(header["receiptsRoot"]), key, [unhex(n) for n in tx["receiptProof"]])
    assert encoded_receipt == unhex(tx["receipt"])
    status, cumulative, _bloom, logs = rlp.decode(encoded_receipt[1:])  # type 2: one type byte, then the RLP
    assert status == b"\x01" and logs == []
    assert int.from_bytes(cumulative, "big") == receipt["cumulativeGasUsed"]

    # An altered proof node no longer leads from the root.
    forged = [bytearray(unhex(n)) for n in tx["receiptProof"]]
    forged[0][-1] ^= 1
    with pytest.raises(AssertionError, match="does not hash"):
        trie_get(unhex(header["receiptsRoot"]), key, [bytes(n) for n in forged])
    # Unknown transactions have no proof.
    assert w3.provider.make_request("dsec_getTransactionProof", ["0x" + "11" * 32])["result"] is None
    bad = w3.provider.make_request("dsec_getTransactionProof", ["0x1234"])
    assert bad["error"]["code"] == -32602, bad
