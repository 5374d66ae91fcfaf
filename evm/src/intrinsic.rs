//! Intrinsic gas of a transaction under Prague: what it costs before any
//! code runs. The mempool refuses a transaction whose gas limit is below it.

use alloy::consensus::Transaction as _;
use dsec_sdk::tx::RecoveredTx;

/// Base cost of every transaction.
pub const TX_BASE_GAS: u64 = 21_000;
/// Extra cost of a contract creation.
pub const TX_CREATE_GAS: u64 = 32_000;

/// The gas a transaction needs at least: the larger of the intrinsic cost and
/// the EIP-7623 calldata floor.
pub fn intrinsic_gas(tx: &RecoveredTx) -> u64 {
    let input = tx.envelope.input();
    let zeros = input.iter().filter(|b| **b == 0).count() as u64;
    let non_zeros = input.len() as u64 - zeros;
    let mut gas = TX_BASE_GAS + zeros * 4 + non_zeros * 16;
    if tx.is_create() {
        gas += TX_CREATE_GAS + 2 * (input.len() as u64).div_ceil(32);
    }
    if let Some(list) = tx.envelope.access_list() {
        for item in list.iter() {
            gas += 2_400 + 1_900 * item.storage_keys.len() as u64;
        }
    }
    let tokens = zeros + non_zeros * 4;
    let floor = TX_BASE_GAS + 10 * tokens;
    gas.max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::consensus::TxEip1559;
    use alloy_primitives::{Address, Bytes, TxKind};
    use dsec_sdk::tx::LocalKey;

    fn tx(to: TxKind, input: &[u8]) -> RecoveredTx {
        let raw = LocalKey::random().sign_tx_bytes(TxEip1559 {
            chain_id: 1,
            gas_limit: 1_000_000,
            to,
            input: Bytes::copy_from_slice(input),
            ..Default::default()
        });
        RecoveredTx::decode(&raw).unwrap()
    }

    #[test]
    fn transfer_costs_21000() {
        assert_eq!(intrinsic_gas(&tx(TxKind::Call(Address::ZERO), &[])), 21_000);
    }

    #[test]
    fn calldata_and_create_costs() {
        // 4 zero bytes + 4 non-zero: 21000 + 16 + 64; floor 21000 + 10*(4+16) = 21200.
        assert_eq!(intrinsic_gas(&tx(TxKind::Call(Address::ZERO), &[0, 0, 0, 0, 1, 2, 3, 4])), 21_200);
        // Creation with 64 non-zero bytes: 21000 + 1024 + 32000 + 4.
        assert_eq!(intrinsic_gas(&tx(TxKind::Create, &[1u8; 64])), 54_028);
    }
}
