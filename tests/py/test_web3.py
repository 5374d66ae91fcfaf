"""web3.py against a running dsec devnet: the flows a dApp developer runs."""

import json

import pytest
import requests
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from conftest import deploy, send


def test_chain_basics(w3, accounts):
    assert w3.eth.chain_id == 31337
    assert w3.net.version == "31337"
    assert w3.client_version.startswith("dsec/")
    assert w3.eth.get_balance(accounts[0].address) > 0
    assert w3.eth.accounts == []
    block = w3.eth.get_block("latest")
    assert block["number"] == w3.eth.block_number or block["number"] + 1 == w3.eth.block_number
    assert block["baseFeePerGas"] >= 0
    assert w3.eth.get_block(0)["number"] == 0


def test_value_transfer_and_receipt(w3, accounts):
    to = "0x000000000000000000000000000000000000bEEF"
    before = w3.eth.get_balance(to)
    receipt = send(w3, accounts[1], {"to": to, "value": 12345})
    assert receipt["status"] == 1
    assert receipt["gasUsed"] == 21000
    assert w3.eth.get_balance(to) == before + 12345
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["from"] == accounts[1].address
    assert tx["blockNumber"] == receipt["blockNumber"]
    # History: the balance before the block that paid it.
    assert w3.eth.get_balance(to, receipt["blockNumber"] - 1) == before


def test_erc20_transfers_events_and_history(w3, accounts):
    alice, bob = accounts[0], accounts[2]
    token, deployed = deploy(w3, alice, "Token", "Test", "TST", 10**24)
    assert token.functions.symbol().call() == "TST"
    receipt = send(w3, alice, token.functions.transfer(bob.address, 500).build_transaction(
        {"from": alice.address, "nonce": w3.eth.get_transaction_count(alice.address, "pending")}))
    assert receipt["status"] == 1
    events = token.events.Transfer().process_receipt(receipt)
    assert events[0]["args"]["to"] == bob.address and events[0]["args"]["value"] == 500
    assert token.functions.balanceOf(bob.address).call() == 500
    # A call at the block before the transfer sees the old balance.
    assert token.functions.balanceOf(bob.address).call(block_identifier=receipt["blockNumber"] - 1) == 0
    logs = token.events.Transfer().get_logs(from_block=deployed["blockNumber"], argument_filters={"to": bob.address})
    assert [l["args"]["value"] for l in logs] == [500]
    # Approvals and transferFrom.
    send(w3, alice, token.functions.approve(bob.address, 100).build_transaction(
        {"from": alice.address, "nonce": w3.eth.get_transaction_count(alice.address, "pending")}))
    assert token.functions.allowance(alice.address, bob.address).call() == 100
    r = send(w3, bob, token.functions.transferFrom(alice.address, bob.address, 60).build_transaction(
        {"from": bob.address, "nonce": w3.eth.get_transaction_count(bob.address, "pending")}))
    assert r["status"] == 1
    assert token.functions.allowance(alice.address, bob.address).call() == 40


def test_reverts_are_decoded(w3, accounts):
    probe, _ = deploy(w3, accounts[3], "Probe")
    with pytest.raises(ContractLogicError) as e:
        probe.functions.failWithReason().call()
    assert "probe: refused" in str(e.value)
    with pytest.raises(ContractCustomError) as e:
        probe.functions.failWithCustomError(7).call()
    assert e.value.data.startswith(w3.keccak(text="Unauthorized(address,uint256)")[:4].hex()) or "0x" in str(e.value.data)
    with pytest.raises(ContractLogicError):
        probe.functions.setThenFail(1).estimate_gas({"from": accounts[3].address})


def test_failed_transaction_is_included_and_charged(w3, accounts):
    probe, _ = deploy(w3, accounts[3], "Probe")
    acct = accounts[3]
    tx = probe.functions.setThenFail(5).build_transaction({
        "from": acct.address, "gas": 100_000,
        "nonce": w3.eth.get_transaction_count(acct.address, "pending"),
    })
    receipt = send(w3, acct, tx)
    assert receipt["status"] == 0
    assert 21000 < receipt["gasUsed"] < 100_000
    assert probe.functions.value().call() == 0


def test_nonce_and_funds_errors(w3, accounts):
    acct = accounts[1]
    nonce = w3.eth.get_transaction_count(acct.address)
    fee = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "gas": 21000, "chainId": 31337}
    stale = acct.sign_transaction({**fee, "to": acct.address, "value": 1, "nonce": max(nonce - 1, 0)})
    if nonce > 0:
        with pytest.raises(Web3RPCError, match="nonce too low"):
            w3.eth.send_raw_transaction(stale.raw_transaction)
    poor = w3.eth.account.create()
    tx = poor.sign_transaction({**fee, "to": acct.address, "value": 1, "nonce": 0})
    with pytest.raises(Web3RPCError, match="insufficient funds"):
        w3.eth.send_raw_transaction(tx.raw_transaction)


def test_batch_requests(node):
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": []}
            for i, m in enumerate(["eth_chainId", "eth_blockNumber", "net_version", "no_such_method"])]
    answers = {a["id"]: a for a in requests.post(node.url, json=body, timeout=10).json()}
    assert answers[0]["result"] == "0x7a69"
    assert answers[2]["result"] == "31337"
    assert answers[3]["error"]["code"] == -32601


def test_bad_input_gets_json_rpc_errors(node, w3):
    post = lambda payload: requests.post(node.url, data=payload, headers={"Content-Type": "application/json"}, timeout=10)
    assert post("{not json").json()["error"]["code"] == -32700
    r = post('{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x1234","latest"]}').json()
    assert r["error"]["code"] == -32602 and "address" in r["error"]["message"]
    r = post('{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0xdeadbeef"]}').json()
    assert r["error"]["code"] == -32602
    r = post('{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0xffffffffffff", false]}').json()
    assert r["result"] is None
    r = post('{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"0x0000000000000000000000000000000000000001"},"0xffffffffff"]}').json()
    assert r["error"]["code"] == -32000
    # The node still serves.
    assert w3.eth.block_number >= 0


def test_debug_tracing(w3, accounts):
    acct = accounts[0]
    token, _ = deploy(w3, acct, "Token", "Trace", "TRC", 1000)
    receipt = send(w3, acct, token.functions.transfer(accounts[1].address, 3).build_transaction(
        {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address, "pending")}))
    h = receipt["transactionHash"].to_0x_hex()
    call = w3.provider.make_request("debug_traceTransaction", [h, {"tracer": "callTracer"}])["result"]
    assert call["type"] == "CALL"
    assert call["to"].lower() == token.address.lower()
    assert int(call["gasUsed"], 16) == receipt["gasUsed"]
    default = w3.provider.make_request("debug_traceTransaction", [h, {}])["result"]
    assert default["failed"] is False
    assert any(step["op"] == "SSTORE" for step in default["structLogs"])
    data = token.encode_abi("transfer", args=[accounts[1].address, 10**9])
    traced = w3.provider.make_request(
        "debug_traceCall", [{"from": acct.address, "to": token.address, "data": data}, "latest", {"tracer": "callTracer"}])["result"]
    assert "error" in traced, "a transfer above the balance reverts"
    bad = w3.provider.make_request("debug_traceTransaction", ["0x" + "00" * 32, {}])
    assert bad["error"]["code"] == -32000


def test_hostile_requests_leave_the_node_serving(node, w3):
    post = lambda payload, **kw: requests.post(node.url, data=payload, headers={"Content-Type": "application/json"}, timeout=30, **kw)
    rpc = lambda method, params: post(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})).json()
    # Wrong types, huge and negative numbers, unknown hashes.
    assert rpc("eth_getBlockByNumber", [-1, False])["error"]["code"] == -32602
    assert rpc("eth_getBlockByNumber", ["-0x1", False])["error"]["code"] == -32602
    assert rpc("eth_getBalance", ["0x" + "11" * 20, "0x" + "f" * 80])["error"]["code"] == -32602
    assert rpc("eth_getTransactionCount", [123, "latest"])["error"]["code"] == -32602
    assert rpc("eth_getBlockByHash", ["0x" + "ab" * 32, False])["result"] is None
    assert rpc("eth_getTransactionReceipt", ["0x" + "ab" * 32])["result"] is None
    assert isinstance(rpc("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "0xffffffff"}])["result"], list), "clamped to the head"
    assert rpc("eth_getLogs", [{"fromBlock": "0x5", "toBlock": "0x1"}])["error"]["code"] == -32602
    assert rpc("eth_sendRawTransaction", ["0x" + "ff" * 5000])["error"]["code"] == -32602
    assert rpc("eth_call", [{"to": "0x" + "11" * 20, "gas": "0x" + "f" * 40}, "latest"])["error"]["code"] == -32602
    # A 10 MB body is refused with 413 before it is parsed.
    big = post('{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["' + "a" * (10 * 1024 * 1024) + '"]}')
    assert big.status_code == 413
    # Thousands of filters: refused past the limit, the node keeps going.
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_newBlockFilter", "params": []} for i in range(1000)]
    ids = []
    for _ in range(11):
        ids += [a["result"] for a in post(json.dumps(batch)).json() if "result" in a]
    assert 9000 <= len(ids) <= 10000
    refused = rpc("eth_newBlockFilter", [])
    assert refused["error"]["code"] == -32000 and "too many filters" in refused["error"]["message"]
    uninstall = [{"jsonrpc": "2.0", "id": i, "method": "eth_uninstallFilter", "params": [f]} for i, f in enumerate(ids)]
    for i in range(0, len(uninstall), 1000):
        post(json.dumps(uninstall[i:i + 1000]))
    assert "result" in rpc("eth_newBlockFilter", [])
    # Still answers correctly.
    assert w3.eth.chain_id == 31337
    assert w3.eth.get_block("latest")["number"] >= 0
