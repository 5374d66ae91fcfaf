//! Trade finance end to end on a running node: a Solidity escrow holds a
//! settlement payment and releases it only when the provenance chaincode shows
//! the shipment delivered; a revert in the escrow undoes the chaincode
//! transfer made in the same transaction.

use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use alloy_primitives::{Address, B256, Bytes, FixedBytes, TxKind, U256};
use dsec_sdk::chaincode::provenance::{self, IProvenance};
use dsec_sdk::chaincode::settlement::{self, ISettlement};
use dsec_sdk::client::RpcClient;
use dsec_tests::{NodeProcess, Wallet, artifact_bytecode};

sol! {
    interface ITradeEscrow {
        function release() external;
        function releaseThenAbort() external;
    }
}

async fn call(wallet: &mut Wallet, client: &RpcClient, to: Address, data: Vec<u8>) -> bool {
    wallet.send(client, TxKind::Call(to), U256::ZERO, data.into(), 1_000_000).await.inner.status()
}

async fn balance(client: &RpcClient, who: Address) -> U256 {
    let data = ISettlement::balanceOfCall { party: who, code: usd() }.abi_encode();
    let req = TransactionRequest::default().to(settlement::ADDRESS).input(Bytes::from(data).into());
    U256::abi_decode(&client.call_latest(&req).await.unwrap()).unwrap()
}

fn usd() -> FixedBytes<3> {
    settlement::currency("USD").unwrap()
}

fn locode(s: &str) -> FixedBytes<5> {
    FixedBytes::from_slice(s.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn escrow_pays_only_after_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::devnet(dir.path(), &[]);
    let client = node.client();
    let mut admin = Wallet::dev(&client, 0).await;
    let mut buyer = Wallet::dev(&client, 1).await;
    let mut seller = Wallet::dev(&client, 2).await;
    let mut carrier = Wallet::dev(&client, 3).await;
    let (s, p) = (settlement::ADDRESS, provenance::ADDRESS);

    // Settlement: the admin is also the compliance officer; USD issued to the buyer.
    let officer = ISettlement::setRoleCall { party: admin.address(), role: 1 }.abi_encode();
    assert!(call(&mut admin, &client, s, officer).await);
    for party in [buyer.address(), seller.address()] {
        assert!(call(&mut admin, &client, s, ISettlement::setKycCall { party, status: 1 }.abi_encode()).await);
    }
    let currency = ISettlement::createCurrencyCall {
        code: usd(),
        decimals: 2,
        issuer: admin.address(),
        holdThreshold: U256::ZERO,
    };
    assert!(call(&mut admin, &client, s, currency.abi_encode()).await);
    assert!(admin_mint(&mut admin, &client, buyer.address(), 1_000_000).await);

    // Provenance: seller ships, carrier carries, buyer receives.
    for (party, role, name) in
        [(seller.address(), 1u8, "Seller Co"), (carrier.address(), 2, "Ocean Line"), (buyer.address(), 5, "Buyer Ltd")]
    {
        let register = IProvenance::registerPartyCall { party, role, name: name.into() };
        assert!(call(&mut admin, &client, p, register.abi_encode()).await);
    }

    // The buyer deploys the escrow for shipment `id` and funds it.
    let id = B256::repeat_byte(0x51);
    let initcode: Bytes = [
        artifact_bytecode("TradeEscrow").to_vec(),
        (seller.address(), id, usd(), U256::from(250_000u64)).abi_encode_params(),
    ]
    .concat()
    .into();
    let escrow = buyer.send(&client, TxKind::Create, U256::ZERO, initcode, 2_000_000).await.contract_address.unwrap();
    assert!(call(&mut admin, &client, s, ISettlement::setKycCall { party: escrow, status: 1 }.abi_encode()).await);
    let fund = ISettlement::transferCall { code: usd(), to: escrow, amount: U256::from(250_000u64), memo: id };
    assert!(call(&mut buyer, &client, s, fund.abi_encode()).await);
    assert_eq!(balance(&client, escrow).await, U256::from(250_000u64));

    // Not delivered yet: release fails, and a revert after paying undoes the payment.
    assert!(!call(&mut seller, &client, escrow, ITradeEscrow::releaseCall {}.abi_encode()).await);
    assert!(!call(&mut seller, &client, escrow, ITradeEscrow::releaseThenAbortCall {}.abi_encode()).await);
    assert_eq!(balance(&client, seller.address()).await, U256::ZERO, "the chaincode transfer was undone");
    assert_eq!(balance(&client, escrow).await, U256::from(250_000u64));

    // The journey: Rotterdam to Singapore by sea, through the carrier.
    let legs = vec![IProvenance::Leg { from: locode("NLRTM"), to: locode("SGSIN"), mode: 3, distanceKm: 15_000 }];
    let create = IProvenance::createShipmentCall {
        id,
        consignee: buyer.address(),
        origin: locode("NLRTM"),
        destination: locode("SGSIN"),
        goodsHash: B256::repeat_byte(0x33),
        hsCode: 850_440,
        declaredValue: U256::from(250_000u64),
        weightKg: 12_000,
        legs,
    };
    assert!(call(&mut seller, &client, p, create.abi_encode()).await);
    let hand = IProvenance::handOverCall { id, to: carrier.address(), location: locode("NLRTM") };
    assert!(call(&mut seller, &client, p, hand.abi_encode()).await);
    assert!(call(&mut carrier, &client, p, IProvenance::acceptCustodyCall { id }.abi_encode()).await);
    assert!(!call(&mut seller, &client, escrow, ITradeEscrow::releaseCall {}.abi_encode()).await, "in transit");
    let hand = IProvenance::handOverCall { id, to: buyer.address(), location: locode("SGSIN") };
    assert!(call(&mut carrier, &client, p, hand.abi_encode()).await);
    assert!(call(&mut buyer, &client, p, IProvenance::acceptCustodyCall { id }.abi_encode()).await);

    // Delivered: anyone can release, the seller is paid, once.
    assert!(call(&mut carrier, &client, escrow, ITradeEscrow::releaseCall {}.abi_encode()).await);
    assert_eq!(balance(&client, seller.address()).await, U256::from(250_000u64));
    assert_eq!(balance(&client, escrow).await, U256::ZERO);
    assert!(!call(&mut carrier, &client, escrow, ITradeEscrow::releaseCall {}.abi_encode()).await, "paid once");
}

async fn admin_mint(admin: &mut Wallet, client: &RpcClient, to: Address, amount: u64) -> bool {
    let mint = ISettlement::mintCall { code: usd(), to, amount: U256::from(amount) };
    call(admin, client, settlement::ADDRESS, mint.abi_encode()).await
}
