//! Corpus replay: each target over every file of `corpus/<target>/` and over
//! inputs built here with the node's own types and signing helpers (real
//! signed transactions, encoded consensus messages, chaincode calls that
//! succeed), so CI catches regressions without a fuzzing engine.
//!
//! `cargo test -p dsec-fuzz -- --ignored write_built_seeds` writes the inputs
//! built here into `corpus/<target>/built-NN`, as starting points for fuzzing.

use std::path::{Path, PathBuf};

/// The corpus directory of `target`.
fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

/// Every file of `corpus/<target>/`, sorted by name; there must be some.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> =
        entries.map(|entry| entry.expect("a directory entry").path()).filter(|path| path.is_file()).collect();
    files.sort();
    assert!(!files.is_empty(), "no seed in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            (path, data)
        })
        .collect()
}

/// Run `target` over its corpus and over `built`. What runs is printed first,
/// so a failing test names the input (cargo shows a failed test's output).
fn replay(target: &str, run: fn(&[u8]), built: &[Vec<u8>]) {
    for (path, data) in corpus(target) {
        println!("{target}: {} ({} bytes)", path.display(), data.len());
        run(&data);
    }
    for (i, data) in built.iter().enumerate() {
        println!("{target}: built seed {i} ({} bytes)", data.len());
        run(data);
    }
}

/// Write the built inputs into the corpus (run by hand, see the module documentation).
#[test]
#[ignore = "writes into corpus/: run by hand to refresh the built seeds"]
fn write_built_seeds() {
    let targets: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("raw_tx", raw_tx::seeds()),
        ("consensus_codec", consensus_codec::seeds()),
        ("proposal_stream", proposal_stream::seeds()),
        ("chaincode_dispatch", chaincode_dispatch::seeds()),
    ];
    #[cfg(feature = "rpc")]
    let targets: Vec<(&str, Vec<Vec<u8>>)> = targets.into_iter().chain([("rpc_params", rpc_params::seeds())]).collect();
    for (target, seeds) in targets {
        for (i, seed) in seeds.iter().enumerate() {
            let path = corpus_dir(target).join(format!("built-{i:02}"));
            std::fs::write(&path, seed).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
    }
}

mod raw_tx {
    use alloy::consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
    use alloy::eips::eip2718::Encodable2718;
    use alloy::eips::eip2930::{AccessList, AccessListItem};
    use alloy_primitives::{Address, B256, Signature, TxKind, U256};
    use dsec_sdk::tx::{LocalKey, RecoveredTx, TxDecodeError};

    /// Signed transactions of the three accepted types, and some that are refused.
    pub(super) fn seeds() -> Vec<Vec<u8>> {
        let key = LocalKey::from_bytes(&B256::repeat_byte(0x11)).expect("a valid secret key");
        let to = TxKind::Call(Address::repeat_byte(7));
        let legacy = TxLegacy {
            chain_id: Some(31337),
            nonce: 1,
            gas_price: 1_000_000_000,
            gas_limit: 21_000,
            to,
            value: U256::from(1),
            ..Default::default()
        };
        let access = TxEip2930 {
            chain_id: 31337,
            nonce: 2,
            gas_price: 1,
            gas_limit: 60_000,
            to: TxKind::Create,
            input: vec![0x60, 0x00, 0x60, 0x00, 0xf3].into(),
            access_list: AccessList(vec![AccessListItem {
                address: Address::repeat_byte(9),
                storage_keys: vec![B256::ZERO, B256::repeat_byte(1)],
            }]),
            ..Default::default()
        };
        let dynamic = TxEip1559 {
            chain_id: 31337,
            nonce: 3,
            gas_limit: 50_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to,
            value: U256::MAX,
            input: vec![1, 2, 3].into(),
            ..Default::default()
        };
        let valid = [key.sign_tx_bytes(legacy), key.sign_tx_bytes(access), key.sign_tx_bytes(dynamic.clone())];
        for raw in &valid {
            let tx = RecoveredTx::decode(raw).expect("a seed transaction decodes");
            assert_eq!(tx.sender, key.address());
        }

        // Refused: no replay protection, a malleable signature, trailing bytes.
        let unprotected = TxLegacy { chain_id: None, gas_price: 1, gas_limit: 21_000, to, ..Default::default() };
        let unprotected = key.sign_tx_bytes(unprotected).to_vec();
        assert_eq!(RecoveredTx::decode(&unprotected), Err(TxDecodeError::NotReplayProtected));
        let signature = key.sign_prehash(&dynamic.signature_hash());
        let n = U256::from_str_radix("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)
            .expect("the order of secp256k1");
        let twin = Signature::new(signature.r(), n - signature.s(), !signature.v());
        let high_s = TxEnvelope::from(dynamic.clone().into_signed(twin)).encoded_2718();
        assert_eq!(RecoveredTx::decode(&high_s), Err(TxDecodeError::InvalidSignature));
        let mut trailing = key.sign_tx_bytes(dynamic.clone()).to_vec();
        trailing.push(0x80);
        assert_eq!(RecoveredTx::decode(&trailing), Err(TxDecodeError::TrailingBytes));

        // dsec's ML-DSA-65 type: a valid one, a tampered signature, a cut one.
        let pq = dsec_sdk::tx::MlDsaSigner::from_seed(&[7; 32]);
        let pq_valid = pq.sign_tx_bytes(dynamic.clone().into()).expect("ML-DSA-65 signs").to_vec();
        let decoded = RecoveredTx::decode(&pq_valid).expect("an ML-DSA-65 seed transaction decodes");
        assert_eq!(decoded.sender, pq.address());
        let mut pq_tampered = pq_valid.clone();
        let last = pq_tampered.len() - 1;
        pq_tampered[last] ^= 1;
        assert!(matches!(RecoveredTx::decode(&pq_tampered), Err(TxDecodeError::PostQuantum(_))));
        let pq_cut = pq_valid[..pq_valid.len() / 2].to_vec();

        let mut seeds: Vec<Vec<u8>> = valid.into_iter().map(|raw| raw.to_vec()).collect();
        seeds.extend([pq_valid, pq_tampered, pq_cut]);
        seeds.extend([unprotected, high_s, trailing, Vec::new(), vec![0x02], vec![0x04, 0xc0], vec![0xc0]]);
        seeds
    }

    #[test]
    fn raw_tx_replays_its_corpus() {
        super::replay("raw_tx", crate::raw_tx, &seeds());
    }
}

mod consensus_codec {
    use bytes::Bytes;
    use dsec_consensus::bft::codec::DsecCodec;
    use dsec_consensus::bft::context::{
        BlockId, DsecContext, Height, PrivateKey, Proposal, ProposalPart, Signature, ValidatorAddress, Vote,
    };
    use malachitebft_app_channel::app::consensus::LivenessMsg;
    use malachitebft_app_channel::app::types::codec::Codec;
    use malachitebft_app_channel::app::types::core::{
        NilOrVal, PolkaCertificate, PolkaSignature, Round, SignedMessage, ValidatorProof, Validity, VoteType,
    };
    use malachitebft_app_channel::app::types::streaming::{StreamId, StreamMessage};
    use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
    use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
    use malachitebft_engine::util::streaming::StreamContent;

    /// The encoding of `value`.
    fn encode<T>(value: T) -> Vec<u8>
    where
        DsecCodec: Codec<T>,
    {
        Codec::<T>::encode(&DsecCodec, &value).expect("a seed message encodes").to_vec()
    }

    /// One encoded message of each kind the codec handles.
    pub(super) fn seeds() -> Vec<Vec<u8>> {
        let ctx = DsecContext::new(alloy_primitives::B256::repeat_byte(7));
        let key = PrivateKey::local(dsec_sdk::validators::ValidatorKey::from_seed(&[3; 32]));
        let block = BlockId([9; 32]);
        let vote = Vote {
            vote_type: VoteType::Precommit,
            height: Height(5),
            round: Round::new(2),
            value: NilOrVal::Val(block),
            validator: key.address(),
            extension: None,
        };
        let signed_vote: SignedMessage<DsecContext, Vote> =
            SignedMessage::new(vote.clone(), key.sign(&ctx.vote_signing_bytes(&vote)).unwrap());
        let proposal = Proposal {
            height: Height(5),
            round: Round::new(2),
            value: block,
            pol_round: Round::Nil,
            proposer: key.address(),
        };
        let signed_proposal: SignedMessage<DsecContext, Proposal> =
            SignedMessage::new(proposal.clone(), key.sign(&ctx.proposal_signing_bytes(&proposal)).unwrap());
        let init = ProposalPart::Init {
            height: Height(5),
            round: Round::new(2),
            proposer: key.address(),
            pol_round: Round::new(1),
        };
        let stream_id = StreamId::new(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2]));
        let mut peer = vec![0x00, 0x20];
        peer.extend_from_slice(&[0x42; 32]);
        let peer_id = PeerId::from_bytes(&peer).expect("an identity multihash peer id");
        let polka = PolkaCertificate::<DsecContext> {
            height: Height(5),
            round: Round::new(2),
            value_id: block,
            polka_signatures: vec![PolkaSignature::new(key.address(), Signature::ed25519([7; 64]))],
        };
        // A sync request for heights 1..=5, and a response with one decided
        // value, in Borsh by hand (the sync types are not all reachable here).
        let mut request = Vec::new();
        request.extend_from_slice(&1u64.to_le_bytes());
        request.extend_from_slice(&5u64.to_le_bytes());
        let mut response = Vec::new();
        response.extend_from_slice(&3u64.to_le_bytes()); // start height
        response.extend_from_slice(&1u32.to_le_bytes()); // one decided value:
        response.extend_from_slice(&4u32.to_le_bytes()); // its block bytes,
        response.extend_from_slice(&[0xc0, 0xc1, 0xc2, 0xc3]);
        response.extend_from_slice(&3u64.to_le_bytes()); // certificate height,
        response.extend_from_slice(&0i64.to_le_bytes()); // round,
        response.extend_from_slice(&[9; 32]); // block id,
        response.extend_from_slice(&1u32.to_le_bytes()); // one signature:
        response.extend_from_slice(&[1; 20]); // validator address,
        response.extend_from_slice(&[2; 64]); // signature (ed25519 half),
        response.push(0); // no ML-DSA-65 half
        assert!(Codec::<Request<DsecContext>>::decode(&DsecCodec, Bytes::from(request.clone())).is_ok());
        assert!(Codec::<Response<DsecContext>>::decode(&DsecCodec, Bytes::from(response.clone())).is_ok());
        vec![
            encode(init.clone()),
            encode(ProposalPart::Data(vec![0xab; 40])),
            encode(ProposalPart::Fin { block_hash: block, signature: Signature::ed25519([6; 64]) }),
            encode(StreamMessage::new(stream_id.clone(), 0, StreamContent::Data(init))),
            encode(StreamMessage::<ProposalPart>::new(stream_id, 3, StreamContent::Fin)),
            encode(SignedConsensusMsg::<DsecContext>::Vote(signed_vote.clone())),
            encode(SignedConsensusMsg::<DsecContext>::Proposal(signed_proposal)),
            encode(LivenessMsg::<DsecContext>::Vote(signed_vote)),
            encode(LivenessMsg::<DsecContext>::PolkaCertificate(polka.clone())),
            encode(polka),
            encode(ProposedValue::<DsecContext> {
                height: Height(5),
                round: Round::new(2),
                valid_round: Round::Nil,
                proposer: ValidatorAddress([4; 20]),
                value: block,
                validity: Validity::Valid,
            }),
            encode(Status::<DsecContext> { peer_id, tip_height: Height(10), history_min_height: Height(1) }),
            encode(ValidatorProof::<DsecContext>::new(
                key.public_key().ed25519.to_vec(),
                peer,
                Signature::ed25519([5; 64]),
            )),
            request,
            response,
        ]
    }

    #[test]
    fn consensus_codec_replays_its_corpus() {
        super::replay("consensus_codec", crate::consensus_codec, &seeds());
    }
}

mod proposal_stream {
    /// The header byte of an operation (see `src/bft.rs`).
    fn op(kind: u8, stream: u8, publisher: u8) -> u8 {
        (kind << 5) | ((stream & 0b111) << 2) | (publisher & 0b11)
    }

    /// Part `index` of real proposal `block` (0: one chunk, four parts; 1: three chunks, six parts).
    fn real(publisher: u8, block: u8, index: u8) -> Vec<u8> {
        vec![op(6, 0, publisher), (index << 1) | block]
    }

    /// Streams that complete (in order, in reverse, with duplicates), streams
    /// refused for each reason, the byte limits and stream churn.
    pub(super) fn seeds() -> Vec<Vec<u8>> {
        let in_order: Vec<u8> = (0..4).flat_map(|i| real(0, 0, i)).collect();
        let reversed: Vec<u8> = (0..4).rev().flat_map(|i| real(1, 0, i)).collect();
        let duplicated: Vec<u8> = [0, 1, 1, 2, 3, 4, 0, 5].into_iter().flat_map(|i| real(2, 1, i)).collect();
        // A stream whose data is not a block.
        let mut garbage = vec![op(0, 1, 0), 0, 0, 1, 0x10, op(1, 1, 0), 0, 1, 11];
        garbage.extend_from_slice(b"not a block");
        garbage.extend_from_slice(&[op(3, 1, 0), 0, 2, 0x42, op(4, 1, 0), 0, 3]);
        // Sequence numbers at and around the limits: u64::MAX, u64::MAX - 1, MAX_PARTS, MAX_PARTS - 1.
        #[rustfmt::skip]
        let limits = vec![
            op(4, 2, 0), 0xff, 0xff,
            op(4, 2, 0), 0xff, 0xfe,
            op(1, 2, 0), 0xff, 0xfd, 1, 0xaa,
            op(1, 2, 0), 0xff, 0xfc, 0,
        ];
        // Exactly the byte limit of a stream, then one byte more.
        let stream_limit = vec![op(2, 3, 0), 0, 1, 5, op(1, 3, 0), 0, 2, 1, 0xaa];
        // A quarter of the limit on each of four streams of one publisher, then one byte more.
        let mut budget: Vec<u8> = (0..4).flat_map(|s| [op(2, s, 1), 0, 1, 0]).collect();
        budget.extend_from_slice(&[op(1, 4, 1), 0, 1, 1, 0xaa]);
        // More fresh streams than MAX_STREAMS, then a real stream.
        let mut churn: Vec<u8> = (0..70).flat_map(|_| [op(5, 0, 2), 0, 0, 1, 0x55]).collect();
        churn.extend((0..4).flat_map(|i| real(3, 0, i)));
        // A second Init part; a part after the end marker; an end marker before a part already seen.
        let second_init = [op(0, 5, 3), 0, 0, 1, 2, op(0, 5, 3), 0, 1, 1, 2];
        let after_end = [op(4, 6, 3), 0, 2, op(1, 6, 3), 0, 3, 0];
        let early_end = [op(7, 7, 3), 0, 5, op(4, 7, 3), 0, 4];
        let malformed = [second_init.as_slice(), &after_end, &early_end].concat();
        vec![in_order, reversed, duplicated, garbage, limits, stream_limit, budget, churn, malformed]
    }

    #[test]
    fn proposal_stream_replays_its_corpus() {
        super::replay("proposal_stream", crate::proposal_stream, &seeds());
    }
}

mod chaincode_dispatch {
    use crate::chaincode::{
        ADMIN, CALLERS, CHAIN, PERMISSIONS, SEQUENCE, SETTLEMENT, TENANT, VALIDATOR_SEEDS, VALIDATORS, modules,
        permissions_seed,
    };
    use alloy::sol_types::SolCall;
    use alloy_primitives::{B256, FixedBytes, U256};
    use dsec_chaincode::Call;
    use dsec_chaincode::audit::{IAuditAnchor, anchor_hash, tenant_id};
    use dsec_chaincode::provenance::{self, IProvenance};
    use dsec_chaincode::settlement::{self, ISettlement};
    use dsec_chaincode::testing::MemoryHost;
    use dsec_chaincode::validator_set::{IValidatorSet, change_digest};
    use dsec_sdk::merkle;
    use dsec_sdk::validators::ValidatorKey;

    const AUDIT: u8 = 0;
    const PROVENANCE: u8 = 1;
    /// Flags of a call in a sequence: the caller's index, and these.
    const STATIC: u8 = 0b100;
    const NEXT_BLOCK: u8 = 0b1_0000;

    /// Run `calls` (flags, calldata) on a fresh state as the target does and
    /// check that each succeeds; the input that stands for them.
    fn sequence(module: u8, calls: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let chaincode = modules()[usize::from(module)].as_ref();
        let mut host = MemoryHost::new();
        host.gas_limit = 5_000_000;
        if module == PERMISSIONS {
            host.storage.extend(permissions_seed());
        }
        let mut input = vec![module | SEQUENCE];
        for (n, (flags, data)) in calls.iter().enumerate() {
            if flags & NEXT_BLOCK != 0 {
                host.block_number += 1;
                host.timestamp += 43_200;
            }
            let call = Call {
                caller: CALLERS[usize::from(flags & 0b11)],
                value: U256::ZERO,
                data,
                is_static: flags & STATIC != 0,
            };
            if let Err(e) = host.call_with(chaincode, &call) {
                panic!("seed call {n} of module {module} fails: {e:?}");
            }
            input.push(*flags);
            input.extend_from_slice(&u16::try_from(data.len()).expect("short calldata").to_be_bytes());
            input.extend_from_slice(data);
        }
        input
    }

    /// One call by the administrator, which must succeed.
    fn single(module: u8, data: Vec<u8>) -> Vec<u8> {
        sequence(module, &[(0, data.clone())]);
        let mut input = vec![module];
        input.extend(data);
        input
    }

    fn code(text: &str) -> FixedBytes<3> {
        FixedBytes::from_slice(text.as_bytes())
    }

    fn locode(text: &str) -> FixedBytes<5> {
        FixedBytes::from_slice(text.as_bytes())
    }

    fn audit_seeds() -> Vec<Vec<u8>> {
        let genesis_tenant = tenant_id(TENANT);
        let tax = tenant_id("tax-agency");
        let lines: Vec<B256> = (0..3u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let root = merkle::root(&lines).expect("a Merkle root");
        let first = anchor_hash(&tax, 1, &root, 3, &B256::ZERO);
        let proof = merkle::proof(&lines, 1).expect("a Merkle proof");
        let anchor =
            |tenant, prev| IAuditAnchor::anchorCall { tenant, root, lineCount: 3, prevAnchor: prev }.abi_encode();
        vec![
            single(AUDIT, anchor(genesis_tenant, B256::ZERO)),
            sequence(
                AUDIT,
                &[
                    (
                        0,
                        IAuditAnchor::createTenantCall {
                            tenant: tax,
                            name: "Tax Agency".into(),
                            zone: "eu-west".into(),
                            anchorsPerDay: 2,
                        }
                        .abi_encode(),
                    ),
                    (0, IAuditAnchor::addMemberCall { tenant: tax, member: CALLERS[2] }.abi_encode()),
                    (2, anchor(tax, B256::ZERO)),
                    (2, anchor(tax, first)),
                    (STATIC | 3, IAuditAnchor::headCall { tenant: tax }.abi_encode()),
                    (
                        STATIC | 3,
                        IAuditAnchor::verifyLineCall { tenant: tax, seq: 1, leaf: lines[1], index: 1, proof }
                            .abi_encode(),
                    ),
                    (STATIC | 1, IAuditAnchor::tenantInfoCall { tenant: genesis_tenant }.abi_encode()),
                ],
            ),
        ]
    }

    fn provenance_seeds() -> Vec<Vec<u8>> {
        let (shipper, consignee, carrier) = (CALLERS[1], CALLERS[2], CALLERS[3]);
        let device = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let device_key = B256::from(device.verifying_key().to_bytes());
        let sign = |digest: B256| {
            use ed25519_dalek::Signer;
            alloy_primitives::Bytes::from(device.sign(digest.as_slice()).to_bytes().to_vec())
        };
        let id = B256::repeat_byte(0x51);
        let (origin, destination) = (locode("NLRTM"), locode("DEHAM"));
        let leg = IProvenance::Leg { from: origin, to: destination, mode: provenance::MODE_ROAD, distanceKm: 500 };
        let party =
            |party, role, name: &str| IProvenance::registerPartyCall { party, role, name: name.into() }.abi_encode();
        let observed_at = 1_699_999_000;
        let attest = IProvenance::attestCall {
            id,
            deviceKey: device_key,
            kind: provenance::SENSOR_TEMPERATURE,
            value: 900,
            observedAt: observed_at,
            signature: sign(provenance::attestation_digest(
                &CHAIN,
                &id,
                &device_key,
                provenance::SENSOR_TEMPERATURE,
                900,
                observed_at,
            )),
        };
        vec![
            single(PROVENANCE, party(shipper, provenance::ROLE_SHIPPER, "Shipper")),
            sequence(
                PROVENANCE,
                &[
                    (0, party(shipper, provenance::ROLE_SHIPPER, "Shipper")),
                    (0, party(consignee, provenance::ROLE_CONSIGNEE, "Consignee")),
                    (0, party(carrier, provenance::ROLE_CARRIER, "Carrier")),
                    (
                        3,
                        IProvenance::registerDeviceCall {
                            deviceKey: device_key,
                            owner: carrier,
                            signature: sign(provenance::device_registration_digest(&CHAIN, &device_key, &carrier)),
                        }
                        .abi_encode(),
                    ),
                    (
                        1,
                        IProvenance::createShipmentCall {
                            id,
                            consignee,
                            origin,
                            destination,
                            goodsHash: B256::repeat_byte(0x60),
                            hsCode: 851_712,
                            declaredValue: U256::from(25_000),
                            weightKg: 1_200,
                            legs: vec![leg],
                        }
                        .abi_encode(),
                    ),
                    (
                        1,
                        IProvenance::setThresholdsCall {
                            id,
                            minTempCenti: 200,
                            maxTempCenti: 800,
                            maxShockMilliG: 3_000,
                        }
                        .abi_encode(),
                    ),
                    (1, IProvenance::handOverCall { id, to: carrier, location: origin }.abi_encode()),
                    (3, IProvenance::acceptCustodyCall { id }.abi_encode()),
                    (2, attest.abi_encode()),
                    (3, IProvenance::handOverCall { id, to: consignee, location: destination }.abi_encode()),
                    (2, IProvenance::acceptCustodyCall { id }.abi_encode()),
                    (STATIC, IProvenance::trailCall { id }.abi_encode()),
                    (STATIC, IProvenance::carbonCall { id }.abi_encode()),
                ],
            ),
        ]
    }

    fn settlement_seeds() -> Vec<Vec<u8>> {
        let (officer, issuer, holder) = (CALLERS[1], CALLERS[2], CALLERS[3]);
        let eur = code("EUR");
        let kyc = |party| ISettlement::setKycCall { party, status: settlement::KYC_APPROVED }.abi_encode();
        let transfer = |to, amount: u64| {
            ISettlement::transferCall { code: eur, to, amount: U256::from(amount), memo: B256::ZERO }.abi_encode()
        };
        vec![
            single(
                SETTLEMENT,
                ISettlement::setRoleCall { party: officer, role: settlement::ROLE_COMPLIANCE }.abi_encode(),
            ),
            sequence(
                SETTLEMENT,
                &[
                    (0, ISettlement::setRoleCall { party: officer, role: settlement::ROLE_COMPLIANCE }.abi_encode()),
                    (1, kyc(issuer)),
                    (1, kyc(holder)),
                    (
                        0,
                        ISettlement::createCurrencyCall {
                            code: eur,
                            decimals: 2,
                            issuer,
                            holdThreshold: U256::from(1_000),
                        }
                        .abi_encode(),
                    ),
                    (2, ISettlement::mintCall { code: eur, to: holder, amount: U256::from(5_000) }.abi_encode()),
                    (3, transfer(issuer, 2_000)),
                    (1, ISettlement::approveHoldCall { id: 1 }.abi_encode()),
                    (2, transfer(holder, 10)),
                    (2, ISettlement::burnCall { code: eur, amount: U256::from(100) }.abi_encode()),
                    (STATIC, ISettlement::balanceOfCall { party: holder, code: eur }.abi_encode()),
                    (STATIC, ISettlement::holdCall { id: 1 }.abi_encode()),
                ],
            ),
        ]
    }

    fn validator_seeds() -> Vec<Vec<u8>> {
        let keys: Vec<ValidatorKey> = (1..=6u8).map(|i| ValidatorKey::from_seed(&[i; 32])).collect();
        assert_eq!(keys[..4].iter().map(|k| k.seed()).collect::<Vec<_>>(), VALIDATOR_SEEDS.to_vec());
        let infos = |keys: &[ValidatorKey]| -> Vec<IValidatorSet::ValidatorInfo> {
            keys.iter()
                .map(|k| IValidatorSet::ValidatorInfo {
                    publicKey: k.public_key(),
                    power: 1,
                    mlDsaPublicKey: Default::default(),
                })
                .collect()
        };
        let approvals = |signers: &[ValidatorKey], digest: B256| -> Vec<IValidatorSet::Approval> {
            signers
                .iter()
                .map(|k| IValidatorSet::Approval {
                    publicKey: k.public_key(),
                    signature: k.sign(digest.as_slice()).to_vec().into(),
                    mlDsaSignature: Default::default(),
                })
                .collect()
        };
        // Change 1 (genesis validators approve, block 1): add a fifth validator from height 3.
        let five = infos(&keys[..5]);
        let first = IValidatorSet::scheduleByValidatorsCall {
            validators: five.clone(),
            activationHeight: 3,
            approvals: approvals(&keys[..4], change_digest(&CHAIN, 1, 3, &five)),
        };
        // Change 2 (at block 3, four of the five approve): a sixth from height 6.
        let six = infos(&keys);
        let second = IValidatorSet::scheduleByValidatorsCall {
            validators: six.clone(),
            activationHeight: 6,
            approvals: approvals(&keys[..4], change_digest(&CHAIN, 2, 6, &six)),
        };
        vec![
            single(VALIDATORS, first.abi_encode()),
            single(
                VALIDATORS,
                IValidatorSet::scheduleByAdminCall { validators: infos(&keys[1..]), activationHeight: 3 }.abi_encode(),
            ),
            sequence(
                VALIDATORS,
                &[
                    (1, first.abi_encode()),
                    (NEXT_BLOCK | 2, IValidatorSet::changeCountCall {}.abi_encode()),
                    (NEXT_BLOCK | 2, second.abi_encode()),
                    (STATIC, IValidatorSet::validatorsAtCall { height: 6 }.abi_encode()),
                    (STATIC, IValidatorSet::changeCall { changeNumber: 2 }.abi_encode()),
                ],
            ),
        ]
    }

    /// Calls of every module that succeed, one by one and in sequences on one state.
    pub(super) fn seeds() -> Vec<Vec<u8>> {
        assert_eq!(modules().len(), 5, "the five chaincode modules build");
        assert_eq!(ADMIN, CALLERS[0], "single calls are made by the administrator");
        [audit_seeds(), provenance_seeds(), settlement_seeds(), validator_seeds(), permission_seeds()].concat()
    }

    /// Administrator changes of every kind, a refused outsider, and the views.
    fn permission_seeds() -> Vec<Vec<u8>> {
        use dsec_chaincode::permissions::IPermissions;
        let peer = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo".to_string();
        vec![
            single(PERMISSIONS, IPermissions::addAccountCall { account: CALLERS[2] }.abi_encode()),
            sequence(
                PERMISSIONS,
                &[
                    (0, IPermissions::removeAccountCall { account: CALLERS[1] }.abi_encode()),
                    (0, IPermissions::blockAccountCall { account: CALLERS[3] }.abi_encode()),
                    (0, IPermissions::setDeployerAllowlistCall { enabled: true }.abi_encode()),
                    (0, IPermissions::addDeployerCall { account: CALLERS[2] }.abi_encode()),
                    (0, IPermissions::addNodeCall { peerId: peer.clone() }.abi_encode()),
                    (0, IPermissions::removeNodeCall { peerId: peer }.abi_encode()),
                    (0, IPermissions::addModuleAdminCall { module: "audit".into(), admin: CALLERS[3] }.abi_encode()),
                    (STATIC, IPermissions::mayTransactCall { account: CALLERS[3] }.abi_encode()),
                    (STATIC, IPermissions::accountsCall {}.abi_encode()),
                    (0, IPermissions::setAdminsCall { admins: vec![ADMIN, CALLERS[1]], threshold: 2 }.abi_encode()),
                    (
                        STATIC,
                        IPermissions::changeDigestCall {
                            change: IPermissions::addAccountCall { account: CALLERS[3] }.abi_encode().into(),
                        }
                        .abi_encode(),
                    ),
                ],
            ),
        ]
    }

    #[test]
    fn chaincode_dispatch_replays_its_corpus() {
        super::replay("chaincode_dispatch", crate::chaincode_dispatch, &seeds());
    }
}

#[cfg(feature = "rpc")]
mod rpc_params {
    use crate::rpc::{METHODS, harness, request};
    use alloy::consensus::TxEip1559;
    use alloy_primitives::{Address, TxKind, U256, hex};

    /// The input that calls `method` with `params`.
    fn call(method: &str, params: &str) -> Vec<u8> {
        let index = METHODS.iter().position(|m| *m == method).unwrap_or_else(|| panic!("unknown method {method}"));
        let mut input = vec![u8::try_from(index).expect("fewer than 256 methods")];
        input.extend_from_slice(params.as_bytes());
        input
    }

    /// A request to every method with parameters that name things that exist.
    pub(super) fn seeds() -> Vec<Vec<u8>> {
        let dev = dsec_sdk::dev::dev_accounts();
        let (first, second) = (dev[0].address, dev[1].address);
        let raw = dev[1].key().sign_tx_bytes(TxEip1559 {
            chain_id: 31337,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(7)),
            value: U256::from(1),
            ..Default::default()
        });
        let audit = "0x00000000000000000000000000000000da5ec001";
        let head_call = format!(
            r#"[{{"from":"{first}","to":"{audit}","data":"0x{}"}},"latest"]"#,
            hex::encode(alloy::sol_types::SolCall::abi_encode(&dsec_sdk::chaincode::audit::IAuditAnchor::headCall {
                tenant: dsec_sdk::chaincode::audit::tenant_id("demo-agency"),
            }))
        );
        let transfer = format!(r#"[{{"from":"{first}","to":"{second}","value":"0x1"}}]"#);
        let create = format!(r#"[{{"from":"{first}","data":"0x6001600055"}},"latest"]"#);
        let overrides =
            format!(r#"[{{"from":"{first}","to":"{second}"}},"latest",{{"{second}":{{"balance":"0x1"}}}}]"#);
        vec![
            call("web3_clientVersion", ""),
            call("web3_sha3", r#"["0x68656c6c6f"]"#),
            call("net_version", "[]"),
            call("eth_chainId", "[]"),
            call("eth_blockNumber", ""),
            call("eth_gasPrice", "[]"),
            call("eth_feeHistory", r#"["0x4","latest",[10,50,90]]"#),
            call("eth_getBalance", &format!(r#"["{first}","latest"]"#)),
            call("eth_getTransactionCount", &format!(r#"["{first}","pending"]"#)),
            call("eth_getCode", &format!(r#"["{audit}","0x1"]"#)),
            call("eth_getStorageAt", &format!(r#"["{audit}","0x0",{{"blockHash":"$block"}}]"#)),
            call("eth_call", &head_call),
            call("eth_call", &overrides),
            call("eth_createAccessList", &create),
            call("eth_estimateGas", &transfer),
            call("eth_sendRawTransaction", &format!(r#"["0x{}"]"#, hex::encode(raw))),
            call("eth_getTransactionByHash", r#"["$tx0"]"#),
            call("eth_getTransactionReceipt", r#"["$tx1"]"#),
            call("eth_getBlockReceipts", r#"["0x1"]"#),
            call("eth_getBlockByNumber", r#"["latest",true]"#),
            call("eth_getBlockByHash", r#"["$block",false]"#),
            call("eth_getBlockTransactionCountByNumber", r#"["earliest"]"#),
            call("eth_getTransactionByBlockNumberAndIndex", r#"["0x1","0x1"]"#),
            call("eth_getTransactionByBlockHashAndIndex", r#"["$block","0x0"]"#),
            call("eth_getLogs", &format!(r#"[{{"fromBlock":"0x0","toBlock":"latest","address":"{audit}"}}]"#)),
            call("eth_getLogs", r#"[{"blockHash":"$block"}]"#),
            call("eth_newFilter", r#"[{"fromBlock":"0x1","topics":[null]}]"#),
            call("eth_newBlockFilter", ""),
            call("eth_getFilterChanges", r#"["0x1"]"#),
            call("eth_uninstallFilter", r#"["0xffffffffffffffffffffffffffffffffff"]"#),
            call("eth_subscribe", r#"["logs",{"address":[]}]"#),
            call("eth_subscribe", r#"["newPendingTransactions",true]"#),
            call("debug_traceTransaction", r#"["$tx1",{"tracer":"callTracer"}]"#),
            call("debug_traceCall", &format!(r#"[{{"to":"{audit}"}},"latest",{{"tracer":"prestateTracer"}}]"#)),
            call("dsec_getCommit", r#"["0x1"]"#),
            call("dsec_getValidators", r#"["0xffffffffffffffff"]"#),
            call("dsec_getEvidence", ""),
            call("dsec_getTransactionProof", r#"["$tx0"]"#),
            call("eth_getBalance", "not json at all"),
        ]
    }

    #[test]
    fn the_method_list_is_what_the_node_serves() {
        let mut served: Vec<&str> = harness().module.method_names().filter(|m| *m != "eth_subscription").collect();
        served.sort_unstable();
        let mut listed = METHODS.to_vec();
        listed.sort_unstable();
        assert_eq!(served, listed, "METHODS must list every method the node serves (append new ones at the end)");
    }

    #[test]
    fn built_requests_are_json() {
        for seed in seeds() {
            let (method, text) = request(harness(), &seed).expect("a request");
            let parsed: serde_json::Value = serde_json::from_str(&text).expect("the request is JSON");
            assert_eq!(parsed["method"], method);
        }
    }

    #[test]
    fn rpc_params_replays_its_corpus() {
        super::replay("rpc_params", crate::rpc_params, &seeds());
    }
}
