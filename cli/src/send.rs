//! `dsec send`: a value transfer, a contract call or a contract creation,
//! signed with a secp256k1 or an ML-DSA-65 key, and its receipt.

use crate::common::{DEFAULT_RPC_URL, client, parse_key};
use crate::tx::send_tx;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use clap::Args;
use eyre::eyre;

/// Flags of `dsec send`.
#[derive(Args, Debug)]
pub(crate) struct SendArgs {
    /// JSON-RPC URL of the node.
    #[arg(long, default_value = DEFAULT_RPC_URL)]
    rpc: String,
    /// Key file from `dsec keys new` (secp256k1 or ml-dsa-65), or a secp256k1
    /// private key in hex (default: dev account 0).
    #[arg(long)]
    key: Option<String>,
    /// Recipient account or contract.
    #[arg(long, required_unless_present = "create", conflicts_with = "create")]
    to: Option<Address>,
    /// Create a contract: `--data` is its init code.
    #[arg(long)]
    create: bool,
    /// Amount: wei, or a decimal with a unit (`1.5ether`, `20gwei`).
    #[arg(long, default_value = "0")]
    value: String,
    /// Calldata (or init code with `--create`), hex.
    #[arg(long, default_value = "0x")]
    data: Bytes,
    /// Gas limit (default: estimated, plus 20 %).
    #[arg(long)]
    gas: Option<u64>,
}

impl SendArgs {
    /// Send and print the receipt's essentials.
    pub(crate) async fn run(self) -> eyre::Result<()> {
        let value = parse_value(&self.value)?;
        let key = parse_key(self.key.as_deref(), "--key")?;
        let to = match self.to {
            Some(to) => TxKind::Call(to),
            None => TxKind::Create,
        };
        let receipt = send_tx(&client(&self.rpc)?, &key, to, value, self.data, self.gas).await?;
        println!("transaction {}", receipt.transaction_hash);
        println!("from        {} ({})", receipt.from, key.scheme());
        println!("block       {}", receipt.block_number.unwrap_or_default());
        println!("gas used    {}", receipt.gas_used);
        if let Some(address) = receipt.contract_address {
            println!("contract    {address}");
        }
        Ok(())
    }
}

/// Parse `--value`: wei, or a decimal followed by `ether`/`eth`/`gwei`/`wei`.
fn parse_value(text: &str) -> eyre::Result<U256> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(eyre!("--value {text:?}: no amount"));
    }
    if number.starts_with('-') {
        return Err(eyre!("--value {text:?}: must not be negative"));
    }
    let unit = match unit {
        "" | "wei" => "wei",
        "eth" | "ether" => "ether",
        "gwei" => "gwei",
        other => return Err(eyre!("--value {text:?}: unknown unit {other:?} (wei, gwei, ether)")),
    };
    let parsed = alloy_primitives::utils::parse_units(number, unit).map_err(|e| eyre!("--value {text:?}: {e}"))?;
    Ok(parsed.get_absolute())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_and_without_units() {
        assert_eq!(parse_value("12").unwrap(), U256::from(12));
        assert_eq!(parse_value("1.5ether").unwrap(), U256::from(1_500_000_000_000_000_000u128));
        assert_eq!(parse_value("2gwei").unwrap(), U256::from(2_000_000_000u64));
        assert!(parse_value("1btc").unwrap_err().to_string().contains("unknown unit"));
        assert!(parse_value("-1").unwrap_err().to_string().contains("negative"));
        assert!(parse_value("ether").is_err());
    }
}
