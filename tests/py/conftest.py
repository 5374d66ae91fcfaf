"""Fixtures for the Python end-to-end suite: a real `dsec devnet` process on
loopback (free ports), and web3.py connected to it."""

import json
import os
import pathlib
import queue
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
from web3 import Web3

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "contracts" / "artifacts"
DEV_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
]


def dsec_bin() -> str:
    return os.environ.get("DSEC_BIN", str(ROOT / "target" / "debug" / "dsec"))


class Node:
    """A `dsec devnet` process."""

    def __init__(self, data_dir: str, *extra: str):
        self.proc = subprocess.Popen(
            [dsec_bin(), "devnet", "--validators", "1", "--data-dir", data_dir, "--rpc-addr", "127.0.0.1:0",
             "--metrics-addr", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        found: "queue.Queue[str]" = queue.Queue()

        def read():
            for line in self.proc.stdout:
                self.lines.append(line)
                if line.startswith("Listening on "):
                    found.put(line.split(" ", 2)[2].strip())

        threading.Thread(target=read, daemon=True).start()
        try:
            self.url = found.get(timeout=60)
        except queue.Empty:
            self.stop()
            raise RuntimeError("dsec did not start:\n" + "".join(self.lines))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class External:
    """A node someone else runs (RPC_URL=...), e.g. Hardhat's, to compare answers."""

    def __init__(self, url: str):
        self.url = url
        self.lines: list[str] = []


@pytest.fixture(scope="session")
def node():
    if os.environ.get("RPC_URL"):
        yield External(os.environ["RPC_URL"])
        return
    data_dir = tempfile.mkdtemp(prefix="dsec-py-")
    n = Node(data_dir, "--block-time-ms", "200", "--archive")
    yield n
    n.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def w3(node):
    w = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    deadline = time.time() + 30
    while not w.is_connected():
        if time.time() > deadline:
            raise RuntimeError("node does not answer")
        time.sleep(0.2)
    return w


def artifact(name: str) -> dict:
    return json.loads((ARTIFACTS / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def accounts(w3):
    return [w3.eth.account.from_key(k) for k in DEV_KEYS]


def send(w3, account, tx: dict):
    """Fill, sign and send a transaction; return its receipt."""
    tx = dict(tx)
    tx.setdefault("from", account.address)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", w3.eth.chain_id)
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas(tx)
    if "gasPrice" not in tx and "maxFeePerGas" not in tx:
        base = w3.eth.get_block("latest")["baseFeePerGas"]
        tx["maxFeePerGas"] = base * 2 + w3.eth.max_priority_fee
        tx["maxPriorityFeePerGas"] = w3.eth.max_priority_fee
    signed = account.sign_transaction(tx)
    h = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.05)


def deploy(w3, account, name: str, *args):
    a = artifact(name)
    contract = w3.eth.contract(abi=a["abi"], bytecode=a["bytecode"])
    tx = contract.constructor(*args).build_transaction({
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
    })
    receipt = send(w3, account, tx)
    assert receipt["status"] == 1
    return w3.eth.contract(address=receipt["contractAddress"], abi=a["abi"]), receipt
