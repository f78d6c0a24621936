//! The one line `claude-guard statusline` prints for Claude Code's `statusLine` (DESIGN.md
//! "Statusline"):
//!
//! ```text
//! Opus 5.5 │ Opus 7d 45% │ 5h 91% +12%/h │ 7d 31% │ 5h resets in 1h 3m
//! ```
//!
//! The session's model (Claude Code's `display_name`, else the family) with the family's own
//! weekly bucket (`seven_day_opus`, `seven_day_sonnet`, a `weekly_scoped` entry) from the
//! guard's cache — the number Claude Code's own statusline lacks — then `five_hour`,
//! `seven_day` and `seven_day_oauth_apps` (when present), each with its percent and, when
//! known, its pace (percent per hour), then the nearest reset that matters: when something is
//! pinned, the reset that lets a run go again; otherwise the nearest reset of an applicable
//! bucket in use. Colour by level: under 80 % green, from 80 % yellow, at 100 % red.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Utc};

use crate::core::decide::{self, BucketView, fmt_pct};
use crate::core::model::Family;
use crate::core::policy::Policy;
use crate::core::snapshot::{BucketKind, Snapshot};
use crate::core::time::relative;

const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

/// The separator between the line's parts.
const SEP: &str = " │ ";
/// From this percent a bucket is shown in yellow (the cache's hot level).
pub const WARN_PERCENT: f64 = crate::state::cache::HOT_PERCENT;
/// A bucket reading older than this is marked with its age.
const OLD_SECS: i64 = 3600;

/// What the line shows.
pub struct LineInput<'a> {
    /// Claude Code's `model.display_name` (already stripped of control characters).
    pub model_display: Option<&'a str>,
    /// The session's family from `model.id` (`None`: not given or not recognised).
    pub family: Option<Family>,
    /// The cached snapshot combined with the statusline's readings (`None`: nothing known).
    pub snapshot: Option<&'a Snapshot>,
    /// Pace of a bucket, percent per hour, by bucket name (`None`: not known).
    pub pace: &'a dyn Fn(&str) -> Option<f64>,
    /// The time.
    pub now: DateTime<Utc>,
    /// Whether to colour (off under `NO_COLOR`).
    pub color: bool,
}

fn paint(on: bool, style: Style, text: &str) -> String {
    if on {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// The short label of a bucket: `5h`, `7d`, `Opus 7d`, `Fable 7d`, `apps 7d`.
pub fn label(v: &BucketView) -> String {
    match &v.bucket.kind {
        BucketKind::FiveHour => "5h".into(),
        BucketKind::SevenDay => "7d".into(),
        BucketKind::SevenDayOpus => "Opus 7d".into(),
        BucketKind::SevenDaySonnet => "Sonnet 7d".into(),
        BucketKind::SevenDayOauthApps => "apps 7d".into(),
        BucketKind::WeeklyScoped(display) => {
            format!("{} 7d", crate::core::snapshot::sanitize(display))
        }
        BucketKind::Other => v.bucket.name.clone(),
    }
}

fn level(pct: f64) -> Style {
    if pct >= 100.0 {
        RED
    } else if pct >= WARN_PERCENT {
        YELLOW
    } else {
        GREEN
    }
}

/// One bucket: `5h 91% +12%/h` (coloured by level; its age when old).
fn part(v: &BucketView, o: &LineInput) -> String {
    let mut out = format!("{} ", label(v));
    match v.effective {
        Some(pct) => {
            out.push_str(&paint(
                o.color,
                level(pct),
                &format!("{}%", fmt_pct(pct.round())),
            ));
            // A full bucket has no pace worth showing: it waits for its reset.
            let pace = (o.pace)(&v.bucket.name).filter(|p| p.is_finite() && *p > 0.05);
            if let Some(p) = pace.filter(|_| pct < 100.0) {
                let rounded = (p.min(999.0) * 10.0).round() / 10.0;
                let _ = write!(
                    out,
                    " {}",
                    paint(o.color, DIM, &format!("+{}%/h", fmt_pct(rounded)))
                );
            }
        }
        None => out.push('?'),
    }
    if let Some(age) = v.age_seconds.filter(|a| *a > OLD_SECS) {
        let t = o.now - chrono::Duration::seconds(age);
        let _ = write!(
            out,
            " {}",
            paint(o.color, DIM, &format!("({})", relative(t, o.now)))
        );
    }
    out
}

/// The line, without a newline.
pub fn line(o: &LineInput) -> String {
    let family = o.family.unwrap_or(Family::Opus);
    let model = match (o.model_display, o.family) {
        (Some(d), _) => d.to_owned(),
        (None, Some(f)) => f.display().to_owned(),
        (None, None) => "claude".to_owned(),
    };
    let mut parts = vec![paint(o.color, BOLD, &model)];
    let Some(snap) = o.snapshot.filter(|s| s.usage.is_some()) else {
        parts.push(paint(o.color, DIM, "no usage known yet"));
        return parts.join(SEP);
    };
    let d = decide::decide(snap, &Policy::default(), family, o.now);
    let shown: Vec<&BucketView> = d.buckets.iter().filter(|v| v.applies).collect();
    let own = shown
        .iter()
        .copied()
        .find(|v| v.bucket.kind.is_model_weekly());
    if let Some(v) = own {
        parts.push(part(v, o));
    } else if snap.fetched_at.is_none() && o.family.is_some() {
        // Only the statusline's own readings are known: the model's weekly bucket is not.
        parts.push(format!("{} 7d ?", family.display()));
    }
    for kind in [
        BucketKind::FiveHour,
        BucketKind::SevenDay,
        BucketKind::SevenDayOauthApps,
    ] {
        if let Some(v) = shown.iter().find(|v| v.bucket.kind == kind) {
            parts.push(part(v, o));
        }
    }
    if let Some(reset) = nearest_reset(&d.buckets, &d.pinned, d.resets_at, o) {
        parts.push(reset);
    }
    parts.join(SEP)
}

/// When something is pinned: `5h full · resets in 1h 3m` (the reset that lets a run go);
/// else the nearest reset among applicable buckets in use: `5h resets in 1h 3m`.
fn nearest_reset(
    views: &[BucketView],
    pinned: &[String],
    blocking_reset: Option<DateTime<Utc>>,
    o: &LineInput,
) -> Option<String> {
    if !pinned.is_empty() {
        let names: Vec<String> = views.iter().filter(|v| v.pinned).map(label).collect();
        let when = blocking_reset.map_or("reset time unknown".into(), |t| {
            format!("resets {}", relative(t, o.now))
        });
        return Some(paint(
            o.color,
            RED,
            &format!("{} full · {when}", names.join("+")),
        ));
    }
    let next = views
        .iter()
        .filter(|v| v.applies && !v.has_reset && v.effective.is_some_and(|u| u > 0.0))
        .filter_map(|v| v.bucket.resets_at.map(|r| (r, v)))
        .min_by_key(|(r, _)| *r)?;
    Some(paint(
        o.color,
        DIM,
        &format!("{} resets {}", label(next.1), relative(next.0, o.now)),
    ))
}

/// The short line for input that cannot be used (empty, truncated, another tool's JSON).
pub fn short_line(why: &str) -> String {
    format!("claude-guard: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::snapshot::{Origin, ParseContext, parse};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
    }

    fn snap(body: &str) -> Snapshot {
        let ctx = ParseContext {
            default_fetched_at: Some(now() - chrono::Duration::minutes(2)),
            ..Default::default()
        };
        parse(
            body.as_bytes(),
            Origin {
                kind: "cache".into(),
                location: String::new(),
            },
            &ctx,
        )
    }

    fn render(
        s: Option<&Snapshot>,
        family: Option<Family>,
        pace: &dyn Fn(&str) -> Option<f64>,
    ) -> String {
        line(&LineInput {
            model_display: None,
            family,
            snapshot: s,
            pace,
            now: now(),
            color: false,
        })
    }

    #[test]
    fn the_model_s_own_weekly_bucket_comes_first() {
        let s = snap(
            r#"{"five_hour":{"utilization":91,"resets_at":"2026-11-20T10:03:00Z"},
                "seven_day":{"utilization":31,"resets_at":"2026-11-25T09:00:00Z"},
                "seven_day_opus":{"utilization":45.4,"resets_at":"2026-11-24T09:00:00Z"},
                "seven_day_sonnet":{"utilization":99,"resets_at":"2026-11-24T09:00:00Z"},
                "seven_day_oauth_apps":{"utilization":0,"resets_at":null}}"#,
        );
        let none = |_: &str| None;
        assert_eq!(
            render(Some(&s), Some(Family::Opus), &none),
            "Opus │ Opus 7d 45% │ 5h 91% │ 7d 31% │ apps 7d 0% │ 5h resets in 1h 3m"
        );
        let pace = |b: &str| (b == "five_hour").then_some(12.34);
        assert!(
            render(Some(&s), Some(Family::Sonnet), &pace)
                .starts_with("Sonnet │ Sonnet 7d 99% │ 5h 91% +12.3%/h │")
        );
    }

    #[test]
    fn a_pinned_bucket_names_the_reset_that_lets_a_run_go() {
        let s = snap(
            r#"{"five_hour":{"utilization":100,"resets_at":"2026-11-20T10:00:00Z"},
                "seven_day":{"utilization":31,"resets_at":"2026-11-25T09:00:00Z"}}"#,
        );
        let out = render(Some(&s), Some(Family::Opus), &|_| None);
        assert_eq!(out, "Opus │ 5h 100% │ 7d 31% │ 5h full · resets in 1h");
    }

    #[test]
    fn nothing_known_and_colour() {
        assert_eq!(render(None, None, &|_| None), "claude │ no usage known yet");
        let s = snap(r#"{"five_hour":{"utilization":85,"resets_at":"2026-11-20T10:00:00Z"}}"#);
        let coloured = line(&LineInput {
            model_display: Some("Opus 5.5"),
            family: Some(Family::Opus),
            snapshot: Some(&s),
            pace: &|_| None,
            now: now(),
            color: true,
        });
        assert!(coloured.contains("\u{1b}[33m85%"), "{coloured:?}");
    }
}
