"""ERC-721 and contract factories (CREATE and CREATE2) through web3.py."""

import pytest
import rlp
from eth_utils import keccak, to_checksum_address
from web3.exceptions import ContractCustomError

from conftest import artifact, deploy, send


def tx(w3, acct, fn, **extra):
    return send(w3, acct, fn.build_transaction(
        {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address, "pending"), **extra}))


def test_erc721_mint_approve_transfer(w3, accounts):
    minter, alice, bob = accounts[0], accounts[1], accounts[2]
    nft, deployed = deploy(w3, minter, "Collectible")
    assert nft.functions.supportsInterface("0x80ac58cd").call()
    r = tx(w3, minter, nft.functions.mint(alice.address, 7))
    minted = nft.events.Transfer().process_receipt(r)[0]["args"]
    assert (minted["to"], minted["tokenId"]) == (alice.address, 7)
    with pytest.raises(ContractCustomError):
        nft.functions.mint(alice.address, 7).call({"from": minter.address})
    tx(w3, alice, nft.functions.approve(bob.address, 7))
    assert nft.functions.getApproved(7).call() == bob.address
    tx(w3, bob, nft.functions.transferFrom(alice.address, bob.address, 7))
    assert nft.functions.ownerOf(7).call() == bob.address
    assert nft.functions.balanceOf(alice.address).call() == 0
    # All three arguments of Transfer are indexed: filter on the token id topic.
    logs = nft.events.Transfer().get_logs(from_block=deployed["blockNumber"], argument_filters={"tokenId": 7})
    assert [(l["args"]["from"], l["args"]["to"]) for l in logs] == [
        ("0x0000000000000000000000000000000000000000", alice.address), (alice.address, bob.address)]


def test_factory_create_and_create2_addresses(w3, accounts):
    acct = accounts[3]
    factory, _ = deploy(w3, acct, "Factory")
    child_abi = artifact("Child")["abi"]
    # CREATE: the address follows from the factory's address and nonce (1 for a fresh contract).
    r = tx(w3, acct, factory.functions.create(11))
    ev = factory.events.Deployed().process_receipt(r)[0]["args"]
    expected = to_checksum_address(keccak(rlp.encode([bytes.fromhex(factory.address[2:]), 1]))[12:])
    assert ev["child"] == expected
    child = w3.eth.contract(address=ev["child"], abi=child_abi)
    assert child.functions.tag().call() == 11 and child.functions.parent().call() == factory.address
    # CREATE2: the address is predictable before deployment.
    salt = b"\x01" * 32
    predicted = factory.functions.predict(12, salt).call()
    r = tx(w3, acct, factory.functions.create2(12, salt))
    ev = factory.events.Deployed().process_receipt(r)[0]["args"]
    assert ev["child"] == predicted and ev["salted"]
    assert len(w3.eth.get_code(predicted)) > 0
    # The same salt again collides: the transaction fails and is charged.
    r = tx(w3, acct, factory.functions.create2(12, salt), gas=500_000)
    assert r["status"] == 0
