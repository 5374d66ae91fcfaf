use super::*;
use crate::testing::MemoryHost;
use alloy::sol_types::SolError;
use alloy_primitives::keccak256;
use dsec_sdk::documents::{AnchorError, BILL_OF_LADING, CUSTOMS_DECLARATION, check_anchor};
use dsec_sdk::envelope::{Envelope, RecipientKey, seal_about};
use dsec_sdk::tx::{AccountKey, LocalKey};

const CUSTOMS: Address = Address::repeat_byte(0xc5);
const CONSIGNEE: Address = Address::repeat_byte(0xc0);
const STRANGER: Address = Address::repeat_byte(0x02);

fn module() -> Arc<dyn Chaincode> {
    Documents.into_module()
}

fn reason_of(f: Failure) -> String {
    match f {
        Failure::Revert(data) => alloy::sol_types::Revert::abi_decode(&data).map(|r| r.reason).unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

fn publish_call(key: &RecipientPublicKey) -> IDocuments::publishKeyCall {
    IDocuments::publishKeyCall {
        mlkemPublicKey: Bytes::copy_from_slice(key.mlkem().as_bytes()),
        x25519PublicKey: B256::from(*key.x25519()),
    }
}

fn publish(host: &mut MemoryHost, m: &dyn Chaincode, party: Address, key: &RecipientPublicKey) -> Result<u64, String> {
    let out = host.call(m, party, &publish_call(key).abi_encode()).map_err(reason_of)?;
    Ok(IDocuments::publishKeyCall::abi_decode_returns(&out).unwrap())
}

fn key_of(host: &mut MemoryHost, m: &dyn Chaincode, party: Address) -> Result<IDocuments::keyOfReturn, String> {
    let out = host.call(m, STRANGER, &IDocuments::keyOfCall { party }.abi_encode()).map_err(reason_of)?;
    Ok(IDocuments::keyOfCall::abi_decode_returns(&out).unwrap())
}

fn anchor(
    host: &mut MemoryHost,
    m: &dyn Chaincode,
    sender: Address,
    call: &IDocuments::anchorDocumentCall,
) -> Result<u64, String> {
    let out = host.call(m, sender, &call.abi_encode()).map_err(reason_of)?;
    Ok(IDocuments::anchorDocumentCall::abi_decode_returns(&out).unwrap())
}

fn document(
    host: &mut MemoryHost,
    m: &dyn Chaincode,
    envelope_hash: B256,
    sender: Address,
) -> Result<IDocuments::documentReturn, String> {
    let out = host
        .call(m, STRANGER, &IDocuments::documentCall { envelopeHash: envelope_hash, anchoredBy: sender }.abi_encode())
        .map_err(reason_of)?;
    Ok(IDocuments::documentCall::abi_decode_returns(&out).unwrap())
}

fn anchor_call(envelope_hash: B256, kind: &str, recipients: Vec<B256>) -> IDocuments::anchorDocumentCall {
    IDocuments::anchorDocumentCall {
        envelopeHash: envelope_hash,
        contentHash: B256::repeat_byte(0xcc),
        kind: kind.into(),
        recipients,
        subject: keccak256("PO-4711"),
    }
}

#[test]
fn keys_are_published_rotated_and_read() {
    let m = module();
    let mut host = MemoryHost::new();
    let first = RecipientKey::generate();
    assert_eq!(publish(&mut host, m.as_ref(), CUSTOMS, first.public_key()), Ok(1));
    // The 37 words of the ML-KEM key, the X25519 key, the key id and the version are stored.
    assert!(host.gas_used > 40 * 20_000 + KEY_CHECK_GAS, "gas used: {}", host.gas_used);
    let (topics, data) = host.logs.last().unwrap();
    let event = IDocuments::KeyPublished::decode_raw_log(topics.iter().copied(), data).unwrap();
    assert_eq!((event.party, event.version, event.keyId), (CUSTOMS, 1, first.key_id()));

    let read = key_of(&mut host, m.as_ref(), CUSTOMS).unwrap();
    assert_eq!((read.version, read.keyId), (1, first.key_id()));
    let published = RecipientPublicKey::from_parts(&read.mlkemPublicKey, &read.x25519PublicKey.0).unwrap();
    assert_eq!(&published, first.public_key());
    assert_eq!(published.key_id(), read.keyId, "the module's key id is the envelope's");

    assert_eq!(
        publish(&mut host, m.as_ref(), CUSTOMS, first.public_key()).unwrap_err(),
        format!("documents: key {} is already the caller's current key", first.key_id())
    );
    let second = RecipientKey::generate();
    assert_eq!(publish(&mut host, m.as_ref(), CUSTOMS, second.public_key()), Ok(2));
    let read = key_of(&mut host, m.as_ref(), CUSTOMS).unwrap();
    assert_eq!((read.version, read.keyId), (2, second.key_id()));
    assert_eq!(&read.mlkemPublicKey[..], second.public_key().mlkem().as_bytes());
    // Rotating back to an earlier key is a new version.
    assert_eq!(publish(&mut host, m.as_ref(), CUSTOMS, first.public_key()), Ok(3));

    // Each party has its own key.
    assert_eq!(publish(&mut host, m.as_ref(), CONSIGNEE, second.public_key()), Ok(1));
    assert_eq!(
        key_of(&mut host, m.as_ref(), STRANGER).unwrap_err(),
        format!("documents: {STRANGER} has published no key")
    );
}

#[test]
fn invalid_keys_are_refused_and_nothing_is_stored() {
    let m = module();
    let mut host = MemoryHost::new();
    let key = RecipientKey::generate();
    let good = publish_call(key.public_key());

    let mut short = good.clone();
    short.mlkemPublicKey = Bytes::copy_from_slice(&good.mlkemPublicKey[1..]);
    assert_eq!(
        reason_of(host.call(m.as_ref(), CUSTOMS, &short.abi_encode()).unwrap_err()),
        "documents: an ML-KEM-768 public key is 1184 bytes, got 1183"
    );
    let mut unreduced = good.clone();
    unreduced.mlkemPublicKey = vec![0xff; MLKEM768_PUBLIC_KEY_LEN].into();
    let refused = reason_of(host.call(m.as_ref(), CUSTOMS, &unreduced.abi_encode()).unwrap_err());
    assert!(refused.starts_with("documents: invalid recipient key: ML-KEM-768"), "{refused}");
    let mut small_order = good.clone();
    small_order.x25519PublicKey = B256::ZERO;
    let refused = reason_of(host.call(m.as_ref(), CUSTOMS, &small_order.abi_encode()).unwrap_err());
    assert!(refused.contains("small order"), "{refused}");
    assert!(host.storage.is_empty() && host.logs.is_empty());

    let read_only = Call { caller: CUSTOMS, value: U256::ZERO, data: &good.abi_encode(), is_static: true };
    assert_eq!(
        reason_of(host.call_with(m.as_ref(), &read_only).unwrap_err()),
        "documents: state change in a read-only call"
    );
    let paying = Call { caller: CUSTOMS, value: U256::from(1), data: &good.abi_encode(), is_static: false };
    assert_eq!(
        reason_of(host.call_with(m.as_ref(), &paying).unwrap_err()),
        "documents: the module does not accept value"
    );
    assert_eq!(
        reason_of(host.call(m.as_ref(), CUSTOMS, &[0xde, 0xad]).unwrap_err()),
        "documents: unknown function or bad arguments"
    );
    // Out of gas before the key is stored: nothing is kept.
    host.gas_limit = 100_000;
    assert_eq!(host.call(m.as_ref(), CUSTOMS, &good.abi_encode()).unwrap_err(), Failure::OutOfGas);
    assert!(host.storage.is_empty());
}

/// The flow of a customs declaration on shipment PO-4711: the recipients
/// publish keys, the shipper seals to the keys it reads from the chain and
/// anchors the envelope, and a recipient checks the envelope it was handed
/// against the chain and opens it.
#[test]
fn a_document_anchored_on_a_shipment_verifies_end_to_end() {
    let m = module();
    let mut host = MemoryHost::new();
    let customs_key = RecipientKey::generate();
    let consignee_key = RecipientKey::generate();
    publish(&mut host, m.as_ref(), CUSTOMS, customs_key.public_key()).unwrap();
    publish(&mut host, m.as_ref(), CONSIGNEE, consignee_key.public_key()).unwrap();

    // The shipper seals to the directory's keys.
    let shipper = AccountKey::Secp256k1(LocalKey::random());
    let recipients: Vec<RecipientPublicKey> = [CUSTOMS, CONSIGNEE]
        .into_iter()
        .map(|party| {
            let k = key_of(&mut host, m.as_ref(), party).unwrap();
            RecipientPublicKey::from_parts(&k.mlkemPublicKey, &k.x25519PublicKey.0).unwrap()
        })
        .collect();
    let subject = keccak256("PO-4711");
    let declaration = b"{\"shipment\":\"PO-4711\",\"hs\":\"6907.21\",\"value\":\"18400 EUR\",\"origin\":\"PT\"}";
    let envelope = seal_about(declaration, subject, &recipients, &shipper).unwrap();
    let sealed_bytes = envelope.encode();

    host.block_number = 42;
    let call = IDocuments::anchorDocumentCall {
        envelopeHash: envelope.hash(),
        contentHash: envelope.content_hash(),
        kind: CUSTOMS_DECLARATION.into(),
        recipients: envelope.recipients().to_vec(),
        subject,
    };
    assert_eq!(anchor(&mut host, m.as_ref(), shipper.address(), &call), Ok(1));
    let (topics, data) = host.logs.last().unwrap();
    let event = IDocuments::DocumentAnchored::decode_raw_log(topics.iter().copied(), data).unwrap();
    assert_eq!((event.envelopeHash, event.subject, event.sender), (envelope.hash(), subject, shipper.address()));
    assert_eq!((event.kind.as_str(), event.contentHash, event.seq), (CUSTOMS_DECLARATION, envelope.content_hash(), 1));
    assert_eq!(event.recipients, vec![customs_key.key_id(), consignee_key.key_id()]);
    assert_eq!(
        anchor(&mut host, m.as_ref(), shipper.address(), &call).unwrap_err(),
        format!("documents: envelope {} is already anchored by {}", envelope.hash(), shipper.address())
    );
    // Another account anchoring the same hash (copied from the pending
    // transaction) makes a record of its own and takes nothing from the sender.
    let copycat = Address::repeat_byte(0xcc);
    assert_eq!(anchor(&mut host, m.as_ref(), copycat, &call), Ok(2));
    assert_eq!(document(&mut host, m.as_ref(), envelope.hash(), copycat).unwrap().sender, copycat);

    // The customs authority receives the bytes off chain and checks them against the chain.
    let received = Envelope::decode(&sealed_bytes).unwrap();
    let signer = received.verify_sender().unwrap();
    let record = document(&mut host, m.as_ref(), received.hash(), signer).unwrap();
    assert_eq!((record.blockNumber, record.kind.as_str(), record.subject), (42, CUSTOMS_DECLARATION, subject));
    assert_eq!(check_anchor(&received, &record), Ok(shipper.address()));
    let opened = received.open(&customs_key).unwrap();
    assert_eq!(opened.plaintext, declaration);
    assert_eq!(opened.content_hash, record.contentHash);
    assert_eq!(received.open(&consignee_key).unwrap().plaintext, declaration);

    // A record that does not match the envelope is caught.
    let mut other = record.clone();
    other.sender = STRANGER;
    assert!(matches!(check_anchor(&received, &other), Err(AnchorError::Sender { .. })));
    let mut other = record.clone();
    other.contentHash = B256::repeat_byte(1);
    assert!(matches!(check_anchor(&received, &other), Err(AnchorError::ContentHash { .. })));
    let mut other = record.clone();
    other.recipients.pop();
    assert_eq!(check_anchor(&received, &other), Err(AnchorError::Recipients));
    let mut other = record.clone();
    other.subject = keccak256("PO-4712");
    assert!(matches!(check_anchor(&received, &other), Err(AnchorError::Subject { .. })));

    // A second document on the same shipment gets the next sequence number.
    let bill = seal_about(b"bill of lading", subject, &recipients[1..], &shipper).unwrap();
    let second = anchor_call(bill.hash(), BILL_OF_LADING, bill.recipients().to_vec());
    assert_eq!(anchor(&mut host, m.as_ref(), shipper.address(), &second), Ok(3));
}

#[test]
fn every_anchor_refusal_has_its_reason() {
    let m = module();
    let mut host = MemoryHost::new();
    let ids = vec![B256::repeat_byte(1), B256::repeat_byte(2)];
    let h = B256::repeat_byte(0xee);
    let refused = |host: &mut MemoryHost, call: IDocuments::anchorDocumentCall| {
        anchor(host, m.as_ref(), CUSTOMS, &call).unwrap_err()
    };

    assert_eq!(
        refused(&mut host, anchor_call(B256::ZERO, BILL_OF_LADING, ids.clone())),
        "documents: the envelope hash is zero"
    );
    let mut zero_content = anchor_call(h, BILL_OF_LADING, ids.clone());
    zero_content.contentHash = B256::ZERO;
    assert_eq!(refused(&mut host, zero_content), "documents: the content hash is zero");
    let long = "k".repeat(MAX_KIND_LEN + 1);
    for kind in ["", "Bill-Of-Lading", "bill of lading", "-x", long.as_str()] {
        assert!(refused(&mut host, anchor_call(h, kind, ids.clone())).starts_with("documents: the kind must be"));
    }
    assert_eq!(
        refused(&mut host, anchor_call(h, BILL_OF_LADING, vec![])),
        "documents: a document names 1 to 64 recipients, got 0"
    );
    let many = (1..=65u8).map(B256::repeat_byte).collect::<Vec<_>>();
    assert_eq!(
        refused(&mut host, anchor_call(h, BILL_OF_LADING, many)),
        "documents: a document names 1 to 64 recipients, got 65"
    );
    assert_eq!(
        refused(&mut host, anchor_call(h, BILL_OF_LADING, vec![ids[0], ids[1], ids[0]])),
        format!("documents: recipient 2: key id {} is listed twice", ids[0])
    );
    assert_eq!(
        refused(&mut host, anchor_call(h, BILL_OF_LADING, vec![ids[0], B256::ZERO])),
        "documents: recipient 1 is the zero key id"
    );
    assert!(host.storage.is_empty() && host.logs.is_empty());

    assert_eq!(
        document(&mut host, m.as_ref(), h, CUSTOMS).unwrap_err(),
        format!("documents: envelope {h} is not anchored by {CUSTOMS}")
    );
    let data = anchor_call(h, BILL_OF_LADING, ids).abi_encode();
    let read_only = Call { caller: CUSTOMS, value: U256::ZERO, data: &data, is_static: true };
    assert_eq!(
        reason_of(host.call_with(m.as_ref(), &read_only).unwrap_err()),
        "documents: state change in a read-only call"
    );
}

#[test]
fn kinds_and_recipient_lists_of_every_size_read_back() {
    let m = module();
    let mut host = MemoryHost::new();
    for (i, len) in [1usize, 31, 32, 33, 63, MAX_KIND_LEN].into_iter().enumerate() {
        let kind = "abcdefghijklmnopqrstuvwxyz0123456789-.".chars().cycle().take(len).collect::<String>();
        let recipients: Vec<B256> = (1..=[1usize, 2, 63, 64, 5, 3][i]).map(|r| B256::from(U256::from(r))).collect();
        let h = B256::from(U256::from(1000 + i));
        let seq = anchor(&mut host, m.as_ref(), STRANGER, &anchor_call(h, &kind, recipients.clone())).unwrap();
        assert_eq!(seq, u64::try_from(i).unwrap() + 1);
        let record = document(&mut host, m.as_ref(), h, STRANGER).unwrap();
        assert_eq!((record.kind, record.recipients, record.sender), (kind, recipients, STRANGER));
    }
}

#[test]
fn meta_words_pack_and_unpack() {
    let sender = Address::repeat_byte(0xff);
    let meta = pack_meta(&sender, u64::MAX, 64, 64);
    assert_eq!(unpack_meta(meta), (sender, u64::MAX, 64, 64));
    let sender = Address::repeat_byte(0x01);
    assert_eq!(unpack_meta(pack_meta(&sender, 7, 1, 1)), (sender, 7, 1, 1));
    assert!(!pack_meta(&Address::ZERO, 0, 0, 1).is_zero(), "a stored document is never an empty slot");
}

#[test]
fn the_system_module_is_named_and_placed() {
    assert_eq!(module().address(), ADDRESS);
    assert_eq!(module().name(), "documents");
}
