use super::*;
use crate::testing::MemoryHost;
use alloy::sol_types::{SolCall, SolError};
use rand::{Rng, SeedableRng};

const ADMIN: Address = Address::repeat_byte(0xad);
const OFFICER: Address = Address::repeat_byte(0xc0);
const FX: Address = Address::repeat_byte(0xf0);
const EUR_ISSUER: Address = Address::repeat_byte(0xe0);
const USD_ISSUER: Address = Address::repeat_byte(0xd0);
const ALICE: Address = Address::repeat_byte(0x0a);
const BOB: Address = Address::repeat_byte(0x0b);
const CAROL: Address = Address::repeat_byte(0x0c);

fn code(s: &str) -> Code {
    Code::from_slice(s.as_bytes())
}

fn reason(f: Failure) -> String {
    match f {
        Failure::Revert(data) => alloy::sol_types::Revert::abi_decode(&data).map(|r| r.reason).unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

struct Bank {
    m: Arc<dyn Chaincode>,
    host: MemoryHost,
}

impl Bank {
    fn call<C: SolCall>(&mut self, who: Address, c: C) -> Result<C::Return, String> {
        let out = self.host.call(self.m.as_ref(), who, &c.abi_encode()).map_err(reason)?;
        Ok(C::abi_decode_returns(&out).expect("decodable return"))
    }

    fn ok<C: SolCall>(&mut self, who: Address, c: C) -> C::Return {
        self.call(who, c).unwrap_or_else(|e| panic!("call refused: {e}"))
    }

    fn balance(&mut self, who: Address, ccy: &str) -> U256 {
        self.ok(who, ISettlement::balanceOfCall { party: who, code: code(ccy) })
    }

    /// A bank with EUR (hold above 1,000,000) and USD, parties approved, roles set.
    fn new() -> Self {
        let m = Settlement::from_config(&ModuleConfig { admins: vec![ADMIN], ..Default::default() }).unwrap();
        let mut b = Self { m, host: MemoryHost::new() };
        b.ok(ADMIN, ISettlement::setRoleCall { party: OFFICER, role: ROLE_COMPLIANCE });
        b.ok(ADMIN, ISettlement::setRoleCall { party: FX, role: ROLE_FX_PROVIDER });
        for p in [ALICE, BOB, CAROL, FX, EUR_ISSUER, USD_ISSUER] {
            b.ok(OFFICER, ISettlement::setKycCall { party: p, status: KYC_APPROVED });
        }
        b.ok(
            ADMIN,
            ISettlement::createCurrencyCall {
                code: code("EUR"),
                decimals: 2,
                issuer: EUR_ISSUER,
                holdThreshold: U256::from(1_000_000),
            },
        );
        b.ok(
            ADMIN,
            ISettlement::createCurrencyCall {
                code: code("USD"),
                decimals: 2,
                issuer: USD_ISSUER,
                holdThreshold: U256::ZERO,
            },
        );
        for (ccy, issuer) in [("EUR", EUR_ISSUER), ("USD", USD_ISSUER)] {
            for p in [ALICE, BOB, CAROL, FX] {
                b.ok(issuer, ISettlement::mintCall { code: code(ccy), to: p, amount: U256::from(5_000_000) });
            }
        }
        b
    }

    /// Check `Σ balances + locked = supply` for both currencies.
    fn check_invariants(&mut self) {
        for ccy in ["EUR", "USD"] {
            let mut sum = U256::ZERO;
            for p in [ALICE, BOB, CAROL, FX, EUR_ISSUER, USD_ISSUER, OFFICER] {
                sum += self.balance(p, ccy);
            }
            let locked = self.ok(ALICE, ISettlement::lockedCall { code: code(ccy) });
            let supply = self.ok(ALICE, ISettlement::totalSupplyCall { code: code(ccy) });
            assert_eq!(sum + locked, supply, "{ccy}: balances {sum} + locked {locked} != supply {supply}");
        }
    }
}

fn pay(to: Address, ccy: &str, amount: u64) -> ISettlement::transferCall {
    ISettlement::transferCall { code: code(ccy), to, amount: U256::from(amount), memo: B256::repeat_byte(1) }
}

#[test]
fn transfers_between_approved_parties() {
    let mut b = Bank::new();
    assert_eq!(b.ok(ALICE, pay(BOB, "USD", 1_500)), 0, "paid at once");
    assert_eq!(b.balance(ALICE, "USD"), U256::from(4_998_500));
    assert_eq!(b.balance(BOB, "USD"), U256::from(5_001_500));
    assert_eq!(b.call(ALICE, pay(BOB, "USD", 10_000_000)).err().unwrap(), "settlement: insufficient balance");
    assert_eq!(b.call(ALICE, pay(BOB, "GBP", 1)).err().unwrap(), "settlement: unknown currency");
    assert_eq!(b.call(ALICE, pay(BOB, "USD", 0)).err().unwrap(), "settlement: amount must be positive");
    let stranger = Address::repeat_byte(0x99);
    assert_eq!(b.call(ALICE, pay(stranger, "USD", 1)).err().unwrap(), "settlement: recipient is not KYC-approved");
    b.check_invariants();
}

#[test]
fn frozen_parties_can_neither_send_nor_receive() {
    let mut b = Bank::new();
    b.ok(OFFICER, ISettlement::setKycCall { party: BOB, status: KYC_FROZEN });
    assert_eq!(b.call(ALICE, pay(BOB, "USD", 1)).err().unwrap(), "settlement: recipient is frozen");
    assert_eq!(b.call(BOB, pay(ALICE, "USD", 1)).err().unwrap(), "settlement: sender is frozen");
    assert_eq!(
        b.call(ALICE, ISettlement::setKycCall { party: BOB, status: KYC_APPROVED }).err().unwrap(),
        "settlement: caller is not a compliance officer"
    );
}

#[test]
fn issuers_mint_and_burn_and_nobody_else() {
    let mut b = Bank::new();
    let supply = b.ok(ALICE, ISettlement::totalSupplyCall { code: code("EUR") });
    assert_eq!(
        b.call(ALICE, ISettlement::mintCall { code: code("EUR"), to: ALICE, amount: U256::from(1) }).err().unwrap(),
        "settlement: caller is not the currency's issuer"
    );
    b.ok(EUR_ISSUER, ISettlement::mintCall { code: code("EUR"), to: EUR_ISSUER, amount: U256::from(700) });
    b.ok(EUR_ISSUER, ISettlement::burnCall { code: code("EUR"), amount: U256::from(200) });
    assert_eq!(b.ok(ALICE, ISettlement::totalSupplyCall { code: code("EUR") }), supply + U256::from(500));
    assert_eq!(
        b.call(EUR_ISSUER, ISettlement::burnCall { code: code("EUR"), amount: U256::from(10_000) }).err().unwrap(),
        "settlement: insufficient balance"
    );
    assert_eq!(
        b.call(
            ADMIN,
            ISettlement::createCurrencyCall {
                code: code("eur"),
                decimals: 2,
                issuer: ADMIN,
                holdThreshold: U256::ZERO
            }
        )
        .err()
        .unwrap(),
        "settlement: currency code must be three upper-case letters (ISO 4217)"
    );
    assert_eq!(
        b.call(
            ADMIN,
            ISettlement::createCurrencyCall {
                code: code("EUR"),
                decimals: 2,
                issuer: ADMIN,
                holdThreshold: U256::ZERO
            }
        )
        .err()
        .unwrap(),
        "settlement: currency exists"
    );
    b.check_invariants();
}

#[test]
fn large_transfers_wait_for_compliance() {
    let mut b = Bank::new();
    let id = b.ok(ALICE, pay(BOB, "EUR", 2_000_000));
    assert_eq!(id, 1);
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(3_000_000), "debited into the hold");
    assert_eq!(b.balance(BOB, "EUR"), U256::from(5_000_000), "not yet credited");
    b.check_invariants();
    assert_eq!(
        b.call(BOB, ISettlement::approveHoldCall { id }).err().unwrap(),
        "settlement: caller is not a compliance officer"
    );
    b.ok(OFFICER, ISettlement::approveHoldCall { id });
    assert_eq!(b.balance(BOB, "EUR"), U256::from(7_000_000));
    assert_eq!(
        b.call(OFFICER, ISettlement::rejectHoldCall { id }).err().unwrap(),
        "settlement: no pending hold with this id"
    );
    let id = b.ok(ALICE, pay(BOB, "EUR", 1_500_000));
    b.ok(OFFICER, ISettlement::rejectHoldCall { id });
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(3_000_000), "refunded");
    b.check_invariants();
}

#[test]
fn fx_payments_use_live_quotes_with_a_fee() {
    let mut b = Bank::new();
    let expires = b.host.timestamp + 60;
    // 1 EUR cent buys 1.08 USD cents, fee 0.5%.
    let q = ISettlement::postQuoteCall {
        base: code("EUR"),
        quote: code("USD"),
        rateNum: 108,
        rateDen: 100,
        feeBps: 50,
        expiresAt: expires,
    };
    assert_eq!(b.call(ALICE, q.clone()).err().unwrap(), "settlement: caller is not an FX provider");
    let id = b.ok(FX, q);
    let paid = b
        .ok(ALICE, ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: U256::from(10_000), memo: B256::ZERO });
    // 10,000 EUR cents -> 10,800 USD cents gross, fee 54, net 10,746.
    assert_eq!(paid, U256::from(10_746));
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(4_990_000));
    assert_eq!(b.balance(FX, "EUR"), U256::from(5_010_000));
    assert_eq!(b.balance(CAROL, "USD"), U256::from(5_010_746));
    assert_eq!(b.balance(FX, "USD"), U256::from(5_000_000 - 10_746));
    b.check_invariants();
    b.host.timestamp = expires;
    assert_eq!(
        b.call(ALICE, ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: U256::from(1), memo: B256::ZERO })
            .err()
            .unwrap(),
        "settlement: quote expired"
    );
    assert_eq!(
        b.call(ALICE, ISettlement::payFxCall { quoteId: 9, to: CAROL, baseAmount: U256::from(1), memo: B256::ZERO })
            .err()
            .unwrap(),
        "settlement: unknown quote"
    );
}

#[test]
fn pvp_settles_both_legs_or_none() {
    let mut b = Bank::new();
    let expires = b.host.timestamp + 600;
    let propose = ISettlement::proposePvpCall {
        counterparty: BOB,
        giveCode: code("EUR"),
        giveAmount: U256::from(900),
        getCode: code("USD"),
        getAmount: U256::from(1_000),
        expiresAt: expires,
    };
    let id = b.ok(ALICE, propose.clone());
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(4_999_100), "give leg locked");
    b.check_invariants();
    assert_eq!(
        b.call(CAROL, ISettlement::acceptPvpCall { id }).err().unwrap(),
        "settlement: caller is not the PvP's counterparty"
    );
    b.ok(BOB, ISettlement::acceptPvpCall { id });
    assert_eq!(b.balance(BOB, "EUR"), U256::from(5_000_900));
    assert_eq!(b.balance(ALICE, "USD"), U256::from(5_001_000));
    assert_eq!(b.balance(BOB, "USD"), U256::from(4_999_000));
    assert_eq!(b.call(BOB, ISettlement::acceptPvpCall { id }).err().unwrap(), "settlement: PvP is not open");
    b.check_invariants();

    // The counterparty cannot pay its leg: nothing moves, the give leg stays locked.
    let big = ISettlement::proposePvpCall { getAmount: U256::from(50_000_000), ..propose.clone() };
    let id = b.ok(ALICE, big);
    assert_eq!(b.call(BOB, ISettlement::acceptPvpCall { id }).err().unwrap(), "settlement: insufficient balance");
    b.ok(ALICE, ISettlement::cancelPvpCall { id });
    assert_eq!(b.balance(ALICE, "EUR"), U256::from(4_999_100), "unlocked on cancel");
    b.check_invariants();
    let id = b.ok(ALICE, propose);
    b.host.timestamp = expires;
    assert_eq!(b.call(BOB, ISettlement::acceptPvpCall { id }).err().unwrap(), "settlement: PvP expired");
}

/// Property: whatever sequence of operations runs (most of them refused), for
/// every currency the balances plus locked funds equal the supply, and the
/// supply moves only by mint and burn.
#[test]
fn invariants_hold_over_random_operation_sequences() {
    let parties = [ALICE, BOB, CAROL, FX, EUR_ISSUER, USD_ISSUER];
    let ccys = ["EUR", "USD"];
    for seed in 0..20u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut b = Bank::new();
        let mut holds = Vec::new();
        let mut pvps = Vec::new();
        let mut expected_supply = [
            b.ok(ALICE, ISettlement::totalSupplyCall { code: code("EUR") }),
            b.ok(ALICE, ISettlement::totalSupplyCall { code: code("USD") }),
        ];
        let quote = b.ok(
            FX,
            ISettlement::postQuoteCall {
                base: code("EUR"),
                quote: code("USD"),
                rateNum: 11,
                rateDen: 10,
                feeBps: 30,
                expiresAt: b.host.timestamp + 1_000_000,
            },
        );
        for _ in 0..150 {
            let who = parties[rng.gen_range(0..parties.len())];
            let other = parties[rng.gen_range(0..parties.len())];
            let ci = rng.gen_range(0..2);
            let ccy = ccys[ci];
            let amount = U256::from(rng.gen_range(0..3_000_000u64));
            match rng.gen_range(0..9) {
                0 | 1 => {
                    if let Ok(id) =
                        b.call(who, ISettlement::transferCall { code: code(ccy), to: other, amount, memo: B256::ZERO })
                        && id != 0
                    {
                        holds.push(id);
                    }
                }
                2 => {
                    let issuer = if ci == 0 { EUR_ISSUER } else { USD_ISSUER };
                    if b.call(who, ISettlement::mintCall { code: code(ccy), to: other, amount }).is_ok() {
                        assert_eq!(who, issuer, "only the issuer mints");
                        expected_supply[ci] += amount;
                    }
                }
                3 => {
                    if b.call(who, ISettlement::burnCall { code: code(ccy), amount }).is_ok() {
                        expected_supply[ci] -= amount;
                    }
                }
                4 if !holds.is_empty() => {
                    let id = holds[rng.gen_range(0..holds.len())];
                    let _ = if rng.gen_bool(0.5) {
                        b.call(OFFICER, ISettlement::approveHoldCall { id }).map(|_| ())
                    } else {
                        b.call(OFFICER, ISettlement::rejectHoldCall { id }).map(|_| ())
                    };
                }
                5 => {
                    let _ = b.call(
                        who,
                        ISettlement::payFxCall { quoteId: quote, to: other, baseAmount: amount, memo: B256::ZERO },
                    );
                }
                6 => {
                    let propose = ISettlement::proposePvpCall {
                        counterparty: other,
                        giveCode: code(ccy),
                        giveAmount: amount,
                        getCode: code(ccys[1 - ci]),
                        getAmount: U256::from(rng.gen_range(1..3_000_000u64)),
                        expiresAt: b.host.timestamp + 100,
                    };
                    if let Ok(id) = b.call(who, propose) {
                        pvps.push((id, who, other));
                    }
                }
                7 if !pvps.is_empty() => {
                    let (id, proposer, counterparty) = pvps[rng.gen_range(0..pvps.len())];
                    let _ = if rng.gen_bool(0.5) {
                        b.call(counterparty, ISettlement::acceptPvpCall { id }).map(|_| ())
                    } else {
                        b.call(proposer, ISettlement::cancelPvpCall { id }).map(|_| ())
                    };
                }
                _ => {
                    let status = if rng.gen_bool(0.8) { KYC_APPROVED } else { KYC_FROZEN };
                    b.ok(OFFICER, ISettlement::setKycCall { party: other, status });
                }
            }
            b.check_invariants();
            for (i, ccy) in ccys.iter().enumerate() {
                assert_eq!(
                    b.ok(ALICE, ISettlement::totalSupplyCall { code: code(ccy) }),
                    expected_supply[i],
                    "seed {seed}"
                );
            }
        }
    }
}

/// A quote from FX: one `base` unit buys `num / den` `quote` units, at `fee_bps`.
fn quote(b: &mut Bank, num: u128, den: u128, fee_bps: u16) -> u64 {
    let expires = b.host.timestamp + 60;
    let q = ISettlement::postQuoteCall {
        base: code("EUR"),
        quote: code("USD"),
        rateNum: num,
        rateDen: den,
        feeBps: fee_bps,
        expiresAt: expires,
    };
    b.ok(FX, q)
}

#[test]
fn fx_fees_on_huge_amounts_are_exact_not_wrapped() {
    let mut b = Bank::new();
    let half = U256::from(1) << 255usize;
    let quarter = half >> 1usize;
    b.ok(EUR_ISSUER, ISettlement::mintCall { code: code("EUR"), to: ALICE, amount: half + quarter });
    b.ok(USD_ISSUER, ISettlement::mintCall { code: code("USD"), to: FX, amount: half });
    // 1:1 at a 50% fee: 2^255 EUR buys 2^255 USD gross, fee 2^254, net 2^254.
    // (2^255 × 5,000 wraps to 0 in 256 bits: a wrapped fee would be 0 and the net 2^255.)
    let id = quote(&mut b, 1, 1, 5_000);
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: half, memo: B256::ZERO };
    assert_eq!(b.ok(ALICE, pay), half >> 1usize);
    let (topics, data) = b.host.logs.last().unwrap();
    let paid = ISettlement::FxPaid::decode_raw_log(topics.iter().copied(), data).unwrap();
    assert_eq!((paid.quoteAmount, paid.fee), (half >> 1usize, half >> 1usize));
    b.check_invariants();

    // The rate is applied with a 512-bit product: 2^254 × 2 / 4 does not overflow on the way.
    let id = quote(&mut b, 2, 4, 0);
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: quarter, memo: B256::ZERO };
    assert_eq!(b.ok(ALICE, pay), quarter >> 1usize);
    b.check_invariants();
    // A result beyond 256 bits is refused.
    let id = quote(&mut b, 4, 1, 0);
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: quarter, memo: B256::ZERO };
    assert_eq!(b.call(ALICE, pay).err().unwrap(), "settlement: amount overflows");
    // A full fee leaves nothing to pay.
    let id = quote(&mut b, 1, 1, 10_000);
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: U256::from(100), memo: B256::ZERO };
    assert_eq!(b.call(ALICE, pay).err().unwrap(), "settlement: amount too small at this rate");
}

#[test]
fn fees_are_bounded_when_quoted_and_when_paid() {
    let mut b = Bank::new();
    let expires = b.host.timestamp + 60;
    let q = ISettlement::postQuoteCall {
        base: code("EUR"),
        quote: code("USD"),
        rateNum: 1,
        rateDen: 1,
        feeBps: 10_001,
        expiresAt: expires,
    };
    assert_eq!(b.call(FX, q).err().unwrap(), "settlement: fee above 100%");
    // A stored fee above 100% (not writable through the module) is refused rather than underflowing.
    let id = quote(&mut b, 1, 1, 50);
    b.host.storage.insert(slot("quote.fee", &[&id.to_be_bytes()]), U256::from(20_000));
    let pay = ISettlement::payFxCall { quoteId: id, to: CAROL, baseAmount: U256::from(100), memo: B256::ZERO };
    assert_eq!(b.call(ALICE, pay).err().unwrap(), "settlement: fee above 100%");
}

#[test]
fn id_counters_do_not_overflow() {
    let mut b = Bank::new();
    b.host.storage.insert(slot("quote.next", &[]), U256::from(u64::MAX));
    let expires = b.host.timestamp + 60;
    let q = ISettlement::postQuoteCall {
        base: code("EUR"),
        quote: code("USD"),
        rateNum: 1,
        rateDen: 1,
        feeBps: 0,
        expiresAt: expires,
    };
    assert_eq!(b.call(FX, q).err().unwrap(), "settlement: no more ids");
    b.host.storage.insert(slot("hold.next", &[]), U256::from(u64::MAX));
    assert_eq!(b.call(ALICE, pay(BOB, "EUR", 2_000_000)).err().unwrap(), "settlement: no more ids");
}

#[test]
fn stored_statuses_are_read_without_truncation() {
    let mut b = Bank::new();
    // 257 truncated to a u8 is 1, KYC_APPROVED: a status out of range must not read as approved.
    let dave = Address::repeat_byte(0x0d);
    b.host.storage.insert(slot("kyc", &[dave.as_slice()]), U256::from(257));
    assert_eq!(b.call(ALICE, pay(dave, "USD", 1)).err().unwrap(), "settlement: recipient is not KYC-approved");
    assert_eq!(b.ok(ALICE, ISettlement::kycOfCall { party: dave }), u8::MAX);
    b.host.storage.insert(slot("role", &[dave.as_slice()]), U256::from(256 + u64::from(ROLE_COMPLIANCE)));
    let approve = ISettlement::setKycCall { party: dave, status: KYC_APPROVED };
    assert_eq!(b.call(dave, approve).err().unwrap(), "settlement: caller is not a compliance officer");
}
