"""Filters over HTTP and subscriptions over WebSocket, as dApps follow a chain."""

import asyncio
import json

from web3 import AsyncWeb3, WebSocketProvider

from conftest import deploy, send


def test_block_and_log_filters(w3, accounts):
    acct = accounts[2]
    probe, _ = deploy(w3, acct, "Probe")
    block_filter = w3.eth.filter("latest")
    log_filter = probe.events.ValueSet.create_filter(from_block="latest")
    pending_filter = w3.eth.filter("pending")
    receipt = send(w3, acct, probe.functions.set(42, "hello").build_transaction(
        {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address, "pending")}))
    assert receipt["status"] == 1
    entries = log_filter.get_new_entries()
    assert [e["args"]["newValue"] for e in entries] == [42]
    assert entries[0]["args"]["note"] == "hello"
    assert log_filter.get_new_entries() == [], "changes are returned once"
    blocks = block_filter.get_new_entries()
    assert receipt["blockHash"] in blocks
    assert receipt["transactionHash"] in pending_filter.get_new_entries()
    assert [e["args"]["newValue"] for e in log_filter.get_all_entries()] == [42]
    assert w3.eth.uninstall_filter(block_filter.filter_id)
    assert not w3.eth.uninstall_filter(block_filter.filter_id)


def test_websocket_subscriptions(node, w3, accounts):
    acct = accounts[3]
    probe, _ = deploy(w3, acct, "Probe")
    ws_url = node.url.replace("http://", "ws://")

    async def run():
        async with AsyncWeb3(WebSocketProvider(ws_url)) as aw3:
            heads = await aw3.eth.subscribe("newHeads")
            logs = await aw3.eth.subscribe("logs", {"address": probe.address})
            pending = await aw3.eth.subscribe("newPendingTransactions")
            tx = probe.functions.set(7, "ws").build_transaction(
                {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address, "pending")})
            await asyncio.get_running_loop().run_in_executor(None, send, w3, acct, tx)
            seen = {"heads": 0, "logs": [], "pending": 0}
            async def collect():
                async for message in aw3.socket.process_subscriptions():
                    sub, result = message["subscription"], message["result"]
                    if sub == heads:
                        seen["heads"] += 1
                    elif sub == logs:
                        seen["logs"].append(result)
                    elif sub == pending:
                        seen["pending"] += 1
                    if seen["heads"] and seen["logs"] and seen["pending"]:
                        return
            await asyncio.wait_for(collect(), timeout=30)
            assert seen["logs"][0]["address"].lower() == probe.address.lower()
            assert await aw3.eth.unsubscribe(heads)

    asyncio.run(run())
