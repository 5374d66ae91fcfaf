//! `dsec settle`: operator commands for the cross-border settlement module,
//! each a transaction (or a view) through the module's typed SDK bindings.

use crate::common::{DEFAULT_RPC_URL, client, parse_key};
use crate::tx::{send, view};
use alloy_primitives::{Address, B256, FixedBytes, U256, keccak256};
use clap::{Args, Subcommand};
use dsec_sdk::chaincode::settlement::{ADDRESS, ISettlement, currency};
use dsec_sdk::client::RpcClient;
use dsec_sdk::tx::AccountKey;
use eyre::eyre;

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
    /// Give a party a role: none, compliance or fx (administrators).
    Role {
        #[arg(long)]
        party: Address,
        #[arg(long)]
        role: String,
    },
    /// Set a party's KYC status: none, approved or frozen (compliance officers).
    Kyc {
        #[arg(long)]
        party: Address,
        #[arg(long)]
        status: String,
    },
    /// Create a currency ledger (administrators).
    Currency {
        #[arg(long)]
        code: String,
        #[arg(long)]
        decimals: u8,
        #[arg(long)]
        issuer: Address,
        /// Transfers above this many minor units wait for a compliance officer (0: never).
        #[arg(long, default_value = "0")]
        hold_threshold: U256,
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
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// Release a held transfer (compliance officers).
    ApproveHold {
        #[arg(long)]
        id: u64,
    },
    /// Return a held transfer to its sender (compliance officers).
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
}

fn code(s: &str) -> eyre::Result<FixedBytes<3>> {
    currency(s).ok_or_else(|| eyre!("--code {s:?}: a currency is three upper-case letters (ISO 4217)"))
}

fn pick(value: &str, options: &[(&str, u8)], flag: &str) -> eyre::Result<u8> {
    options.iter().find(|(name, _)| *name == value).map(|(_, v)| *v).ok_or_else(|| {
        eyre!("{flag} {value:?}: expected one of {}", options.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
    })
}

impl SettleArgs {
    /// Run the operation and print its outcome.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let key = parse_key(self.key.as_deref(), "--key")?;
        println!("{}", execute(&client(&self.rpc)?, &key, self.op).await?);
        Ok(())
    }
}

/// Run one operation; returns what to print.
async fn execute(client: &RpcClient, key: &AccountKey, op: SettleCommand) -> eyre::Result<String> {
    let done = |r: dsec_sdk::block::RpcReceipt| {
        format!("ok: transaction {} in block {}", r.transaction_hash, r.block_number.unwrap_or_default())
    };
    Ok(match op {
        SettleCommand::Role { party, role } => {
            let role = pick(&role, &[("none", 0), ("compliance", 1), ("fx", 2)], "--role")?;
            done(send(client, key, ADDRESS, &ISettlement::setRoleCall { party, role }).await?)
        }
        SettleCommand::Kyc { party, status } => {
            let status = pick(&status, &[("none", 0), ("approved", 1), ("frozen", 2)], "--status")?;
            done(send(client, key, ADDRESS, &ISettlement::setKycCall { party, status }).await?)
        }
        SettleCommand::Currency { code: c, decimals, issuer, hold_threshold } => {
            let call =
                ISettlement::createCurrencyCall { code: code(&c)?, decimals, issuer, holdThreshold: hold_threshold };
            done(send(client, key, ADDRESS, &call).await?)
        }
        SettleCommand::Mint { code: c, to, amount } => {
            done(send(client, key, ADDRESS, &ISettlement::mintCall { code: code(&c)?, to, amount }).await?)
        }
        SettleCommand::Transfer { code: c, to, amount, reference } => {
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
        SettleCommand::ApproveHold { id } => {
            done(send(client, key, ADDRESS, &ISettlement::approveHoldCall { id }).await?)
        }
        SettleCommand::RejectHold { id } => {
            done(send(client, key, ADDRESS, &ISettlement::rejectHoldCall { id }).await?)
        }
        SettleCommand::Balance { party, code: c } => {
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
