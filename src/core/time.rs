//! Time as people read it: RFC 3339 UTC and "in 2h 13m". Pure: "now" is an argument. Local
//! time (which reads the system's zone) is formatted in [`crate::report`].

use chrono::{DateTime, Utc};

/// "in 2h 13m", "in 3d 4h", "in 45s", "5m ago".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let (future, s) = (secs >= 0, secs.unsigned_abs());
    let text = if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86400 {
        let m = (s % 3600) / 60;
        if m == 0 {
            format!("{}h", s / 3600)
        } else {
            format!("{}h {}m", s / 3600, m)
        }
    } else {
        let h = (s % 86400) / 3600;
        if h == 0 {
            format!("{}d", s / 86400)
        } else {
            format!("{}d {}h", s / 86400, h)
        }
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// UTC RFC 3339 with second precision, `Z` suffix.
pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `t + d`, saturating at chrono's latest representable time instead of panicking (a
/// `--max-wait 500000years` or a huge `Retry-After` must not abort the guard).
pub fn add_saturating(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
