//! What people and programs read: the refusal line, warnings, `--explain`, the `status`
//! table and the `--json` object (schema in the README). Formatting only; no decisions.
//!
//! May use: [`crate::core`] and [`crate::state`] (the sources' attempts). Not [`crate::act`]
//! nor the command line.

pub mod forecast;
pub mod github;
pub mod shell;
pub mod statusline;

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Local, Utc};
use serde_json::{Value, json};

use crate::core::decide::{Decision, PlanLimits, Reason, Verdict, fmt_pct};
use crate::core::model::{Family, ModelChoice};
use crate::core::snapshot::{BucketKind, Overage, OverageOrigin, Snapshot, money};
pub use crate::core::time::{relative, rfc3339, utc};

/// Version of the `--json` object's shape.
pub const SCHEMA_VERSION: u32 = 1;

const BOLD: Style = Style::new().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const GREEN: Style = AnsiColor::Green.on_default().bold();
const DIM: Style = Style::new().dimmed();

/// Everything a report needs.
pub struct Outcome<'a> {
    /// The decision.
    pub decision: &'a Decision,
    /// The snapshot, when one was read.
    pub snapshot: Option<&'a Snapshot>,
    /// The run's model.
    pub model: &'a ModelChoice,
    /// The evaluation time.
    pub now: DateTime<Utc>,
    /// `--grace`, for `wait_seconds`.
    pub grace: std::time::Duration,
    /// Families whose buckets are all clear (suggested on a model-scoped refusal).
    pub families_with_room: Vec<Family>,
    /// Whether the caller was asked to wait (no "--wait" hint then).
    pub waiting: bool,
    /// Each snapshot source's turn (`--explain`, `source.attempts` in JSON).
    pub attempts: &'a [crate::state::sources::Attempt],
}

/// Prints `lines` on stderr, one per line, through `anstream` (ANSI styles stripped when
/// stderr is not a terminal or `NO_COLOR` is set). The guard's non-fatal messages all go
/// through here; fatal errors go through `main`.
pub fn print_lines(lines: &[String]) {
    use std::io::Write as _;
    let mut err = anstream::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

/// A bucket in plain words: `five_hour` → "5-hour limit".
pub fn words(name: &str, kind: Option<&BucketKind>) -> String {
    match name {
        "five_hour" => "5-hour limit".into(),
        "seven_day" => "weekly limit (all models)".into(),
        "seven_day_opus" => "Opus weekly limit".into(),
        "seven_day_sonnet" => "Sonnet weekly limit".into(),
        "seven_day_oauth_apps" => "weekly OAuth-apps limit".into(),
        _ => match kind {
            Some(BucketKind::WeeklyScoped(display)) => format!("{display} weekly limit"),
            _ => name.to_owned(),
        },
    }
}

/// "2026-07-08T15:59:59Z (2026-07-08 17:59 +02:00 local, in 2d 7h)".
pub fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "{}, {})",
        absolute(t).trim_end_matches(')'),
        relative(t, now)
    )
}

/// "2026-07-08T15:59:59Z (2026-07-08 17:59 +02:00 local)".
pub fn absolute(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Local).format("%Y-%m-%d %H:%M %:z");
    format!("{} ({local} local)", utc(t))
}

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

fn bucket_of<'a>(d: &'a Decision, name: &str) -> Option<&'a crate::core::decide::BucketView> {
    d.buckets.iter().find(|v| v.bucket.name == name)
}

/// The lines printed on stderr for a refusal (or unknown under `--on-unknown refuse`).
pub fn refusal_lines(o: &Outcome) -> Vec<String> {
    let d = o.decision;
    let prefix = paint(RED, "claude-guard: refused:");
    let reset = |t: Option<DateTime<Utc>>| match t {
        Some(t) => format!("resets {}", when(t, o.now)),
        None => "reset time not given".into(),
    };
    let mut lines = Vec::new();
    match &d.reason {
        Some(Reason::Bucket(name)) => {
            let v = bucket_of(d, name);
            let pct = v
                .and_then(|v| v.bucket.utilization)
                .map_or("?".into(), fmt_pct);
            lines.push(format!(
                "{prefix} the {} ({}) is at {pct}% — {}.",
                words(name, v.map(|v| &v.bucket.kind)),
                paint(BOLD, name),
                reset(d.resets_at)
            ));
            if let Some(why) = &d.overage_note {
                lines.push(format!("  {why}."));
            }
        }
        Some(Reason::Overage) => {
            let name = d.pinned.last().cloned().unwrap_or_default();
            lines.push(format!(
                "{prefix} {} pinned; the run would bill extra usage and --overage refuse forbids it — {}.",
                paint(BOLD, &name),
                reset(d.resets_at)
            ));
        }
        Some(Reason::Subscription) => {
            let status = o
                .snapshot
                .and_then(|s| s.subscription.as_ref())
                .map_or("?", |s| s.status.as_str());
            lines.push(format!(
                "{prefix} the subscription is {} (subscription_details.status); requests are rejected whatever the usage. Fix billing at claude.ai/settings/billing.",
                paint(BOLD, status)
            ));
        }
        Some(Reason::Threshold(name)) => {
            let v = bucket_of(d, name);
            let pct = v.and_then(|v| v.effective).map_or("?".into(), fmt_pct);
            lines.push(format!(
                "{prefix} the {} ({}) is at {pct}%, at or above --max-utilization — {}.",
                words(name, v.map(|v| &v.bucket.kind)),
                paint(BOLD, name),
                reset(d.resets_at)
            ));
        }
        Some(Reason::Needs(name)) => {
            let v = bucket_of(d, name);
            let shown = format!(
                "{} ({})",
                words(name, v.map(|v| &v.bucket.kind)),
                paint(BOLD, name)
            );
            lines.push(format!(
                "{prefix} {}",
                forecast::needs_refusal(d, name, &shown, o.now)
            ));
        }
        Some(Reason::MaxWait(inner)) => {
            let name = match inner.as_ref() {
                Reason::Bucket(n) | Reason::Threshold(n) | Reason::Needs(n) => n.clone(),
                other => other.key().to_owned(),
            };
            lines.push(format!(
                "{prefix} {} {} — later than --max-wait allows; not waiting.",
                paint(BOLD, &name),
                reset(d.resets_at)
            ));
        }
        Some(Reason::Unknown) | None => {
            lines.push(format!(
                "{} the usage state is unknown: {}.",
                paint(RED, "claude-guard: refused (--on-unknown refuse):"),
                d.unknown_because.join("; ")
            ));
            lines.push("  help: fix that, or go anyway with --on-unknown allow (CLAUDE_GUARD_ON_UNKNOWN=allow).".into());
        }
    }
    if d.pinned.len() > 1 {
        lines.push(format!("  pinned: {}", d.pinned.join(", ")));
    }
    if d.pinned == ["seven_day_oauth_apps"] {
        // DESIGN.md "Corrections": the server has not been seen enforcing this bucket.
        lines.push(
            "  note: Claude Code's own client does not list seven_day_oauth_apps among its limits \
             (the server has not been seen enforcing it), so claude may well run; this refusal is \
             the guard's step 3."
                .into(),
        );
    }
    let mut help = Vec::new();
    if let Some(reset) = d.resets_at.filter(|_| d.waitable && !o.waiting) {
        let hours = ((reset - o.now).num_minutes() + 59) / 60 + 1;
        if hours <= 8 {
            help.push(
                "wait for the reset with `claude-guard run --wait` (or CLAUDE_GUARD_WAIT=1)"
                    .to_owned(),
            );
        } else {
            help.push(format!(
                "wait for the reset with `claude-guard run --wait --max-wait {hours}h` (or CLAUDE_GUARD_WAIT=1 CLAUDE_GUARD_MAX_WAIT={hours}h)"
            ));
        }
    }
    if matches!(&d.reason, Some(Reason::Needs(_))) {
        help.extend(forecast::needs_help().map(str::to_owned));
    }
    let model_scoped = matches!(&d.reason, Some(Reason::Bucket(n)) if n.starts_with("seven_day_opus") || n.starts_with("seven_day_sonnet") || n.starts_with("weekly_scoped"));
    if model_scoped && !o.families_with_room.is_empty() {
        let names: Vec<String> = o
            .families_with_room
            .iter()
            .map(|f| format!("--model {f}"))
            .collect();
        help.push(format!("use a model with room: {}", names.join(" or ")));
    }
    if matches!(&d.reason, Some(Reason::Bucket(_))) {
        match o.snapshot.and_then(|s| s.overage.as_ref()) {
            Some(ov) if ov.is_enabled => {
                help.push("add extra-usage credits at claude.ai/settings/usage".into())
            }
            _ => help.push("turn on extra usage at claude.ai/settings/usage".into()),
        }
    }
    if !help.is_empty() {
        lines.push(format!("  help: {}.", help.join("; or ")));
    }
    lines
}

/// The one-line warning before a billed go, or an unknown state let through.
pub fn warning_line(o: &Outcome) -> Option<String> {
    let d = o.decision;
    match d.verdict {
        Verdict::GoBilled => {
            let name = d.reason.as_ref().map(Reason::key).unwrap_or_default();
            let until = d.resets_at.map_or(String::new(), |t| {
                format!(" until it resets {}", when(t, o.now))
            });
            Some(format!(
                "{} {} is pinned; this run bills extra usage{until}.",
                paint(YELLOW, "claude-guard: warning:"),
                paint(BOLD, name)
            ))
        }
        Verdict::Unknown => Some(format!(
            "{} usage state unknown ({}); running anyway (--on-unknown allow).",
            paint(YELLOW, "claude-guard: warning:"),
            d.unknown_because.join("; ")
        )),
        _ => None,
    }
}

/// `--explain`: the walk through the tree.
pub fn explain_lines(o: &Outcome) -> Vec<String> {
    let d = o.decision;
    let mut lines = vec![paint(BOLD, "claude-guard: decision walk")];
    let model = match &o.model.model {
        Some(m) => format!("{m} → {} (from {})", o.model.family, o.model.source),
        None => format!("{} (from {})", o.model.family, o.model.source),
    };
    lines.push(format!("  model family: {model}"));
    if let Some(note) = &o.model.note {
        lines.push(format!("  note: {note}"));
    }
    if let Some(s) = o.snapshot {
        let what = format!("{} {}", s.origin.kind, s.origin.location);
        lines.push(format!("  source: {}", what.trim_end()));
    }
    lines.extend(attempt_lines(o.attempts));
    for t in &d.trace {
        lines.push(format!("  {t}"));
    }
    lines.push(format!(
        "  → {} (exit {})",
        verdict_key(d.verdict),
        d.exit.code()
    ));
    lines
}

/// The sources tried, one line each (`--explain`).
pub fn attempt_lines(attempts: &[crate::state::sources::Attempt]) -> Vec<String> {
    let mut lines = Vec::new();
    if !attempts.is_empty() {
        lines.push("  sources tried:".to_owned());
    }
    lines.extend(
        attempts
            .iter()
            .map(|a| format!("    {}: {}", a.source, a.result)),
    );
    lines
}

fn verdict_key(v: Verdict) -> &'static str {
    match v {
        Verdict::Go => "go",
        Verdict::GoBilled => "go_billed",
        Verdict::Refuse => "refuse",
        Verdict::Unknown => "unknown",
    }
}

fn time_json(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

fn overage_json(ov: &Overage, now: DateTime<Utc>) -> Value {
    json!({
        "source": match ov.origin { OverageOrigin::ExtraUsage => "extra_usage", OverageOrigin::SpendLimit => "overage_spend_limit" },
        "available": ov.available(now),
        "is_enabled": ov.is_enabled,
        "monthly_limit": ov.monthly_limit,
        "used_credits": ov.used_credits,
        "utilization": ov.utilization,
        "currency": ov.currency,
        "out_of_credits": ov.out_of_credits,
        "disabled_reason": ov.disabled_reason,
        "disabled_until": time_json(ov.disabled_until),
        "unavailable_because": ov.unavailable_because(now),
    })
}

/// The `--json` object (README "JSON output").
pub fn json_object(o: &Outcome) -> Value {
    let d = o.decision;
    let snap = o.snapshot;
    let buckets: Vec<Value> = d
        .buckets
        .iter()
        .map(|v| {
            let source = v
                .bucket
                .source
                .clone()
                .or_else(|| snap.map(|s| s.origin.kind.clone()));
            let fetched_at = v.bucket.fetched_at.or(snap.and_then(|s| s.fetched_at));
            json!({
                "name": v.bucket.name,
                "source": source,
                "fetched_at": time_json(fetched_at),
                "age_seconds": v.age_seconds,
                "utilization": v.bucket.utilization,
                "resets_at": time_json(v.bucket.resets_at),
                "applies": v.applies,
                "pinned": v.pinned,
                "has_reset": v.has_reset,
                "via": v.bucket.via,
                "locked_reason": v.bucket.locked_reason,
                "limit_dollars": v.bucket.limit_dollars,
                "used_dollars": v.bucket.used_dollars,
            })
        })
        .collect();
    let subscription = match snap.and_then(|s| s.subscription.as_ref()) {
        Some(s) => json!({"checked": true, "status": s.status, "refuses": s.refuses(),
                          "billing_interval": s.billing_interval, "next_charge_date": s.next_charge_date}),
        None => json!({"checked": false, "status": null, "note": d.subscription_note}),
    };
    let (apply, why) = match &d.plan_limits {
        PlanLimits::Apply => (true, None),
        PlanLimits::NotApplicable(why) => (false, Some(why.clone())),
    };
    json!({
        "schema_version": SCHEMA_VERSION,
        "decision": verdict_key(d.verdict),
        "reason": d.reason.as_ref().map(|r| r.key().to_owned()),
        "exit_code": d.exit.code(),
        "resets_at": time_json(d.resets_at),
        "wait_seconds": d.wait_seconds(o.now, o.grace),
        "model_family": o.model.family,
        "model": {"name": o.model.model, "source": o.model.source, "note": o.model.note},
        "pinned": d.pinned,
        "hottest": d.hottest,
        "buckets": buckets,
        "other_keys": snap.and_then(|s| s.usage.as_ref()).map(|u| u.other_keys.clone()).unwrap_or_default(),
        "overage": snap.and_then(|s| s.overage.as_ref()).map(|ov| overage_json(ov, o.now)),
        "subscription": subscription,
        "plan_limits": {"apply": apply, "why": why},
        "unknown_because": d.unknown_because,
        "source": snap.map(|s| json!({
            "kind": s.origin.kind,
            "location": s.origin.location,
            "fetched_at": time_json(s.fetched_at),
            "age_seconds": d.age_seconds,
            "org_uuid": s.org_uuid,
            "account_email": s.account_email,
            "attempts": o.attempts,
        })),
        "now": utc(o.now),
        "trace": d.trace,
        "forecast": forecast::json(d),
    })
}

fn bar(pct: f64, width: usize) -> String {
    let filled = ((pct.clamp(0.0, 100.0) / 100.0) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// The `status` table.
pub fn status_text(o: &Outcome) -> String {
    let d = o.decision;
    let mut out = String::new();
    if let Some(s) = o.snapshot {
        let age = match (s.fetched_at, d.age_seconds) {
            (Some(t), Some(_)) => format!("fetched {} ({})", utc(t), relative(t, o.now)),
            _ => "fetched at an unknown time".into(),
        };
        let who = s
            .account_email
            .as_deref()
            .or(s.org_uuid.as_deref())
            .map_or(String::new(), |w| format!(" for {w}"));
        let what = [s.origin.kind.as_str(), s.origin.location.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(out, "{} {what}{who}, {age}", paint(BOLD, "source:"));
    }
    let _ = writeln!(
        out,
        "{} {} (from {}){}",
        paint(BOLD, "model:"),
        o.model.model.as_deref().map_or_else(
            || o.model.family.to_string(),
            |m| format!("{m} → {}", o.model.family)
        ),
        o.model.source,
        o.model
            .note
            .as_ref()
            .map_or(String::new(), |n| format!(" — {n}"))
    );
    if let PlanLimits::NotApplicable(why) = &d.plan_limits {
        let _ = writeln!(out, "plan limits do not apply: {why}");
    }
    if !d.buckets.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "  {:<26} {:>6}  {:<20}  RESETS", "BUCKET", "USED", "");
    }
    for v in &d.buckets {
        let marker = if v.pinned {
            paint(RED, "✗")
        } else if v.applies {
            paint(GREEN, "•")
        } else {
            " ".into()
        };
        let used = v
            .bucket
            .utilization
            .map_or("?".into(), |u| format!("{}%", fmt_pct(u)));
        let shown = v.effective.unwrap_or(0.0);
        let bar_text = bar(shown, 20);
        let bar_text = if v.pinned {
            paint(RED, &bar_text)
        } else if shown >= 80.0 && v.applies {
            paint(YELLOW, &bar_text)
        } else if v.applies {
            bar_text
        } else {
            paint(DIM, &bar_text)
        };
        let reset = match (v.has_reset, v.bucket.resets_at) {
            (true, Some(t)) => format!("reset {} — counts as 0%", relative(t, o.now)),
            (false, Some(t)) => format!("{} ({})", relative(t, o.now), utc(t)),
            (_, None) => "—".into(),
        };
        let mut notes = Vec::new();
        if !v.applies {
            notes.push("does not apply".to_owned());
        }
        if let Some(via) = v.bucket.via {
            notes.push(format!("from {via}"));
        }
        if let (Some(source), Some(t)) = (&v.bucket.source, v.bucket.fetched_at) {
            notes.push(format!("from {source}, {}", relative(t, o.now)));
        }
        if let Some(r) = &v.bucket.locked_reason {
            notes.push(format!("locked: {r}"));
        }
        if let (Some(used), Some(limit)) = (v.bucket.used_dollars, v.bucket.limit_dollars) {
            notes.push(format!("${used:.2} of ${limit:.2}"));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            paint(DIM, &format!("  [{}]", notes.join(", ")))
        };
        let _ = writeln!(
            out,
            "{marker} {:<26} {used:>6}  {bar_text}  {reset}{notes}",
            v.bucket.name
        );
    }
    if let Some(u) = o.snapshot.and_then(|s| s.usage.as_ref())
        && !u.other_keys.is_empty()
    {
        let _ = writeln!(
            out,
            "  {}",
            paint(DIM, &format!("other keys: {}", u.other_keys.join(", ")))
        );
    }
    let pace = forecast::status_lines(d, o.now, &paint, YELLOW);
    if !pace.is_empty() {
        let _ = writeln!(out);
        for line in pace {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = writeln!(out);
    if let Some(h) = &d.hottest
        && let Some(v) = bucket_of(d, h)
    {
        let _ = writeln!(
            out,
            "{} {h} at {}%",
            paint(BOLD, "hottest:"),
            fmt_pct(v.effective.unwrap_or(0.0))
        );
    }
    let overage = match o.snapshot.and_then(|s| s.overage.as_ref()) {
        None => "no data (not enabled as far as the snapshot shows)".to_owned(),
        Some(ov) => {
            let cur = ov.currency.as_deref();
            let spend = match (ov.used_credits, ov.monthly_limit) {
                (Some(u), Some(l)) if l > 0.0 => {
                    format!(", {} of {} used", money(u, cur), money(l, cur))
                }
                (Some(u), _) => format!(", {} used", money(u, cur)),
                _ => String::new(),
            };
            let state = match ov.unavailable_because(o.now) {
                None => "available".to_owned(),
                Some(why) => format!("not available: {why}"),
            };
            format!(
                "{}{spend} — {state}",
                if ov.is_enabled { "enabled" } else { "disabled" }
            )
        }
    };
    let _ = writeln!(out, "{} {overage}", paint(BOLD, "extra usage:"));
    let _ = writeln!(
        out,
        "{} {}",
        paint(BOLD, "subscription:"),
        d.subscription_note
    );
    let verdict = match d.verdict {
        Verdict::Go => paint(GREEN, "go"),
        Verdict::GoBilled => paint(YELLOW, "go, billed"),
        Verdict::Refuse => paint(RED, "refuse"),
        Verdict::Unknown => paint(YELLOW, "unknown"),
    };
    let reason = d
        .reason
        .as_ref()
        .map_or(String::new(), |r| format!(" ({})", r.key()));
    let _ = writeln!(
        out,
        "{} {verdict}{reason}, exit {}",
        paint(BOLD, "decision:"),
        d.exit.code()
    );
    if d.verdict == Verdict::Unknown {
        let _ = writeln!(out, "  because: {}", d.unknown_because.join("; "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn relative_times() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let plus = |s: i64| now + chrono::Duration::seconds(s);
        assert_eq!(relative(plus(45), now), "in 45s");
        assert_eq!(relative(plus(2 * 3600 + 13 * 60 + 5), now), "in 2h 13m");
        assert_eq!(relative(plus(3 * 86400 + 4 * 3600), now), "in 3d 4h");
        assert_eq!(relative(plus(-300), now), "5m ago");
        assert_eq!(relative(plus(7200), now), "in 2h");
    }
}
