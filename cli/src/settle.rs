//! `dsec settle`: operator commands for the cross-border settlement module,
//! each a transaction (or a view) through the module's typed SDK bindings:
//! roles and KYC records, currencies, thresholds and daily limits, transfers,
//! FX quotes and payments, payment-versus-payment, the compliance review of
//! holds, and the reads a compliance desk needs (pending holds, a party's
//! payments in a period, balances in every currency).
//!
//! Amounts are integers in the currency's minor units (cents for EUR);
//! views print them with the currency's decimals too.

use crate::common::{DEFAULT_RPC_URL, client, parse_key};
use crate::tx::{send, view};
use alloy::sol_types::SolEvent;
use alloy_primitives::{Address, B256, FixedBytes, U256, keccak256};
use clap::{Args, Subcommand};
use dsec_sdk::block::RpcReceipt;
use dsec_sdk::chaincode::settlement::{ADDRESS, ISettlement, KYC_STATUSES, ROLES, currency, kind_name, reason_text};
use dsec_sdk::client::RpcClient;
use dsec_sdk::proof::explain::utc;
use dsec_sdk::tx::AccountKey;
use eyre::{bail, eyre};

/// Flags of `dsec settle`.
#[derive(Args, Debug)]
pub(crate) struct SettleArgs {
    /// JSON-RPC URL of a node.
    #[arg(long, default_value = DEFAULT_RPC_URL, global = true)]
    rpc: String,
    /// Private key that signs (default: dev account 0).
    #[arg(long, global = true)]
    key: Option<String>,
    #[command(subcommand)]
    op: SettleCommand,
}

/// One settlement operation.
#[derive(Subcommand, Debug)]
enum SettleCommand {
    /// Give a party a role: none, compliance, fx or compliance-admin (administrators).
    Role {
        #[arg(long)]
        party: Address,
        #[arg(long)]
        role: String,
    },
    /// Set a party's KYC status (none, approved or frozen), and with --expires
    /// or --jurisdiction its whole record (compliance officers, not on themselves).
    Kyc {
        #[arg(long)]
        party: Address,
        #[arg(long)]
        status: String,
        /// When the approval lapses: a date (2027-06-30, midnight UTC), an RFC 3339
        /// UTC time (2027-06-30T12:00:00Z), unix seconds, or `never`.
        #[arg(long)]
        expires: Option<String>,
        /// ISO 3166-1 alpha-2 country code (DE, SG, …).
        #[arg(long)]
        jurisdiction: Option<String>,
    },
    /// Show a party's KYC record and role.
    KycOf {
        #[arg(long)]
        party: Address,
    },
    /// Create a currency ledger (administrators).
    Currency {
        #[arg(long)]
        code: String,
        #[arg(long)]
        decimals: u8,
        #[arg(long)]
        issuer: Address,
        /// Payments above this many minor units wait for a compliance officer (0: never).
        #[arg(long, default_value = "0")]
        hold_threshold: U256,
    },
    /// Change a currency's hold threshold in minor units, 0 for none (compliance administrators).
    Threshold {
        #[arg(long)]
        code: String,
        #[arg(long)]
        amount: U256,
    },
    /// Set a currency's daily limit per party in minor units, 0 for none
    /// (compliance administrators): payments beyond it in a UTC day are held.
    DailyLimit {
        #[arg(long)]
        code: String,
        #[arg(long)]
        amount: U256,
    },
    /// Mint minor units to a party (the currency's issuer).
    Mint {
        #[arg(long)]
        code: String,
        #[arg(long)]
        to: Address,
        #[arg(long)]
        amount: U256,
    },
    /// Pay a party.
    Transfer {
        #[arg(long)]
        code: String,
        #[arg(long)]
        to: Address,
        #[arg(long)]
        amount: U256,
        /// A payment reference; its keccak-256 is the memo.
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// Post an FX quote (FX providers): one minor unit of --base buys --rate minor units of --quote.
    FxQuote {
        #[arg(long)]
        base: String,
        #[arg(long)]
        quote: String,
        /// Minor units of the quote currency per minor unit of the base, as a decimal (1.08).
        #[arg(long)]
        rate: String,
        /// The provider's fee in basis points.
        #[arg(long, default_value_t = 0)]
        fee_bps: u16,
        /// The most base minor units all payments at the quote may spend together.
        #[arg(long)]
        max_notional: U256,
        /// How long the quote stays live: 90s, 15m, 2h, 1d.
        #[arg(long, default_value = "1h")]
        expires_in: String,
    },
    /// Withdraw an FX quote (its provider).
    FxWithdraw {
        #[arg(long)]
        id: u64,
    },
    /// Show an FX quote.
    FxQuoteOf {
        #[arg(long)]
        id: u64,
    },
    /// Pay a party in the quote currency by spending base currency at a live quote.
    FxPay {
        #[arg(long)]
        quote: u64,
        #[arg(long)]
        to: Address,
        /// Base minor units to spend.
        #[arg(long)]
        amount: U256,
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// Payment-versus-payment: propose, accept or cancel.
    Pvp {
        #[command(subcommand)]
        op: PvpCommand,
    },
    /// List the pending holds with their legs, kind and reason.
    Holds {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Release a held payment (compliance officers not party to it).
    ApproveHold {
        #[arg(long)]
        id: u64,
    },
    /// Return a held payment's legs to their senders (compliance officers not party to it).
    RejectHold {
        #[arg(long)]
        id: u64,
    },
    /// Show a party's balance in a currency.
    Balance {
        #[arg(long)]
        party: Address,
        #[arg(long)]
        code: String,
    },
    /// Show a party's balance in every currency.
    Balances {
        #[arg(long)]
        party: Address,
    },
    /// List a party's settled payments (sent or received) in a period.
    Payments {
        #[arg(long)]
        party: Address,
        /// Start of the period (a date, an RFC 3339 UTC time or unix seconds; default: the beginning).
        #[arg(long)]
        from: Option<String>,
        /// End of the period, exclusive (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Skip this many payments of the period.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// At most this many (1 to 1,000).
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
}

/// A payment-versus-payment operation.
#[derive(Subcommand, Debug)]
enum PvpCommand {
    /// Propose: give --give-amount of --give for --get-amount of --get (locks the give leg).
    Propose {
        #[arg(long)]
        counterparty: Address,
        #[arg(long)]
        give: String,
        #[arg(long)]
        give_amount: U256,
        #[arg(long)]
        get: String,
        #[arg(long)]
        get_amount: U256,
        /// How long the counterparty may accept: 90s, 15m, 2h, 1d.
        #[arg(long, default_value = "1h")]
        expires_in: String,
    },
    /// Accept (the counterparty): both legs settle together, or wait together in one hold.
    Accept {
        #[arg(long)]
        id: u64,
    },
    /// Cancel an open proposal (the proposer) and unlock the give leg.
    Cancel {
        #[arg(long)]
        id: u64,
    },
}

fn code(s: &str, flag: &str) -> eyre::Result<FixedBytes<3>> {
    currency(s).ok_or_else(|| eyre!("{flag} {s:?}: a currency is three upper-case letters (ISO 4217)"))
}

fn pick(value: &str, options: &[(&str, u8)], flag: &str) -> eyre::Result<u8> {
    options.iter().find(|(name, _)| *name == value).map(|(_, v)| *v).ok_or_else(|| {
        eyre!("{flag} {value:?}: expected one of {}", options.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
    })
}

fn memo(reference: &str) -> B256 {
    if reference.is_empty() { B256::ZERO } else { keccak256(reference.as_bytes()) }
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A point in time as unix seconds: `1767225600`, `2027-01-01` (midnight UTC)
/// or `2027-01-01T12:30:00Z`.
pub(crate) fn parse_time(value: &str, flag: &str) -> eyre::Result<u64> {
    let bad = || {
        eyre!(
            "{flag} {value:?}: expected a date (2027-01-31), an RFC 3339 UTC time (2027-01-31T12:00:00Z) or unix seconds"
        )
    };
    if let Ok(secs) = value.parse::<u64>() {
        return Ok(secs);
    }
    let (date, clock) = match value.split_once('T') {
        Some((date, clock)) => (date, Some(clock.strip_suffix('Z').ok_or_else(bad)?)),
        None => (value, None),
    };
    let numbers = |text: &str, sep: char, count: usize| -> Option<Vec<i64>> {
        let parts: Vec<i64> = text.split(sep).map(|p| p.parse().ok()).collect::<Option<_>>()?;
        (parts.len() == count).then_some(parts)
    };
    let d = numbers(date, '-', 3).ok_or_else(bad)?;
    let (year, month, day) = (d[0], d[1], d[2]);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    if let Some(clock) = clock {
        let t = numbers(clock, ':', 3).ok_or_else(bad)?;
        if !(0..24).contains(&t[0]) || !(0..60).contains(&t[1]) || !(0..61).contains(&t[2]) {
            return Err(bad());
        }
        secs += t[0] * 3600 + t[1] * 60 + t[2];
    }
    u64::try_from(secs).map_err(|_| bad())
}

/// A duration (`90s`, `15m`, `2h`, `1d`) in seconds.
fn parse_duration(value: &str, flag: &str) -> eyre::Result<u64> {
    let bad = || eyre!("{flag} {value:?}: expected a duration such as 90s, 15m, 2h or 1d");
    let unit = value.chars().last().ok_or_else(bad)?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = value[..value.len() - 1].parse().map_err(|_| bad())?;
    n.checked_mul(scale).filter(|s| *s > 0).ok_or_else(bad)
}

/// A positive decimal rate as a ratio of integers: `1.08` → 108 / 100.
fn parse_rate(value: &str) -> eyre::Result<(u128, u128)> {
    let bad = || eyre!("--rate {value:?}: expected a positive decimal number such as 1.08 or 0.0093");
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
        || fraction.len() > 18
    {
        return Err(bad());
    }
    let den = 10u128.pow(u32::try_from(fraction.len()).map_err(|_| bad())?);
    let num: u128 = format!("{whole}{fraction}").parse().map_err(|_| bad())?;
    if num == 0 {
        return Err(bad());
    }
    Ok((num, den))
}

impl SettleArgs {
    /// Run the operation and print its outcome.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let key = parse_key(self.key.as_deref(), "--key")?;
        println!("{}", execute(&client(&self.rpc)?, &key, self.op).await?);
        Ok(())
    }
}

fn done(r: &RpcReceipt) -> String {
    format!("ok: transaction {} in block {}", r.transaction_hash, r.block_number.unwrap_or_default())
}

/// The first event of type `E` in a receipt.
fn event<E: SolEvent>(receipt: &RpcReceipt) -> Option<E> {
    receipt.inner.logs().iter().find_map(|l| E::decode_log_data(l.data()).ok())
}

/// What a payment's receipt says: settled, or held and why.
fn payment_outcome(receipt: &RpcReceipt) -> String {
    match event::<ISettlement::HoldOpened>(receipt) {
        Some(h) => {
            format!("held for compliance review as hold {} ({}; {})", h.id, reason_text(h.reason), done(receipt))
        }
        None => format!("settled ({})", done(receipt)),
    }
}

/// Amounts in a currency, printed with its decimals when known.
struct Amounts {
    decimals: std::collections::HashMap<FixedBytes<3>, u8>,
}

impl Amounts {
    fn new() -> Self {
        Self { decimals: Default::default() }
    }

    async fn text(&mut self, client: &RpcClient, amount: U256, code: FixedBytes<3>) -> eyre::Result<String> {
        let decimals = match self.decimals.get(&code) {
            Some(d) => *d,
            None => {
                let d = view(client, ADDRESS, &ISettlement::currencyCall { code }).await?.decimals;
                self.decimals.insert(code, d);
                d
            }
        };
        let name = String::from_utf8_lossy(code.as_slice()).into_owned();
        if decimals == 0 {
            return Ok(format!("{amount} {name}"));
        }
        let d = usize::from(decimals);
        let padded = format!("{:0>width$}", amount.to_string(), width = d + 1);
        let (whole, fraction) = padded.split_at(padded.len() - d);
        Ok(format!("{whole}.{fraction} {name}"))
    }
}

/// Run one operation; returns what to print.
async fn execute(client: &RpcClient, key: &AccountKey, op: SettleCommand) -> eyre::Result<String> {
    let mut amounts = Amounts::new();
    Ok(match op {
        SettleCommand::Role { party, role } => {
            let role = pick(&role, &ROLES, "--role")?;
            done(&send(client, key, ADDRESS, &ISettlement::setRoleCall { party, role }).await?)
        }
        SettleCommand::Kyc { party, status, expires, jurisdiction } => {
            let status = pick(&status, &KYC_STATUSES, "--status")?;
            if expires.is_none() && jurisdiction.is_none() {
                return Ok(done(&send(client, key, ADDRESS, &ISettlement::setKycCall { party, status }).await?));
            }
            let expires_at = match expires.as_deref() {
                None | Some("never") => 0,
                Some(text) => parse_time(text, "--expires")?,
            };
            let jurisdiction = match jurisdiction.as_deref() {
                None => FixedBytes::ZERO,
                Some(j) if j.len() == 2 && j.bytes().all(|b| b.is_ascii_uppercase()) => {
                    FixedBytes::from_slice(j.as_bytes())
                }
                Some(j) => bail!("--jurisdiction {j:?}: expected an ISO 3166-1 alpha-2 code such as DE or SG"),
            };
            let call = ISettlement::setKycRecordCall { party, status, expiresAt: expires_at, jurisdiction };
            done(&send(client, key, ADDRESS, &call).await?)
        }
        SettleCommand::KycOf { party } => {
            let r = view(client, ADDRESS, &ISettlement::kycRecordCall { party }).await?;
            let role = view(client, ADDRESS, &ISettlement::roleOfCall { party }).await?;
            let status = KYC_STATUSES.iter().find(|(_, v)| *v == r.status).map(|(n, _)| *n).unwrap_or("unknown");
            let role = ROLES.iter().find(|(_, v)| *v == role).map(|(n, _)| *n).unwrap_or("unknown");
            let expiry = if r.expiresAt == 0 { "never".to_string() } else { utc(r.expiresAt.saturating_mul(1000)) };
            let jurisdiction = if r.jurisdiction == FixedBytes::ZERO {
                "-".to_string()
            } else {
                String::from_utf8_lossy(r.jurisdiction.as_slice()).into_owned()
            };
            format!(
                "{party}: KYC {status}, expires {expiry}, jurisdiction {jurisdiction}, role {role}; may {}transact",
                if r.active { "" } else { "not " }
            )
        }
        SettleCommand::Currency { code: c, decimals, issuer, hold_threshold } => {
            let call = ISettlement::createCurrencyCall {
                code: code(&c, "--code")?,
                decimals,
                issuer,
                holdThreshold: hold_threshold,
            };
            done(&send(client, key, ADDRESS, &call).await?)
        }
        SettleCommand::Threshold { code: c, amount } => {
            let call = ISettlement::setHoldThresholdCall { code: code(&c, "--code")?, threshold: amount };
            done(&send(client, key, ADDRESS, &call).await?)
        }
        SettleCommand::DailyLimit { code: c, amount } => {
            let call = ISettlement::setDailyLimitCall { code: code(&c, "--code")?, limit: amount };
            done(&send(client, key, ADDRESS, &call).await?)
        }
        SettleCommand::Mint { code: c, to, amount } => {
            done(&send(client, key, ADDRESS, &ISettlement::mintCall { code: code(&c, "--code")?, to, amount }).await?)
        }
        SettleCommand::Transfer { code: c, to, amount, reference } => {
            let call = ISettlement::transferCall { code: code(&c, "--code")?, to, amount, memo: memo(&reference) };
            payment_outcome(&send(client, key, ADDRESS, &call).await?)
        }
        SettleCommand::FxQuote { base, quote, rate, fee_bps, max_notional, expires_in } => {
            let (rate_num, rate_den) = parse_rate(&rate)?;
            let expires_at = now_secs().saturating_add(parse_duration(&expires_in, "--expires-in")?);
            let call = ISettlement::postQuoteCall {
                base: code(&base, "--base")?,
                quote: code(&quote, "--quote")?,
                rateNum: rate_num,
                rateDen: rate_den,
                feeBps: fee_bps,
                expiresAt: expires_at,
                maxNotional: max_notional,
            };
            let receipt = send(client, key, ADDRESS, &call).await?;
            let id = event::<ISettlement::QuotePosted>(&receipt).map(|q| q.id).unwrap_or_default();
            format!("quote {id}, live until {} ({})", utc(expires_at.saturating_mul(1000)), done(&receipt))
        }
        SettleCommand::FxWithdraw { id } => {
            done(&send(client, key, ADDRESS, &ISettlement::withdrawQuoteCall { id }).await?)
        }
        SettleCommand::FxQuoteOf { id } => {
            let q = view(client, ADDRESS, &ISettlement::quoteOfCall { id }).await?;
            if q.provider == Address::ZERO {
                bail!("--id {id}: no such quote");
            }
            let state = if q.withdrawn {
                "withdrawn"
            } else if q.expiresAt <= now_secs() {
                "expired"
            } else {
                "live"
            };
            format!(
                "quote {id} by {}: 1 {} minor unit buys {}/{} {} minor units, fee {} bps, {state} until {}, used {} of {}",
                q.provider,
                String::from_utf8_lossy(q.base.as_slice()),
                q.rateNum,
                q.rateDen,
                String::from_utf8_lossy(q.quote.as_slice()),
                q.feeBps,
                utc(q.expiresAt.saturating_mul(1000)),
                amounts.text(client, q.used, q.base).await?,
                amounts.text(client, q.maxNotional, q.base).await?,
            )
        }
        SettleCommand::FxPay { quote, to, amount, reference } => {
            let call = ISettlement::payFxCall { quoteId: quote, to, baseAmount: amount, memo: memo(&reference) };
            let receipt = send(client, key, ADDRESS, &call).await?;
            match event::<ISettlement::FxPaid>(&receipt) {
                Some(p) => format!("paid {} quote minor units, fee {} ({})", p.quoteAmount, p.fee, done(&receipt)),
                None => payment_outcome(&receipt),
            }
        }
        SettleCommand::Pvp { op } => match op {
            PvpCommand::Propose { counterparty, give, give_amount, get, get_amount, expires_in } => {
                let expires_at = now_secs().saturating_add(parse_duration(&expires_in, "--expires-in")?);
                let call = ISettlement::proposePvpCall {
                    counterparty,
                    giveCode: code(&give, "--give")?,
                    giveAmount: give_amount,
                    getCode: code(&get, "--get")?,
                    getAmount: get_amount,
                    expiresAt: expires_at,
                };
                let receipt = send(client, key, ADDRESS, &call).await?;
                let id = event::<ISettlement::PvpProposed>(&receipt).map(|p| p.id).unwrap_or_default();
                format!("PvP {id} proposed, open until {} ({})", utc(expires_at.saturating_mul(1000)), done(&receipt))
            }
            PvpCommand::Accept { id } => {
                payment_outcome(&send(client, key, ADDRESS, &ISettlement::acceptPvpCall { id }).await?)
            }
            PvpCommand::Cancel { id } => done(&send(client, key, ADDRESS, &ISettlement::cancelPvpCall { id }).await?),
        },
        SettleCommand::Holds { limit } => {
            if limit == 0 {
                bail!("--limit 0: expected at least 1");
            }
            let mut out = Vec::new();
            let mut offset = 0u64;
            let total = loop {
                let page = (limit - offset.min(limit)).clamp(1, 1_000);
                let call = ISettlement::pendingHoldsCall { offset: U256::from(offset), limit: U256::from(page) };
                let got = view(client, ADDRESS, &call).await?;
                offset += got.ids.len() as u64;
                out.extend(got.ids);
                if offset >= limit || U256::from(offset) >= got.total {
                    break got.total;
                }
            };
            out.sort_unstable();
            out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let mut lines = vec![format!("{total} pending hold(s)")];
            for id in out {
                let h = view(client, ADDRESS, &ISettlement::holdCall { id }).await?;
                let d = view(client, ADDRESS, &ISettlement::holdDetailCall { id }).await?;
                let mut line = format!(
                    "hold {id}: {} by {} ({}): {} from {} to {}",
                    kind_name(d.kind),
                    d.initiator,
                    reason_text(d.reason),
                    amounts.text(client, h.amount, h.code).await?,
                    h.from,
                    h.to
                );
                if !d.amount2.is_zero() {
                    line.push_str(&format!(
                        "; and {} from {} to {}",
                        amounts.text(client, d.amount2, d.code2).await?,
                        d.from2,
                        d.to2
                    ));
                }
                lines.push(line);
            }
            lines.join("\n")
        }
        SettleCommand::ApproveHold { id } => {
            done(&send(client, key, ADDRESS, &ISettlement::approveHoldCall { id }).await?)
        }
        SettleCommand::RejectHold { id } => {
            done(&send(client, key, ADDRESS, &ISettlement::rejectHoldCall { id }).await?)
        }
        SettleCommand::Balance { party, code: c } => {
            let ccy = code(&c, "--code")?;
            let info = view(client, ADDRESS, &ISettlement::currencyCall { code: ccy }).await?;
            if !info.exists {
                bail!("--code {c}: no such currency");
            }
            let balance = view(client, ADDRESS, &ISettlement::balanceOfCall { party, code: ccy }).await?;
            format!("{} ({balance} minor units)", amounts.text(client, balance, ccy).await?)
        }
        SettleCommand::Balances { party } => {
            let b = view(client, ADDRESS, &ISettlement::balancesOfCall { party }).await?;
            let mut lines = Vec::new();
            for (ccy, amount) in b.codes.into_iter().zip(b.amounts) {
                lines.push(amounts.text(client, amount, ccy).await?);
            }
            if lines.is_empty() { "no currencies".to_string() } else { lines.join("\n") }
        }
        SettleCommand::Payments { party, from, to, offset, limit } => {
            let from_time = from.as_deref().map(|t| parse_time(t, "--from")).transpose()?.unwrap_or(0);
            let to_time = match to.as_deref() {
                Some(t) => parse_time(t, "--to")?,
                None => now_secs().saturating_add(1),
            };
            if !(1..=1_000).contains(&limit) {
                bail!("--limit {limit}: expected 1 to 1,000");
            }
            let call = ISettlement::paymentsOfCall {
                party,
                fromTime: from_time,
                toTime: to_time,
                offset: U256::from(offset),
                limit: U256::from(limit),
            };
            let got = view(client, ADDRESS, &call).await?;
            let mut lines = vec![format!("{} payment(s) in the period, showing {}", got.total, got.payments.len())];
            for p in got.payments {
                let direction = if p.from == party { format!("to {}", p.to) } else { format!("from {}", p.from) };
                lines.push(format!(
                    "{}  {:<8} {:>20}  {direction}{}",
                    utc(p.time.saturating_mul(1000)),
                    kind_name(p.kind),
                    amounts.text(client, p.amount, p.code).await?,
                    if p.r#ref == 0 { String::new() } else { format!("  (ref {})", p.r#ref) }
                ));
            }
            lines.join("\n")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_dates_rfc3339_or_unix_seconds() {
        assert_eq!(parse_time("1767225600", "--x").unwrap(), 1_767_225_600);
        assert_eq!(parse_time("2026-01-01", "--x").unwrap(), 1_767_225_600);
        assert_eq!(parse_time("2026-01-01T01:02:03Z", "--x").unwrap(), 1_767_225_600 + 3723);
        assert_eq!(parse_time("1970-01-01", "--x").unwrap(), 0);
        assert_eq!(parse_time("2024-02-29", "--x").unwrap(), 1_709_164_800);
        for bad in ["2026-13-01", "2026-01-01T25:00:00Z", "2026-01-01T01:00:00", "tomorrow", "2026-1", ""] {
            let err = parse_time(bad, "--expires").unwrap_err().to_string();
            assert!(err.starts_with("--expires"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations_and_rates_parse_or_name_the_flag() {
        assert_eq!(parse_duration("90s", "--e").unwrap(), 90);
        assert_eq!(parse_duration("2h", "--e").unwrap(), 7200);
        assert_eq!(parse_duration("1d", "--e").unwrap(), 86_400);
        for bad in ["", "0m", "5", "5w", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad, "--expires-in").unwrap_err().to_string().starts_with("--expires-in"), "{bad}");
        }
        assert_eq!(parse_rate("1.08").unwrap(), (108, 100));
        assert_eq!(parse_rate("0.0093").unwrap(), (93, 10_000));
        assert_eq!(parse_rate("3").unwrap(), (3, 1));
        for bad in ["", ".", "0", "0.000", "-1", "1e3", "1.2.3", "0.1234567890123456789"] {
            assert!(parse_rate(bad).unwrap_err().to_string().starts_with("--rate"), "{bad}");
        }
    }
}
