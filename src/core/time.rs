//! Time as people read it: RFC 3339 UTC and "in 2h 13m". Pure: "now" is an argument. Local
//! time (which reads the system's zone) is formatted in the report layer.

use chrono::{DateTime, Timelike, Utc};

/// "in 2h 13m", "in 3d 4h", "in 45s", "5m ago".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    // Whole seconds, rounded away from now for a future time, so "in 45s" is never earlier
    // than the real reset.
    let ms = (t - now).num_milliseconds();
    let secs = if ms >= 0 {
        (ms + 999) / 1000
    } else {
        ms / 1000
    };
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

/// UTC RFC 3339 with second precision, `Z` suffix, for people: a time with a fraction of a
/// second is rounded **up** (a reset at `…:59.593224Z` shows as `…:00Z` of the next minute),
/// never to an earlier second than the real one.
pub fn utc(t: DateTime<Utc>) -> String {
    let t = if t.timestamp_subsec_nanos() > 0 {
        t.with_nanosecond(0)
            .and_then(|w| w.checked_add_signed(chrono::TimeDelta::seconds(1)))
            .unwrap_or(t)
    } else {
        t
    };
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

/// UTC RFC 3339 with the precision the time has (no fraction, or 3, 6 or 9 digits), `Z`
/// suffix: what programs read (`--json`, GitHub outputs), so a server's
/// `2026-11-20T10:59:59.593224Z` stays exactly that.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_kept_for_programs_and_rounded_up_for_people() {
        let t = DateTime::parse_from_rfc3339("2026-11-20T10:59:59.593224Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339(t), "2026-11-20T10:59:59.593224Z");
        assert_eq!(utc(t), "2026-11-20T11:00:00Z");
        let whole = DateTime::parse_from_rfc3339("2026-11-20T10:59:59+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339(whole), "2026-11-20T10:59:59Z");
        assert_eq!(utc(whole), "2026-11-20T10:59:59Z");
        let now = whole - chrono::Duration::seconds(45);
        assert_eq!(relative(t, now), "in 46s");
        assert_eq!(relative(whole, now), "in 45s");
    }
}
