//! Why a transaction is invalid: the messages Ethereum clients print, so that
//! wallets and libraries that match on them keep working.

use alloy_primitives::U256;
use revm::context::result::InvalidTransaction;

/// A transaction that cannot be included (it is not charged, nothing happens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTx {
    /// The nonce was already used.
    #[error("nonce too low: next nonce {state}, tx nonce {tx}")]
    NonceTooLow {
        /// Transaction nonce.
        tx: u64,
        /// Account nonce.
        state: u64,
    },
    /// The nonce leaves a gap.
    #[error("nonce too high: next nonce {state}, tx nonce {tx}")]
    NonceTooHigh {
        /// Transaction nonce.
        tx: u64,
        /// Account nonce.
        state: u64,
    },
    /// The sender cannot pay `gas_limit * max_fee + value`.
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}")]
    InsufficientFunds {
        /// Sender balance.
        balance: U256,
        /// Maximum cost of the transaction.
        cost: U256,
    },
    /// The gas limit does not cover the intrinsic cost.
    #[error("intrinsic gas too low: have {have}, want {want}")]
    IntrinsicGasTooLow {
        /// Gas limit of the transaction.
        have: u64,
        /// Intrinsic gas required.
        want: u64,
    },
    /// The gas limit is above the block gas limit.
    #[error("exceeds block gas limit")]
    ExceedsBlockGasLimit,
    /// The max fee is below the block's base fee.
    #[error("max fee per gas less than block base fee: maxFeePerGas: {max_fee}, baseFee: {base_fee}")]
    FeeCapTooLow {
        /// Max fee per gas offered.
        max_fee: u128,
        /// Base fee of the block.
        base_fee: u64,
    },
    /// The tip is higher than the max fee.
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// Signed for another chain.
    #[error("invalid chain id for signer")]
    InvalidChainId,
    /// The sender has code (EIP-3607).
    #[error("sender not an eoa")]
    SenderNotEoa,
    /// The init code is larger than the EIP-3860 limit.
    #[error("max initcode size exceeded")]
    InitCodeTooLarge,
    /// The sender is not on the chain's account list.
    #[error("sender not permitted")]
    SenderNotPermitted,
    /// A contract creation from a sender not on the chain's deployer list.
    #[error("sender not permitted to deploy contracts")]
    DeployNotPermitted,
    /// Any other reason revm refuses the transaction.
    #[error("invalid transaction: {0}")]
    Other(String),
}

impl InvalidTx {
    /// Translate revm's reason.
    pub fn from_revm(err: &InvalidTransaction) -> Self {
        match err {
            InvalidTransaction::NonceTooLow { tx, state } => Self::NonceTooLow { tx: *tx, state: *state },
            InvalidTransaction::NonceTooHigh { tx, state } => Self::NonceTooHigh { tx: *tx, state: *state },
            InvalidTransaction::LackOfFundForMaxFee { fee, balance } => {
                Self::InsufficientFunds { balance: **balance, cost: **fee }
            }
            InvalidTransaction::CallGasCostMoreThanGasLimit { initial_gas, gas_limit } => {
                Self::IntrinsicGasTooLow { have: *gas_limit, want: *initial_gas }
            }
            InvalidTransaction::GasFloorMoreThanGasLimit { gas_floor, gas_limit } => {
                Self::IntrinsicGasTooLow { have: *gas_limit, want: *gas_floor }
            }
            InvalidTransaction::CallerGasLimitMoreThanBlock => Self::ExceedsBlockGasLimit,
            InvalidTransaction::PriorityFeeGreaterThanMaxFee => Self::TipAboveFeeCap,
            InvalidTransaction::InvalidChainId | InvalidTransaction::MissingChainId => Self::InvalidChainId,
            InvalidTransaction::RejectCallerWithCode => Self::SenderNotEoa,
            InvalidTransaction::CreateInitCodeSizeLimit => Self::InitCodeTooLarge,
            other => Self::Other(other.to_string()),
        }
    }
}
