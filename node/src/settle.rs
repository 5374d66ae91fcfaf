//! `dsec settle`: operator commands for the cross-border settlement module.

use crate::cli_tx::{send, view};
use alloy_primitives::{Address, B256, FixedBytes, U256, keccak256};
use dsec_sdk::chaincode::settlement::{ADDRESS, ISettlement, currency};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::LocalKey;
use eyre::eyre;

/// One settlement operation.
#[derive(Debug, Clone)]
pub enum SettleOp {
    /// Give a party a role (administrators).
    Role {
        /// The party.
        party: Address,
        /// `none`, `compliance` or `fx`.
        role: String,
    },
    /// Set a party's KYC status (compliance officers).
    Kyc {
        /// The party.
        party: Address,
        /// `none`, `approved` or `frozen`.
        status: String,
    },
    /// Create a currency ledger (administrators).
    Currency {
        /// ISO 4217 code.
        code: String,
        /// Decimals of the minor unit.
        decimals: u8,
        /// Who mints and burns.
        issuer: Address,
        /// Transfers above this wait for compliance (0: never).
        hold_threshold: U256,
    },
    /// Mint to a party (the issuer).
    Mint {
        /// Currency.
        code: String,
        /// Recipient.
        to: Address,
        /// Minor units.
        amount: U256,
    },
    /// Pay a party.
    Transfer {
        /// Currency.
        code: String,
        /// Recipient.
        to: Address,
        /// Minor units.
        amount: U256,
        /// Free-text reference (its keccak-256 goes on chain).
        reference: String,
    },
    /// Approve or reject a held transfer (compliance officers).
    Hold {
        /// Hold id.
        id: u64,
        /// Approve (true) or reject (false).
        approve: bool,
    },
    /// Show a party's balance.
    Balance {
        /// The party.
        party: Address,
        /// Currency.
        code: String,
    },
}

fn code(s: &str) -> eyre::Result<FixedBytes<3>> {
    currency(s).ok_or_else(|| eyre!("--code {s:?}: a currency is three upper-case letters (ISO 4217)"))
}

fn pick(value: &str, options: &[(&str, u8)], flag: &str) -> eyre::Result<u8> {
    options.iter().find(|(name, _)| *name == value).map(|(_, v)| *v).ok_or_else(|| {
        eyre!("{flag} {value:?}: expected one of {}", options.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
    })
}

/// Run one operation; returns what to print.
pub async fn run(client: &RpcClient, key: &LocalKey, op: SettleOp) -> eyre::Result<String> {
    let done = |r: alloy::rpc::types::TransactionReceipt| {
        format!("ok: transaction {} in block {}", r.transaction_hash, r.block_number.unwrap_or_default())
    };
    Ok(match op {
        SettleOp::Role { party, role } => {
            let role = pick(&role, &[("none", 0), ("compliance", 1), ("fx", 2)], "--role")?;
            done(send(client, key, ADDRESS, &ISettlement::setRoleCall { party, role }).await?)
        }
        SettleOp::Kyc { party, status } => {
            let status = pick(&status, &[("none", 0), ("approved", 1), ("frozen", 2)], "--status")?;
            done(send(client, key, ADDRESS, &ISettlement::setKycCall { party, status }).await?)
        }
        SettleOp::Currency { code: c, decimals, issuer, hold_threshold } => {
            let call =
                ISettlement::createCurrencyCall { code: code(&c)?, decimals, issuer, holdThreshold: hold_threshold };
            done(send(client, key, ADDRESS, &call).await?)
        }
        SettleOp::Mint { code: c, to, amount } => {
            done(send(client, key, ADDRESS, &ISettlement::mintCall { code: code(&c)?, to, amount }).await?)
        }
        SettleOp::Transfer { code: c, to, amount, reference } => {
            let reference = if reference.is_empty() { B256::ZERO } else { keccak256(reference.as_bytes()) };
            let call = ISettlement::transferCall { code: code(&c)?, to, amount, memo: reference };
            let receipt = send(client, key, ADDRESS, &call).await?;
            let held =
                receipt.inner.logs().iter().find_map(|l| {
                    <ISettlement::HoldCreated as alloy::sol_types::SolEvent>::decode_log_data(l.data()).ok()
                });
            match held {
                Some(h) => format!("held for compliance review as hold {} ({})", h.id, done(receipt)),
                None => done(receipt),
            }
        }
        SettleOp::Hold { id, approve } => {
            let receipt = if approve {
                send(client, key, ADDRESS, &ISettlement::approveHoldCall { id }).await?
            } else {
                send(client, key, ADDRESS, &ISettlement::rejectHoldCall { id }).await?
            };
            done(receipt)
        }
        SettleOp::Balance { party, code: c } => {
            let ccy = code(&c)?;
            let balance = view(client, ADDRESS, &ISettlement::balanceOfCall { party, code: ccy }).await?;
            let info = view(client, ADDRESS, &ISettlement::currencyCall { code: ccy }).await?;
            if !info.exists {
                return Err(eyre!("currency {c} does not exist"));
            }
            format!("{balance} minor units of {c} ({} decimals)", info.decimals)
        }
    })
}
