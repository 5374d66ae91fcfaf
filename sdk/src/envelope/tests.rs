use super::*;
use crate::tx::{LocalKey, MlDsaSigner};

const DOCUMENT: &[u8] = b"Customs declaration PO-4711: 24 pallets of ceramic tiles, HS 6907.21, cleared at NLRTM";

fn secp_sender() -> AccountKey {
    AccountKey::Secp256k1(LocalKey::random())
}

fn mldsa_sender() -> AccountKey {
    AccountKey::MlDsa65(MlDsaSigner::from_seed(&[0x42; 32]))
}

fn recipients(n: usize) -> Vec<RecipientKey> {
    (0..n).map(|_| RecipientKey::generate()).collect()
}

fn public_keys(keys: &[RecipientKey]) -> Vec<RecipientPublicKey> {
    keys.iter().map(|k| k.public_key().clone()).collect()
}

/// Re-sign an envelope whose parts a test changed, as a dishonest sender
/// would: the signature then verifies, and the layers below must catch it.
fn resign(header: EnvelopeHeader, ciphertext: Bytes, sender: &AccountKey) -> Envelope {
    let signature = sign(&header, &ciphertext, sender).unwrap();
    Envelope::from_parts(header, ciphertext, signature).unwrap()
}

#[test]
fn three_recipients_each_open_and_a_stranger_cannot() {
    let sender = secp_sender();
    let keys = recipients(3);
    let subject = keccak256("PO-4711");
    let envelope = seal_about(DOCUMENT, subject, &public_keys(&keys), &sender).unwrap();
    assert_eq!(envelope.recipients(), keys.iter().map(RecipientKey::key_id).collect::<Vec<_>>().as_slice());
    assert_eq!(envelope.subject(), subject);
    assert_eq!(envelope.plaintext_len(), DOCUMENT.len());
    assert_eq!(envelope.scheme(), SenderScheme::Secp256k1);

    // Through the bytes, as a recipient receives it.
    let received = Envelope::decode(&envelope.encode()).unwrap();
    assert_eq!(received, envelope);
    assert_eq!(received.hash(), keccak256(envelope.encode()));
    for key in &keys {
        assert!(received.is_recipient(&key.key_id()));
        let opened = received.open(key).unwrap();
        assert_eq!(opened.plaintext, DOCUMENT);
        assert_eq!(opened.sender, sender.address());
        assert_eq!(opened.content_hash, envelope.content_hash());
        // The salt the recipient learns proves the match to anyone.
        assert_eq!(content_hash(&opened.salt, &opened.plaintext), envelope.content_hash());
    }

    let stranger = RecipientKey::generate();
    assert!(!received.is_recipient(&stranger.key_id()));
    assert_eq!(received.open(&stranger), Err(EnvelopeError::NotARecipient));
}

#[test]
fn the_content_hash_is_salted() {
    let keys = recipients(1);
    let sender = secp_sender();
    let first = seal(DOCUMENT, &public_keys(&keys), &sender).unwrap();
    let second = seal(DOCUMENT, &public_keys(&keys), &sender).unwrap();
    // The same document sealed twice gives unrelated hashes, and neither is a
    // hash an outsider can compute from a guess of the document.
    assert_ne!(first.content_hash(), second.content_hash());
    assert_ne!(first.content_hash(), content_hash(&B256::ZERO, DOCUMENT));
    let mut bare = Sha256::new();
    bare.update(DOCUMENT);
    assert_ne!(first.content_hash().as_slice(), &bare.finalize()[..]);
    // Fresh content keys and nonces: the payloads differ too.
    assert_ne!(first.hash(), second.hash());
    // An empty document seals and opens.
    let empty = seal(b"", &public_keys(&keys), &sender).unwrap();
    assert_eq!(empty.open(&keys[0]).unwrap().plaintext, b"");
}

/// Flip bits across the whole encoding: no changed envelope decodes to one
/// whose signature verifies, and none opens.
fn assert_every_flip_is_detected(envelope: &Envelope, key: &RecipientKey, bits: impl Fn(usize) -> Vec<u8>) {
    let encoded = envelope.encode();
    let mut decoded = 0usize;
    for offset in 0..encoded.len() {
        for bit in bits(offset) {
            let mut flipped = encoded.clone();
            flipped[offset] ^= 1 << bit;
            match Envelope::decode(&flipped) {
                Err(_) => {}
                Ok(changed) => {
                    decoded += 1;
                    assert!(changed.verify_sender().is_err(), "flip of bit {bit} at byte {offset} still verifies");
                    assert!(changed.open(key).is_err(), "flip of bit {bit} at byte {offset} still opens");
                }
            }
        }
    }
    // Most flips land in keys, ciphertexts and signatures, decode, and are caught by the signature.
    assert!(decoded > encoded.len() / 2, "only {decoded} flips decoded");
}

#[test]
fn a_flipped_bit_anywhere_is_detected_secp256k1() {
    let keys = recipients(3);
    let envelope = seal_about(DOCUMENT, keccak256("PO-4711"), &public_keys(&keys), &secp_sender()).unwrap();
    envelope.open(&keys[1]).unwrap();
    // Every bit of every byte.
    assert_every_flip_is_detected(&envelope, &keys[1], |_| (0..8).collect());
}

#[test]
fn a_flipped_bit_anywhere_is_detected_ml_dsa() {
    let keys = recipients(3);
    let envelope = seal_about(DOCUMENT, keccak256("PO-4711"), &public_keys(&keys), &mldsa_sender()).unwrap();
    envelope.open(&keys[2]).unwrap();
    // One bit of every byte, its position cycling through the byte.
    assert_every_flip_is_detected(&envelope, &keys[2], |offset| vec![(offset % 8) as u8]);
}

#[test]
fn tampering_under_a_valid_signature_is_detected() {
    let sender = secp_sender();
    let keys = recipients(2);
    let envelope = seal(DOCUMENT, &public_keys(&keys), &sender).unwrap();

    // Each part of recipient 0's entry, changed and re-signed: recipient 0
    // cannot unwrap the content key, and recipient 1, whose entry is intact,
    // cannot decrypt either: the whole header is the payload's associated data.
    for part in 0..3 {
        let mut header = envelope.header.clone();
        let entry = &mut header.recipients[0];
        match part {
            0 => {
                let mut ct = entry.mlkem_ciphertext.to_vec();
                ct[500] ^= 0x10;
                entry.mlkem_ciphertext = ct.into();
            }
            1 => entry.x25519_ephemeral.0[7] ^= 0x01,
            _ => entry.wrapped_key[40] ^= 0x80,
        }
        let tampered = resign(header, envelope.ciphertext.clone(), &sender);
        assert_eq!(tampered.verify_sender(), Ok(sender.address()));
        assert_eq!(tampered.open(&keys[0]), Err(EnvelopeError::DecryptionFailed), "part {part}");
        assert_eq!(tampered.open(&keys[1]), Err(EnvelopeError::DecryptionFailed), "part {part}");
    }

    // The payload, or any header field (the payload's associated data), changed and re-signed.
    let mut payload = envelope.ciphertext.to_vec();
    payload[60] ^= 0x04;
    let tampered = resign(envelope.header.clone(), payload.into(), &sender);
    assert_eq!(tampered.open(&keys[1]), Err(EnvelopeError::DecryptionFailed));
    let mut header = envelope.header.clone();
    header.subject = B256::repeat_byte(9);
    let tampered = resign(header, envelope.ciphertext.clone(), &sender);
    assert_eq!(tampered.open(&keys[1]), Err(EnvelopeError::DecryptionFailed));
    let mut header = envelope.header.clone();
    header.recipients.swap(0, 1);
    let tampered = resign(header, envelope.ciphertext.clone(), &sender);
    assert_eq!(tampered.open(&keys[0]), Err(EnvelopeError::DecryptionFailed));
}

#[test]
fn a_plaintext_that_does_not_match_the_content_hash_is_refused() {
    let sender = secp_sender();
    let keys = recipients(1);
    // A sender that commits to one document and encrypts another.
    let salt = B256::repeat_byte(3);
    let claimed = content_hash(&salt, b"the document everyone agreed on");
    let envelope =
        seal_inner(DOCUMENT, &salt, claimed, B256::ZERO, &public_keys(&keys), &sender, |public: &MlKem768PublicKey| {
            Ok(public.encapsulate().unwrap())
        })
        .unwrap();
    assert_eq!(envelope.verify_sender(), Ok(sender.address()));
    assert_eq!(envelope.open(&keys[0]), Err(EnvelopeError::ContentHashMismatch));
}

#[test]
fn both_sender_schemes_verify_and_a_wrong_sender_is_detected() {
    let keys = recipients(1);
    for sender in [secp_sender(), mldsa_sender()] {
        let envelope = seal(DOCUMENT, &public_keys(&keys), &sender).unwrap();
        assert_eq!(envelope.claimed_sender(), sender.address());
        assert_eq!(envelope.verify_sender(), Ok(sender.address()), "{}", sender.scheme());
        assert_eq!(envelope.scheme().name(), sender.scheme());
        assert_eq!(envelope.open(&keys[0]).unwrap().sender, sender.address());

        // A header that names another sender, signed by this key.
        let other = Address::repeat_byte(0x77);
        let mut header = envelope.header.clone();
        header.sender = other;
        let forged = resign(header, envelope.ciphertext.clone(), &sender);
        assert_eq!(
            forged.verify_sender(),
            Err(EnvelopeError::SenderMismatch { claimed: other, actual: sender.address() }),
            "{}",
            sender.scheme()
        );
        assert!(matches!(forged.open(&keys[0]), Err(EnvelopeError::SenderMismatch { .. })));
    }

    // ML-DSA: a signature by another key, whose public key the envelope carries, while naming this sender.
    let sender = mldsa_sender();
    let impostor = AccountKey::MlDsa65(MlDsaSigner::from_seed(&[0x43; 32]));
    let envelope = seal(DOCUMENT, &public_keys(&keys), &sender).unwrap();
    let mut header = envelope.header.clone();
    let AccountKey::MlDsa65(signer) = &impostor else { unreachable!() };
    header.sender_public_key = Bytes::copy_from_slice(signer.key().public_key().as_bytes());
    let forged = resign(header, envelope.ciphertext.clone(), &impostor);
    assert_eq!(
        forged.verify_sender(),
        Err(EnvelopeError::SenderMismatch { claimed: sender.address(), actual: impostor.address() })
    );

    // A signature that is not the sender's at all.
    for sender in [secp_sender(), mldsa_sender()] {
        let envelope = seal(DOCUMENT, &public_keys(&keys), &sender).unwrap();
        let mut signature = envelope.signature.to_vec();
        signature[10] ^= 0x01;
        let bad = Envelope::from_parts(envelope.header.clone(), envelope.ciphertext.clone(), signature.into()).unwrap();
        assert!(matches!(
            bad.verify_sender(),
            Err(EnvelopeError::BadSenderSignature | EnvelopeError::SenderMismatch { .. })
        ));
    }

    // secp256k1: `v` other than 27 or 28 is refused, even one that names the same parity.
    let envelope = seal(DOCUMENT, &public_keys(&keys), &secp_sender()).unwrap();
    let mut signature = envelope.signature.to_vec();
    signature[64] = if signature[64] == 27 { 0 } else { 1 };
    let bad = Envelope::from_parts(envelope.header.clone(), envelope.ciphertext.clone(), signature.into()).unwrap();
    assert_eq!(bad.verify_sender(), Err(EnvelopeError::BadSenderSignature));
}

#[test]
fn decoding_refuses_what_is_not_one_canonical_envelope() {
    let keys = recipients(2);
    let sender = secp_sender();
    let envelope = seal(DOCUMENT, &public_keys(&keys), &sender).unwrap();
    let encoded = envelope.encode();

    assert_eq!(Envelope::decode(b""), Err(EnvelopeError::BadMagic));
    assert_eq!(Envelope::decode(b"DSECENX\x01"), Err(EnvelopeError::BadMagic));
    assert!(matches!(Envelope::decode(MAGIC), Err(EnvelopeError::Malformed(_))));
    let mut v2 = encoded.clone();
    v2[MAGIC.len()] = 2;
    assert_eq!(Envelope::decode(&v2), Err(EnvelopeError::UnsupportedVersion(2)));
    let mut trailing = encoded.clone();
    trailing.push(0);
    assert!(matches!(Envelope::decode(&trailing), Err(EnvelopeError::Malformed(m)) if m.contains("trailing")));
    assert!(matches!(Envelope::decode(&encoded[..encoded.len() - 1]), Err(EnvelopeError::Malformed(_))));
    assert_eq!(Envelope::decode(&vec![0; MAX_ENCODED_LEN + 1]), Err(EnvelopeError::TooLarge(MAX_ENCODED_LEN + 1)));

    // Re-encoded with one part wrong.
    let rebuild = |header: &EnvelopeHeader, ciphertext: &[u8], signature: &[u8]| {
        let ciphertext = Bytes::copy_from_slice(ciphertext);
        let signature = Bytes::copy_from_slice(signature);
        let payload_length = header.length() + ciphertext.length() + signature.length();
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        alloy_rlp::Header { list: true, payload_length }.encode(&mut out);
        header.encode(&mut out);
        ciphertext.encode(&mut out);
        signature.encode(&mut out);
        out
    };
    let (h, c, s) = (&envelope.header, &envelope.ciphertext[..], &envelope.signature[..]);
    assert_eq!(Envelope::decode(&rebuild(h, c, s)).unwrap(), envelope);

    let mut duplicate = h.clone();
    duplicate.recipients.push(duplicate.recipients[0].clone());
    assert_eq!(
        Envelope::decode(&rebuild(&duplicate, c, s)),
        Err(EnvelopeError::DuplicateRecipient(h.recipients[0].key_id))
    );
    let mut none = h.clone();
    none.recipients.clear();
    assert_eq!(Envelope::decode(&rebuild(&none, c, s)), Err(EnvelopeError::RecipientCount(0)));
    let mut many = h.clone();
    for i in 0..=MAX_RECIPIENTS {
        let mut entry = h.recipients[0].clone();
        entry.key_id = B256::from(U256::from(i));
        many.recipients.push(entry);
    }
    assert!(matches!(Envelope::decode(&rebuild(&many, c, s)), Err(EnvelopeError::RecipientCount(n)) if n > 64));
    let mut short_ct = h.clone();
    short_ct.recipients[1].mlkem_ciphertext = Bytes::copy_from_slice(&h.recipients[1].mlkem_ciphertext[1..]);
    assert!(matches!(Envelope::decode(&rebuild(&short_ct, c, s)), Err(EnvelopeError::Malformed(_))));
    let mut unknown = h.clone();
    unknown.scheme = 7;
    assert_eq!(Envelope::decode(&rebuild(&unknown, c, s)), Err(EnvelopeError::UnknownScheme(7)));
    let mut no_key = h.clone();
    no_key.scheme = SenderScheme::MlDsa65.id();
    assert!(matches!(Envelope::decode(&rebuild(&no_key, c, s)), Err(EnvelopeError::Malformed(_))));
    assert!(matches!(Envelope::decode(&rebuild(h, c, &s[1..])), Err(EnvelopeError::Malformed(_))));
    assert!(matches!(Envelope::decode(&rebuild(h, &c[..47], s)), Err(EnvelopeError::Malformed(_))));

    // A field in a non-canonical RLP form: the scheme (a one-byte integer) written as a one-byte string.
    let header_rlp = alloy_rlp::encode(h);
    let list = alloy_rlp::Header::decode(&mut &header_rlp[..]).unwrap();
    let fields = header_rlp.len() - list.payload_length;
    // The fields start with the sender (0x94 ‖ 20 bytes), then the scheme byte 0x01.
    assert_eq!((header_rlp[fields], header_rlp[fields + 21]), (0x94, 0x01));
    let mut stretched = Vec::new();
    alloy_rlp::Header { list: true, payload_length: list.payload_length + 1 }.encode(&mut stretched);
    stretched.extend_from_slice(&header_rlp[fields..fields + 21]);
    stretched.extend_from_slice(&[0x81, 0x01]);
    stretched.extend_from_slice(&header_rlp[fields + 22..]);
    let ciphertext = Bytes::copy_from_slice(c);
    let signature = Bytes::copy_from_slice(s);
    let mut bytes = MAGIC.to_vec();
    bytes.push(VERSION);
    let payload_length = stretched.len() + ciphertext.length() + signature.length();
    alloy_rlp::Header { list: true, payload_length }.encode(&mut bytes);
    bytes.extend_from_slice(&stretched);
    ciphertext.encode(&mut bytes);
    signature.encode(&mut bytes);
    assert!(matches!(Envelope::decode(&bytes), Err(EnvelopeError::Malformed(_))));
}

#[test]
fn sealing_refuses_bad_recipient_lists_and_sizes() {
    let keys = recipients(2);
    let sender = secp_sender();
    assert_eq!(seal(DOCUMENT, &[], &sender), Err(EnvelopeError::RecipientCount(0)));
    let twice = [keys[0].public_key().clone(), keys[1].public_key().clone(), keys[0].public_key().clone()];
    assert_eq!(seal(DOCUMENT, &twice, &sender), Err(EnvelopeError::DuplicateRecipient(keys[0].key_id())));
    let many: Vec<RecipientPublicKey> = (0..=MAX_RECIPIENTS)
        .map(|i| RecipientKey::from_bytes(&[u8::try_from(i).unwrap(); RECIPIENT_KEY_LEN]).unwrap().public_key().clone())
        .collect();
    assert_eq!(seal(DOCUMENT, &many, &sender), Err(EnvelopeError::RecipientCount(MAX_RECIPIENTS + 1)));
    assert_eq!(seal(DOCUMENT, &many[..MAX_RECIPIENTS], &sender).unwrap().recipients().len(), MAX_RECIPIENTS);
    let huge = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    assert_eq!(seal(&huge, &public_keys(&keys), &sender), Err(EnvelopeError::PlaintextTooLarge(MAX_PLAINTEXT_LEN + 1)));
}

#[test]
fn recipient_keys_roundtrip_and_bad_keys_are_refused() {
    let key = RecipientKey::from_bytes(&[7; RECIPIENT_KEY_LEN]).unwrap();
    assert_eq!(*key.to_bytes(), [7; RECIPIENT_KEY_LEN]);
    assert_eq!(RecipientKey::from_bytes(&key.to_bytes()[..]).unwrap().key_id(), key.key_id());
    assert_eq!(RecipientKey::from_bytes(&[7; 95]).unwrap_err(), EnvelopeError::KeyLength(95));
    let fresh = RecipientKey::generate();
    assert_ne!(fresh.key_id(), key.key_id());

    let public = key.public_key();
    let bytes = public.to_bytes();
    assert_eq!(bytes.len(), RECIPIENT_PUBLIC_KEY_LEN);
    assert_eq!(&RecipientPublicKey::from_bytes(&bytes).unwrap(), public);
    assert_eq!(public.mlkem().as_bytes(), MlKem768Key::from_seed(&[7; 64]).public_key().as_bytes());
    assert_eq!(*public.x25519(), X25519PublicKey::from(&StaticSecret::from([7; 32])).to_bytes());
    // The key id formula.
    let mut hasher = Sha256::new();
    hasher.update(b"dsec/envelope/v1/keyid");
    hasher.update(public.mlkem().as_bytes());
    hasher.update(public.x25519());
    assert_eq!(public.key_id(), B256::from_slice(&hasher.finalize()));

    // X25519 keys of small order contribute nothing and are refused.
    let mlkem = public.mlkem().as_bytes();
    let mut one = [0u8; 32];
    one[0] = 1;
    for small in [[0u8; 32], one] {
        assert!(matches!(
            RecipientPublicKey::from_parts(mlkem, &small),
            Err(EnvelopeError::InvalidRecipientKey(m)) if m.contains("small order")
        ));
    }
    // ML-KEM keys whose coefficients are not reduced are refused.
    assert!(matches!(
        RecipientPublicKey::from_parts(&[0xff; MLKEM768_PUBLIC_KEY_LEN], public.x25519()),
        Err(EnvelopeError::InvalidRecipientKey(_))
    ));
    assert!(RecipientPublicKey::from_bytes(&bytes[1..]).is_err());
}

/// An envelope whose ML-KEM encapsulation RustCrypto's `ml-kem` made opens
/// with the libcrux-backed key, and one sealed with libcrux opens with an
/// `ml-kem` decapsulation.
#[test]
fn envelopes_interoperate_across_ml_kem_implementations() {
    use ml_kem::{Decapsulate, KeyExport};
    for n in 0..4u8 {
        let bytes = [n.wrapping_mul(29).wrapping_add(1); RECIPIENT_KEY_LEN];
        let ours = RecipientKey::from_bytes(&bytes).unwrap();
        let seed: [u8; 64] = bytes[..64].try_into().unwrap();
        let theirs = ml_kem::DecapsulationKey::<ml_kem::MlKem768>::from_seed(ml_kem::Seed::from(seed));
        assert_eq!(ours.public_key().mlkem().as_bytes(), theirs.encapsulation_key().to_bytes().as_slice());
        let sender = if n % 2 == 0 { secp_sender() } else { mldsa_sender() };

        // RustCrypto encapsulates; libcrux decapsulates.
        let sealed = seal_with(DOCUMENT, B256::ZERO, &[ours.public_key().clone()], &sender, |public| {
            assert_eq!(public.as_bytes(), theirs.encapsulation_key().to_bytes().as_slice());
            let mut m = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut m);
            let (ct, secret) = theirs.encapsulation_key().encapsulate_deterministic(&ml_kem::B32::from(m));
            let mut shared = Zeroizing::new([0u8; MLKEM_SHARED_SECRET_LEN]);
            shared.copy_from_slice(secret.as_slice());
            Ok((ct.as_slice().to_vec(), shared))
        })
        .unwrap();
        let received = Envelope::decode(&sealed.encode()).unwrap();
        assert_eq!(received.open(&ours).unwrap().plaintext, DOCUMENT, "sealed with ml-kem {n}");

        // libcrux encapsulates; RustCrypto decapsulates.
        let sealed = seal(DOCUMENT, &[ours.public_key().clone()], &sender).unwrap();
        let opened = sealed
            .open_with(&ours, |ct: &[u8]| {
                let ct = ct.try_into().unwrap();
                let secret = theirs.decapsulate(&ct);
                let mut shared = Zeroizing::new([0u8; MLKEM_SHARED_SECRET_LEN]);
                shared.copy_from_slice(secret.as_slice());
                Ok(shared)
            })
            .unwrap();
        assert_eq!(opened.plaintext, DOCUMENT, "opened with ml-kem {n}");
        // Both paths agree with the libcrux-only one.
        assert_eq!(sealed.open(&ours).unwrap(), opened);
    }
}

/// Sizes of an envelope, for the README: run with `--nocapture`.
#[test]
fn envelope_sizes() {
    let keys = recipients(3);
    for sender in [secp_sender(), mldsa_sender()] {
        let one = seal(DOCUMENT, &public_keys(&keys[..1]), &sender).unwrap().encode().len();
        let three = seal(DOCUMENT, &public_keys(&keys), &sender).unwrap().encode().len();
        let per_recipient = (three - one) / 2;
        println!(
            "{}: {}-byte document to 1 recipient: {one} bytes; to 3: {three} bytes ({per_recipient} per recipient)",
            sender.scheme(),
            DOCUMENT.len()
        );
        // keyId 33 + ciphertext 1,091 + ephemeral 33 + wrapped key 49, in a 3-byte list header.
        assert_eq!(per_recipient, 1_209);
    }
}
