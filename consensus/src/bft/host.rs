//! The application side of the Malachite dialogue: answers every [`AppMsg`]
//! from the node's [`Application`] (build, validate, commit), streams block
//! proposals as signed parts, reassembles the parts of others (the pure part
//! in [`super::stream`]) and checks who signed them, serves and processes value
//! sync, and records equivocation evidence.

use super::context::{BlockId, DsecContext, Height, PrivateKey, ProposalPart, ValidatorAddress, ValidatorSet};
use super::stream::{
    BadBlock, CompletedStream, MAX_STREAM_BYTES, MAX_STREAMS, ProposalStreams, Received, proposal_parts,
};
use super::{BftError, BftParams};
use crate::{Application, EvidenceRecord, Verdict};
use alloy_primitives::B256;
use bytes::Bytes;
use dsec_sdk::block::{Block, CommitCertificate, CommitSignature};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate as MalCertificate, ExtendedCommitCertificate, ExtendedCommitSignature, HeightParams, NilOrVal,
    Round, SignedMessage, Validity, Vote as _,
};
use malachitebft_app_channel::app::types::streaming::StreamMessage;
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, MisbehaviorEvidence, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use malachitebft_engine::host::{Next, SyncedValueOutcome};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{Instrument, debug, error, info, info_span, warn};

/// Proposals for heights further ahead than this are dropped (value sync covers them).
const MAX_HEIGHTS_AHEAD: u64 = 8;
/// Most decided values served in one sync response.
const MAX_SYNC_BATCH: u64 = 50;
/// Most different blocks accepted for validation per (height, round). An
/// honest proposer sends one; a Byzantine one may sign any number of variants,
/// and each would cost a re-execution and a stored proposal. The second is
/// still taken so a node that saw a variant first can validate the one the
/// others vote on; further variants are dropped unvalidated.
pub(super) const MAX_VARIANTS_PER_ROUND: usize = 2;

/// A proposal reassembled from its parts, authenticated against the round's proposer.
#[derive(Clone)]
struct Assembled {
    height: u64,
    round: Round,
    pol_round: Round,
    proposer: ValidatorAddress,
    block: Block,
    hash: B256,
}

/// The state of the application side of consensus.
pub(super) struct Host<A: Application> {
    app: Arc<A>,
    ctx: DsecContext,
    params: BftParams,
    key: Option<PrivateKey>,
    address: ValidatorAddress,
    network: mpsc::Sender<NetworkMsg<DsecContext>>,
    allowed_peers: Arc<dyn Fn(&PeerId) -> bool + Send + Sync>,
    streams: ProposalStreams,
    pending: BTreeMap<(u64, u32), Vec<Assembled>>,
    refused_peers: HashSet<PeerId>,
    /// Hashes of the authenticated blocks taken per (height, round), at most
    /// [`MAX_VARIANTS_PER_ROUND`] each; pruned when a height is finalized.
    variants: BTreeMap<(u64, u32), Vec<B256>>,
}

/// What [`take_variant`] decided about an authenticated block.
#[derive(Debug, PartialEq, Eq)]
enum Variant {
    /// A block not seen for this (height, round): validate it.
    New,
    /// The same block again: already handled.
    Seen,
    /// A further variant beyond [`MAX_VARIANTS_PER_ROUND`]: drop it.
    OverLimit,
}

/// Record `hash` among the blocks taken for (height, round), within the bound.
fn take_variant(variants: &mut BTreeMap<(u64, u32), Vec<B256>>, height: u64, round: u32, hash: B256) -> Variant {
    let seen = variants.entry((height, round)).or_default();
    if seen.contains(&hash) {
        Variant::Seen
    } else if seen.len() >= MAX_VARIANTS_PER_ROUND {
        Variant::OverLimit
    } else {
        seen.push(hash);
        Variant::New
    }
}

fn block_bytes(block: &Block) -> Vec<u8> {
    alloy_rlp::encode(block)
}

impl<A: Application> Host<A> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        app: Arc<A>,
        ctx: DsecContext,
        params: BftParams,
        key: Option<PrivateKey>,
        address: ValidatorAddress,
        network: mpsc::Sender<NetworkMsg<DsecContext>>,
        allowed_peers: Arc<dyn Fn(&PeerId) -> bool + Send + Sync>,
    ) -> Self {
        Self {
            app,
            ctx,
            params,
            key,
            address,
            network,
            allowed_peers,
            streams: ProposalStreams::default(),
            pending: BTreeMap::new(),
            refused_peers: HashSet::new(),
            variants: BTreeMap::new(),
        }
    }

    fn app_err(e: A::Error) -> BftError {
        BftError::Application(Box::new(e))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&A) -> Result<T, A::Error> + Send + 'static,
    ) -> Result<T, BftError> {
        let app = self.app.clone();
        tokio::task::spawn_blocking(move || f(&app))
            .await
            .map_err(|e| BftError::Task(e.to_string()))?
            .map_err(Self::app_err)
    }

    fn height_params(&self, height: u64) -> Result<HeightParams<DsecContext>, BftError> {
        let set = ValidatorSet::from_sdk(&self.app.validator_set(height).map_err(Self::app_err)?);
        if set.validators.is_empty() {
            return Err(BftError::EmptyValidatorSet(height));
        }
        Ok(HeightParams::new(set, self.params.timeouts, None))
    }

    /// Answer messages until the engine closes the channel or the application fails.
    pub(super) async fn run(mut self, mut channels: Channels<DsecContext>) -> Result<(), BftError> {
        while let Some(msg) = channels.consensus.recv().await {
            self.handle(msg).await?;
        }
        Err(BftError::EngineStopped)
    }

    async fn handle(&mut self, msg: AppMsg<DsecContext>) -> Result<(), BftError> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let (head, _) = self.app.last_committed();
                let start = head + 1;
                info!(height = start, "consensus ready, starting height");
                let _ = reply.send((Height(start), self.height_params(start)?));
            }
            AppMsg::StartedRound { height, round, proposer, role, reply_value } => {
                debug!(%height, %round, %proposer, ?role, "started round");
                let values = self.values_for_round(height.0, round).await?;
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue { height, round, timeout, reply } => {
                self.spawn_propose(height.0, round, timeout, reply);
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
            }
            AppMsg::RestreamProposal { height, round, valid_round, address, value_id } => {
                self.restream(height.0, round, valid_round, address, value_id).await?;
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(self.app.earliest_decided()));
            }
            AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                let value = self.received_part(from, published_by, part).await?;
                let _ = reply.send(value);
            }
            AppMsg::Decided { certificate, reply, .. } => {
                self.decided(certificate).await?;
                let _ = reply.send(());
            }
            AppMsg::Finalized { certificate, evidence, reply, .. } => {
                let height = certificate.height.0;
                self.record_evidence(height, &evidence)?;
                self.pending = self.pending.split_off(&(height + 1, 0));
                self.variants = self.variants.split_off(&(height + 1, 0));
                let _ = reply.send(Next::Start(Height(height + 1), self.height_params(height + 1)?));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let (from, to) =
                    (range.start().0, range.end().0.min(range.start().0.saturating_add(MAX_SYNC_BATCH - 1)));
                let values = self
                    .blocking(move |app| {
                        let mut out = Vec::new();
                        for h in from..=to {
                            match app.decided_block(h)? {
                                Some((block, cert)) => out.push(raw_decided(&block, &cert)),
                                None => break,
                            }
                        }
                        Ok(out)
                    })
                    .await?;
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let outcome = self.synced_value(height.0, round, proposer, value_bytes).await?;
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }

    /// Proposals for (height, round) already known: stored ones (after a
    /// restart) and streams that completed before the height started.
    async fn values_for_round(
        &mut self,
        height: u64,
        round: Round,
    ) -> Result<Vec<ProposedValue<DsecContext>>, BftError> {
        let Some(r) = round.as_u32() else { return Ok(Vec::new()) };
        let mut candidates: Vec<Assembled> = self.pending.remove(&(height, r)).unwrap_or_default();
        let stored = self.blocking(move |app| app.proposals(height)).await?;
        for (stored_round, block) in stored {
            if stored_round == r && !candidates.iter().any(|c| c.block == block) {
                let hash = block.header.hash_slow();
                candidates.push(Assembled {
                    height,
                    round,
                    pol_round: Round::Nil,
                    proposer: block.header.proposer.into(),
                    block,
                    hash,
                });
            }
        }
        let mut out = Vec::new();
        for candidate in candidates {
            if let Some(value) = self.verify_and_validate(candidate).await? {
                out.push(value);
            }
        }
        Ok(out)
    }

    /// Build (or re-use after a restart) our block for (height, round), reply
    /// with its hash and stream it. Runs beside the message loop so waiting for
    /// transactions does not hold other messages up.
    fn spawn_propose(
        &self,
        height: u64,
        round: Round,
        timeout: Duration,
        reply: malachitebft_app_channel::Reply<LocallyProposedValue<DsecContext>>,
    ) {
        let app = self.app.clone();
        let ctx = self.ctx.clone();
        let key = self.key.clone();
        let me = self.address;
        let network = self.network.clone();
        let params = self.params.clone();
        let span = info_span!("propose", height, round = %round);
        tokio::spawn(
            async move {
                let Some(key) = key else { return };
                let started = tokio::time::Instant::now();
                let r = round.as_u32().unwrap_or(0);
                let app2 = app.clone();
                let stored = tokio::task::spawn_blocking(move || app2.proposals(height)).await;
                let reuse = match stored {
                    Ok(Ok(list)) => list
                        .into_iter()
                        .find(|(sr, b)| *sr == r && b.header.proposer == me.to_eth())
                        .map(|(_, b)| b),
                    Ok(Err(e)) => {
                        error!(error = %e, "reading stored proposals failed");
                        return;
                    }
                    Err(e) => {
                        error!(error = %e, "proposal task failed");
                        return;
                    }
                };
                let block = match reuse {
                    Some(block) => {
                        info!("re-proposing the block stored before a restart");
                        block
                    }
                    None => {
                        // Wait for transactions, but propose an empty block after
                        // `empty_block_wait` (and well within the propose timeout).
                        // In a later round time is already lost: propose at once.
                        let wait = if r > 0 { Duration::ZERO } else { params.empty_block_wait.min(timeout / 2) };
                        let notify = app.tx_notify();
                        while !app.has_ready_transactions() && started.elapsed() < wait {
                            let left = wait.saturating_sub(started.elapsed());
                            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), notify.notified()).await;
                        }
                        // Let the block fill ([`BftParams::block_fill_wait`]).
                        let fill = if r > 0 { Duration::ZERO } else { params.block_fill_wait.min(timeout / 3) };
                        if started.elapsed() < fill {
                            tokio::time::sleep_until(started + fill).await;
                        }
                        let budget = params.build_time.min(timeout / 3);
                        let app2 = app.clone();
                        let built = tokio::task::spawn_blocking(move || {
                            let proposed = app2.build_block(height, me.to_eth(), Instant::now() + budget)?;
                            app2.save_proposal(height, r, &proposed.block)?;
                            Ok::<_, A::Error>(proposed.block)
                        })
                        .await;
                        match built {
                            Ok(Ok(block)) => block,
                            Ok(Err(e)) => {
                                warn!(error = %e, "could not build a block; the round will time out");
                                return;
                            }
                            Err(e) => {
                                error!(error = %e, "build task failed");
                                return;
                            }
                        }
                    }
                };
                let hash = block.header.hash_slow();
                info!(txs = block.body.transactions.len(), %hash, ms = started.elapsed().as_millis() as u64, "proposing");
                let _ = reply.send(LocallyProposedValue::new(Height(height), round, BlockId::from(hash)));
                publish(&network, &ctx, &key, Height(height), round, Round::Nil, &block, hash).await;
            }
            .instrument(span),
        );
    }

    async fn restream(
        &mut self,
        height: u64,
        round: Round,
        valid_round: Round,
        address: ValidatorAddress,
        value_id: BlockId,
    ) -> Result<(), BftError> {
        let Some(key) = self.key.clone() else { return Ok(()) };
        if address != self.address {
            return Ok(());
        }
        let stored = self.blocking(move |app| app.proposals(height)).await?;
        let Some((_, block)) = stored.into_iter().find(|(_, b)| b.header.hash_slow() == value_id.to_b256()) else {
            warn!(height, %value_id, "asked to restream a block this node does not have");
            return Ok(());
        };
        publish(&self.network, &self.ctx, &key, Height(height), round, valid_round, &block, value_id.to_b256()).await;
        Ok(())
    }

    /// A proposal part arrived: `from` delivered it, `published_by` (when the
    /// transport says) published it. Parts of one stream are grouped by their
    /// publisher: gossip relays parts of one stream through different peers.
    async fn received_part(
        &mut self,
        from: PeerId,
        published_by: Option<PeerId>,
        msg: StreamMessage<ProposalPart>,
    ) -> Result<Option<ProposedValue<DsecContext>>, BftError> {
        let publisher = published_by.unwrap_or(from);
        for peer in [from, publisher] {
            if !(self.allowed_peers)(&peer) {
                if self.refused_peers.insert(peer) {
                    warn!(%peer, "refusing proposal parts from a peer outside the validator set and allowlist");
                }
                return Ok(None);
            }
        }
        let from = publisher;
        let stream = match self.streams.insert(from, msg, Instant::now()) {
            Received::Duplicate | Received::Incomplete => return Ok(None),
            Received::TooLarge => {
                warn!(peer = %from, "dropping a proposal stream larger than {MAX_STREAM_BYTES} bytes");
                return Ok(None);
            }
            Received::Malformed(reason) => {
                warn!(peer = %from, reason, "dropping a malformed proposal stream");
                return Ok(None);
            }
            Received::Complete(stream) => *stream,
        };
        debug!(
            peer = %from,
            parts = stream.parts,
            bytes = stream.bytes,
            ms = stream.elapsed.as_millis() as u64,
            "proposal stream complete"
        );
        let CompletedStream { height, round, proposer, pol_round, block_hash, signature, block, .. } = stream;
        let block = match block {
            Ok(block) => block,
            Err(BadBlock::Undecodable(e)) => {
                warn!(peer = %from, %height, %round, error = %e, "undecodable block in proposal stream");
                return Ok(None);
            }
            Err(BadBlock::HashMismatch) => {
                warn!(peer = %from, %height, "proposal stream's block does not match its signed hash");
                return Ok(None);
            }
        };
        // The stream checked that the block's header hash is the signed one.
        let hash = block_hash.to_b256();
        // Authenticate the stream: the Fin must be signed by the proposer of the round.
        let proposer_key = self.app.validator_set(height.0).ok().and_then(|set| {
            let set = ValidatorSet::from_sdk(&set);
            set.proposer(height.0, round.as_u32().unwrap_or(0)).cloned()
        });
        let signed_by_proposer = proposer_key.as_ref().is_some_and(|v| {
            v.address == proposer
                && v.public_key.verify(&self.ctx.parts_signing_bytes(height, round, &block_hash), &signature)
        });
        let (head, _) = self.app.last_committed();
        if height.0 <= head {
            return Ok(None);
        }
        if !signed_by_proposer && (proposer_key.is_some() || height.0 == head + 1) {
            warn!(peer = %from, %height, %round, %proposer, "proposal stream not signed by the round's proposer");
            return Ok(None);
        }
        let assembled = Assembled { height: height.0, round, pol_round, proposer, block, hash };
        if height.0 > head + MAX_HEIGHTS_AHEAD || self.pending.len() >= MAX_STREAMS {
            debug!(peer = %from, %height, "dropping a proposal too far ahead of this node");
            return Ok(None);
        }
        match take_variant(&mut self.variants, height.0, round.as_u32().unwrap_or(0), hash) {
            Variant::New => {}
            Variant::Seen => return Ok(None),
            Variant::OverLimit => {
                warn!(
                    peer = %from, %height, %round, %proposer,
                    "proposer signed more than {MAX_VARIANTS_PER_ROUND} different blocks for one round; dropping this one unvalidated"
                );
                return Ok(None);
            }
        }
        if height.0 > head + 1 {
            // Validate when the height starts (StartedRound hands it to consensus).
            let r = round.as_u32().unwrap_or(0);
            self.pending.entry((height.0, r)).or_default().push(assembled);
            return Ok(None);
        }
        self.verify_and_validate(assembled).await
    }

    /// Check the proposer and re-execute; persist a valid proposal so a restart finds it.
    async fn verify_and_validate(&mut self, mut a: Assembled) -> Result<Option<ProposedValue<DsecContext>>, BftError> {
        let (head, _) = self.app.last_committed();
        if a.height != head + 1 || a.block.header.number != a.height {
            return Ok(None);
        }
        let set = ValidatorSet::from_sdk(&self.app.validator_set(a.height).map_err(Self::app_err)?);
        let expected = set.proposer(a.height, a.round.as_u32().unwrap_or(0)).map(|v| v.address);
        if expected != Some(a.proposer) || a.block.header.proposer != a.proposer.to_eth() {
            warn!(height = a.height, round = %a.round, proposer = %a.proposer, "block proposed by the wrong validator");
            return Ok(Some(proposed_value(&a, Validity::Invalid)));
        }
        // The block moves to the blocking task; the verdict needs only its hash.
        let block = std::mem::take(&mut a.block);
        let verdict = self.validate_and_keep(a.height, a.round, block).await?;
        let validity = match verdict {
            Verdict::Valid => Validity::Valid,
            Verdict::Invalid(reason) => {
                warn!(height = a.height, round = %a.round, %reason, "rejecting invalid block");
                Validity::Invalid
            }
        };
        Ok(Some(proposed_value(&a, validity)))
    }

    /// Re-execute `block` off the message loop; store it if valid, so a
    /// restart can still commit or re-propose it.
    async fn validate_and_keep(&self, height: u64, round: Round, block: Block) -> Result<Verdict, BftError> {
        let r = round.as_u32().unwrap_or(0);
        self.blocking(move |app| {
            let verdict = app.validate_block(&block)?;
            if verdict == Verdict::Valid {
                app.save_proposal(height, r, &block)?;
            }
            Ok(verdict)
        })
        .await
    }

    async fn decided(&mut self, certificate: MalCertificate<DsecContext>) -> Result<(), BftError> {
        let height = certificate.height.0;
        let hash = certificate.value_id.to_b256();
        let cert = CommitCertificate {
            height,
            round: certificate.round.as_u32().unwrap_or(0),
            block_hash: hash,
            signatures: certificate
                .commit_signatures
                .iter()
                .map(|s| CommitSignature {
                    validator: s.address.to_eth(),
                    signature: s.signature.ed25519.to_vec().into(),
                    ml_dsa_signature: s.signature.ml_dsa.clone().map(Into::into),
                })
                .collect(),
        };
        let span = info_span!("decided", height, round = cert.round);
        self.blocking(move |app| {
            let _enter = span.enter();
            if !app.knows_block(&hash) {
                // Decided without our having validated it in this run (restart, or
                // a value we saw only through the WAL): re-validate the stored copy.
                let stored = app.proposals(height)?;
                match stored.into_iter().find(|(_, b)| b.header.hash_slow() == hash) {
                    Some((_, block)) => {
                        if let Verdict::Invalid(reason) = app.validate_block(&block)? {
                            error!(%reason, "a decided block fails re-execution here");
                        }
                    }
                    None => error!(%hash, "decided block is unknown to this node"),
                }
            }
            app.commit_block(hash, cert)
        })
        .await
    }

    fn record_evidence(&self, height: u64, evidence: &MisbehaviorEvidence<DsecContext>) -> Result<(), BftError> {
        if evidence.is_empty() {
            return Ok(());
        }
        let mut records = Vec::new();
        for (address, doubles) in evidence.votes.iter() {
            for (a, b) in doubles {
                records.push(EvidenceRecord {
                    height: a.message.height.0,
                    round: a.message.round.as_u32().unwrap_or(0),
                    validator: address.to_eth(),
                    kind: format!("double-{:?}", a.message.vote_type()).to_lowercase(),
                    first: vote_target(a),
                    second: vote_target(b),
                    first_signature: a.signature.ed25519.to_vec().into(),
                    second_signature: b.signature.ed25519.to_vec().into(),
                });
            }
        }
        for (address, doubles) in evidence.proposals.iter() {
            for (a, b) in doubles {
                records.push(EvidenceRecord {
                    height: a.message.height.0,
                    round: a.message.round.as_u32().unwrap_or(0),
                    validator: address.to_eth(),
                    kind: "double-proposal".into(),
                    first: Some(a.message.value.to_b256()),
                    second: Some(b.message.value.to_b256()),
                    first_signature: a.signature.ed25519.to_vec().into(),
                    second_signature: b.signature.ed25519.to_vec().into(),
                });
            }
        }
        for r in &records {
            warn!(height = r.height, round = r.round, validator = %r.validator, kind = %r.kind, "equivocation evidence recorded");
        }
        self.app.record_evidence(height, records).map_err(Self::app_err)
    }

    async fn synced_value(
        &mut self,
        height: u64,
        round: Round,
        proposer: ValidatorAddress,
        value_bytes: Bytes,
    ) -> Result<SyncedValueOutcome<DsecContext>, BftError> {
        let block = match <Block as alloy_rlp::Decodable>::decode(&mut value_bytes.as_ref()) {
            Ok(block) if block.header.number == height => block,
            _ => return Ok(SyncedValueOutcome::PeerFault),
        };
        let hash = block.header.hash_slow();
        let verdict = self.validate_and_keep(height, round, block).await;
        let validity = match verdict {
            Ok(Verdict::Valid) => {
                super::SYNCED_BLOCKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Validity::Valid
            }
            Ok(Verdict::Invalid(reason)) => {
                warn!(height, %reason, "synced block is invalid");
                Validity::Invalid
            }
            Err(e) => {
                warn!(height, error = %e, "could not process a synced block");
                return Ok(SyncedValueOutcome::LocalTransientError);
            }
        };
        let a = Assembled { height, round, pol_round: Round::Nil, proposer, block: Block::default(), hash };
        Ok(SyncedValueOutcome::Verdict(proposed_value(&a, validity)))
    }
}

fn vote_target(v: &SignedMessage<DsecContext, super::context::Vote>) -> Option<B256> {
    match &v.message.value {
        NilOrVal::Nil => None,
        NilOrVal::Val(id) => Some(id.to_b256()),
    }
}

fn proposed_value(a: &Assembled, validity: Validity) -> ProposedValue<DsecContext> {
    ProposedValue {
        height: Height(a.height),
        round: a.round,
        valid_round: a.pol_round,
        proposer: a.proposer,
        value: BlockId::from(a.hash),
        validity,
    }
}

fn raw_decided(block: &Block, cert: &CommitCertificate) -> RawDecidedValue<DsecContext> {
    let signatures = cert
        .signatures
        .iter()
        .filter_map(|s| {
            let ed25519: [u8; 64] = s.signature.as_ref().try_into().ok()?;
            Some(ExtendedCommitSignature {
                address: s.validator.into(),
                signature: super::context::Signature {
                    ed25519,
                    ml_dsa: s.ml_dsa_signature.as_ref().map(|b| b.to_vec()),
                },
                extension: None,
            })
        })
        .collect();
    RawDecidedValue::new(
        Bytes::from(block_bytes(block)),
        ExtendedCommitCertificate {
            height: Height(cert.height),
            round: Round::new(cert.round),
            value_id: BlockId::from(cert.block_hash),
            commit_signatures: signatures,
        },
    )
}

/// Stream `block` as proposal parts for (height, round): Init, data chunks,
/// Fin signed by the proposer, end of stream (see [`proposal_parts`]).
#[allow(clippy::too_many_arguments)]
async fn publish(
    network: &mpsc::Sender<NetworkMsg<DsecContext>>,
    ctx: &DsecContext,
    key: &PrivateKey,
    height: Height,
    round: Round,
    pol_round: Round,
    block: &Block,
    hash: B256,
) {
    let parts = match proposal_parts(ctx, key, height, round, pol_round, block, hash) {
        Ok(parts) => parts,
        Err(error) => {
            // Peers never receive the block; the round times out and moves on.
            error!(%error, height = height.0, "cannot sign the proposal's parts; not proposing this round");
            return;
        }
    };
    for msg in parts {
        if network.send(NetworkMsg::PublishProposalPart(msg)).await.is_err() {
            error!("network channel closed while streaming a proposal");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProposedBlock;
    use dsec_sdk::block::{Body, Header};
    use dsec_sdk::validators::ValidatorSet as SdkSet;

    #[derive(Debug, thiserror::Error)]
    #[error("not used by this test")]
    struct Unused;

    /// One validator at height 1; counts the blocks it is asked to validate.
    struct OneValidator {
        set: SdkSet,
        validated: parking_lot::Mutex<u32>,
    }

    impl Application for OneValidator {
        type Error = Unused;
        fn last_committed(&self) -> (u64, B256) {
            (0, B256::ZERO)
        }
        fn validator_set(&self, _: u64) -> Result<SdkSet, Unused> {
            Ok(self.set.clone())
        }
        fn chain_hash(&self) -> B256 {
            B256::repeat_byte(7)
        }
        fn build_block(&self, _: u64, _: alloy_primitives::Address, _: Instant) -> Result<ProposedBlock, Unused> {
            Err(Unused)
        }
        fn validate_block(&self, _: &Block) -> Result<Verdict, Unused> {
            *self.validated.lock() += 1;
            Ok(Verdict::Valid)
        }
        fn commit_block(&self, _: B256, _: CommitCertificate) -> Result<(), Unused> {
            Ok(())
        }
        fn has_ready_transactions(&self) -> bool {
            false
        }
        fn tx_notify(&self) -> Arc<tokio::sync::Notify> {
            Arc::new(tokio::sync::Notify::new())
        }
        fn knows_block(&self, _: &B256) -> bool {
            false
        }
        fn save_proposal(&self, _: u64, _: u32, _: &Block) -> Result<(), Unused> {
            Ok(())
        }
        fn proposals(&self, _: u64) -> Result<Vec<(u32, Block)>, Unused> {
            Ok(Vec::new())
        }
        fn decided_block(&self, _: u64) -> Result<Option<(Block, CommitCertificate)>, Unused> {
            Ok(None)
        }
        fn earliest_decided(&self) -> u64 {
            1
        }
        fn record_evidence(&self, _: u64, _: Vec<EvidenceRecord>) -> Result<(), Unused> {
            Ok(())
        }
    }

    /// A chain whose only validator holds the key of seed `[3; 32]`.
    fn one_validator() -> (PrivateKey, Arc<OneValidator>) {
        let validator = dsec_sdk::validators::ValidatorKey::from_seed(&[3; 32]);
        let set = SdkSet::new(vec![validator.validator(1)]);
        (PrivateKey::local(validator), Arc::new(OneValidator { set, validated: parking_lot::Mutex::new(0) }))
    }

    fn peer() -> PeerId {
        PeerId::from_bytes(&libp2p::PeerId::random().to_bytes()).expect("a peer id")
    }

    #[tokio::test]
    async fn parts_relayed_through_different_peers_form_one_proposal() {
        let (key, app) = one_validator();
        let ctx = DsecContext::new(app.chain_hash());

        // The proposer streams a block (Init, data, signed Fin, end of stream).
        let header = Header { number: 1, proposer: key.address().to_eth(), ..Default::default() };
        let block = Block { header, body: Body::default() };
        let hash = block.header.hash_slow();
        let (out, mut sent) = mpsc::channel(16);
        publish(&out, &ctx, &key, Height(1), Round::new(0), Round::Nil, &block, hash).await;
        drop(out);
        let mut parts = Vec::new();
        while let Some(NetworkMsg::PublishProposalPart(part)) = sent.recv().await {
            parts.push(part);
        }
        assert!(parts.len() >= 4);

        let (publisher, relays, stranger) = (peer(), [peer(), peer()], peer());
        let allowed: HashSet<PeerId> = [publisher, relays[0], relays[1]].into_iter().collect();
        let (network, _unused) = mpsc::channel(16);
        let mut host = Host::new(
            app.clone(),
            ctx,
            BftParams::default(),
            None,
            key.address(),
            network,
            Arc::new(move |p: &PeerId| allowed.contains(p)),
        );

        // Each part arrives through another neighbour: grouped by publisher, the stream completes.
        let count = parts.len();
        let mut value = None;
        for (i, part) in parts.iter().cloned().enumerate() {
            value = host.received_part(relays[i % 2], Some(publisher), part).await.unwrap();
            assert_eq!(value.is_some(), i + 1 == count, "part {i} of {count}");
        }
        let value = value.expect("a complete proposal");
        assert_eq!(value.value, BlockId::from(hash));
        assert_eq!(value.validity, Validity::Valid);

        // A publisher outside the allowed set is refused, even through an allowed relay.
        for part in parts {
            assert!(host.received_part(relays[0], Some(stranger), part).await.unwrap().is_none());
        }
        assert_eq!(*app.validated.lock(), 1, "only the allowed publisher's block was validated");
    }

    #[tokio::test]
    async fn a_proposer_signing_many_variants_of_a_round_gets_two_validated() {
        let (key, app) = one_validator();
        let ctx = DsecContext::new(app.chain_hash());
        let publisher = peer();
        let (network, _unused) = mpsc::channel(16);
        let mut host = Host::new(
            app.clone(),
            ctx.clone(),
            BftParams::default(),
            None,
            key.address(),
            network,
            Arc::new(|_: &PeerId| true),
        );

        // Eight different blocks for height 1, round 0, each properly signed and on its own stream.
        let mut delivered = 0;
        for variant in 0..8u64 {
            let header =
                Header { number: 1, proposer: key.address().to_eth(), timestamp_ms: variant, ..Default::default() };
            let block = Block { header, body: Body::default() };
            let hash = block.header.hash_slow();
            let stream_id = malachitebft_app_channel::app::types::streaming::StreamId::new(Bytes::from(
                variant.to_be_bytes().to_vec(),
            ));
            for mut part in proposal_parts(&ctx, &key, Height(1), Round::new(0), Round::Nil, &block, hash).unwrap() {
                part.stream_id = stream_id.clone();
                if host.received_part(publisher, Some(publisher), part).await.unwrap().is_some() {
                    delivered += 1;
                }
            }
        }
        assert_eq!(delivered, MAX_VARIANTS_PER_ROUND, "variants handed to consensus");
        assert_eq!(*app.validated.lock() as usize, MAX_VARIANTS_PER_ROUND, "re-executions");
        assert_eq!(take_variant(&mut host.variants, 1, 1, B256::ZERO), Variant::New, "another round has its own bound");
    }
}
