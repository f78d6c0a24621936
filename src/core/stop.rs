//! Why a supervised claude stopped (DESIGN.md "Long jobs: supervised runs", post-run truth):
//! Claude Code's own `rateLimitType` mapped onto the guard's buckets and exit codes, and a
//! snapshot with the stop's bucket pinned, so that the stop is reported and waited on exactly
//! like a pre-flight refusal. Pure.
//!
//! | `rateLimitType` | bucket | exit |
//! |---|---|---|
//! | `five_hour` | `five_hour` | 10 |
//! | `seven_day` | `seven_day` | 11 |
//! | `seven_day_opus` | `seven_day_opus` | 12 |
//! | `seven_day_sonnet` | `seven_day_sonnet` | 13 |
//! | `seven_day_overage_included` | the Fable weekly (`weekly_scoped:Fable`) | 15 |
//! | `overage` | the window pinned in one fresh read | that window's |

use chrono::{DateTime, Utc};

use crate::core::snapshot::{Bucket, BucketKind, Snapshot, Usage};

/// The bucket a plan-limit stop names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopBucket {
    /// A bucket of the guard's table.
    Bucket(BucketKind),
    /// `overage`: extra usage ran out while a window was pinned; which one needs a fresh read.
    Overage,
}

/// Maps Claude Code's `rateLimitType` (transcript `quotaLimits.rateLimitType`, stream-json
/// `rate_limit_info.rateLimitType`) to the bucket it stops on. `None` for a type the guard does
/// not know (then the stop is reported as the bucket a fresh read shows pinned).
pub fn bucket_of(rate_limit_type: &str) -> Option<StopBucket> {
    Some(StopBucket::Bucket(match rate_limit_type {
        "five_hour" => BucketKind::FiveHour,
        "seven_day" => BucketKind::SevenDay,
        "seven_day_opus" => BucketKind::SevenDayOpus,
        "seven_day_sonnet" => BucketKind::SevenDaySonnet,
        "seven_day_overage_included" => BucketKind::WeeklyScoped("Fable".into()),
        "overage" => return Some(StopBucket::Overage),
        _ => return None,
    }))
}

/// The bucket name the guard uses for `kind` (`five_hour`, `weekly_scoped:Fable`).
pub fn name_of(kind: &BucketKind) -> String {
    match kind {
        BucketKind::FiveHour => "five_hour".into(),
        BucketKind::SevenDay => "seven_day".into(),
        BucketKind::SevenDayOpus => "seven_day_opus".into(),
        BucketKind::SevenDaySonnet => "seven_day_sonnet".into(),
        BucketKind::SevenDayOauthApps => "seven_day_oauth_apps".into(),
        BucketKind::WeeklyScoped(n) => format!("weekly_scoped:{n}"),
        BucketKind::Other => "other".into(),
    }
}

/// `snapshot` with the bucket of `kind` pinned (utilization 100) until `resets_at` (the stop's
/// own reset; the later of the two when the snapshot already shows that bucket pinned); the bucket is added when the snapshot lacks it (a snapshot
/// without usage gets a usage with only this bucket). `fetched_at` is kept.
pub fn pin(snapshot: &Snapshot, kind: &BucketKind, resets_at: Option<DateTime<Utc>>) -> Snapshot {
    let mut s = snapshot.clone();
    let usage = s.usage.get_or_insert_with(Usage::default);
    let same = |b: &Bucket| match (&b.kind, kind) {
        (BucketKind::WeeklyScoped(a), BucketKind::WeeklyScoped(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    };
    match usage.buckets.iter_mut().find(|b| same(b)) {
        Some(b) => {
            let was_pinned = b.utilization.is_some_and(|u| u >= 100.0);
            b.utilization = Some(b.utilization.unwrap_or(100.0).max(100.0));
            b.resets_at = match (b.resets_at, resets_at) {
                (Some(old), Some(new)) if was_pinned => Some(old.max(new)),
                (old, new) => new.or(old),
            };
        }
        None => usage.buckets.push(Bucket {
            name: name_of(kind),
            kind: kind.clone(),
            utilization: Some(100.0),
            resets_at,
            via: Some("claude's transcript"),
            locked_reason: None,
            limit_dollars: None,
            used_dollars: None,
            fetched_at: None,
            source: None,
        }),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decide::{decide, exit_for};
    use crate::core::exit_codes::Exit;
    use crate::core::model::Family;
    use crate::core::policy::Policy;
    use crate::core::snapshot::Origin;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn every_rate_limit_type_has_its_exit_code() {
        let code = |t: &str| match bucket_of(t) {
            Some(StopBucket::Bucket(k)) => Some(exit_for(&k).code()),
            _ => None,
        };
        assert_eq!(code("five_hour"), Some(10));
        assert_eq!(code("seven_day"), Some(11));
        assert_eq!(code("seven_day_opus"), Some(12));
        assert_eq!(code("seven_day_sonnet"), Some(13));
        assert_eq!(code("seven_day_overage_included"), Some(15));
        assert_eq!(bucket_of("overage"), Some(StopBucket::Overage));
        assert_eq!(bucket_of("something_new"), None);
    }

    #[test]
    fn a_pinned_stop_refuses_like_a_pre_flight() {
        let now = t("2026-12-02T05:00:00Z");
        let reset = t("2026-12-02T06:00:00Z");
        let empty = Snapshot::unknown(
            Origin {
                kind: "none".into(),
                location: String::new(),
            },
            "nothing read",
        );
        let s = pin(&empty, &BucketKind::FiveHour, Some(reset));
        let d = decide(&s, &Policy::default(), Family::Opus, now);
        assert_eq!(d.exit, Exit::FiveHour);
        assert_eq!(d.resets_at, Some(reset));
        let s = pin(
            &empty,
            &BucketKind::WeeklyScoped("Fable".into()),
            Some(reset),
        );
        let d = decide(&s, &Policy::default(), Family::Fable, now);
        assert_eq!(d.exit, Exit::WeeklyScoped);
        // Pinning again with an earlier reset keeps the later one.
        let s2 = pin(
            &s,
            &BucketKind::WeeklyScoped("fable".into()),
            Some(t("2026-12-02T05:30:00Z")),
        );
        assert_eq!(s2.usage.unwrap().buckets.len(), 1);
    }
}
