"""web3.py on a chain holding dsec's ML-DSA-65 transactions (type 0x4D):
the transaction, its receipt and the block that holds it read like any other,
and a contract checks ML-DSA signatures through the precompile. The
post-quantum transactions are signed by the `dsec` CLI, as a user would."""

import json
import os
import subprocess
import tempfile

from web3 import Web3

from conftest import DEV_KEYS, dsec_bin


def dsec(*args: str) -> str:
    out = subprocess.run([dsec_bin(), *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def field(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(name):
            return line.split()[1]
    raise AssertionError(f"no {name!r} in {output!r}")


def test_ml_dsa_transactions_read_like_any_other(node, w3, accounts):
    with tempfile.TemporaryDirectory() as d:
        key_file = os.path.join(d, "pq.key")
        created = dsec("keys", "new", "--scheme", "ml-dsa-65", "--out", key_file)
        address = w3.to_checksum_address(field(created, "address"))
        assert json.load(open(key_file))["scheme"] == "ml-dsa-65"

        # Fund it from a dev account (secp256k1), then send from it with ML-DSA-65.
        dsec("send", "--rpc", node.url, "--key", DEV_KEYS[3], "--to", address, "--value", "2ether")
        assert w3.eth.get_balance(address) == 2 * 10**18
        to = Web3.to_checksum_address("0x000000000000000000000000000000000000c0de")
        sent = dsec("send", "--rpc", node.url, "--key", key_file, "--to", to, "--value", "777")
        tx_hash = field(sent, "transaction")

    tx = w3.eth.get_transaction(tx_hash)
    assert tx["type"] == 0x4D
    assert tx["from"] == address
    assert tx["to"] == w3.to_checksum_address(to)
    assert tx["value"] == 777
    assert len(tx["mlDsaPublicKey"]) == 1952 * 2 + 2
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert receipt["type"] == 0x4D
    assert receipt["from"] == address
    assert receipt["gasUsed"] == 21000
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    assert tx_hash in [t["hash"].to_0x_hex() for t in block["transactions"]]
    assert w3.eth.get_block(receipt["blockNumber"])["transactions"]
    assert w3.eth.get_balance(to) == 777
    assert w3.eth.get_transaction_count(address) == 1


def test_keystores_interoperate_with_eth_account(node, w3):
    from eth_account import Account

    env = dict(os.environ, DSEC_PASSWORD="correct horse battery staple")
    with tempfile.TemporaryDirectory() as d:
        # A keystore written by dsec opens in eth-account.
        ours = os.path.join(d, "ours.json")
        created = dsec_env(env, "keys", "new", "--encrypt", "--out", ours)
        address = w3.to_checksum_address(field(created, "address"))
        secret = Account.decrypt(json.load(open(ours)), "correct horse battery staple")
        assert Account.from_key(secret).address == address

        # One written by eth-account (scrypt with its own parameters) opens in dsec.
        theirs = os.path.join(d, "theirs.json")
        account = Account.create()
        with open(theirs, "w") as f:
            json.dump(Account.encrypt(account.key, "correct horse battery staple"), f)
        shown = dsec_env(env, "keys", "show", theirs)
        assert w3.to_checksum_address(field(shown, "address")) == account.address
        wrong = subprocess.run([dsec_bin(), "keys", "show", theirs], capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, DSEC_PASSWORD="wrong"))
        assert wrong.returncode != 0 and "wrong passphrase" in wrong.stderr, wrong.stderr

        # An encrypted ML-DSA-65 key signs transactions.
        pq = os.path.join(d, "pq.json")
        pq_address = w3.to_checksum_address(field(dsec_env(env, "keys", "new", "--scheme", "ml-dsa-65", "--encrypt",
                                                           "--out", pq), "address"))
        assert json.load(open(pq))["dsec"]["scheme"] == "ml-dsa-65"
        dsec("send", "--rpc", node.url, "--key", DEV_KEYS[3], "--to", pq_address, "--value", "1ether")
        sent = dsec_env(env, "send", "--rpc", node.url, "--key", pq, "--to", address, "--value", "5")
        assert w3.eth.get_transaction(field(sent, "transaction"))["type"] == 0x4D
        assert w3.eth.get_balance(address) == 5


def dsec_env(env: dict, *args: str) -> str:
    out = subprocess.run([dsec_bin(), *args], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout
