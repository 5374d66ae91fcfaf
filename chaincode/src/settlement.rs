//! Cross-border settlement: multi-currency balances for KYC-approved parties,
//! issuers who mint and burn, transfers with compliance holds above a
//! threshold, payments across currencies at FX providers' quotes, and atomic
//! payment-versus-payment.
//!
//! All amounts are integers in minor units and every operation uses checked
//! arithmetic. Funds that are neither spendable nor gone — held transfers and
//! PvP give-legs — are counted in a per-currency `locked` total, so that for
//! every currency `Σ balances + locked = supply` holds after every operation,
//! and only `mint` and `burn` change the supply.
//!
//! The Solidity interface is `chaincode/sol/ISettlement.sol`.

use crate::storage::{load_u8, load_u64, slot, store_u64};
use crate::{Call, Chaincode, Failure, Host, ModuleConfig};
use alloy::sol_types::{SolCall, SolEvent};
use alloy_primitives::ruint::UintTryFrom;
use alloy_primitives::{Address, B256, Bytes, FixedBytes, U256, U512};
use std::sync::Arc;

use ISettlement::ISettlementCalls as Calls;
pub use dsec_sdk::chaincode::settlement::{ADDRESS, ISettlement};

/// KYC status: approved.
pub const KYC_APPROVED: u8 = 1;
/// KYC status: frozen (can neither send nor receive).
pub const KYC_FROZEN: u8 = 2;
/// Role: compliance officer.
pub const ROLE_COMPLIANCE: u8 = 1;
/// Role: FX provider.
pub const ROLE_FX_PROVIDER: u8 = 2;

const HOLD_PENDING: u8 = 1;
const HOLD_APPROVED: u8 = 2;
const HOLD_REJECTED: u8 = 3;
const PVP_OPEN: u64 = 1;
const PVP_SETTLED: u64 = 2;
const PVP_CANCELLED: u64 = 3;

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

    fn require_approved(&self, host: &mut dyn Host, party: &Address, who: &str) -> Result<(), Failure> {
        match self.kyc(host, party)? {
            KYC_APPROVED => Ok(()),
            KYC_FROZEN => revert(&format!("{who} is frozen")),
            _ => revert(&format!("{who} is not KYC-approved")),
        }
    }

    fn require_role(&self, host: &mut dyn Host, party: &Address, role: u8, what: &str) -> Result<(), Failure> {
        if self.role(host, party)? == role { Ok(()) } else { revert(&format!("caller is not {what}")) }
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

    fn debit(&self, host: &mut dyn Host, code: &Code, party: &Address, amount: U256) -> Result<(), Failure> {
        self.sub(host, slot("bal", &[code.as_slice(), party.as_slice()]), amount, "balance")
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

    fn transfer(&self, host: &mut dyn Host, from: &Address, c: ISettlement::transferCall) -> Result<u64, Failure> {
        self.require_currency(host, &c.code)?;
        self.require_approved(host, from, "sender")?;
        self.require_approved(host, &c.to, "recipient")?;
        if c.amount.is_zero() {
            return revert("amount must be positive");
        }
        self.debit(host, &c.code, from, c.amount)?;
        let threshold = host.sload(slot("ccy.threshold", &[c.code.as_slice()]))?;
        if !threshold.is_zero() && c.amount > threshold {
            self.lock(host, &c.code, c.amount)?;
            let id = self.next_id(host, "hold.next")?;
            let k = |f: &str| slot(f, &[&id.to_be_bytes()]);
            host.sstore(k("hold.code"), U256::from_be_slice(c.code.as_slice()))?;
            host.sstore(k("hold.from"), addr_word(from))?;
            host.sstore(k("hold.to"), addr_word(&c.to))?;
            host.sstore(k("hold.amount"), c.amount)?;
            store_u64(host, k("hold.status"), u64::from(HOLD_PENDING))?;
            emit(
                host,
                &ISettlement::HoldCreated { id, code: c.code, from: *from, to: c.to, amount: c.amount, memo: c.memo },
            )?;
            return Ok(id);
        }
        self.credit(host, &c.code, &c.to, c.amount)?;
        emit(host, &ISettlement::Transferred { code: c.code, from: *from, to: c.to, amount: c.amount, memo: c.memo })?;
        Ok(0)
    }

    fn resolve_hold(&self, host: &mut dyn Host, officer: &Address, id: u64, approve: bool) -> Result<(), Failure> {
        self.require_role(host, officer, ROLE_COMPLIANCE, "a compliance officer")?;
        let k = |f: &str| slot(f, &[&id.to_be_bytes()]);
        if load_u8(host, k("hold.status"))? != HOLD_PENDING {
            return revert("no pending hold with this id");
        }
        let code = Code::from_slice(&host.sload(k("hold.code"))?.to_be_bytes::<32>()[29..]);
        let from = word_addr(host.sload(k("hold.from"))?);
        let to = word_addr(host.sload(k("hold.to"))?);
        let amount = host.sload(k("hold.amount"))?;
        self.unlock(host, &code, amount)?;
        let (recipient, status) = if approve { (to, HOLD_APPROVED) } else { (from, HOLD_REJECTED) };
        if approve {
            // A party frozen while its payment waited does not receive it.
            self.require_approved(host, &to, "recipient")?;
        }
        self.credit(host, &code, &recipient, amount)?;
        store_u64(host, k("hold.status"), u64::from(status))?;
        emit(host, &ISettlement::HoldResolved { id, approved: approve, officer: *officer })?;
        if approve {
            emit(host, &ISettlement::Transferred { code, from, to, amount, memo: B256::ZERO })?;
        }
        Ok(())
    }

    fn pay_fx(&self, host: &mut dyn Host, from: &Address, c: ISettlement::payFxCall) -> Result<U256, Failure> {
        let k = |f: &str| slot(f, &[&c.quoteId.to_be_bytes()]);
        let provider = word_addr(host.sload(k("quote.provider"))?);
        if provider == Address::ZERO {
            return revert("unknown quote");
        }
        if host.timestamp() >= load_u64(host, k("quote.expires"))? {
            return revert("quote expired");
        }
        let base = Code::from_slice(&host.sload(k("quote.base"))?.to_be_bytes::<32>()[29..]);
        let quote = Code::from_slice(&host.sload(k("quote.quote"))?.to_be_bytes::<32>()[29..]);
        let num = host.sload(k("quote.num"))?;
        let den = host.sload(k("quote.den"))?;
        let fee_bps = host.sload(k("quote.fee"))?;
        self.require_approved(host, from, "sender")?;
        self.require_approved(host, &c.to, "recipient")?;
        self.require_approved(host, &provider, "FX provider")?;
        if c.baseAmount.is_zero() {
            return revert("amount must be positive");
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
        // Base leg: sender -> provider. Quote leg: provider -> recipient; the fee stays with the provider.
        self.debit(host, &base, from, c.baseAmount)?;
        self.credit(host, &base, &provider, c.baseAmount)?;
        self.sub(host, slot("bal", &[quote.as_slice(), provider.as_slice()]), net, "FX provider liquidity")?;
        self.credit(host, &quote, &c.to, net)?;
        emit(
            host,
            &ISettlement::FxPaid {
                quoteId: c.quoteId,
                from: *from,
                to: c.to,
                baseAmount: c.baseAmount,
                quoteAmount: net,
                fee,
                memo: c.memo,
            },
        )?;
        Ok(net)
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
        let give = Code::from_slice(&host.sload(k("pvp.give"))?.to_be_bytes::<32>()[29..]);
        let give_amount = host.sload(k("pvp.giveAmount"))?;
        let get = Code::from_slice(&host.sload(k("pvp.get"))?.to_be_bytes::<32>()[29..]);
        let get_amount = host.sload(k("pvp.getAmount"))?;
        let expires = load_u64(host, k("pvp.expires"))?;
        Ok(Pvp { proposer, counterparty, give, give_amount, get, get_amount, expires, status })
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
                    | Calls::totalSupply(_)
                    | Calls::locked(_)
                    | Calls::kycOf(_)
                    | Calls::roleOf(_)
                    | Calls::currency(_)
                    | Calls::hold(_)
            )
        })?;
        let caller = call.caller;
        let out: Vec<u8> = match decoded {
            Calls::setKyc(c) => {
                self.require_role(host, &caller, ROLE_COMPLIANCE, "a compliance officer")?;
                if c.status > KYC_FROZEN {
                    return revert("unknown KYC status");
                }
                store_u64(host, slot("kyc", &[c.party.as_slice()]), u64::from(c.status))?;
                emit(host, &ISettlement::KycSet { party: c.party, status: c.status })?;
                Vec::new()
            }
            Calls::setRole(c) => {
                if !crate::permissions::is_module_admin(host, "settlement", &caller, &self.admins)? {
                    return revert("caller is not an administrator");
                }
                if c.role > ROLE_FX_PROVIDER {
                    return revert("unknown role");
                }
                store_u64(host, slot("role", &[c.party.as_slice()]), u64::from(c.role))?;
                emit(host, &ISettlement::RoleSet { party: c.party, role: c.role })?;
                Vec::new()
            }
            Calls::createCurrency(c) => {
                if !crate::permissions::is_module_admin(host, "settlement", &caller, &self.admins)? {
                    return revert("caller is not an administrator");
                }
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
                )?;
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
                self.debit(host, &c.code, &caller, c.amount)?;
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
                self.require_role(host, &caller, ROLE_FX_PROVIDER, "an FX provider")?;
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
                let id = self.next_id(host, "quote.next")?;
                let k = |f: &str| slot(f, &[&id.to_be_bytes()]);
                host.sstore(k("quote.provider"), addr_word(&caller))?;
                host.sstore(k("quote.base"), U256::from_be_slice(c.base.as_slice()))?;
                host.sstore(k("quote.quote"), U256::from_be_slice(c.quote.as_slice()))?;
                host.sstore(k("quote.num"), U256::from(c.rateNum))?;
                host.sstore(k("quote.den"), U256::from(c.rateDen))?;
                host.sstore(k("quote.fee"), U256::from(c.feeBps))?;
                store_u64(host, k("quote.expires"), c.expiresAt)?;
                emit(
                    host,
                    &ISettlement::QuotePosted {
                        id,
                        provider: caller,
                        base: c.base,
                        quote: c.quote,
                        rateNum: c.rateNum,
                        rateDen: c.rateDen,
                        feeBps: c.feeBps,
                        expiresAt: c.expiresAt,
                    },
                )?;
                ISettlement::postQuoteCall::abi_encode_returns(&id)
            }
            Calls::payFx(c) => {
                let net = self.pay_fx(host, &caller, c)?;
                ISettlement::payFxCall::abi_encode_returns(&net)
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
                self.debit(host, &c.giveCode, &caller, c.giveAmount)?;
                self.lock(host, &c.giveCode, c.giveAmount)?;
                let id = self.next_id(host, "pvp.next")?;
                let k = |f: &str| Self::pvp_field(id, f);
                host.sstore(k("pvp.proposer"), addr_word(&caller))?;
                host.sstore(k("pvp.counterparty"), addr_word(&c.counterparty))?;
                host.sstore(k("pvp.give"), U256::from_be_slice(c.giveCode.as_slice()))?;
                host.sstore(k("pvp.giveAmount"), c.giveAmount)?;
                host.sstore(k("pvp.get"), U256::from_be_slice(c.getCode.as_slice()))?;
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
                let Pvp { proposer, counterparty, give, give_amount, get, get_amount, expires, status } =
                    self.load_pvp(host, c.id)?;
                if status != PVP_OPEN {
                    return revert("PvP is not open");
                }
                if caller != counterparty {
                    return revert("caller is not the PvP's counterparty");
                }
                if host.timestamp() >= expires {
                    return revert("PvP expired");
                }
                self.require_approved(host, &proposer, "proposer")?;
                self.require_approved(host, &counterparty, "counterparty")?;
                // Both legs or none: any failure below reverts the whole call.
                self.debit(host, &get, &counterparty, get_amount)?;
                self.credit(host, &get, &proposer, get_amount)?;
                self.unlock(host, &give, give_amount)?;
                self.credit(host, &give, &counterparty, give_amount)?;
                store_u64(host, Self::pvp_field(c.id, "pvp.status"), PVP_SETTLED)?;
                emit(host, &ISettlement::PvpSettled { id: c.id })?;
                Vec::new()
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
            Calls::hold(c) => {
                let k = |f: &str| slot(f, &[&c.id.to_be_bytes()]);
                let out = ISettlement::holdReturn {
                    code: Code::from_slice(&host.sload(k("hold.code"))?.to_be_bytes::<32>()[29..]),
                    from: word_addr(host.sload(k("hold.from"))?),
                    to: word_addr(host.sload(k("hold.to"))?),
                    amount: host.sload(k("hold.amount"))?,
                    status: load_u8(host, k("hold.status"))?,
                };
                ISettlement::holdCall::abi_encode_returns(&out)
            }
        };
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests;
