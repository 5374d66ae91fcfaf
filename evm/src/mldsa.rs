//! The ML-DSA-65 verification precompile at `0x…da5ec101`; its interface,
//! address and price are documented in [`dsec_sdk::pq::precompile`].

use alloy::sol_types::SolCall;
use dsec_chaincode::Failure;
use dsec_sdk::pq::precompile::{IMlDsa65, gas};
use dsec_sdk::pq::{MLDSA_MAX_CONTEXT_LEN, MlDsa65PublicKey};
use revm::interpreter::{Gas, InstructionResult, InterpreterResult};
use revm::primitives::Bytes;

fn revert(message: String, gas: Gas) -> InterpreterResult {
    let data = match Failure::reason(message) {
        Failure::Revert(data) => data,
        _ => Bytes::new(),
    };
    InterpreterResult::new(InstructionResult::Revert, data, gas)
}

/// Run the precompile on `input` with `gas_limit` gas.
pub fn run(input: &[u8], gas_limit: u64) -> InterpreterResult {
    let mut remaining = Gas::new(gas_limit);
    let call = match IMlDsa65::verifyCall::abi_decode(input) {
        Ok(call) => call,
        Err(e) => {
            return revert(
                format!("ML-DSA-65 verify: calldata is not verify(bytes,bytes,bytes,bytes): {e}"),
                remaining,
            );
        }
    };
    if !remaining.record_regular_cost(gas(call.message.len(), call.context.len())) {
        remaining.spend_all();
        return InterpreterResult::new(InstructionResult::PrecompileOOG, Bytes::new(), remaining);
    }
    let key = match MlDsa65PublicKey::from_bytes(&call.publicKey) {
        Ok(key) => key,
        Err(e) => return revert(format!("ML-DSA-65 verify: {e}"), remaining),
    };
    if call.context.len() > MLDSA_MAX_CONTEXT_LEN {
        return revert(
            format!(
                "ML-DSA-65 verify: context is {} bytes; at most {MLDSA_MAX_CONTEXT_LEN} allowed",
                call.context.len()
            ),
            remaining,
        );
    }
    // A signature of the wrong size is refused by the backend: `false`, like a forged one.
    let valid = key.verify(&call.message, &call.context, &call.signature).is_ok();
    let output = IMlDsa65::verifyCall::abi_encode_returns(&valid);
    InterpreterResult::new(InstructionResult::Return, output.into(), remaining)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsec_sdk::pq::MlDsa65Key;
    use dsec_sdk::pq::precompile::BASE_GAS;

    fn input(key: &[u8], message: &[u8], context: &[u8], signature: &[u8]) -> Vec<u8> {
        IMlDsa65::verifyCall {
            publicKey: key.to_vec().into(),
            message: message.to_vec().into(),
            context: context.to_vec().into(),
            signature: signature.to_vec().into(),
        }
        .abi_encode()
    }

    fn returned(result: &InterpreterResult) -> bool {
        assert_eq!(result.result, InstructionResult::Return, "{result:?}");
        IMlDsa65::verifyCall::abi_decode_returns(&result.output).unwrap()
    }

    #[test]
    fn valid_true_tampered_false_malformed_reverts() {
        let key = MlDsa65Key::from_seed(&[3; 32]);
        let public = key.public_key().as_bytes();
        let signature = key.sign(b"release PO-4711", b"customs").unwrap();
        let ok = run(&input(public, b"release PO-4711", b"customs", &signature), 100_000);
        assert!(returned(&ok));
        assert_eq!(ok.gas.total_gas_spent(), gas(15, 7));
        assert_eq!(gas(15, 7), BASE_GAS + 24);

        let mut tampered = signature.clone();
        tampered[100] ^= 1;
        assert!(!returned(&run(&input(public, b"release PO-4711", b"customs", &tampered), 100_000)));
        assert!(!returned(&run(&input(public, b"release PO-4712", b"customs", &signature), 100_000)));
        assert!(!returned(&run(&input(public, b"release PO-4711", b"other", &signature), 100_000)));
        assert!(!returned(&run(&input(public, b"release PO-4711", b"customs", &signature[..100]), 100_000)));

        let short_key = run(&input(&public[..10], b"m", b"", &signature), 100_000);
        assert_eq!(short_key.result, InstructionResult::Revert);
        let long_context = run(&input(public, b"m", &[0; 256], &signature), 100_000);
        assert_eq!(long_context.result, InstructionResult::Revert);
        assert_eq!(run(&[1, 2, 3], 100_000).result, InstructionResult::Revert);
        let starved = run(&input(public, b"release PO-4711", b"customs", &signature), BASE_GAS);
        assert_eq!(starved.result, InstructionResult::PrecompileOOG);
    }
}
