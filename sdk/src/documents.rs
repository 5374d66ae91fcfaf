//! The `documents` chaincode module: the on-chain directory of
//! document-encryption keys and the anchors of sealed documents (see
//! [`crate::envelope`] for the envelope itself).
//!
//! A party publishes its [`RecipientPublicKey`](crate::envelope::RecipientPublicKey)
//! with `publishKey` (again to rotate it), so a sender seals to "the customs
//! authority at GBFXT" by reading `keyOf(address)` rather than by exchanging
//! files. A sender then anchors the sealed document with `anchorDocument`: the
//! envelope's hash, its salted content hash, its kind, its recipients' key ids
//! and its subject — `subject` is what the document is about: the provenance
//! module's shipment id (`keccak256` of a shipment's text id such as
//! `PO-4711`, as `dsec provenance` derives it), or an audit tenant id. Only hashes and key ids go on chain;
//! the envelope travels off chain. A recipient checks an envelope against its
//! anchor with [`check_anchor`].

use crate::envelope::{Envelope, EnvelopeError};
use alloy_primitives::{Address, B256, address};

mod bindings {
    alloy::sol!(
        #[sol(all_derives)]
        "../chaincode/sol/IDocuments.sol"
    );
}
pub use bindings::IDocuments;

/// Where the module lives.
pub const ADDRESS: Address = address!("0x00000000000000000000000000000000da5ec005");

/// Most recipients an anchored document names (as many as an envelope holds).
pub const MAX_RECIPIENTS: usize = crate::envelope::MAX_RECIPIENTS;

/// Longest document kind, bytes.
pub const MAX_KIND_LEN: usize = 64;

/// A bill of lading (a shipment's title document).
pub const BILL_OF_LADING: &str = "bill-of-lading";
/// A customs declaration.
pub const CUSTOMS_DECLARATION: &str = "customs-declaration";
/// A certificate of origin.
pub const CERTIFICATE_OF_ORIGIN: &str = "certificate-of-origin";
/// A batch of audit-log lines of a tenant.
pub const AUDIT_BATCH: &str = "audit-batch";
/// Anything else.
pub const OTHER: &str = "other";
/// The kinds every dsec tool knows by name. Others are allowed: see [`is_valid_kind`].
pub const WELL_KNOWN_KINDS: &[&str] = &[BILL_OF_LADING, CUSTOMS_DECLARATION, CERTIFICATE_OF_ORIGIN, AUDIT_BATCH, OTHER];

/// Whether `kind` may name a document: 1 to [`MAX_KIND_LEN`] bytes of
/// lower-case ASCII letters, digits, `-` and `.`, starting with a letter or
/// a digit. The well-known kinds ([`WELL_KNOWN_KINDS`]) are such names;
/// a consortium adds its own (`packing-list`, `phytosanitary-certificate`)
/// without a new module, and explorers can show any kind without escaping.
pub fn is_valid_kind(kind: &str) -> bool {
    let bytes = kind.as_bytes();
    bytes.len() <= MAX_KIND_LEN
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.')
}

/// Why an anchor does not vouch for an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// The envelope's own signature does not verify.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The account that anchored the document is not the one that signed it.
    #[error("anchored by {anchored}, but the sealed document is signed by {signer}")]
    Sender {
        /// The account that anchored it.
        anchored: Address,
        /// The envelope's verified sender.
        signer: Address,
    },
    /// The anchored content hash is not the envelope's.
    #[error("the anchored content hash {anchored} is not the sealed document's {sealed}")]
    ContentHash {
        /// On chain.
        anchored: B256,
        /// In the envelope.
        sealed: B256,
    },
    /// The anchored recipients are not the envelope's, in its order.
    #[error("the anchored recipients are not the sealed document's")]
    Recipients,
    /// The envelope names a subject and the anchor another.
    #[error("the anchor's subject {anchored} is not the sealed document's {sealed}")]
    Subject {
        /// On chain.
        anchored: B256,
        /// In the envelope.
        sealed: B256,
    },
}

/// Check that `record` — what `document(envelope.hash())` returned — vouches
/// for `envelope`: the envelope's signature verifies, the account that
/// anchored it is the one that signed it, and the anchored content hash,
/// recipients and (when the envelope names one) subject are the envelope's.
/// Returns the verified sender. The caller reads the record by
/// [`Envelope::hash`], which binds every byte of the envelope.
pub fn check_anchor(envelope: &Envelope, record: &IDocuments::documentReturn) -> Result<Address, AnchorError> {
    let signer = envelope.verify_sender()?;
    if record.sender != signer {
        return Err(AnchorError::Sender { anchored: record.sender, signer });
    }
    if record.contentHash != envelope.content_hash() {
        return Err(AnchorError::ContentHash { anchored: record.contentHash, sealed: envelope.content_hash() });
    }
    if record.recipients.as_slice() != envelope.recipients() {
        return Err(AnchorError::Recipients);
    }
    if !envelope.subject().is_zero() && record.subject != envelope.subject() {
        return Err(AnchorError::Subject { anchored: record.subject, sealed: envelope.subject() });
    }
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        for kind in WELL_KNOWN_KINDS {
            assert!(is_valid_kind(kind), "{kind}");
        }
        assert!(is_valid_kind("phytosanitary-certificate") && is_valid_kind("form.c88") && is_valid_kind("1"));
        let long = "x".repeat(65);
        for bad in ["", "Bill-Of-Lading", "-lead", "with space", "ünïcode", "new\nline", long.as_str()] {
            assert!(!is_valid_kind(bad), "{bad:?}");
        }
        assert!(is_valid_kind(&"x".repeat(64)));
    }
}
