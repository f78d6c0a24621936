//! The decision in words, for `--explain` (`Decision::trace`, one line a step) and the notes on
//! steps 4 and 5. Pure text: the steps in the parent module decide, these functions only say
//! what they decided. Times are RFC 3339 UTC; percents through [`fmt_pct`].

use chrono::{DateTime, Utc};

use super::{BucketView, Decision, Freshness, MAX_CLOCK_SKEW, fmt_pct, step_of};
use crate::core::forecast::BucketForecast;
use crate::core::model::Family;
use crate::core::policy::{OnUnknown, Policy};
use crate::core::snapshot::{BucketKind, Snapshot};

fn pct(u: Option<f64>) -> String {
    u.map_or_else(|| "unreadable".into(), |u| format!("{}%", fmt_pct(u)))
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Steps 1–3: each applicable bucket of the step with its percent, reset and state.
pub(super) fn steps_1_to_3(
    snapshot: &Snapshot,
    buckets: &[BucketView],
    family: Family,
) -> Vec<String> {
    if snapshot.usage.is_none() {
        return vec!["1–3. no usage body: the buckets cannot be read".into()];
    }
    let describe = |v: &BucketView| {
        let state = if v.effective.is_none() {
            "unreadable"
        } else if v.pinned {
            "PINNED"
        } else {
            "clear"
        };
        let reset = match (v.has_reset, v.bucket.resets_at) {
            (true, _) => " (has reset: counts as 0%)".to_owned(),
            (false, Some(r)) => format!(", resets {}", utc(r)),
            (false, None) => String::new(),
        };
        format!(
            "{} {}{reset} — {state}",
            v.bucket.name,
            pct(v.bucket.utilization)
        )
    };
    let step = |n: u8, label: &str, pick: &dyn Fn(&BucketView) -> bool| {
        let lines: Vec<String> = buckets
            .iter()
            .filter(|v| v.applies && pick(v))
            .map(describe)
            .collect();
        let body = if lines.is_empty() {
            "absent or null — clear".to_owned()
        } else {
            lines.join("; ")
        };
        format!("{n}. {label}: {body}")
    };
    vec![
        step(1, "five_hour", &|v| v.bucket.kind == BucketKind::FiveHour),
        step(2, &format!("model weekly ({family}) and seven_day"), &|v| {
            matches!(step_of(&v.bucket.kind), 2 | 3)
        }),
        step(3, "seven_day_oauth_apps", &|v| {
            v.bucket.kind == BucketKind::SevenDayOauthApps
        }),
    ]
}

/// Step 5 in words (`Decision::subscription_note`).
pub(super) fn subscription_note(snapshot: &Snapshot) -> String {
    match &snapshot.subscription {
        None => "unchecked (the snapshot has no subscription; the OAuth token cannot read it)"
            .to_owned(),
        Some(s) if s.refuses() => format!("{} — refuses requests", s.status),
        Some(s) => format!("{} — fine", s.status),
    }
}

/// Step 4 in words (`Decision::overage_note`), from (available, why not).
pub(super) fn overage_note(overage: &Option<(bool, Option<String>)>) -> Option<String> {
    match overage {
        None => Some("no extra-usage data in the snapshot: not available".to_owned()),
        Some((true, _)) => Some("extra usage is available".to_owned()),
        Some((false, why)) => why.clone(),
    }
}

/// The snapshot's freshness in one clause.
pub(super) fn freshness(f: &Freshness) -> String {
    let max_age = f.max_age;
    match (f.ahead, f.age) {
        (Some(s), _) => format!(
            "snapshot fetched_at is {} ahead of this machine's clock (more than the {} min skew allowed): UNTRUSTED; check the clock of the host that wrote it",
            humantime::format_duration(std::time::Duration::from_secs(s.unsigned_abs())),
            MAX_CLOCK_SKEW.as_secs() / 60
        ),
        (None, Some(_)) if !f.stale_buckets.is_empty() => format!(
            "bucket reading(s) older than --max-age {max_age}s: {}: STALE",
            f.stale_buckets.join(", ")
        ),
        (None, Some(a)) if a <= max_age => {
            format!("snapshot age {a}s ≤ --max-age {max_age}s: fresh")
        }
        (None, Some(a)) => format!("snapshot age {a}s > --max-age {max_age}s: STALE"),
        (None, None) => "snapshot age unknown (no fetched_at): treated as stale".to_owned(),
    }
}

fn subscription_line(d: &Decision) -> String {
    format!("5. subscription: {}", d.subscription_note)
}

pub(super) fn subscription_refuses(d: &mut Decision) {
    d.trace.push("4. overage: not consulted".into());
    d.trace.push(format!(
        "5. subscription: {} → REFUSE (17)",
        d.subscription_note
    ));
}

pub(super) fn overage_forbidden(d: &mut Decision, name: &str) {
    d.trace.push(format!(
        "4. overage: {name} pinned; extra usage is available but --overage refuse → REFUSE (16)"
    ));
}

pub(super) fn billed(d: &mut Decision, name: &str, f: &Freshness) {
    d.trace.push(format!(
        "4. overage: {name} pinned; extra usage is available → GO, BILLED"
    ));
    d.trace.push(subscription_line(d));
    d.trace.push(freshness(f));
}

/// Returns the reason the state is unknown.
pub(super) fn billed_but_stale(d: &mut Decision, name: &str, f: &Freshness) -> String {
    let freshness = freshness(f);
    d.trace.push(format!(
        "4. overage: {name} pinned; extra usage was available but {freshness}"
    ));
    format!("the snapshot is stale ({freshness}); extra usage may have changed")
}

pub(super) fn refused_on_bucket(d: &mut Decision, name: &str) {
    let why = d.overage_note.clone().unwrap_or_default();
    d.trace.push(format!(
        "4. overage: {} pinned; {why} → REFUSE on {name} (latest reset)",
        d.pinned.join(", ")
    ));
}

pub(super) fn pinned_holds(d: &mut Decision, f: &Freshness) {
    d.trace.push(subscription_line(d));
    d.trace.push(format!(
        "{} (a pinned refusal holds at any age)",
        freshness(f)
    ));
}

pub(super) fn nothing_pinned(d: &mut Decision, f: &Freshness) {
    d.trace
        .push("4. overage: nothing pinned — not needed".into());
    d.trace.push(subscription_line(d));
    d.trace.push(freshness(f));
}

pub(super) fn unreadable(names: &[String]) -> String {
    format!("applicable bucket(s) unreadable: {}", names.join(", "))
}

pub(super) fn threshold_reached(d: &mut Decision, v: &BucketView, policy: &Policy) {
    d.trace.push(format!(
        "threshold: {} at {}% ≥ --max-utilization {}% → REFUSE (18)",
        v.bucket.name,
        fmt_pct(v.effective.unwrap_or_default()),
        fmt_pct(policy.max_utilization)
    ));
}

pub(super) fn under_threshold(d: &mut Decision, policy: &Policy) {
    d.trace.push(format!(
        "threshold: every applicable bucket under {}% → GO",
        fmt_pct(policy.max_utilization)
    ));
}

pub(super) fn needs_fit(d: &mut Decision, needs: std::time::Duration, policy: &Policy) {
    d.trace.push(format!(
        "needs: no applicable bucket is projected to reach {}% within --needs {} (before its reset) → GO",
        fmt_pct(policy.max_utilization),
        humantime::format_duration(needs)
    ));
}

pub(super) fn needs_refused(d: &mut Decision, f: &BucketForecast, needs: std::time::Duration) {
    d.trace.push(format!(
        "needs: {} at {}%, pace {}%/h ({}), reaches {}% at {} — within --needs {} and before its reset → REFUSE (21)",
        f.bucket,
        fmt_pct(f.utilization),
        fmt_pct(f.pace_per_hour.unwrap_or_default()),
        f.basis.key(),
        fmt_pct(f.limit),
        f.reaches_limit_at.map_or("?".into(), utc),
        humantime::format_duration(needs)
    ));
}

pub(super) fn unknown(d: &mut Decision, because: &[String], on_unknown: OnUnknown) {
    d.trace.push(format!(
        "state UNKNOWN ({}) → --on-unknown {}",
        because.join("; "),
        match on_unknown {
            OnUnknown::Allow => "allow: go with a warning",
            OnUnknown::Refuse => "refuse: exit 20",
        }
    ));
}

pub(super) fn beyond_max_wait(
    d: &mut Decision,
    resets_at: DateTime<Utc>,
    max_wait: std::time::Duration,
) {
    d.trace.push(format!(
        "max-wait: the reset {} (+ grace) lies beyond --max-wait {} → REFUSE (19)",
        utc(resets_at),
        humantime::format_duration(max_wait)
    ));
}
