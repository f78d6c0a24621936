//! Property test (issue 15, "keep the campaign"): the real payloads of
//! `tests/fixtures/payloads`, mutated (values replaced, keys dropped or renamed, bodies wrapped
//! in a ClaudeMeter object or array, bytes flipped or cut), through [`snapshot::parse`] and
//! [`decide::decide`] under random policies and model families. Asserts: no panic, and never a
//! go (plain, billed, or an unknown let through by `--on-unknown allow`) while an applicable
//! bucket that has not reset is at 100 % or more and extra usage is unavailable.
//!
//! Bounded: `FUZZ_CASES` cases (default 3000; env `CLAUDE_GUARD_FUZZ_CASES` overrides), each a
//! parse and a decision, pure code: 5–8 s in a debug build on a loaded 2-core machine.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::core::decide::{self, Verdict};
use crate::core::model::Family;
use crate::core::policy::{OnUnknown, OverageMode, Policy};
use crate::core::snapshot::{self, Origin, ParseContext, UtilizationScale};

/// Default number of cases.
const FUZZ_CASES: u32 = 3000;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

/// Every real payload that is a JSON document, by file name.
fn payloads() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/payloads");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let v = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            Some((p.file_name()?.to_string_lossy().into_owned(), v))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 10, "the real payloads are missing: {out:?}");
    out
}

/// A value a mutation writes somewhere: the interesting edges of every field type.
fn edge_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(100.0),
            Just(99.999),
            Just(100.0001),
            Just(0.0),
            Just(-1.0),
            Just(1.0),
            Just(1e308),
            Just(-1e308),
            Just(5e-324),
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
        ]
        .prop_map(|f| json!(f)),
        prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(0), Just(100)].prop_map(|i| json!(i)),
        prop_oneof![
            Just("2026-11-20T09:00:00Z".to_owned()),
            Just("2026-11-20T08:59:59.999999+00:00".to_owned()),
            Just("2026-11-20T11:00:00+14:00".to_owned()),
            Just("+262143-12-31T23:59:59Z".to_owned()),
            Just("9999-12-31T23:59:59Z".to_owned()),
            Just("0000-01-01T00:00:00Z".to_owned()),
            Just("not a date".to_owned()),
            Just(String::new()),
            Just("100".to_owned()),
            Just("::error::x\n\u{1b}[2J".to_owned()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
        Just(json!({})),
        Just(json!([])),
        Just(json!({"utilization": 100.0, "resets_at": null})),
        Just(json!({"utilization": 100.0, "resets_at": "2026-11-20T10:00:00Z"})),
        Just(json!({"is_enabled": true, "monthly_limit": 0, "used_credits": 0})),
    ]
}

/// One structural mutation: a path (indices into the keys/items met on the way down) and what
/// to do at its end.
#[derive(Debug, Clone)]
enum Mutation {
    Set(Vec<usize>, Value),
    Remove(Vec<usize>),
    Rename(Vec<usize>, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let path = prop::collection::vec(0usize..16, 1..4);
    let key = prop_oneof![
        Just("five_hour".to_owned()),
        Just("seven_day".to_owned()),
        Just("seven_day_opus".to_owned()),
        Just("seven_day_sonnet".to_owned()),
        Just("seven_day_oauth_apps".to_owned()),
        Just("utilization".to_owned()),
        Just("resets_at".to_owned()),
        Just("extra_usage".to_owned()),
        Just("limits".to_owned()),
        Just("usage".to_owned()),
        "[a-z_]{1,12}",
    ];
    prop_oneof![
        3 => (path.clone(), edge_value()).prop_map(|(p, v)| Mutation::Set(p, v)),
        1 => path.clone().prop_map(Mutation::Remove),
        1 => (path, key).prop_map(|(p, k)| Mutation::Rename(p, k)),
    ]
}

/// Applies `m` to `v`: walks the path (each index modulo the object's keys or array's items),
/// stopping early at a scalar.
fn apply(v: &mut Value, m: &Mutation) {
    let (path, last) = match m {
        Mutation::Set(p, _) | Mutation::Remove(p) | Mutation::Rename(p, _) => {
            (&p[..p.len() - 1], p[p.len() - 1])
        }
    };
    // Find the container first (shared borrows), then walk to it mutably.
    let mut steps: Vec<Result<String, usize>> = Vec::new();
    let mut at: &Value = v;
    for &i in path {
        let (next, step) = match at {
            Value::Object(map) if !map.is_empty() => {
                let k = map.keys().nth(i % map.len()).cloned().unwrap_or_default();
                (map.get(&k), Ok(k))
            }
            Value::Array(items) if !items.is_empty() => {
                (items.get(i % items.len()), Err(i % items.len()))
            }
            _ => break,
        };
        match next {
            Some(n) if n.is_object() || n.is_array() => {
                steps.push(step);
                at = n;
            }
            _ => break,
        }
    }
    let mut cur = v;
    for step in &steps {
        let next = match step {
            Ok(k) => cur.get_mut(k.as_str()),
            Err(i) => cur.get_mut(*i),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match cur {
        Value::Object(map) => {
            let key = if map.is_empty() {
                None
            } else {
                map.keys().nth(last % map.len()).cloned()
            };
            match (m, key) {
                (Mutation::Set(_, val), Some(k)) => {
                    map.insert(k, val.clone());
                }
                (Mutation::Set(_, val), None) => {
                    map.insert("five_hour".into(), val.clone());
                }
                (Mutation::Remove(_), Some(k)) => {
                    map.remove(&k);
                }
                (Mutation::Rename(_, new), Some(k)) => {
                    if let Some(val) = map.remove(&k) {
                        map.insert(new.clone(), val);
                    }
                }
                _ => {}
            }
        }
        Value::Array(items) => match m {
            Mutation::Set(_, val) if !items.is_empty() => {
                let n = items.len();
                items[last % n] = val.clone();
            }
            Mutation::Set(_, val) => items.push(val.clone()),
            Mutation::Remove(_) if !items.is_empty() => {
                let n = items.len();
                items.remove(last % n);
            }
            _ => {}
        },
        _ => {}
    }
}

/// How the mutated document is presented: as it is, inside a ClaudeMeter object (maybe with an
/// `overage`), in an array of organizations, then maybe damaged byte-wise.
#[derive(Debug, Clone)]
struct Case {
    payload: usize,
    /// A bucket set to a high utilization before the mutations: (key, utilization, reset).
    pin: Option<(usize, f64, usize)>,
    mutations: Vec<Mutation>,
    wrap: u8,
    fetched_at_offset_s: i64,
    bytes: Vec<(usize, u8)>,
    truncate: Option<usize>,
    family: u8,
    max_age_s: u64,
    overage_refuse: bool,
    on_unknown_allow: bool,
    replay: bool,
    max_utilization: f64,
    fraction: bool,
}

fn case(n_payloads: usize) -> impl Strategy<Value = Case> {
    (
        (
            0..n_payloads,
            prop::collection::vec(mutation(), 0..6),
            0u8..4,
            prop_oneof![
                Just(-120i64),
                Just(0),
                Just(-7200),
                Just(600),
                -100_000i64..100_000
            ],
            // byte damage in a fifth of the cases (it mostly makes the JSON invalid)
            prop::option::weighted(
                0.2,
                prop::collection::vec((any::<usize>(), any::<u8>()), 1..3),
            )
            .prop_map(Option::unwrap_or_default),
            prop::option::weighted(0.1, any::<usize>()),
            prop::option::weighted(
                0.6,
                (
                    0usize..5,
                    prop_oneof![Just(100.0), Just(100.5), Just(250.0), Just(99.99)],
                    0usize..4,
                ),
            ),
        ),
        (
            0u8..4,
            prop_oneof![Just(3600u64), Just(0), Just(u64::MAX), 0u64..1_000_000],
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(100.0), Just(90.0), Just(0.0), 0.0f64..150.0],
            prop::bool::weighted(0.1),
        ),
    )
        .prop_map(
            |(
                (payload, mutations, wrap, fetched_at_offset_s, bytes, truncate, pin),
                (
                    family,
                    max_age_s,
                    overage_refuse,
                    on_unknown_allow,
                    replay,
                    max_utilization,
                    fraction,
                ),
            )| Case {
                payload,
                pin,
                mutations,
                wrap,
                fetched_at_offset_s,
                bytes,
                truncate,
                family,
                max_age_s,
                overage_refuse,
                on_unknown_allow,
                replay,
                max_utilization,
                fraction,
            },
        )
}

fn family(n: u8) -> Family {
    match n % 4 {
        0 => Family::Opus,
        1 => Family::Sonnet,
        2 => Family::Haiku,
        _ => Family::Fable,
    }
}

/// Builds the bytes a case feeds the parser.
fn bytes_of(c: &Case, payloads: &[(String, Value)]) -> Vec<u8> {
    let mut v = payloads[c.payload].1.clone();
    if let (Some((key, u, reset)), Value::Object(map)) = (c.pin, &mut v) {
        let resets_at = match reset {
            0 => Value::Null,
            1 => json!("2026-11-20T11:00:00Z"),
            2 => json!("2026-11-20T08:00:00Z"),
            _ => json!("soon"),
        };
        map.insert(
            snapshot::CLASSIC_KEYS[key].to_owned(),
            json!({"utilization": u, "resets_at": resets_at}),
        );
    }
    for m in &c.mutations {
        apply(&mut v, m);
    }
    let fetched = (now() + chrono::Duration::seconds(c.fetched_at_offset_s)).to_rfc3339();
    let wrapped = match c.wrap {
        0 => v,
        1 => json!({"org_uuid": "o", "account_email": "a@b", "fetched_at": fetched, "usage": v}),
        2 => json!([{"org_uuid": "o", "fetched_at": fetched, "usage": v}]),
        _ => json!({"org_uuid": "o", "fetched_at": fetched, "usage": v,
                    "overage": {"is_enabled": false, "out_of_credits": true}}),
    };
    let mut bytes = serde_json::to_vec(&wrapped).unwrap();
    for &(at, b) in &c.bytes {
        if !bytes.is_empty() {
            let n = bytes.len();
            bytes[at % n] = b;
        }
    }
    if let Some(at) = c.truncate {
        let n = bytes.len().max(1);
        bytes.truncate(at % n);
    }
    bytes
}

/// The oracle, on the parsed snapshot: an applicable bucket at >= 100 % that has not reset, and
/// no available extra usage.
fn must_not_go(s: &snapshot::Snapshot, family: Family) -> Option<String> {
    let usage = s.usage.as_ref()?;
    if s.overage.as_ref().is_some_and(|o| o.available(now())) {
        return None;
    }
    usage
        .buckets
        .iter()
        .find(|b| {
            decide::applies(b, family)
                && b.utilization.is_some_and(|u| u >= 100.0)
                && b.resets_at.is_none_or(|r| r > now())
        })
        .map(|b| b.name.clone())
}

/// The same oracle on the raw JSON, independent of the parser: a bare body (or a ClaudeMeter
/// `usage`) whose `five_hour` or `seven_day` (they apply to every family) is at >= 100 % with a
/// future or absent reset, and no extra usage that says it is enabled.
fn raw_must_not_go(bytes: &[u8], fraction: bool) -> Option<&'static str> {
    let v: Value = snapshot::decode(bytes).ok()?;
    let obj = match &v {
        Value::Object(m) if m.contains_key("cachedUsageUtilization") => return None,
        Value::Object(m)
            if m.contains_key("usage")
                || (m.contains_key("org_uuid") && m.contains_key("fetched_at")) =>
        {
            m.get("usage")?.as_object()?
        }
        Value::Object(m) => m,
        _ => return None,
    };
    let enabled = |x: Option<&Value>| x.and_then(|e| e.get("is_enabled")) == Some(&json!(true));
    if enabled(obj.get("extra_usage")) || enabled(v.get("overage")) {
        return None;
    }
    ["five_hour", "seven_day"].into_iter().find(|k| {
        let Some(b) = obj.get(*k).and_then(Value::as_object) else {
            return false;
        };
        let scale = if fraction { 100.0 } else { 1.0 };
        let pinned = b
            .get("utilization")
            .and_then(Value::as_f64)
            .is_some_and(|u| u * scale >= 100.0);
        let not_reset = match b.get("resets_at") {
            None | Some(Value::Null) => true,
            Some(t) => snapshot::parse_time(t).is_none_or(|t| t > now()),
        };
        pinned && not_reset
    })
}

#[test]
fn mutated_real_payloads_never_panic_and_never_go_while_pinned() {
    let payloads = payloads();
    let cases = std::env::var("CLAUDE_GUARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FUZZ_CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    let ran = std::cell::Cell::new(0u32);
    let pinned_count = std::cell::Cell::new(0u32);
    let result = runner.run(&case(payloads.len()), |c| {
        ran.set(ran.get() + 1);
        let bytes = bytes_of(&c, &payloads);
        let ctx = ParseContext {
            scale: if c.fraction {
                UtilizationScale::Fraction
            } else {
                UtilizationScale::Percent
            },
            default_fetched_at: Some(now() - chrono::Duration::seconds(60)),
            ..ParseContext::default()
        };
        let origin = Origin {
            kind: "fuzz".into(),
            location: String::new(),
        };
        let s = snapshot::parse(&bytes, origin, &ctx);
        let family = family(c.family);
        let policy = Policy {
            max_age: Duration::from_secs(c.max_age_s),
            max_utilization: c.max_utilization,
            overage: if c.overage_refuse {
                OverageMode::Refuse
            } else {
                OverageMode::Allow
            },
            on_unknown: if c.on_unknown_allow {
                OnUnknown::Allow
            } else {
                OnUnknown::Refuse
            },
            replay: c.replay,
            ..Policy::default()
        };
        let d = decide::decide(&s, &policy, family, now());
        let went = matches!(d.verdict, Verdict::Go | Verdict::GoBilled)
            || d.exit == crate::core::exit_codes::Exit::Go;
        let pinned =
            must_not_go(&s, family).or(raw_must_not_go(&bytes, c.fraction).map(Into::into));
        if let Some(bucket) = pinned {
            pinned_count.set(pinned_count.get() + 1);
            if went {
                return Err(TestCaseError::fail(format!(
                    "{bucket} is pinned without extra usage, yet {:?} (exit {:?}) for {}",
                    d.verdict,
                    d.exit,
                    String::from_utf8_lossy(&bytes)
                )));
            }
        }
        Ok(())
    });
    let secs = started.elapsed().as_secs_f64();
    let (ran, pinned_cases) = (ran.get(), pinned_count.get());
    eprintln!(
        "fuzz: {ran} cases ({pinned_cases} with a pinned bucket) from {} real payloads in {secs:.2} s",
        payloads.len()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        pinned_cases > cases / 10,
        "the generator rarely pins a bucket ({pinned_cases} of {ran}): the property is not exercised"
    );
}
