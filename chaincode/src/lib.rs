//! `dsec-chaincode`: native Rust modules that run beside the EVM as system
//! contracts (shipment provenance, tenant audit anchoring, cross-border
//! settlement).
//!
//! This crate is not filled yet: no module exists, and the node refuses a
//! genesis that enables one (see [`check_enabled`]), rather than pretending to
//! run it.

/// Names of the chaincode modules this build provides.
pub const AVAILABLE_MODULES: &[&str] = &[];

/// A genesis enabled a module this build does not provide.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("chaincode module {0:?} is not available in this build")]
pub struct UnknownModule(pub String);

/// Check that every enabled module name is provided by this build.
pub fn check_enabled<'a>(enabled: impl IntoIterator<Item = &'a str>) -> Result<(), UnknownModule> {
    for name in enabled {
        if !AVAILABLE_MODULES.contains(&name) {
            return Err(UnknownModule(name.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_modules_are_refused() {
        assert!(check_enabled([]).is_ok());
        assert_eq!(check_enabled(["provenance"]), Err(UnknownModule("provenance".into())));
    }
}
