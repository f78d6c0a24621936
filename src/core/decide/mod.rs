//! The pure core: `decide(snapshot, policy, family, now) -> Decision` runs DESIGN.md's
//! five-step decision tree. No I/O, no clock: everything it knows is in its arguments.
//!
//! 1. `five_hour` pinned?
//! 2. the model's weekly bucket (`seven_day_opus` / `seven_day_sonnet` / matching
//!    `weekly_scoped`) or `seven_day` pinned?
//! 3. `seven_day_oauth_apps` pinned?
//! 4. if anything is pinned: extra usage available → go, billed (or 16 under `--overage
//!    refuse`), else refuse on the pinned bucket with the latest reset.
//! 5. a known, refusing subscription refuses (17) whatever 1–4 said.
//!
//! Then, for a go only, the soft threshold (18), and — with the bucket forecasts, which need
//! the history — `--needs` (21, [`apply_needs`]).

use chrono::{DateTime, Utc};

mod explain;

use crate::core::exit_codes::Exit;
use crate::core::forecast::{self, BucketForecast};
use crate::core::model::Family;
use crate::core::policy::{OnUnknown, OverageMode, Policy};
use crate::core::snapshot::{Bucket, BucketKind, Snapshot};

/// The outcome class (`decision` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing applicable is pinned: go.
    Go,
    /// Something is pinned but extra usage absorbs it: go, billed.
    GoBilled,
    /// Do not start `claude`.
    Refuse,
    /// The state cannot be known; `exit` follows `--on-unknown`.
    Unknown,
}

/// Why the decision is what it is (`reason` in JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A pinned bucket, by name (`five_hour`, `weekly_scoped:Fable`); for a billed go, the
    /// bucket that extra usage absorbs.
    Bucket(String),
    /// The run would bill and `--overage refuse` forbids it.
    Overage,
    /// The subscription is not active.
    Subscription,
    /// The soft threshold was reached by the named bucket.
    Threshold(String),
    /// `--needs DUR`: the named bucket is projected to reach its limit before the job ends
    /// (and before its reset).
    Needs(String),
    /// The reset lies beyond `--max-wait`; the inner reason is what blocks.
    MaxWait(Box<Reason>),
    /// The state is unknown.
    Unknown,
}

impl Reason {
    /// The `reason` string in JSON: a bucket name, `overage`, `subscription`, `threshold`,
    /// `needs`, `max_wait` or `unknown`.
    pub fn key(&self) -> &str {
        match self {
            Reason::Bucket(name) => name,
            Reason::Overage => "overage",
            Reason::Subscription => "subscription",
            Reason::Threshold(_) => "threshold",
            Reason::Needs(_) => "needs",
            Reason::MaxWait(_) => "max_wait",
            Reason::Unknown => "unknown",
        }
    }
}

/// One bucket as the decision saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketView {
    /// The bucket.
    pub bucket: Bucket,
    /// Whether it applies to this run (`five_hour`, `seven_day`, `seven_day_oauth_apps`, the
    /// family's own weekly bucket).
    pub applies: bool,
    /// `true` when `resets_at <= now`: the window has reset and counts as 0 %.
    pub has_reset: bool,
    /// Utilization the rules use, percent: 0 after a reset; `None` when unreadable.
    pub effective: Option<f64>,
    /// `effective >= 100`.
    pub pinned: bool,
    /// Age of this bucket's reading at `now`, seconds (its own `fetched_at`, else the
    /// snapshot's; 0 when taken after `now`; `None` when neither is known). `--max-age`
    /// applies to each applicable bucket.
    pub age_seconds: Option<i64>,
}

/// Whether plan limits govern the run at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanLimits {
    /// Claude Code will use the subscription: the tree runs.
    Apply,
    /// Claude Code will not use the subscription (API key, third-party provider, ...), or the
    /// command runs no model turn; the string says why. The tree does not run.
    NotApplicable(String),
}

/// The decision and everything `--explain`, `--json` and the messages need.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// go / go_billed / refuse / unknown.
    pub verdict: Verdict,
    /// Why; `None` for a plain go.
    pub reason: Option<Reason>,
    /// The process exit status for `check`/`wait` (for `run`: `Go` means exec).
    pub exit: Exit,
    /// The reset that decides when the run can go (the latest among the blocking buckets), UTC.
    pub resets_at: Option<DateTime<Utc>>,
    /// Whether waiting can turn this refusal into a go (pinned, overage or threshold refusals).
    pub waitable: bool,
    /// Names of every applicable pinned bucket, tree order.
    pub pinned: Vec<String>,
    /// Every bucket in the snapshot, with applicability.
    pub buckets: Vec<BucketView>,
    /// The applicable bucket with the highest utilization.
    pub hottest: Option<String>,
    /// Why the state is unknown (empty unless `verdict` is `Unknown`).
    pub unknown_because: Vec<String>,
    /// Age of the snapshot at `now`, seconds (0 when fetched after `now`).
    pub age_seconds: Option<i64>,
    /// Whether the tree ran.
    pub plan_limits: PlanLimits,
    /// Step 4 in words (extra usage), when it was consulted or known.
    pub overage_note: Option<String>,
    /// Step 5 in words (`unchecked` when the snapshot has no subscription).
    pub subscription_note: String,
    /// The walk through the tree, one line a step, for `--explain`.
    pub trace: Vec<String>,
    /// The forecast of each applicable, unpinned bucket (`forecast` in JSON, `status`); empty
    /// unless the caller asked for it ([`apply_needs`]).
    pub forecast: Vec<BucketForecast>,
}

impl Decision {
    /// A go without reading any state: plan limits do not govern this run.
    pub fn plan_limits_off(why: impl Into<String>) -> Decision {
        let why = why.into();
        Decision {
            verdict: Verdict::Go,
            reason: None,
            exit: Exit::Go,
            resets_at: None,
            waitable: false,
            pinned: vec![],
            buckets: vec![],
            hottest: None,
            unknown_because: vec![],
            age_seconds: None,
            trace: vec![format!("plan limits do not apply: {why}; no state read")],
            plan_limits: PlanLimits::NotApplicable(why),
            overage_note: None,
            subscription_note: "not checked (plan limits do not apply)".into(),
            forecast: vec![],
        }
    }

    /// Seconds from `now` until `resets_at` plus `grace` (0 when already past); `None` without
    /// a reset time.
    pub fn wait_seconds(&self, now: DateTime<Utc>, grace: std::time::Duration) -> Option<u64> {
        let until = crate::core::time::add_saturating(self.resets_at?, grace);
        Some((until - now).num_seconds().max(0) as u64)
    }
}

/// Whether `bucket` applies to a run of `family` (DESIGN.md bucket table).
pub fn applies(bucket: &Bucket, family: Family) -> bool {
    applies_kind(&bucket.kind, family)
}

/// Whether a bucket of `kind` applies to a run of `family` (DESIGN.md bucket table).
pub fn applies_kind(kind: &BucketKind, family: Family) -> bool {
    match kind {
        BucketKind::FiveHour | BucketKind::SevenDay | BucketKind::SevenDayOauthApps => true,
        BucketKind::SevenDayOpus => family == Family::Opus,
        BucketKind::SevenDaySonnet => family == Family::Sonnet,
        BucketKind::WeeklyScoped(display) => family.matches_display_name(display),
        BucketKind::Other => false,
    }
}

/// The tree step a bucket belongs to (1 five_hour, 2 model weekly + seven_day, 3 oauth apps);
/// ties in reset time are broken in this order.
fn step_of(kind: &BucketKind) -> u8 {
    match kind {
        BucketKind::FiveHour => 1,
        BucketKind::SevenDayOpus | BucketKind::SevenDaySonnet | BucketKind::WeeklyScoped(_) => 2,
        BucketKind::SevenDay => 3,
        BucketKind::SevenDayOauthApps => 4,
        BucketKind::Other => 5,
    }
}

/// The refusal exit code of a pinned bucket.
pub fn exit_for(kind: &BucketKind) -> Exit {
    match kind {
        BucketKind::FiveHour => Exit::FiveHour,
        BucketKind::SevenDay => Exit::SevenDay,
        BucketKind::SevenDayOpus => Exit::SevenDayOpus,
        BucketKind::SevenDaySonnet => Exit::SevenDaySonnet,
        BucketKind::SevenDayOauthApps => Exit::SevenDayOauthApps,
        BucketKind::WeeklyScoped(_) | BucketKind::Other => Exit::WeeklyScoped,
    }
}

/// Picks the bucket that decides when the run can go: the latest `resets_at` (an unknown
/// reset counts as latest, since it cannot be waited past), ties broken in tree order.
fn latest<'a>(views: impl Iterator<Item = &'a BucketView>) -> Option<&'a BucketView> {
    let mut best: Option<&BucketView> = None;
    for v in views {
        best = match best {
            None => Some(v),
            Some(b) => {
                let later = match (v.bucket.resets_at, b.bucket.resets_at) {
                    (None, Some(_)) => true,
                    (Some(x), Some(y)) => x > y,
                    _ => false,
                };
                let tie = v.bucket.resets_at == b.bucket.resets_at
                    && step_of(&v.bucket.kind) < step_of(&b.bucket.kind);
                if later || tie { Some(v) } else { Some(b) }
            }
        };
    }
    best
}

/// Formats a percent without noise: `33`, `99.99`, `0.07`.
pub fn fmt_pct(u: f64) -> String {
    let s = format!("{u:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// How far a snapshot's `fetched_at` may lie ahead of the real clock (clock skew between hosts)
/// and still count as age 0; beyond it the state is unknown. Not applied to replays
/// ([`Policy::replay`]).
pub const MAX_CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs the decision tree (module docs; DESIGN.md "The decision tree"). The steps decide;
/// [`explain`] words each of them for `--explain`.
pub fn decide(
    snapshot: &Snapshot,
    policy: &Policy,
    family: Family,
    now: DateTime<Utc>,
) -> Decision {
    let buckets = views(snapshot, family, now);
    let freshness = Freshness::of(snapshot, &buckets, policy, now);
    let overage = snapshot
        .overage
        .as_ref()
        .map(|o| o.unavailable_because(now))
        .map(|why| (why.is_none(), why));
    let mut d = Decision::walking(snapshot, buckets, &overage, freshness.age);
    d.trace = explain::steps_1_to_3(snapshot, &d.buckets, family);

    // Step 5 first in effect: a refusing subscription wins over 1–4 (fresh snapshots only).
    if snapshot.subscription.as_ref().is_some_and(|s| s.refuses()) && freshness.fresh() {
        return refuse_on_subscription(d);
    }
    // Steps 1–3 found a pinned bucket: step 4, extra usage.
    if let Some(view) = latest(d.buckets.iter().filter(|v| v.pinned)).cloned() {
        let available = overage.as_ref().is_some_and(|(a, _)| *a);
        return step_overage(d, &view, available, policy, &freshness, now);
    }
    explain::nothing_pinned(&mut d, &freshness);
    if snapshot.usage.is_none() {
        return unknown(d, policy, snapshot.problems.clone());
    }
    let unreadable: Vec<String> = d
        .buckets
        .iter()
        .filter(|v| v.applies && v.effective.is_none())
        .map(|v| v.bucket.name.clone())
        .collect();
    if !unreadable.is_empty() {
        return unknown(d, policy, vec![explain::unreadable(&unreadable)]);
    }
    if !freshness.fresh() {
        let mut why = vec![explain::freshness(&freshness)];
        why.extend(snapshot.problems.iter().cloned());
        return unknown(d, policy, why);
    }
    soft_threshold(d, policy, now)
}

/// Every bucket of the snapshot as the rules see it at `now`: whether it applies to `family`,
/// whether it has reset (then 0 %), pinned, and its own age.
fn views(snapshot: &Snapshot, family: Family, now: DateTime<Utc>) -> Vec<BucketView> {
    let age_at = |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_seconds().max(0));
    snapshot
        .usage
        .iter()
        .flat_map(|u| u.buckets.iter())
        .map(|b| {
            let has_reset = b.resets_at.is_some_and(|r| r <= now);
            let effective = if has_reset {
                b.utilization.map(|_| 0.0)
            } else {
                b.utilization
            };
            let applies = applies(b, family);
            BucketView {
                applies,
                has_reset,
                pinned: applies && effective.is_some_and(|u| u >= 100.0),
                effective,
                age_seconds: age_at(b.fetched_at.or(snapshot.fetched_at)),
                bucket: b.clone(),
            }
        })
        .collect()
}

/// How fresh the state is (DESIGN.md "Freshness"): the snapshot's age, how far it lies in the
/// future (beyond [`MAX_CLOCK_SKEW`], real clock only), and the applicable buckets whose own
/// reading (a statusline capture) is older than `--max-age` or from the future.
pub(crate) struct Freshness {
    /// Seconds the snapshot's `fetched_at` lies ahead of `now`, when beyond the skew.
    pub(crate) ahead: Option<i64>,
    /// Age of the snapshot at `now`, seconds (0 when fetched after `now`).
    pub(crate) age: Option<i64>,
    /// `--max-age`, seconds.
    pub(crate) max_age: i64,
    /// Applicable buckets whose own reading is too old or from the future.
    pub(crate) stale_buckets: Vec<String>,
}

impl Freshness {
    fn of(
        snapshot: &Snapshot,
        buckets: &[BucketView],
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Self {
        let max_age = i64::try_from(policy.max_age.as_secs()).unwrap_or(i64::MAX);
        let skew = MAX_CLOCK_SKEW.as_secs() as i64;
        // On the real clock, a reading from the future (a host whose clock runs ahead, a clock
        // stepped back) is not fresh for as long as it stays ahead: beyond the skew, unknown.
        let ahead_of = |t: DateTime<Utc>| Some((t - now).num_seconds()).filter(|s| *s > skew);
        let ahead = (!policy.replay)
            .then_some(snapshot.fetched_at)
            .flatten()
            .and_then(ahead_of);
        // --max-age applies per bucket: a statusline reading may be younger than the snapshot
        // it was combined with, or older (DESIGN.md "Statusline").
        let stale_buckets = buckets
            .iter()
            .filter(|v| v.applies)
            .filter(|v| {
                v.bucket.fetched_at.is_some_and(|t| {
                    (!policy.replay && ahead_of(t).is_some())
                        || v.age_seconds.is_none_or(|a| a > max_age)
                })
            })
            .map(|v| v.bucket.name.clone())
            .collect();
        Freshness {
            ahead,
            age: snapshot.fetched_at.map(|t| (now - t).num_seconds().max(0)),
            max_age,
            stale_buckets,
        }
    }

    /// Young enough for a go.
    fn fresh(&self) -> bool {
        self.ahead.is_none()
            && self.age.is_some_and(|a| a <= self.max_age)
            && self.stale_buckets.is_empty()
    }
}

impl Decision {
    /// A go on `buckets`, before any step has run: the pinned and hottest applicable buckets
    /// and the notes on steps 4 and 5. `overage` is (available, why not) when the snapshot
    /// has extra-usage data.
    fn walking(
        snapshot: &Snapshot,
        buckets: Vec<BucketView>,
        overage: &Option<(bool, Option<String>)>,
        age_seconds: Option<i64>,
    ) -> Decision {
        let hottest = buckets
            .iter()
            .filter(|v| v.applies && v.effective.is_some())
            .max_by(|a, b| {
                a.effective
                    .partial_cmp(&b.effective)
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|v| v.bucket.name.clone());
        Decision {
            verdict: Verdict::Go,
            reason: None,
            exit: Exit::Go,
            resets_at: None,
            waitable: false,
            pinned: buckets
                .iter()
                .filter(|v| v.pinned)
                .map(|v| v.bucket.name.clone())
                .collect(),
            buckets,
            hottest,
            unknown_because: vec![],
            age_seconds,
            plan_limits: PlanLimits::Apply,
            overage_note: explain::overage_note(overage),
            subscription_note: explain::subscription_note(snapshot),
            trace: vec![],
            forecast: vec![],
        }
    }
}

/// Step 5: the subscription refuses requests (17).
fn refuse_on_subscription(mut d: Decision) -> Decision {
    explain::subscription_refuses(&mut d);
    d.verdict = Verdict::Refuse;
    d.reason = Some(Reason::Subscription);
    d.exit = Exit::Subscription;
    d
}

/// Step 4 for the pinned bucket `view` (the latest reset among the pinned): extra usage
/// absorbs it (go, billed), or the policy forbids billing (16), or the run is refused on the
/// bucket; a billed go needs fresh data.
fn step_overage(
    mut d: Decision,
    view: &BucketView,
    available: bool,
    policy: &Policy,
    freshness: &Freshness,
    now: DateTime<Utc>,
) -> Decision {
    d.resets_at = view.bucket.resets_at;
    d.waitable = true;
    let name = view.bucket.name.clone();
    if available && policy.overage == OverageMode::Refuse {
        explain::overage_forbidden(&mut d, &name);
        d.verdict = Verdict::Refuse;
        d.reason = Some(Reason::Overage);
        d.exit = Exit::Overage;
    } else if available && freshness.fresh() {
        explain::billed(&mut d, &name, freshness);
        d.verdict = Verdict::GoBilled;
        d.reason = Some(Reason::Bucket(name));
        d.waitable = false;
        return d;
    } else if available {
        let why = explain::billed_but_stale(&mut d, &name, freshness);
        return unknown(d, policy, vec![why]);
    } else {
        explain::refused_on_bucket(&mut d, &name);
        d.verdict = Verdict::Refuse;
        d.reason = Some(Reason::Bucket(name));
        d.exit = exit_for(&view.bucket.kind);
    }
    explain::pinned_holds(&mut d, freshness);
    apply_max_wait(d, policy, now)
}

/// The soft threshold (`--max-utilization`, 18), for a go only.
fn soft_threshold(mut d: Decision, policy: &Policy, now: DateTime<Utc>) -> Decision {
    let hot = d
        .buckets
        .iter()
        .filter(|v| v.applies && v.effective.is_some_and(|u| u >= policy.max_utilization));
    let Some(v) = latest(hot).cloned() else {
        explain::under_threshold(&mut d, policy);
        return d;
    };
    explain::threshold_reached(&mut d, &v, policy);
    d.verdict = Verdict::Refuse;
    d.reason = Some(Reason::Threshold(v.bucket.name.clone()));
    d.exit = Exit::Threshold;
    d.resets_at = v.bucket.resets_at;
    d.waitable = v.bucket.resets_at.is_some();
    apply_max_wait(d, policy, now)
}

/// The buckets a forecast covers (DESIGN.md "Forecast"): applicable, readable and not
/// pinned (a pinned bucket is at its limit already; one absorbed by extra usage is not
/// forecast).
pub fn forecast_targets(d: &Decision) -> impl Iterator<Item = &BucketView> {
    d.buckets
        .iter()
        .filter(|v| v.applies && !v.pinned && v.bucket.utilization.is_some())
}

/// The `--needs DUR` step, after the soft threshold (DESIGN.md "Forecast"). Keeps `forecast`
/// (the forecasts of [`forecast_targets`], projected to `--max-utilization`) in the decision;
/// then, when `policy.needs` is set and the decision is a go or a billed go, refuses with 21
/// when one of them reaches its limit before `now` + DUR and before its reset (the earliest
/// such bucket; basis `none` never does). `resets_at` is that bucket's reset: waiting for it
/// lifts the refusal (`--max-wait` applies as for any refusal).
pub fn apply_needs(
    mut d: Decision,
    forecast: Vec<BucketForecast>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Decision {
    d.forecast = forecast;
    let Some(needs) = policy.needs else {
        return d;
    };
    let go = matches!(d.verdict, Verdict::Go | Verdict::GoBilled) && d.exit == Exit::Go;
    if !go || d.plan_limits != PlanLimits::Apply {
        return d;
    }
    let until = now + chrono::Duration::from_std(needs).unwrap_or(chrono::Duration::MAX);
    let targets: Vec<&str> = forecast_targets(&d)
        .map(|v| v.bucket.name.as_str())
        .collect();
    let hit = forecast::first_reaching(
        d.forecast
            .iter()
            .filter(|f| targets.contains(&f.bucket.as_str())),
        until,
    )
    .cloned();
    let Some(f) = hit else {
        explain::needs_fit(&mut d, needs, policy);
        return d;
    };
    explain::needs_refused(&mut d, &f, needs);
    d.verdict = Verdict::Refuse;
    d.reason = Some(Reason::Needs(f.bucket.clone()));
    d.exit = Exit::Needs;
    d.resets_at = f.resets_at;
    d.waitable = f.resets_at.is_some();
    apply_max_wait(d, policy, now)
}

/// The model families (Sonnet, Opus) a run could switch to and go unbilled, other than
/// `except`: every bucket that applies to them is clear.
pub fn families_with_room(
    snapshot: &Snapshot,
    policy: &Policy,
    now: DateTime<Utc>,
    except: Family,
) -> Vec<Family> {
    let policy = Policy {
        wait: None,
        ..policy.clone()
    };
    [Family::Sonnet, Family::Opus]
        .into_iter()
        .filter(|f| *f != except && decide(snapshot, &policy, *f, now).verdict == Verdict::Go)
        .collect()
}

fn unknown(mut d: Decision, policy: &Policy, because: Vec<String>) -> Decision {
    d.verdict = Verdict::Unknown;
    d.reason = Some(Reason::Unknown);
    d.resets_at = None;
    d.waitable = false;
    d.exit = match policy.on_unknown {
        OnUnknown::Allow => Exit::Go,
        OnUnknown::Refuse => Exit::Unknown,
    };
    explain::unknown(&mut d, &because, policy.on_unknown);
    d.unknown_because = because;
    d
}

/// With a wait policy, a waitable refusal whose reset lies beyond `--max-wait` refuses at
/// once with 19.
fn apply_max_wait(mut d: Decision, policy: &Policy, now: DateTime<Utc>) -> Decision {
    let (Some(wait), Some(resets_at)) = (policy.wait, d.resets_at) else {
        return d;
    };
    if !d.waitable {
        return d;
    }
    let limit = crate::core::time::add_saturating(now, wait.max_wait);
    if crate::core::time::add_saturating(resets_at, policy.grace) > limit {
        explain::beyond_max_wait(&mut d, resets_at, wait.max_wait);
        let inner = d.reason.take().unwrap_or(Reason::Unknown);
        d.reason = Some(Reason::MaxWait(Box::new(inner)));
        d.exit = Exit::MaxWait;
        d.waitable = false;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::policy::WaitPolicy;
    use crate::core::snapshot::{Origin, Overage, OverageOrigin, Subscription, Usage};
    use chrono::TimeZone;
    use std::time::Duration;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 6, 8, 0, 0).unwrap()
    }

    fn at(hours: i64) -> Option<DateTime<Utc>> {
        Some(now() + chrono::Duration::hours(hours))
    }

    fn bucket(
        name: &str,
        kind: BucketKind,
        u: Option<f64>,
        resets_at: Option<DateTime<Utc>>,
    ) -> Bucket {
        Bucket {
            name: name.into(),
            kind,
            utilization: u,
            resets_at,
            via: None,
            locked_reason: None,
            limit_dollars: None,
            used_dollars: None,
            fetched_at: None,
            source: None,
        }
    }
    fn five(u: f64, r: Option<DateTime<Utc>>) -> Bucket {
        bucket("five_hour", BucketKind::FiveHour, Some(u), r)
    }
    fn week(u: f64, r: Option<DateTime<Utc>>) -> Bucket {
        bucket("seven_day", BucketKind::SevenDay, Some(u), r)
    }
    fn opus(u: f64, r: Option<DateTime<Utc>>) -> Bucket {
        bucket("seven_day_opus", BucketKind::SevenDayOpus, Some(u), r)
    }
    fn sonnet(u: f64, r: Option<DateTime<Utc>>) -> Bucket {
        bucket("seven_day_sonnet", BucketKind::SevenDaySonnet, Some(u), r)
    }
    fn oauth(u: f64, r: Option<DateTime<Utc>>) -> Bucket {
        bucket(
            "seven_day_oauth_apps",
            BucketKind::SevenDayOauthApps,
            Some(u),
            r,
        )
    }
    fn fable(u: f64, r: Option<DateTime<Utc>>) -> Bucket {
        bucket(
            "weekly_scoped:Fable",
            BucketKind::WeeklyScoped("Fable".into()),
            Some(u),
            r,
        )
    }

    fn snap(buckets: Vec<Bucket>) -> Snapshot {
        Snapshot {
            usage: Some(Usage {
                buckets,
                other_keys: vec![],
            }),
            overage: None,
            subscription: None,
            fetched_at: Some(now() - chrono::Duration::minutes(2)),
            org_uuid: None,
            account_email: None,
            origin: Origin {
                kind: "test".into(),
                location: "-".into(),
            },
            problems: vec![],
        }
    }

    fn extra(enabled: bool) -> Overage {
        Overage {
            origin: OverageOrigin::ExtraUsage,
            is_enabled: enabled,
            monthly_limit: Some(10000.0),
            used_credits: Some(500.0),
            utilization: Some(5.0),
            out_of_credits: None,
            disabled_reason: None,
            disabled_until: None,
            currency: Some("USD".into()),
        }
    }

    fn run(s: &Snapshot, p: &Policy, f: Family) -> Decision {
        decide(s, p, f, now())
    }

    fn go(s: &Snapshot) -> Decision {
        run(s, &Policy::default(), Family::Opus)
    }

    #[test]
    fn boundaries_of_pinned() {
        for (u, pinned) in [
            (100.0, true),
            (99.99, false),
            (100.5, true),
            (250.0, true),
            (0.0, false),
        ] {
            let d = go(&snap(vec![five(u, at(2))]));
            assert_eq!(d.verdict == Verdict::Refuse, pinned, "utilization {u}");
            if pinned {
                assert_eq!(d.exit, Exit::FiveHour);
                assert_eq!(d.reason, Some(Reason::Bucket("five_hour".into())));
                assert_eq!(d.resets_at, at(2));
            } else {
                assert_eq!(d.exit, Exit::Go);
            }
        }
    }

    #[test]
    fn reset_in_the_past_or_now_counts_as_zero() {
        let d = go(&snap(vec![five(100.0, at(-1))]));
        assert_eq!(d.verdict, Verdict::Go);
        assert!(d.buckets[0].has_reset);
        let d = go(&snap(vec![five(100.0, Some(now()))]));
        assert_eq!(d.verdict, Verdict::Go, "a reset equal to now has happened");
        // and the threshold sees 0 too
        let p = Policy {
            max_utilization: 50.0,
            ..Policy::default()
        };
        assert_eq!(
            run(&snap(vec![five(90.0, at(-1))]), &p, Family::Opus).verdict,
            Verdict::Go
        );
    }

    #[test]
    fn each_bucket_has_its_exit_code() {
        let cases = [
            (week(100.0, at(30)), Family::Opus, Exit::SevenDay),
            (opus(100.0, at(30)), Family::Opus, Exit::SevenDayOpus),
            (sonnet(100.0, at(30)), Family::Sonnet, Exit::SevenDaySonnet),
            (oauth(100.0, at(30)), Family::Haiku, Exit::SevenDayOauthApps),
            (fable(100.0, at(30)), Family::Fable, Exit::WeeklyScoped),
        ];
        for (b, fam, exit) in cases {
            let name = b.name.clone();
            let d = run(&snap(vec![five(10.0, at(1)), b]), &Policy::default(), fam);
            assert_eq!(d.exit, exit, "{name}");
            assert_eq!(d.pinned, vec![name]);
        }
    }

    #[test]
    fn model_buckets_only_apply_to_their_family() {
        let s = snap(vec![
            five(10.0, at(1)),
            opus(100.0, at(30)),
            fable(100.0, at(30)),
        ]);
        assert_eq!(
            run(&s, &Policy::default(), Family::Sonnet).verdict,
            Verdict::Go
        );
        assert_eq!(
            run(&s, &Policy::default(), Family::Haiku).verdict,
            Verdict::Go
        );
        assert_eq!(
            run(&s, &Policy::default(), Family::Opus).exit,
            Exit::SevenDayOpus
        );
        assert_eq!(
            run(&s, &Policy::default(), Family::Fable).exit,
            Exit::WeeklyScoped
        );
        let s = snap(vec![sonnet(100.0, at(30))]);
        assert_eq!(
            run(&s, &Policy::default(), Family::Opus).verdict,
            Verdict::Go
        );
        assert_eq!(
            run(&s, &Policy::default(), Family::Sonnet).exit,
            Exit::SevenDaySonnet
        );
    }

    #[test]
    fn unknown_buckets_never_gate() {
        let s = snap(vec![
            five(1.0, at(1)),
            bucket("seven_day_cowork", BucketKind::Other, Some(100.0), at(3)),
        ]);
        assert_eq!(go(&s).verdict, Verdict::Go);
    }

    #[test]
    fn several_pinned_reason_is_the_latest_reset() {
        let s = snap(vec![
            five(100.0, at(2)),
            week(100.0, at(50)),
            opus(100.0, at(20)),
        ]);
        let d = go(&s);
        assert_eq!(d.reason, Some(Reason::Bucket("seven_day".into())));
        assert_eq!(d.exit, Exit::SevenDay);
        assert_eq!(d.resets_at, at(50));
        assert_eq!(d.pinned, vec!["five_hour", "seven_day", "seven_day_opus"]);
        // ties: tree order (model weekly before seven_day, five_hour before both)
        let s = snap(vec![week(100.0, at(20)), opus(100.0, at(20))]);
        assert_eq!(go(&s).exit, Exit::SevenDayOpus);
        let s = snap(vec![five(100.0, None), week(100.0, None)]);
        assert_eq!(go(&s).exit, Exit::FiveHour);
        // an unknown reset is the latest: it cannot be waited past
        let s = snap(vec![five(100.0, None), week(100.0, at(50))]);
        let d = go(&s);
        assert_eq!((d.exit, d.resets_at), (Exit::FiveHour, None));
    }

    #[test]
    fn unreadable_applicable_bucket_is_unknown_but_a_refusal_beats_it() {
        let s = snap(vec![
            five(10.0, at(1)),
            bucket("seven_day", BucketKind::SevenDay, None, at(5)),
        ]);
        let d = go(&s);
        assert_eq!((d.verdict, d.exit), (Verdict::Unknown, Exit::Unknown));
        let allow = Policy {
            on_unknown: OnUnknown::Allow,
            ..Policy::default()
        };
        assert_eq!(run(&s, &allow, Family::Opus).exit, Exit::Go);
        let s = snap(vec![
            five(100.0, at(1)),
            bucket("seven_day", BucketKind::SevenDay, None, at(5)),
        ]);
        assert_eq!(go(&s).exit, Exit::FiveHour);
        // unreadable but not applicable: no effect
        let s = snap(vec![
            five(10.0, at(1)),
            bucket("seven_day_sonnet", BucketKind::SevenDaySonnet, None, at(5)),
        ]);
        assert_eq!(go(&s).verdict, Verdict::Go);
    }

    #[test]
    fn stale_snapshot_is_unknown_unless_pinned() {
        let mut s = snap(vec![five(10.0, at(1))]);
        s.fetched_at = Some(now() - chrono::Duration::hours(2));
        assert_eq!(go(&s).verdict, Verdict::Unknown);
        s.usage.as_mut().unwrap().buckets[0].utilization = Some(100.0);
        assert_eq!(go(&s).exit, Exit::FiveHour);
        // fetched after --now counts as age 0
        s.fetched_at = Some(now() + chrono::Duration::hours(1));
        assert_eq!(go(&s).age_seconds, Some(0));
        // no fetched_at: stale
        let mut s = snap(vec![five(10.0, at(1))]);
        s.fetched_at = None;
        assert_eq!(go(&s).verdict, Verdict::Unknown);
    }

    #[test]
    fn a_snapshot_from_the_future_is_unknown_on_the_real_clock() {
        let mut s = snap(vec![five(10.0, at(1))]);
        let real = Policy::default();
        let replay = Policy {
            replay: true,
            ..Policy::default()
        };
        // within the skew: age 0, a go
        s.fetched_at = Some(now() + chrono::Duration::seconds(299));
        let d = run(&s, &real, Family::Opus);
        assert_eq!((d.verdict, d.age_seconds), (Verdict::Go, Some(0)));
        // beyond it: unknown, naming the skew
        s.fetched_at = Some(now() + chrono::Duration::hours(3));
        let d = run(&s, &real, Family::Opus);
        assert_eq!(d.verdict, Verdict::Unknown);
        let why = d.unknown_because.join("; ");
        assert!(why.contains("3h ahead of this machine's clock"), "{why}");
        // a replay (--now) keeps DESIGN.md's rule: fetched after --now is age 0
        assert_eq!(run(&s, &replay, Family::Opus).verdict, Verdict::Go);
        // a pinned bucket still refuses, whatever the clock says
        s.usage.as_mut().unwrap().buckets[0].utilization = Some(100.0);
        assert_eq!(run(&s, &real, Family::Opus).exit, Exit::FiveHour);
    }

    #[test]
    fn huge_waits_saturate_instead_of_panicking() {
        let s = snap(vec![five(100.0, at(2))]);
        let p = Policy {
            grace: Duration::MAX,
            wait: Some(WaitPolicy {
                max_wait: Duration::MAX,
            }),
            ..Policy::default()
        };
        let d = run(&s, &p, Family::Opus);
        assert_eq!(d.exit, Exit::FiveHour);
        assert!(d.wait_seconds(now(), p.grace).is_some());
        let p = Policy {
            max_age: Duration::MAX,
            ..Policy::default()
        };
        assert_eq!(go(&snap(vec![five(10.0, at(1))])).verdict, Verdict::Go);
        assert_eq!(
            run(&snap(vec![five(10.0, at(1))]), &p, Family::Opus).verdict,
            Verdict::Go
        );
    }

    #[test]
    fn no_usage_body_is_unknown_with_its_reason() {
        let s = Snapshot::unknown(
            Origin {
                kind: "file".into(),
                location: "x".into(),
            },
            "not JSON",
        );
        let d = go(&s);
        assert_eq!(d.exit, Exit::Unknown);
        assert_eq!(d.unknown_because, vec!["not JSON"]);
    }

    #[test]
    fn all_null_known_keys_go() {
        assert_eq!(go(&snap(vec![])).verdict, Verdict::Go);
    }

    #[test]
    fn overage_variants() {
        let pinned = || snap(vec![five(100.0, at(2)), week(50.0, at(30))]);
        let mut s = pinned();
        s.overage = Some(extra(true));
        let d = go(&s);
        assert_eq!((d.verdict, d.exit), (Verdict::GoBilled, Exit::Go));
        assert_eq!(d.reason, Some(Reason::Bucket("five_hour".into())));
        let refuse = Policy {
            overage: OverageMode::Refuse,
            ..Policy::default()
        };
        assert_eq!(run(&s, &refuse, Family::Opus).exit, Exit::Overage);

        type Change = Box<dyn Fn(&mut Overage)>;
        let variants: Vec<(&str, Change)> = vec![
            ("disabled", Box::new(|o| o.is_enabled = false)),
            (
                "out of credits",
                Box::new(|o| o.out_of_credits = Some(true)),
            ),
            (
                "disabled reason",
                Box::new(|o| o.disabled_reason = Some("out_of_credits".into())),
            ),
            (
                "disabled until future",
                Box::new(|o| o.disabled_until = at(5)),
            ),
            (
                "used above cap, out_of_credits false",
                Box::new(|o| {
                    o.used_credits = Some(9000.0);
                    o.monthly_limit = Some(8000.0);
                    o.out_of_credits = Some(false);
                }),
            ),
            (
                "used equals cap",
                Box::new(|o| {
                    o.used_credits = Some(8000.0);
                    o.monthly_limit = Some(8000.0);
                }),
            ),
            ("utilization 100", Box::new(|o| o.utilization = Some(100.0))),
        ];
        for (label, change) in variants {
            let mut s = pinned();
            let mut o = extra(true);
            change(&mut o);
            s.overage = Some(o);
            let d = go(&s);
            assert_eq!(
                (d.verdict, d.exit),
                (Verdict::Refuse, Exit::FiveHour),
                "{label}"
            );
        }
        // available again: disabled_until in the past, cap 0 means no cap
        let mut s = pinned();
        let mut o = extra(true);
        o.disabled_until = at(-1);
        o.monthly_limit = Some(0.0);
        s.overage = Some(o);
        assert_eq!(go(&s).verdict, Verdict::GoBilled);
        // no overage data at all: refuse on the bucket
        assert_eq!(go(&pinned()).exit, Exit::FiveHour);
        // stale and billable: unknown (a go needs a fresh snapshot)
        let mut s = pinned();
        s.overage = Some(extra(true));
        s.fetched_at = Some(now() - chrono::Duration::hours(3));
        assert_eq!(go(&s).verdict, Verdict::Unknown);
    }

    #[test]
    fn subscription_statuses() {
        for (status, refuses) in [
            ("active", false),
            ("trialing", false),
            ("past_due", true),
            ("canceled", true),
            ("unpaid", true),
            ("incomplete", true),
            ("incomplete_expired", true),
            ("paused", true),
        ] {
            let mut s = snap(vec![five(10.0, at(1))]);
            s.subscription = Some(Subscription {
                status: status.into(),
                billing_interval: None,
                next_charge_date: None,
            });
            let d = go(&s);
            assert_eq!(d.exit == Exit::Subscription, refuses, "{status}");
            // whatever steps 1–4 said: a pinned bucket with overage still refuses on it
            s.usage.as_mut().unwrap().buckets[0].utilization = Some(100.0);
            s.overage = Some(extra(true));
            let d = go(&s);
            assert_eq!(
                d.exit == Exit::Subscription,
                refuses,
                "{status} with pinned bucket"
            );
            assert!(
                !refuses || !d.waitable,
                "subscription refusals are not waited on"
            );
        }
        let d = go(&snap(vec![]));
        assert!(d.subscription_note.starts_with("unchecked"));
    }

    #[test]
    fn soft_threshold() {
        let p = Policy {
            max_utilization: 80.0,
            ..Policy::default()
        };
        let s = snap(vec![five(79.99, at(1)), week(80.0, at(40))]);
        let d = run(&s, &p, Family::Opus);
        assert_eq!(
            (d.exit, d.reason.clone()),
            (Exit::Threshold, Some(Reason::Threshold("seven_day".into())))
        );
        assert_eq!(d.resets_at, at(40));
        let s = snap(vec![five(79.99, at(1))]);
        assert_eq!(run(&s, &p, Family::Opus).exit, Exit::Go);
        // threshold does not apply to a billed go
        let mut s = snap(vec![five(100.0, at(1))]);
        s.overage = Some(extra(true));
        assert_eq!(run(&s, &p, Family::Opus).verdict, Verdict::GoBilled);
        // a threshold hit with no reset time is not waitable
        let s = snap(vec![five(90.0, None)]);
        assert!(!run(&s, &p, Family::Opus).waitable);
    }

    #[test]
    fn max_wait() {
        let p = Policy {
            wait: Some(WaitPolicy {
                max_wait: Duration::from_secs(8 * 3600),
            }),
            ..Policy::default()
        };
        let d = run(&snap(vec![five(100.0, at(2))]), &p, Family::Opus);
        assert_eq!(d.exit, Exit::FiveHour);
        assert!(d.waitable);
        assert_eq!(d.wait_seconds(now(), p.grace), Some(2 * 3600 + 60));
        let d = run(&snap(vec![week(100.0, at(30))]), &p, Family::Opus);
        assert_eq!(d.exit, Exit::MaxWait);
        assert_eq!(d.reason.as_ref().map(Reason::key), Some("max_wait"));
        assert_eq!(d.resets_at, at(30));
        // the reset minus grace fits, plus grace does not
        let edge = Some(now() + chrono::Duration::seconds(8 * 3600 - 30));
        assert_eq!(
            run(&snap(vec![five(100.0, edge)]), &p, Family::Opus).exit,
            Exit::MaxWait
        );
    }

    #[test]
    fn every_family_sees_the_shared_buckets() {
        for fam in [Family::Opus, Family::Sonnet, Family::Haiku, Family::Fable] {
            for b in [five(100.0, at(1)), week(100.0, at(1)), oauth(100.0, at(1))] {
                let name = b.name.clone();
                assert_eq!(
                    run(&snap(vec![b]), &Policy::default(), fam).verdict,
                    Verdict::Refuse,
                    "{fam} {name}"
                );
            }
        }
    }

    #[test]
    fn hottest_bucket() {
        let d = go(&snap(vec![
            five(33.0, at(1)),
            week(65.0, at(40)),
            sonnet(99.0, at(40)),
        ]));
        assert_eq!(d.hottest.as_deref(), Some("seven_day"));
    }

    #[test]
    fn max_age_applies_to_each_bucket_reading() {
        // A fresh snapshot whose five_hour reading (a statusline capture) is 2 h old.
        let mut old = five(40.0, at(3));
        old.fetched_at = Some(now() - chrono::Duration::hours(2));
        old.source = Some("statusline".into());
        let d = go(&snap(vec![old.clone(), week(10.0, at(40))]));
        assert_eq!(d.verdict, Verdict::Unknown);
        assert!(
            d.unknown_because[0].contains("five_hour"),
            "{:?}",
            d.unknown_because
        );
        assert_eq!(d.buckets[0].age_seconds, Some(7200));
        assert_eq!(d.buckets[1].age_seconds, Some(120));
        let lenient = Policy {
            max_age: std::time::Duration::from_secs(3 * 3600),
            ..Policy::default()
        };
        assert_eq!(
            run(&snap(vec![old.clone()]), &lenient, Family::Opus).verdict,
            Verdict::Go
        );
        // An old snapshot with a fresh capture of five_hour still needs the rest to be fresh,
        // but a pinned capture refuses at any age.
        let mut fresh = five(100.0, at(3));
        fresh.fetched_at = Some(now());
        let mut s = snap(vec![fresh, week(10.0, at(40))]);
        s.fetched_at = Some(now() - chrono::Duration::hours(5));
        assert_eq!(go(&s).exit, Exit::FiveHour);
        s.usage.as_mut().unwrap().buckets[0].utilization = Some(50.0);
        assert_eq!(go(&s).verdict, Verdict::Unknown);
        // A bucket reading from the future is not fresh (on the real clock).
        let mut ahead = five(40.0, at(3));
        ahead.fetched_at = Some(now() + chrono::Duration::hours(2));
        assert_eq!(go(&snap(vec![ahead.clone()])).verdict, Verdict::Unknown);
        let replay = Policy {
            replay: true,
            ..Policy::default()
        };
        assert_eq!(
            run(&snap(vec![ahead]), &replay, Family::Opus).verdict,
            Verdict::Go
        );
    }

    /// Forecasts of the decision's targets from a history of `(minutes ago, percent)` per
    /// bucket, all readings under the bucket's current reset.
    fn forecasts(
        d: &Decision,
        series: &[(&str, &[(i64, f64)])],
        limit: f64,
    ) -> Vec<BucketForecast> {
        forecast_targets(d)
            .map(|v| {
                let h: Vec<forecast::Reading> = series
                    .iter()
                    .filter(|(n, _)| *n == v.bucket.name)
                    .flat_map(|(_, rs)| rs.iter())
                    .map(|(ago, u)| forecast::Reading {
                        fetched_at: now() - chrono::Duration::minutes(*ago),
                        utilization: *u,
                        resets_at: v.bucket.resets_at,
                    })
                    .collect();
                forecast::forecast(
                    &v.bucket.name,
                    forecast::window_length(&v.bucket.kind),
                    &h,
                    None,
                    now(),
                    limit,
                )
            })
            .collect()
    }

    #[test]
    fn needs_refuses_when_a_bucket_reaches_its_limit_within_the_job() {
        // five_hour at 70 %, rising 20 %/h: 100 % in 1h 30m; it resets in 3 h.
        let s = snap(vec![five(70.0, at(3)), week(30.0, at(48))]);
        let rising: &[(i64, f64)] = &[(30, 60.0), (15, 65.0), (0, 70.0)];
        let p = Policy {
            needs: Some(Duration::from_secs(2 * 3600)),
            ..Policy::default()
        };
        let d = run(&s, &p, Family::Opus);
        let f = forecasts(&d, &[("five_hour", rising)], 100.0);
        let d = apply_needs(d, f, &p, now());
        assert_eq!(d.exit, Exit::Needs);
        assert_eq!(d.verdict, Verdict::Refuse);
        assert_eq!(d.reason.as_ref().map(Reason::key), Some("needs"));
        assert_eq!(d.resets_at, at(3));
        assert!(d.waitable);
        assert_eq!(d.forecast.len(), 2);
        // A 1-hour job fits.
        let short = Policy {
            needs: Some(Duration::from_secs(3600)),
            ..Policy::default()
        };
        let d = run(&s, &short, Family::Opus);
        let f = forecasts(&d, &[("five_hour", rising)], 100.0);
        assert_eq!(apply_needs(d, f, &short, now()).exit, Exit::Go);
        // Projected to --max-utilization 80: 30 min away, so even 1 h refuses.
        let hot = Policy {
            max_utilization: 80.0,
            ..short.clone()
        };
        let d = run(&s, &hot, Family::Opus);
        let f = forecasts(&d, &[("five_hour", rising)], 80.0);
        assert_eq!(apply_needs(d, f, &hot, now()).exit, Exit::Needs);
        // Without --needs the forecast is kept and nothing changes.
        let d = run(&s, &Policy::default(), Family::Opus);
        let f = forecasts(&d, &[("five_hour", rising)], 100.0);
        let d = apply_needs(d, f, &Policy::default(), now());
        assert_eq!(d.exit, Exit::Go);
        assert_eq!(d.forecast[0].bucket, "five_hour");
    }

    #[test]
    fn needs_spares_resets_absorbed_buckets_and_refusals() {
        let p = Policy {
            needs: Some(Duration::from_secs(10 * 3600)),
            ..Policy::default()
        };
        let rising: &[(i64, f64)] = &[(30, 60.0), (15, 65.0), (0, 70.0)];
        // The reset comes first (in 1 h; 100 % would be in 1h 30m): go.
        let s = snap(vec![five(70.0, at(1))]);
        let d = run(&s, &p, Family::Opus);
        let f = forecasts(&d, &[("five_hour", rising)], 100.0);
        assert_eq!(apply_needs(d, f, &p, now()).exit, Exit::Go);
        // Pinned and absorbed by extra usage: go billed, not forecast.
        let mut s = snap(vec![five(100.0, at(3))]);
        s.overage = Some(extra(true));
        let d = run(&s, &p, Family::Opus);
        assert_eq!(d.verdict, Verdict::GoBilled);
        let f = forecasts(&d, &[("five_hour", rising)], 100.0);
        assert!(f.is_empty());
        let d = apply_needs(d, f, &p, now());
        assert_eq!(d.verdict, Verdict::GoBilled);
        // A refusal stays what it was.
        let s = snap(vec![five(100.0, at(3)), week(70.0, at(48))]);
        let d = run(&s, &p, Family::Opus);
        let f = forecasts(&d, &[("seven_day", rising)], 100.0);
        assert_eq!(apply_needs(d, f, &p, now()).exit, Exit::FiveHour);
        // A barely started window (basis none) never refuses.
        let s = snap(vec![five(
            70.0,
            Some(now() + chrono::Duration::minutes(290)),
        )]);
        let d = run(&s, &p, Family::Opus);
        let f = forecasts(&d, &[], 100.0);
        assert_eq!(f[0].basis, forecast::Basis::None);
        assert_eq!(apply_needs(d, f, &p, now()).exit, Exit::Go);
        // With --wait, a reset beyond --max-wait is 19.
        let waiting = Policy {
            wait: Some(WaitPolicy {
                max_wait: Duration::from_secs(3600),
            }),
            ..p.clone()
        };
        let s = snap(vec![five(70.0, at(3))]);
        let d = run(&s, &waiting, Family::Opus);
        let f = forecasts(&d, &[("five_hour", rising)], 100.0);
        assert_eq!(apply_needs(d, f, &waiting, now()).exit, Exit::MaxWait);
    }
}
