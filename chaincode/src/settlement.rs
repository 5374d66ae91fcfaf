//! Cross-border settlement: multi-currency balances for KYC-approved parties,
//! issuers who mint and burn, transfers, payments across currencies at FX
//! providers' quotes, and atomic payment-versus-payment; on every one of
//! these paths a payment above its currency's threshold, or beyond the
//! paying party's daily limit in that currency, is held for a compliance
//! officer who is not party to it (four eyes).
//!
//! All amounts are integers in minor units and every operation uses checked
//! arithmetic. Funds that are neither spendable nor gone — held payments and
//! PvP give-legs — are counted in a per-currency `locked` total, so that for
//! every currency `Σ balances + locked = supply` holds after every operation,
//! and only `mint` and `burn` change the supply.
//!
//! Compliance reads need no log scan: the pending holds, each party's settled
//! payments in time order (found by time with a binary search) and a party's
//! balances in every currency are kept in the module's storage.
//!
//! The Solidity interface is `chaincode/sol/ISettlement.sol`.

use crate::storage::{load_u8, load_u64, slot, store_u64};
use crate::{Call, Chaincode, Failure, Host, ModuleConfig};
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::ruint::UintTryFrom;
use alloy_primitives::{Address, B256, Bytes, FixedBytes, U256, U512};
use std::sync::Arc;

use ISettlement::ISettlementCalls as Calls;
pub use dsec_sdk::chaincode::settlement::{
    ADDRESS, ISettlement, KIND_FX, KIND_PVP, KIND_TRANSFER, KYC_APPROVED, KYC_FROZEN, REASON_DAILY_LIMIT,
    REASON_THRESHOLD, ROLE_COMPLIANCE, ROLE_COMPLIANCE_ADMIN, ROLE_FX_PROVIDER,
};

const HOLD_PENDING: u8 = 1;
const HOLD_APPROVED: u8 = 2;
const HOLD_REJECTED: u8 = 3;
const PVP_OPEN: u64 = 1;
const PVP_SETTLED: u64 = 2;
const PVP_CANCELLED: u64 = 3;
const PVP_HELD: u64 = 4;
/// The most entries one page of a list view returns.
const MAX_PAGE: u64 = 1_000;
/// The most currencies the module keeps (each party's balances are read over all of them).
const MAX_CURRENCIES: u64 = 256;
/// A UTC day in seconds: daily limits count from midnight UTC.
const DAY: u64 = 86_400;

/// A payment-versus-payment as stored.
struct Pvp {
    proposer: Address,
    counterparty: Address,
    give: Code,
    give_amount: U256,
    get: Code,
    get_amount: U256,
    expires: u64,
    status: u64,
}

/// One leg of a payment: `amount` of `code` moving from `from` to `to`.
#[derive(Debug, Clone, Copy)]
struct Leg {
    code: Code,
    from: Address,
    to: Address,
    amount: U256,
    /// Already debited and locked (a PvP give leg).
    escrowed: bool,
    /// Counts toward `from`'s daily limit (not an FX provider's own leg).
    daily: bool,
    /// What `from` lacks when the debit fails.
    lacking: &'static str,
}

impl Leg {
    fn new(code: Code, from: Address, to: Address, amount: U256) -> Self {
        Self { code, from, to, amount, escrowed: false, daily: true, lacking: "balance" }
    }
}

/// What a payment is, beside its legs: for its hold, its events and its records.
#[derive(Debug, Clone, Copy)]
struct Payment {
    kind: u8,
    /// The quote (FX) or PvP id; 0 for a transfer.
    reference: u64,
    /// The party whose call made the payment.
    initiator: Address,
    memo: B256,
    /// The FX provider's fee, in quote units.
    fee: U256,
}

/// The settlement module.
#[derive(Debug)]
pub struct Settlement {
    admins: Vec<Address>,
}

type Code = FixedBytes<3>;

fn revert<T>(reason: &str) -> Result<T, Failure> {
    Err(Failure::reason(format!("settlement: {reason}")))
}

fn emit<E: SolEvent>(host: &mut dyn Host, event: &E) -> Result<(), Failure> {
    let log = event.encode_log_data();
    host.emit(log.topics().to_vec(), log.data)
}

fn addr_word(a: &Address) -> U256 {
    U256::from_be_slice(a.as_slice())
}

fn word_addr(w: U256) -> Address {
    Address::from_word(B256::from(w))
}

fn code_word(code: &Code) -> U256 {
    U256::from_be_slice(code.as_slice())
}

fn word_code(w: U256) -> Code {
    Code::from_slice(&w.to_be_bytes::<32>()[29..])
}

fn valid_code(code: &Code) -> bool {
    code.iter().all(|b| b.is_ascii_uppercase())
}

/// The most a quote's fee may be: 100% in basis points.
const MAX_FEE_BPS: u16 = 10_000;

/// `⌊a × b / d⌋` computed exactly (with a 512-bit product); `None` when `d` is
/// zero or the result does not fit in 256 bits.
fn mul_div(a: U256, b: U256, d: U256) -> Option<U256> {
    let product: U512 = a.widening_mul(b);
    let quotient = product.checked_div(U512::from(d))?;
    U256::uint_try_from(quotient).ok()
}

/// A page `[offset, offset + limit)` of `total` entries, clipped to the total;
/// an error for a limit outside 1..=[`MAX_PAGE`].
fn page(offset: U256, limit: U256, total: u64) -> Result<std::ops::Range<u64>, Failure> {
    let limit: u64 = limit.saturating_to();
    if limit == 0 || limit > MAX_PAGE {
        return revert("limit must be 1 to 1,000");
    }
    let start = offset.saturating_to::<u64>().min(total);
    Ok(start..start.saturating_add(limit).min(total))
}

/// Keys of a hold's fields.
fn hold_key(id: u64, field: &str) -> U256 {
    slot(field, &[&id.to_be_bytes()])
}

/// The packed header of a payment record: time, kind, currency and reference.
fn payment_meta(time: u64, kind: u8, code: &Code, reference: u64) -> U256 {
    let mut word = [0u8; 32];
    word[12..20].copy_from_slice(&time.to_be_bytes());
    word[20] = kind;
    word[21..24].copy_from_slice(code.as_slice());
    word[24..32].copy_from_slice(&reference.to_be_bytes());
    U256::from_be_bytes(word)
}

/// The fields of [`payment_meta`]: (time, kind, currency, reference).
fn unpack_meta(word: U256) -> (u64, u8, Code, u64) {
    let bytes = word.to_be_bytes::<32>();
    let mut time = [0u8; 8];
    time.copy_from_slice(&bytes[12..20]);
    let mut reference = [0u8; 8];
    reference.copy_from_slice(&bytes[24..32]);
    (u64::from_be_bytes(time), bytes[20], Code::from_slice(&bytes[21..24]), u64::from_be_bytes(reference))
}

impl Settlement {
    /// Build the module from its genesis configuration.
    pub fn from_config(config: &ModuleConfig) -> Result<Arc<dyn Chaincode>, String> {
        if !config.settings.is_null() && config.settings.as_object().is_none_or(|o| !o.is_empty()) {
            return Err("the settlement module takes no settings".into());
        }
        Ok(Arc::new(Self { admins: config.admins.clone() }))
    }

    fn kyc(&self, host: &mut dyn Host, party: &Address) -> Result<u8, Failure> {
        load_u8(host, slot("kyc", &[party.as_slice()]))
    }

    fn role(&self, host: &mut dyn Host, party: &Address) -> Result<u8, Failure> {
        load_u8(host, slot("role", &[party.as_slice()]))
    }

    /// Whether `party` is approved and its KYC has not expired.
    fn kyc_active(&self, host: &mut dyn Host, party: &Address) -> Result<bool, Failure> {
        if self.kyc(host, party)? != KYC_APPROVED {
            return Ok(false);
        }
        let expires = load_u64(host, slot("kyc.expires", &[party.as_slice()]))?;
        Ok(expires == 0 || host.timestamp() < expires)
    }

    fn require_approved(&self, host: &mut dyn Host, party: &Address, who: &str) -> Result<(), Failure> {
        match self.kyc(host, party)? {
            KYC_APPROVED => {}
            KYC_FROZEN => return revert(&format!("{who} is frozen")),
            _ => return revert(&format!("{who} is not KYC-approved")),
        }
        if !self.kyc_active(host, party)? {
            return revert(&format!("{who}'s KYC has expired"));
        }
        Ok(())
    }

    fn require_role(&self, host: &mut dyn Host, party: &Address, role: u8, what: &str) -> Result<(), Failure> {
        if self.role(host, party)? == role { Ok(()) } else { revert(&format!("caller is not {what}")) }
    }

    fn require_admin(&self, host: &mut dyn Host, caller: &Address) -> Result<(), Failure> {
        if crate::permissions::is_module_admin(host, "settlement", caller, &self.admins)? {
            Ok(())
        } else {
            revert("caller is not an administrator")
        }
    }

    fn require_currency(&self, host: &mut dyn Host, code: &Code) -> Result<(), Failure> {
        if host.sload(slot("ccy.exists", &[code.as_slice()]))?.is_zero() {
            return revert("unknown currency");
        }
        Ok(())
    }

    fn balance(&self, host: &mut dyn Host, code: &Code, party: &Address) -> Result<U256, Failure> {
        host.sload(slot("bal", &[code.as_slice(), party.as_slice()]))
    }

    fn add(&self, host: &mut dyn Host, key: U256, amount: U256) -> Result<(), Failure> {
        let current = host.sload(key)?;
        let Some(next) = current.checked_add(amount) else { return revert("amount overflows") };
        host.sstore(key, next)
    }

    fn sub(&self, host: &mut dyn Host, key: U256, amount: U256, what: &str) -> Result<(), Failure> {
        let current = host.sload(key)?;
        let Some(next) = current.checked_sub(amount) else { return revert(&format!("insufficient {what}")) };
        host.sstore(key, next)
    }

    fn credit(&self, host: &mut dyn Host, code: &Code, party: &Address, amount: U256) -> Result<(), Failure> {
        self.add(host, slot("bal", &[code.as_slice(), party.as_slice()]), amount)
    }

    fn debit(
        &self,
        host: &mut dyn Host,
        code: &Code,
        party: &Address,
        amount: U256,
        what: &str,
    ) -> Result<(), Failure> {
        self.sub(host, slot("bal", &[code.as_slice(), party.as_slice()]), amount, what)
    }

    fn lock(&self, host: &mut dyn Host, code: &Code, amount: U256) -> Result<(), Failure> {
        self.add(host, slot("locked", &[code.as_slice()]), amount)
    }

    fn unlock(&self, host: &mut dyn Host, code: &Code, amount: U256) -> Result<(), Failure> {
        self.sub(host, slot("locked", &[code.as_slice()]), amount, "locked funds")
    }

    fn next_id(&self, host: &mut dyn Host, counter: &str) -> Result<u64, Failure> {
        let key = slot(counter, &[]);
        let Some(id) = load_u64(host, key)?.checked_add(1) else { return revert("no more ids") };
        store_u64(host, key, id)?;
        Ok(id)
    }

    /// The key of what `party` paid in `code` today without review.
    fn spent_key(host: &dyn Host, party: &Address, code: &Code) -> U256 {
        let day = host.timestamp() / DAY;
        slot("spent", &[party.as_slice(), code.as_slice(), &day.to_be_bytes()])
    }

    /// Why these legs must wait for review, if they must: a leg above its
    /// currency's threshold, or a paying party's day beyond its limit.
    fn hold_reason(&self, host: &mut dyn Host, legs: &[Leg]) -> Result<Option<u8>, Failure> {
        for leg in legs {
            let threshold = host.sload(slot("ccy.threshold", &[leg.code.as_slice()]))?;
            if !threshold.is_zero() && leg.amount > threshold {
                return Ok(Some(REASON_THRESHOLD));
            }
        }
        for leg in legs.iter().filter(|l| l.daily) {
            let limit = host.sload(slot("ccy.daily", &[leg.code.as_slice()]))?;
            if limit.is_zero() {
                continue;
            }
            let key = Self::spent_key(host, &leg.from, &leg.code);
            let spent = host.sload(key)?;
            if spent.checked_add(leg.amount).is_none_or(|total| total > limit) {
                return Ok(Some(REASON_DAILY_LIMIT));
            }
        }
        Ok(None)
    }

    /// Move the legs of a payment: debit every leg not yet escrowed, then
    /// either credit the recipients (returns 0) or, when a rule asks for a
    /// review, lock the legs in a new hold (returns its id). Any refusal
    /// reverts the whole call, so the legs move together or not at all.
    fn settle_or_hold(&self, host: &mut dyn Host, payment: &Payment, legs: &[Leg]) -> Result<u64, Failure> {
        for leg in legs.iter().filter(|l| !l.escrowed) {
            self.debit(host, &leg.code, &leg.from, leg.amount, leg.lacking)?;
        }
        let Some(reason) = self.hold_reason(host, legs)? else {
            for leg in legs {
                if leg.escrowed {
                    self.unlock(host, &leg.code, leg.amount)?;
                }
                self.credit(host, &leg.code, &leg.to, leg.amount)?;
                if leg.daily {
                    let key = Self::spent_key(host, &leg.from, &leg.code);
                    self.add(host, key, leg.amount)?;
                }
                self.record_payment(host, payment, leg)?;
            }
            self.emit_settled(host, payment, legs)?;
            return Ok(0);
        };
        for leg in legs.iter().filter(|l| !l.escrowed) {
            self.lock(host, &leg.code, leg.amount)?;
        }
        let id = self.next_id(host, "hold.next")?;
        let [first, rest @ ..] = legs else { return revert("a payment needs a leg") };
        let k = |f: &str| hold_key(id, f);
        host.sstore(k("hold.code"), code_word(&first.code))?;
        host.sstore(k("hold.from"), addr_word(&first.from))?;
        host.sstore(k("hold.to"), addr_word(&first.to))?;
        host.sstore(k("hold.amount"), first.amount)?;
        if let Some(second) = rest.first() {
            host.sstore(k("hold.code2"), code_word(&second.code))?;
            host.sstore(k("hold.from2"), addr_word(&second.from))?;
            host.sstore(k("hold.to2"), addr_word(&second.to))?;
            host.sstore(k("hold.amount2"), second.amount)?;
        }
        store_u64(host, k("hold.status"), u64::from(HOLD_PENDING))?;
        store_u64(host, k("hold.kind"), u64::from(payment.kind))?;
        store_u64(host, k("hold.reason"), u64::from(reason))?;
        store_u64(host, k("hold.ref"), payment.reference)?;
        host.sstore(k("hold.initiator"), addr_word(&payment.initiator))?;
        host.sstore(k("hold.memo"), U256::from_be_bytes(payment.memo.0))?;
        host.sstore(k("hold.fee"), payment.fee)?;
        self.pending_add(host, id)?;
        for leg in legs {
            emit(
                host,
                &ISettlement::HoldCreated {
                    id,
                    code: leg.code,
                    from: leg.from,
                    to: leg.to,
                    amount: leg.amount,
                    memo: payment.memo,
                },
            )?;
        }
        emit(
            host,
            &ISettlement::HoldOpened {
                id,
                kind: payment.kind,
                reason,
                r#ref: payment.reference,
                initiator: payment.initiator,
            },
        )?;
        Ok(id)
    }

    /// The events of a settled payment (at once, or on approval).
    fn emit_settled(&self, host: &mut dyn Host, payment: &Payment, legs: &[Leg]) -> Result<(), Failure> {
        match (payment.kind, legs) {
            (KIND_FX, [base, quote]) => emit(
                host,
                &ISettlement::FxPaid {
                    quoteId: payment.reference,
                    from: base.from,
                    to: quote.to,
                    baseAmount: base.amount,
                    quoteAmount: quote.amount,
                    fee: payment.fee,
                    memo: payment.memo,
                },
            ),
            (KIND_PVP, _) => {
                store_u64(host, Self::pvp_field(payment.reference, "pvp.status"), PVP_SETTLED)?;
                emit(host, &ISettlement::PvpSettled { id: payment.reference })
            }
            (_, legs) => {
                for leg in legs {
                    emit(
                        host,
                        &ISettlement::Transferred {
                            code: leg.code,
                            from: leg.from,
                            to: leg.to,
                            amount: leg.amount,
                            memo: payment.memo,
                        },
                    )?;
                }
                Ok(())
            }
        }
    }

    /// Append a settled leg to the payment records and to both parties' indexes.
    fn record_payment(&self, host: &mut dyn Host, payment: &Payment, leg: &Leg) -> Result<(), Failure> {
        let id = self.next_id(host, "pay.next")?;
        let k = |f: &str| slot(f, &[&id.to_be_bytes()]);
        let time = host.timestamp();
        host.sstore(k("pay.meta"), payment_meta(time, payment.kind, &leg.code, payment.reference))?;
        host.sstore(k("pay.from"), addr_word(&leg.from))?;
        host.sstore(k("pay.to"), addr_word(&leg.to))?;
        host.sstore(k("pay.amount"), leg.amount)?;
        for party in [leg.from, leg.to] {
            let count_key = slot("pays.n", &[party.as_slice()]);
            let n = load_u64(host, count_key)?;
            // The same party on both sides of a leg is listed once.
            if n > 0 && load_u64(host, slot("pays.at", &[party.as_slice(), &(n - 1).to_be_bytes()]))? == id {
                continue;
            }
            store_u64(host, slot("pays.at", &[party.as_slice(), &n.to_be_bytes()]), id)?;
            let Some(next) = n.checked_add(1) else { return revert("no more ids") };
            store_u64(host, count_key, next)?;
        }
        Ok(())
    }

    /// Payment record `id`.
    fn load_payment(&self, host: &mut dyn Host, id: u64) -> Result<ISettlement::Payment, Failure> {
        let k = |f: &str| slot(f, &[&id.to_be_bytes()]);
        let (time, kind, code, reference) = unpack_meta(host.sload(k("pay.meta"))?);
        Ok(ISettlement::Payment {
            id,
            time,
            kind,
            r#ref: reference,
            code,
            from: word_addr(host.sload(k("pay.from"))?),
            to: word_addr(host.sload(k("pay.to"))?),
            amount: host.sload(k("pay.amount"))?,
        })
    }

    /// The time of `party`'s `index`-th payment.
    fn payment_time(&self, host: &mut dyn Host, party: &Address, index: u64) -> Result<u64, Failure> {
        let id = load_u64(host, slot("pays.at", &[party.as_slice(), &index.to_be_bytes()]))?;
        Ok(unpack_meta(host.sload(slot("pay.meta", &[&id.to_be_bytes()]))?).0)
    }

    /// The first of `party`'s `n` payments at or after `time` (payments are
    /// recorded in block order, so their times never decrease).
    fn first_payment_at(&self, host: &mut dyn Host, party: &Address, n: u64, time: u64) -> Result<u64, Failure> {
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.payment_time(host, party, mid)? < time {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    fn payments_of(
        &self,
        host: &mut dyn Host,
        c: &ISettlement::paymentsOfCall,
    ) -> Result<(Vec<ISettlement::Payment>, U256), Failure> {
        if c.toTime < c.fromTime {
            return revert("the period ends before it starts");
        }
        let n = load_u64(host, slot("pays.n", &[c.party.as_slice()]))?;
        let first = self.first_payment_at(host, &c.party, n, c.fromTime)?;
        let end = self.first_payment_at(host, &c.party, n, c.toTime)?;
        let total = end.saturating_sub(first);
        let mut out = Vec::new();
        for i in page(c.offset, c.limit, total)? {
            let id = load_u64(host, slot("pays.at", &[c.party.as_slice(), &(first + i).to_be_bytes()]))?;
            out.push(self.load_payment(host, id)?);
        }
        Ok((out, U256::from(total)))
    }

    /// Add hold `id` to the pending set.
    fn pending_add(&self, host: &mut dyn Host, id: u64) -> Result<(), Failure> {
        let count_key = slot("pending.n", &[]);
        let n = load_u64(host, count_key)?;
        store_u64(host, slot("pending.at", &[&n.to_be_bytes()]), id)?;
        let Some(next) = n.checked_add(1) else { return revert("no more ids") };
        store_u64(host, hold_key(id, "pending.pos"), next)?;
        store_u64(host, count_key, next)
    }

    /// Remove hold `id` from the pending set (the last entry takes its place).
    fn pending_remove(&self, host: &mut dyn Host, id: u64) -> Result<(), Failure> {
        let count_key = slot("pending.n", &[]);
        let n = load_u64(host, count_key)?;
        let pos = load_u64(host, hold_key(id, "pending.pos"))?;
        let (Some(index), Some(last)) = (pos.checked_sub(1), n.checked_sub(1)) else {
            return revert("hold is not pending");
        };
        let last_id = load_u64(host, slot("pending.at", &[&last.to_be_bytes()]))?;
        store_u64(host, slot("pending.at", &[&index.to_be_bytes()]), last_id)?;
        store_u64(host, hold_key(last_id, "pending.pos"), pos)?;
        store_u64(host, slot("pending.at", &[&last.to_be_bytes()]), 0)?;
        store_u64(host, hold_key(id, "pending.pos"), 0)?;
        store_u64(host, count_key, last)
    }

    /// The legs of hold `id`.
    fn hold_legs(&self, host: &mut dyn Host, id: u64) -> Result<Vec<Leg>, Failure> {
        let k = |f: &str| hold_key(id, f);
        let mut legs = vec![Leg::new(
            word_code(host.sload(k("hold.code"))?),
            word_addr(host.sload(k("hold.from"))?),
            word_addr(host.sload(k("hold.to"))?),
            host.sload(k("hold.amount"))?,
        )];
        let amount2 = host.sload(k("hold.amount2"))?;
        if !amount2.is_zero() {
            legs.push(Leg::new(
                word_code(host.sload(k("hold.code2"))?),
                word_addr(host.sload(k("hold.from2"))?),
                word_addr(host.sload(k("hold.to2"))?),
                amount2,
            ));
        }
        Ok(legs)
    }

    fn resolve_hold(&self, host: &mut dyn Host, officer: &Address, id: u64, approve: bool) -> Result<(), Failure> {
        self.require_role(host, officer, ROLE_COMPLIANCE, "a compliance officer")?;
        let k = |f: &str| hold_key(id, f);
        if load_u8(host, k("hold.status"))? != HOLD_PENDING {
            return revert("no pending hold with this id");
        }
        let legs = self.hold_legs(host, id)?;
        let payment = Payment {
            kind: load_u8(host, k("hold.kind"))?.max(KIND_TRANSFER),
            reference: load_u64(host, k("hold.ref"))?,
            initiator: word_addr(host.sload(k("hold.initiator"))?),
            memo: B256::from(host.sload(k("hold.memo"))?),
            fee: host.sload(k("hold.fee"))?,
        };
        // Four eyes: whoever made the payment or takes part in it does not review it.
        if payment.initiator == *officer || legs.iter().any(|l| l.from == *officer || l.to == *officer) {
            return revert("four eyes: a compliance officer cannot review a payment they are party to");
        }
        if approve {
            // A party frozen or expired while its payment waited does not receive it.
            for leg in &legs {
                self.require_approved(host, &leg.to, "recipient")?;
            }
        }
        for leg in &legs {
            self.unlock(host, &leg.code, leg.amount)?;
            self.credit(host, &leg.code, if approve { &leg.to } else { &leg.from }, leg.amount)?;
            if approve {
                self.record_payment(host, &payment, leg)?;
            }
        }
        store_u64(host, k("hold.status"), u64::from(if approve { HOLD_APPROVED } else { HOLD_REJECTED }))?;
        self.pending_remove(host, id)?;
        emit(host, &ISettlement::HoldResolved { id, approved: approve, officer: *officer })?;
        if approve {
            return self.emit_settled(host, &payment, &legs);
        }
        match (payment.kind, legs.first()) {
            // The quote's notional taken by the rejected payment is free again.
            (KIND_FX, Some(base)) => {
                self.sub(host, Self::quote_field(payment.reference, "quote.used"), base.amount, "quote usage")
            }
            (KIND_PVP, _) => {
                store_u64(host, Self::pvp_field(payment.reference, "pvp.status"), PVP_CANCELLED)?;
                emit(host, &ISettlement::PvpCancelled { id: payment.reference })
            }
            _ => Ok(()),
        }
    }

    fn transfer(&self, host: &mut dyn Host, from: &Address, c: ISettlement::transferCall) -> Result<u64, Failure> {
        self.require_currency(host, &c.code)?;
        self.require_approved(host, from, "sender")?;
        self.require_approved(host, &c.to, "recipient")?;
        if c.amount.is_zero() {
            return revert("amount must be positive");
        }
        let payment = Payment { kind: KIND_TRANSFER, reference: 0, initiator: *from, memo: c.memo, fee: U256::ZERO };
        self.settle_or_hold(host, &payment, &[Leg::new(c.code, *from, c.to, c.amount)])
    }

    fn quote_field(id: u64, f: &str) -> U256 {
        slot(f, &[&id.to_be_bytes()])
    }

    fn pay_fx(&self, host: &mut dyn Host, from: &Address, c: ISettlement::payFxCall) -> Result<(U256, u64), Failure> {
        let k = |f: &str| Self::quote_field(c.quoteId, f);
        let provider = word_addr(host.sload(k("quote.provider"))?);
        if provider == Address::ZERO {
            return revert("unknown quote");
        }
        if !host.sload(k("quote.withdrawn"))?.is_zero() {
            return revert("quote withdrawn");
        }
        if host.timestamp() >= load_u64(host, k("quote.expires"))? {
            return revert("quote expired");
        }
        let base = word_code(host.sload(k("quote.base"))?);
        let quote = word_code(host.sload(k("quote.quote"))?);
        let num = host.sload(k("quote.num"))?;
        let den = host.sload(k("quote.den"))?;
        let fee_bps = host.sload(k("quote.fee"))?;
        self.require_approved(host, from, "sender")?;
        self.require_approved(host, &c.to, "recipient")?;
        self.require_approved(host, &provider, "FX provider")?;
        if c.baseAmount.is_zero() {
            return revert("amount must be positive");
        }
        let used = host.sload(k("quote.used"))?;
        let max = host.sload(k("quote.max"))?;
        if used.checked_add(c.baseAmount).is_none_or(|total| total > max) {
            return revert("payment exceeds the quote's remaining notional");
        }
        if fee_bps > U256::from(MAX_FEE_BPS) {
            return revert("fee above 100%");
        }
        let Some(gross) = mul_div(c.baseAmount, num, den) else { return revert("amount overflows") };
        // fee ≤ gross since fee_bps ≤ 10,000: neither the fee nor the net amount overflows.
        let Some(fee) = mul_div(gross, fee_bps, U256::from(MAX_FEE_BPS)) else { return revert("amount overflows") };
        let Some(net) = gross.checked_sub(fee) else { return revert("fee above the amount") };
        if net.is_zero() {
            return revert("amount too small at this rate");
        }
        self.add(host, k("quote.used"), c.baseAmount)?;
        // Base leg: sender -> provider. Quote leg: provider -> recipient; the fee stays with the provider.
        let legs = [
            Leg::new(base, *from, provider, c.baseAmount),
            Leg { daily: false, lacking: "FX provider liquidity", ..Leg::new(quote, provider, c.to, net) },
        ];
        let payment = Payment { kind: KIND_FX, reference: c.quoteId, initiator: *from, memo: c.memo, fee };
        let hold = self.settle_or_hold(host, &payment, &legs)?;
        Ok((net, hold))
    }

    fn post_quote(&self, host: &mut dyn Host, caller: &Address, c: ISettlement::postQuoteCall) -> Result<u64, Failure> {
        self.require_role(host, caller, ROLE_FX_PROVIDER, "an FX provider")?;
        self.require_currency(host, &c.base)?;
        self.require_currency(host, &c.quote)?;
        if c.base == c.quote {
            return revert("a quote needs two different currencies");
        }
        if c.rateNum == 0 || c.rateDen == 0 {
            return revert("rate must be a positive ratio");
        }
        if c.feeBps > MAX_FEE_BPS {
            return revert("fee above 100%");
        }
        if c.expiresAt <= host.timestamp() {
            return revert("quote already expired");
        }
        if c.maxNotional.is_zero() {
            return revert("maxNotional must be positive");
        }
        let id = self.next_id(host, "quote.next")?;
        let k = |f: &str| Self::quote_field(id, f);
        host.sstore(k("quote.provider"), addr_word(caller))?;
        host.sstore(k("quote.base"), code_word(&c.base))?;
        host.sstore(k("quote.quote"), code_word(&c.quote))?;
        host.sstore(k("quote.num"), U256::from(c.rateNum))?;
        host.sstore(k("quote.den"), U256::from(c.rateDen))?;
        host.sstore(k("quote.fee"), U256::from(c.feeBps))?;
        store_u64(host, k("quote.expires"), c.expiresAt)?;
        host.sstore(k("quote.max"), c.maxNotional)?;
        emit(
            host,
            &ISettlement::QuotePosted {
                id,
                provider: *caller,
                base: c.base,
                quote: c.quote,
                rateNum: c.rateNum,
                rateDen: c.rateDen,
                feeBps: c.feeBps,
                expiresAt: c.expiresAt,
                maxNotional: c.maxNotional,
            },
        )?;
        Ok(id)
    }

    fn pvp_field(id: u64, f: &str) -> U256 {
        slot(f, &[&id.to_be_bytes()])
    }

    fn load_pvp(&self, host: &mut dyn Host, id: u64) -> Result<Pvp, Failure> {
        let k = |f: &str| Self::pvp_field(id, f);
        let status = load_u64(host, k("pvp.status"))?;
        if status == 0 {
            return revert("unknown PvP");
        }
        let proposer = word_addr(host.sload(k("pvp.proposer"))?);
        let counterparty = word_addr(host.sload(k("pvp.counterparty"))?);
        let give = word_code(host.sload(k("pvp.give"))?);
        let give_amount = host.sload(k("pvp.giveAmount"))?;
        let get = word_code(host.sload(k("pvp.get"))?);
        let get_amount = host.sload(k("pvp.getAmount"))?;
        let expires = load_u64(host, k("pvp.expires"))?;
        Ok(Pvp { proposer, counterparty, give, give_amount, get, get_amount, expires, status })
    }

    fn accept_pvp(&self, host: &mut dyn Host, caller: &Address, id: u64) -> Result<u64, Failure> {
        let Pvp { proposer, counterparty, give, give_amount, get, get_amount, expires, status } =
            self.load_pvp(host, id)?;
        if status != PVP_OPEN {
            return revert("PvP is not open");
        }
        if *caller != counterparty {
            return revert("caller is not the PvP's counterparty");
        }
        if host.timestamp() >= expires {
            return revert("PvP expired");
        }
        self.require_approved(host, &proposer, "proposer")?;
        self.require_approved(host, &counterparty, "counterparty")?;
        let legs = [
            Leg { escrowed: true, ..Leg::new(give, proposer, counterparty, give_amount) },
            Leg::new(get, counterparty, proposer, get_amount),
        ];
        let payment = Payment { kind: KIND_PVP, reference: id, initiator: *caller, memo: B256::ZERO, fee: U256::ZERO };
        let hold = self.settle_or_hold(host, &payment, &legs)?;
        if hold != 0 {
            store_u64(host, Self::pvp_field(id, "pvp.status"), PVP_HELD)?;
            emit(host, &ISettlement::PvpHeld { id, holdId: hold })?;
        }
        Ok(hold)
    }

    /// Set a KYC record; compliance officers only, never on themselves.
    fn set_kyc(
        &self,
        host: &mut dyn Host,
        officer: &Address,
        party: &Address,
        status: u8,
        record: Option<(u64, FixedBytes<2>)>,
    ) -> Result<(), Failure> {
        self.require_role(host, officer, ROLE_COMPLIANCE, "a compliance officer")?;
        if party == officer {
            return revert("four eyes: a compliance officer cannot change their own KYC status");
        }
        if status > KYC_FROZEN {
            return revert("unknown KYC status");
        }
        store_u64(host, slot("kyc", &[party.as_slice()]), u64::from(status))?;
        emit(host, &ISettlement::KycSet { party: *party, status })?;
        let Some((expires, jurisdiction)) = record else { return Ok(()) };
        if expires != 0 && expires <= host.timestamp() {
            return revert("KYC expiry is in the past");
        }
        if jurisdiction != FixedBytes::ZERO && !jurisdiction.iter().all(|b| b.is_ascii_uppercase()) {
            return revert("jurisdiction must be an ISO 3166-1 alpha-2 code (two upper-case letters)");
        }
        store_u64(host, slot("kyc.expires", &[party.as_slice()]), expires)?;
        host.sstore(slot("kyc.jur", &[party.as_slice()]), U256::from_be_slice(jurisdiction.as_slice()))?;
        emit(
            host,
            &ISettlement::KycRecordSet { party: *party, status, expiresAt: expires, jurisdiction, officer: *officer },
        )
    }

    fn create_currency(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        c: ISettlement::createCurrencyCall,
    ) -> Result<(), Failure> {
        self.require_admin(host, caller)?;
        if !valid_code(&c.code) {
            return revert("currency code must be three upper-case letters (ISO 4217)");
        }
        if c.decimals > 18 {
            return revert("at most 18 decimals");
        }
        let k = |f: &str| slot(f, &[c.code.as_slice()]);
        if !host.sload(k("ccy.exists"))?.is_zero() {
            return revert("currency exists");
        }
        let count_key = slot("ccy.n", &[]);
        let n = load_u64(host, count_key)?;
        if n >= MAX_CURRENCIES {
            return revert("at most 256 currencies");
        }
        host.sstore(slot("ccy.at", &[&n.to_be_bytes()]), code_word(&c.code))?;
        store_u64(host, count_key, n + 1)?;
        host.sstore(k("ccy.exists"), U256::from(1))?;
        store_u64(host, k("ccy.decimals"), u64::from(c.decimals))?;
        host.sstore(k("ccy.issuer"), addr_word(&c.issuer))?;
        host.sstore(k("ccy.threshold"), c.holdThreshold)?;
        emit(
            host,
            &ISettlement::CurrencyCreated {
                code: c.code,
                decimals: c.decimals,
                issuer: c.issuer,
                holdThreshold: c.holdThreshold,
            },
        )
    }

    /// Set a currency's hold threshold or daily limit (`tag`); compliance administrators only.
    fn set_currency_rule(
        &self,
        host: &mut dyn Host,
        caller: &Address,
        code: &Code,
        tag: &str,
        value: U256,
    ) -> Result<(), Failure> {
        self.require_role(host, caller, ROLE_COMPLIANCE_ADMIN, "a compliance administrator")?;
        self.require_currency(host, code)?;
        host.sstore(slot(tag, &[code.as_slice()]), value)
    }

    fn balances_of(&self, host: &mut dyn Host, party: &Address) -> Result<(Vec<Code>, Vec<U256>), Failure> {
        let n = load_u64(host, slot("ccy.n", &[]))?.min(MAX_CURRENCIES);
        let (mut codes, mut amounts) = (Vec::new(), Vec::new());
        for i in 0..n {
            let code = word_code(host.sload(slot("ccy.at", &[&i.to_be_bytes()]))?);
            amounts.push(self.balance(host, &code, party)?);
            codes.push(code);
        }
        Ok((codes, amounts))
    }
}

impl Chaincode for Settlement {
    fn name(&self) -> &'static str {
        "settlement"
    }

    fn address(&self) -> Address {
        ADDRESS
    }

    fn interface(&self) -> &'static str {
        include_str!("../sol/ISettlement.sol")
    }

    fn call(&self, host: &mut dyn Host, call: &Call<'_>) -> Result<Bytes, Failure> {
        let decoded = crate::decode_call::<Calls>(host, call, "settlement", |c| {
            !matches!(
                c,
                Calls::balanceOf(_)
                    | Calls::balancesOf(_)
                    | Calls::totalSupply(_)
                    | Calls::locked(_)
                    | Calls::kycOf(_)
                    | Calls::kycRecord(_)
                    | Calls::roleOf(_)
                    | Calls::currency(_)
                    | Calls::dailyLimit(_)
                    | Calls::hold(_)
                    | Calls::holdDetail(_)
                    | Calls::pendingHolds(_)
                    | Calls::quoteOf(_)
                    | Calls::paymentsOf(_)
            )
        })?;
        let caller = call.caller;
        let out: Vec<u8> = match decoded {
            Calls::setKyc(c) => {
                self.set_kyc(host, &caller, &c.party, c.status, None)?;
                Vec::new()
            }
            Calls::setKycRecord(c) => {
                self.set_kyc(host, &caller, &c.party, c.status, Some((c.expiresAt, c.jurisdiction)))?;
                Vec::new()
            }
            Calls::setRole(c) => {
                self.require_admin(host, &caller)?;
                if c.role > ROLE_COMPLIANCE_ADMIN {
                    return revert("unknown role");
                }
                store_u64(host, slot("role", &[c.party.as_slice()]), u64::from(c.role))?;
                emit(host, &ISettlement::RoleSet { party: c.party, role: c.role })?;
                Vec::new()
            }
            Calls::createCurrency(c) => {
                self.create_currency(host, &caller, c)?;
                Vec::new()
            }
            Calls::setHoldThreshold(c) => {
                self.set_currency_rule(host, &caller, &c.code, "ccy.threshold", c.threshold)?;
                emit(host, &ISettlement::HoldThresholdSet { code: c.code, threshold: c.threshold, by: caller })?;
                Vec::new()
            }
            Calls::setDailyLimit(c) => {
                self.set_currency_rule(host, &caller, &c.code, "ccy.daily", c.limit)?;
                emit(host, &ISettlement::DailyLimitSet { code: c.code, limit: c.limit, by: caller })?;
                Vec::new()
            }
            Calls::mint(c) => {
                self.require_currency(host, &c.code)?;
                if word_addr(host.sload(slot("ccy.issuer", &[c.code.as_slice()]))?) != caller {
                    return revert("caller is not the currency's issuer");
                }
                self.require_approved(host, &c.to, "recipient")?;
                self.add(host, slot("supply", &[c.code.as_slice()]), c.amount)?;
                self.credit(host, &c.code, &c.to, c.amount)?;
                emit(host, &ISettlement::Minted { code: c.code, to: c.to, amount: c.amount })?;
                Vec::new()
            }
            Calls::burn(c) => {
                self.require_currency(host, &c.code)?;
                if word_addr(host.sload(slot("ccy.issuer", &[c.code.as_slice()]))?) != caller {
                    return revert("caller is not the currency's issuer");
                }
                self.debit(host, &c.code, &caller, c.amount, "balance")?;
                self.sub(host, slot("supply", &[c.code.as_slice()]), c.amount, "supply")?;
                emit(host, &ISettlement::Burned { code: c.code, from: caller, amount: c.amount })?;
                Vec::new()
            }
            Calls::transfer(c) => {
                let id = self.transfer(host, &caller, c)?;
                ISettlement::transferCall::abi_encode_returns(&id)
            }
            Calls::approveHold(c) => {
                self.resolve_hold(host, &caller, c.id, true)?;
                Vec::new()
            }
            Calls::rejectHold(c) => {
                self.resolve_hold(host, &caller, c.id, false)?;
                Vec::new()
            }
            Calls::postQuote(c) => {
                let id = self.post_quote(host, &caller, c)?;
                ISettlement::postQuoteCall::abi_encode_returns(&id)
            }
            Calls::withdrawQuote(c) => {
                let k = |f: &str| Self::quote_field(c.id, f);
                let provider = word_addr(host.sload(k("quote.provider"))?);
                if provider == Address::ZERO {
                    return revert("unknown quote");
                }
                if provider != caller {
                    return revert("caller is not the quote's provider");
                }
                if !host.sload(k("quote.withdrawn"))?.is_zero() {
                    return revert("quote withdrawn");
                }
                host.sstore(k("quote.withdrawn"), U256::from(1))?;
                emit(host, &ISettlement::QuoteWithdrawn { id: c.id })?;
                Vec::new()
            }
            Calls::payFx(c) => {
                let (quote_amount, hold_id) = self.pay_fx(host, &caller, c)?;
                let out = ISettlement::payFxReturn { quoteAmount: quote_amount, holdId: hold_id };
                ISettlement::payFxCall::abi_encode_returns(&out)
            }
            Calls::proposePvp(c) => {
                self.require_currency(host, &c.giveCode)?;
                self.require_currency(host, &c.getCode)?;
                self.require_approved(host, &caller, "proposer")?;
                self.require_approved(host, &c.counterparty, "counterparty")?;
                if c.giveAmount.is_zero() || c.getAmount.is_zero() {
                    return revert("amounts must be positive");
                }
                if c.counterparty == caller {
                    return revert("a PvP needs two parties");
                }
                if c.expiresAt <= host.timestamp() {
                    return revert("PvP already expired");
                }
                self.debit(host, &c.giveCode, &caller, c.giveAmount, "balance")?;
                self.lock(host, &c.giveCode, c.giveAmount)?;
                let id = self.next_id(host, "pvp.next")?;
                let k = |f: &str| Self::pvp_field(id, f);
                host.sstore(k("pvp.proposer"), addr_word(&caller))?;
                host.sstore(k("pvp.counterparty"), addr_word(&c.counterparty))?;
                host.sstore(k("pvp.give"), code_word(&c.giveCode))?;
                host.sstore(k("pvp.giveAmount"), c.giveAmount)?;
                host.sstore(k("pvp.get"), code_word(&c.getCode))?;
                host.sstore(k("pvp.getAmount"), c.getAmount)?;
                store_u64(host, k("pvp.expires"), c.expiresAt)?;
                store_u64(host, k("pvp.status"), PVP_OPEN)?;
                emit(
                    host,
                    &ISettlement::PvpProposed {
                        id,
                        proposer: caller,
                        counterparty: c.counterparty,
                        giveCode: c.giveCode,
                        giveAmount: c.giveAmount,
                        getCode: c.getCode,
                        getAmount: c.getAmount,
                        expiresAt: c.expiresAt,
                    },
                )?;
                ISettlement::proposePvpCall::abi_encode_returns(&id)
            }
            Calls::acceptPvp(c) => {
                let hold = self.accept_pvp(host, &caller, c.id)?;
                ISettlement::acceptPvpCall::abi_encode_returns(&hold)
            }
            Calls::cancelPvp(c) => {
                let Pvp { proposer, give, give_amount, status, .. } = self.load_pvp(host, c.id)?;
                if status != PVP_OPEN {
                    return revert("PvP is not open");
                }
                if caller != proposer {
                    return revert("caller is not the PvP's proposer");
                }
                self.unlock(host, &give, give_amount)?;
                self.credit(host, &give, &proposer, give_amount)?;
                store_u64(host, Self::pvp_field(c.id, "pvp.status"), PVP_CANCELLED)?;
                emit(host, &ISettlement::PvpCancelled { id: c.id })?;
                Vec::new()
            }
            Calls::balanceOf(c) => {
                let b = self.balance(host, &c.code, &c.party)?;
                ISettlement::balanceOfCall::abi_encode_returns(&b)
            }
            Calls::balancesOf(c) => {
                let (codes, amounts) = self.balances_of(host, &c.party)?;
                ISettlement::balancesOfCall::abi_encode_returns(&ISettlement::balancesOfReturn { codes, amounts })
            }
            Calls::totalSupply(c) => {
                let s = host.sload(slot("supply", &[c.code.as_slice()]))?;
                ISettlement::totalSupplyCall::abi_encode_returns(&s)
            }
            Calls::locked(c) => {
                let l = host.sload(slot("locked", &[c.code.as_slice()]))?;
                ISettlement::lockedCall::abi_encode_returns(&l)
            }
            Calls::kycOf(c) => {
                let k = self.kyc(host, &c.party)?;
                ISettlement::kycOfCall::abi_encode_returns(&k)
            }
            Calls::kycRecord(c) => {
                let out = ISettlement::kycRecordReturn {
                    status: self.kyc(host, &c.party)?,
                    expiresAt: load_u64(host, slot("kyc.expires", &[c.party.as_slice()]))?,
                    jurisdiction: FixedBytes::from_slice(
                        &host.sload(slot("kyc.jur", &[c.party.as_slice()]))?.to_be_bytes::<32>()[30..],
                    ),
                    active: self.kyc_active(host, &c.party)?,
                };
                ISettlement::kycRecordCall::abi_encode_returns(&out)
            }
            Calls::roleOf(c) => {
                let r = self.role(host, &c.party)?;
                ISettlement::roleOfCall::abi_encode_returns(&r)
            }
            Calls::currency(c) => {
                let k = |f: &str| slot(f, &[c.code.as_slice()]);
                let out = ISettlement::currencyReturn {
                    exists: !host.sload(k("ccy.exists"))?.is_zero(),
                    decimals: load_u8(host, k("ccy.decimals"))?,
                    issuer: word_addr(host.sload(k("ccy.issuer"))?),
                    holdThreshold: host.sload(k("ccy.threshold"))?,
                };
                ISettlement::currencyCall::abi_encode_returns(&out)
            }
            Calls::dailyLimit(c) => {
                let limit = host.sload(slot("ccy.daily", &[c.code.as_slice()]))?;
                let key = Self::spent_key(host, &c.party, &c.code);
                let out = ISettlement::dailyLimitReturn { limit, spentToday: host.sload(key)? };
                ISettlement::dailyLimitCall::abi_encode_returns(&out)
            }
            Calls::hold(c) => {
                let k = |f: &str| hold_key(c.id, f);
                let out = ISettlement::holdReturn {
                    code: word_code(host.sload(k("hold.code"))?),
                    from: word_addr(host.sload(k("hold.from"))?),
                    to: word_addr(host.sload(k("hold.to"))?),
                    amount: host.sload(k("hold.amount"))?,
                    status: load_u8(host, k("hold.status"))?,
                };
                ISettlement::holdCall::abi_encode_returns(&out)
            }
            Calls::holdDetail(c) => {
                let k = |f: &str| hold_key(c.id, f);
                let out = ISettlement::holdDetailReturn {
                    kind: load_u8(host, k("hold.kind"))?,
                    reason: load_u8(host, k("hold.reason"))?,
                    r#ref: load_u64(host, k("hold.ref"))?,
                    initiator: word_addr(host.sload(k("hold.initiator"))?),
                    code2: word_code(host.sload(k("hold.code2"))?),
                    from2: word_addr(host.sload(k("hold.from2"))?),
                    to2: word_addr(host.sload(k("hold.to2"))?),
                    amount2: host.sload(k("hold.amount2"))?,
                };
                ISettlement::holdDetailCall::abi_encode_returns(&out)
            }
            Calls::pendingHolds(c) => {
                let total = load_u64(host, slot("pending.n", &[]))?;
                let mut ids = Vec::new();
                for i in page(c.offset, c.limit, total)? {
                    ids.push(load_u64(host, slot("pending.at", &[&i.to_be_bytes()]))?);
                }
                let out = ISettlement::pendingHoldsReturn { ids, total: U256::from(total) };
                ISettlement::pendingHoldsCall::abi_encode_returns(&out)
            }
            Calls::quoteOf(c) => {
                let k = |f: &str| Self::quote_field(c.id, f);
                let out = ISettlement::quoteOfReturn {
                    provider: word_addr(host.sload(k("quote.provider"))?),
                    base: word_code(host.sload(k("quote.base"))?),
                    quote: word_code(host.sload(k("quote.quote"))?),
                    rateNum: host.sload(k("quote.num"))?.saturating_to(),
                    rateDen: host.sload(k("quote.den"))?.saturating_to(),
                    feeBps: host.sload(k("quote.fee"))?.saturating_to(),
                    expiresAt: load_u64(host, k("quote.expires"))?,
                    maxNotional: host.sload(k("quote.max"))?,
                    used: host.sload(k("quote.used"))?,
                    withdrawn: !host.sload(k("quote.withdrawn"))?.is_zero(),
                };
                ISettlement::quoteOfCall::abi_encode_returns(&out)
            }
            Calls::paymentsOf(c) => {
                let (payments, total) = self.payments_of(host, &c)?;
                ISettlement::paymentsOfCall::abi_encode_returns(&ISettlement::paymentsOfReturn { payments, total })
            }
        };
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests;
