//! The forecast in words and JSON (DESIGN.md "Forecast"): the `--needs` refusal, the `status`
//! pace lines with their 24-hour sparkline, and the `forecast` array of `--json`.

use anstyle::Style;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::core::decide::{Decision, fmt_pct};
use crate::core::forecast::{Basis, BucketForecast, sparkline};
use crate::core::time::{relative, utc};

/// A pace in words: `18.5 %/h`.
pub fn pace(p: f64) -> String {
    format!("{} %/h", fmt_pct(p))
}

/// The basis in words: `recent pace, last 60 min` / `window pace, since the window began`.
pub fn basis_words(b: Basis) -> &'static str {
    match b {
        Basis::Recent => "recent pace, last 60 min",
        Basis::Window => "average pace since the window began",
        Basis::None => "no pace yet",
    }
}

/// One bucket's outlook in words, from `now`: "reaches 100 % in 3h 10m — before its reset
/// (in 2d 4h)", "stays under 100 % until its reset (in 2d 4h)", or why there is no forecast.
pub fn outlook(f: &BucketForecast, now: DateTime<Utc>) -> String {
    let limit = fmt_pct(f.limit);
    let reset = f
        .resets_at
        .map_or(String::new(), |r| format!(" ({})", relative(r, now)));
    match (f.basis, f.reaches_limit_at) {
        (Basis::None, _) => format!(
            "no forecast yet (the window began less than 10 % of its length ago, or no reading){}",
            if reset.is_empty() {
                String::new()
            } else {
                format!(" — resets{reset}")
            }
        ),
        (_, Some(t)) if f.before_reset && t <= now => {
            format!("at {limit} % now — before its reset{reset}")
        }
        (_, Some(t)) if f.before_reset => {
            format!(
                "reaches {limit} % {} — before its reset{reset}",
                relative(t, now)
            )
        }
        _ => format!("stays under {limit} % until its reset{reset}"),
    }
}

/// The `status` lines of the forecast: per forecast bucket its pace, its outlook and a
/// 24-hour sparkline (one block per hour, `·` for an hour without a reading). `paint` colours
/// a text (`anstream` drops the colour under `NO_COLOR` or without a terminal).
pub fn status_lines(
    d: &Decision,
    now: DateTime<Utc>,
    paint: &dyn Fn(Style, &str) -> String,
    warn: Style,
) -> Vec<String> {
    if d.forecast.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "  {:<26} {:>10}  {:<24}  OUTLOOK",
        "PACE", "%/h", "LAST 24H"
    )];
    for f in &d.forecast {
        let p = match f.pace_per_hour {
            Some(p) => format!("{} {}", fmt_pct(p), short_basis(f.basis)),
            None => "—".into(),
        };
        let text = outlook(f, now);
        let text = if f.before_reset && f.reaches_limit_at.is_some() {
            paint(warn, &text)
        } else {
            text
        };
        lines.push(format!(
            "  {:<26} {p:>10}  {:<24}  {text}",
            f.bucket,
            sparkline(&f.last_24h)
        ));
    }
    lines
}

fn short_basis(b: Basis) -> &'static str {
    match b {
        Basis::Recent => "(r)",
        Basis::Window => "(w)",
        Basis::None => "",
    }
}

/// The `forecast` array of `--json`: `[{bucket, pace_per_hour, basis, reaches_limit_at,
/// before_reset}]` (`pace_per_hour` in percent per hour, 3 decimals; `basis`: `recent`,
/// `window` or `none`; times RFC 3339 UTC or null).
pub fn json(d: &Decision) -> Value {
    Value::Array(
        d.forecast
            .iter()
            .map(|f| {
                json!({
                    "bucket": f.bucket,
                    "pace_per_hour": f.pace_per_hour.map(|p| (p * 1000.0).round() / 1000.0),
                    "basis": f.basis.key(),
                    "reaches_limit_at": f.reaches_limit_at.map(utc),
                    "before_reset": f.before_reset,
                })
            })
            .collect(),
    )
}

/// The first line of a `--needs` refusal on `bucket` (without the `refused:` prefix): which
/// bucket, its level and pace with the basis, when it would reach the limit, and its reset.
pub fn needs_refusal(d: &Decision, bucket: &str, shown: &str, now: DateTime<Utc>) -> String {
    let Some(f) = d.forecast.iter().find(|f| f.bucket == bucket) else {
        return format!("the {shown} is projected to reach its limit before the job ends.");
    };
    let when = f.reaches_limit_at.map_or("soon".into(), |t| {
        if t <= now {
            "now".to_owned()
        } else {
            format!("{} ({})", relative(t, now), utc(t))
        }
    });
    let reset = f.resets_at.map_or("its reset time is unknown".into(), |r| {
        format!("it resets {} ({})", relative(r, now), utc(r))
    });
    format!(
        "the {shown} is at {}% and rising {} ({}): it would reach {} % {when}, before the job ends (--needs) and before its reset; {reset}.",
        fmt_pct(f.utilization),
        pace(f.pace_per_hour.unwrap_or_default()),
        basis_words(f.basis),
        fmt_pct(f.limit),
    )
}

/// The one warning line for a running job (`run --supervise`, issue "Supervised runs"): the
/// bucket that [`crate::core::forecast::recent_warning`] picked reaches its limit before the
/// job is likely to end. Without the `claude-guard: warning:` prefix.
pub fn recent_warning_line(f: &BucketForecast, now: DateTime<Utc>) -> String {
    format!(
        "{} is at {}% and rising {} (last 60 min): it would reach {} % {}, before this job is likely to end and before its reset.",
        f.bucket,
        fmt_pct(f.utilization),
        pace(f.pace_per_hour.unwrap_or_default()),
        fmt_pct(f.limit),
        f.reaches_limit_at
            .map_or("soon".into(), |t| relative(t, now)),
    )
}

/// The choices after a `--needs` refusal (the wait for the reset is offered with the other
/// refusals' help).
pub fn needs_help() -> [&'static str; 2] {
    [
        "plan a smaller job (a shorter --needs)",
        "use another model (a lighter one, e.g. --model sonnet, uses the limit more slowly)",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn f(basis: Basis, reach_min: Option<i64>, before: bool) -> BucketForecast {
        let now = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        BucketForecast {
            bucket: "five_hour".into(),
            utilization: 40.0,
            resets_at: Some(now + chrono::Duration::hours(4)),
            pace_per_hour: Some(20.0),
            basis,
            limit: 100.0,
            reaches_limit_at: reach_min.map(|m| now + chrono::Duration::minutes(m)),
            before_reset: before,
            last_24h: vec![None, Some(40.0)],
        }
    }

    #[test]
    fn outlook_words() {
        let now = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(
            outlook(&f(Basis::Recent, Some(190), true), now),
            "reaches 100 % in 3h 10m — before its reset (in 4h)"
        );
        assert_eq!(
            outlook(&f(Basis::Window, Some(600), false), now),
            "stays under 100 % until its reset (in 4h)"
        );
        assert_eq!(
            outlook(&f(Basis::Window, None, false), now),
            "stays under 100 % until its reset (in 4h)"
        );
        assert!(outlook(&f(Basis::None, None, false), now).starts_with("no forecast yet"));
        assert_eq!(
            recent_warning_line(&f(Basis::Recent, Some(90), true), now),
            "five_hour is at 40% and rising 20 %/h (last 60 min): it would reach 100 % in 1h 30m, before this job is likely to end and before its reset."
        );
    }
}
