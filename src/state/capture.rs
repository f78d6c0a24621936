//! Statusline captures (DESIGN.md "Statusline"): Claude Code runs its `statusLine` command
//! after every message and hands it, on stdin, the `rate_limits` of the last response it saw
//! (`payloads/client_capture__statusline_stdin_*.json`):
//!
//! ```json
//! {"model": {"id": "claude-opus-5-5", "display_name": "Opus 5.5"}, ...,
//!  "rate_limits": {"five_hour": {"used_percentage": 91, "resets_at": 1796192948},
//!                  "seven_day": {"used_percentage": 31, "resets_at": 1796452148}}}
//! ```
//!
//! `used_percentage` is a percent (0–100), `resets_at` epoch seconds. Each valid one is a
//! fresh reading of the logged-in account's `five_hour` / `seven_day`, at zero requests. They
//! are kept in `<cache dir>/statusline-<key>.json` (the same `<key>` as the account's OAuth
//! cache file, see [`crate::state::oauth::cache_name`]), written atomically under a short
//! lock, and combined by the source chain with the cached full snapshot for the other
//! buckets ([`overlay`]).
//!
//! Rules: a reading is accepted only when `used_percentage` is a number in 0–100 and
//! `resets_at` lies in the future and within its window's length (a client bug once put the
//! reset epoch in the percent field). The numbers carry no time of their own (they come from
//! the last response Claude Code saw), so a reading never lowers a bucket below an earlier
//! reading of the same window ([`merge`]): same window = `resets_at` within
//! [`SAME_WINDOW_SECS`]; a later `resets_at` starts a new window; an earlier one is a stale
//! response and is ignored.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::forecast;
use crate::core::snapshot::{Bucket, BucketKind, Origin, Snapshot, Usage, sanitize};
use crate::state::cache::{Entry, Lock};

/// Largest stdin read (Claude Code's statusline JSON is about 2 KiB).
pub const MAX_INPUT_BYTES: usize = 256 << 10;
/// How long the statusline waits for its stdin to end (Claude Code writes it at once).
pub const READ_DEADLINE: Duration = Duration::from_millis(400);
/// Longest wait for the capture file's lock (another statusline writing it).
pub const LOCK_WAIT: Duration = Duration::from_millis(1000);
/// Two readings belong to the same window when their `resets_at` differ by at most this
/// many seconds (DESIGN.md "Forecast" → "Windows": [`forecast::SAME_WINDOW`]).
pub const SAME_WINDOW_SECS: i64 = forecast::SAME_WINDOW.num_seconds();
/// Version of the capture file format; other versions are ignored.
pub const FORMAT_VERSION: u32 = 1;
/// The source label of a bucket that a statusline capture gave.
pub const SOURCE: &str = "statusline";

/// The buckets Claude Code hands to its statusline.
const CAPTURED: [(&str, BucketKind); 2] = [
    ("five_hour", BucketKind::FiveHour),
    ("seven_day", BucketKind::SevenDay),
];

/// One reading of one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Percent used, 0–100.
    pub utilization: f64,
    /// When the window resets (UTC).
    pub resets_at: DateTime<Utc>,
    /// When the reading was taken (UTC).
    pub fetched_at: DateTime<Utc>,
    /// Where it came from (`statusline`, or the snapshot's source when merged with one).
    #[serde(default = "default_source")]
    pub source: String,
}

fn default_source() -> String {
    SOURCE.to_owned()
}

/// The capture file: the latest accepted reading of each captured bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Captures {
    /// [`FORMAT_VERSION`].
    #[serde(default)]
    pub version: u32,
    /// Bucket name (`five_hour`, `seven_day`) → reading.
    #[serde(default)]
    pub readings: BTreeMap<String, Reading>,
}

/// What the statusline read on its stdin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusInput {
    /// `model.id`, e.g. `claude-opus-5-5` (control characters removed).
    pub model_id: Option<String>,
    /// `model.display_name`, e.g. `Opus 5.5` (control characters removed).
    pub model_display: Option<String>,
    /// Accepted readings (bucket name, reading).
    pub readings: Vec<(String, Reading)>,
    /// Why a given reading was ignored, in words (e.g. "five_hour: used_percentage 1796192948
    /// is not a percent 0–100").
    pub rejected: Vec<String>,
    /// Whether `rate_limits` was present at all (absent before the first response, and in
    /// API-key sessions).
    pub has_rate_limits: bool,
}

/// Why there is no statusline input to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoInput {
    /// stdin is a terminal: run by hand, not by Claude Code.
    Terminal,
    /// Nothing arrived (or stdin stayed open past the deadline without a complete object).
    Empty,
    /// More than [`MAX_INPUT_BYTES`].
    TooLarge,
    /// Not JSON, or JSON that is not Claude Code's statusline object; the text says which.
    Foreign(String),
}

impl std::fmt::Display for NoInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoInput::Terminal => f.write_str(
                "no input (stdin is a terminal; Claude Code's statusLine pipes JSON in)",
            ),
            NoInput::Empty => f.write_str("no input"),
            NoInput::TooLarge => f.write_str("input too large"),
            NoInput::Foreign(why) => write!(f, "unrecognised input ({why})"),
        }
    }
}

/// Reads stdin until it ends, [`MAX_INPUT_BYTES`] or `deadline`, never longer: a stdin that
/// stays open (a terminal, a parent that never closes the pipe) ends the read at the
/// deadline, or as soon as what arrived parses as one JSON value.
pub fn read_stdin(deadline: Duration) -> Result<Vec<u8>, NoInput> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(NoInput::Terminal);
    }
    let started = Instant::now();
    let mut lock = stdin.lock();
    let mut bytes = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let ready = {
            let mut fds = [PollFd::new(lock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(n) => n > 0,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => false,
            }
        };
        if !ready {
            break;
        }
        match lock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                bytes.extend_from_slice(&chunk[..n]);
                if bytes.len() > MAX_INPUT_BYTES {
                    return Err(NoInput::TooLarge);
                }
                if bytes.ends_with(b"}") || bytes.ends_with(b"}\n") {
                    // A complete object needs no more input (the writer may keep the pipe open).
                    if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
                        break;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(NoInput::Empty);
    }
    Ok(bytes)
}

/// Parses Claude Code's statusline JSON and validates its `rate_limits` at `now`. `Err` for
/// anything that is not that object (not JSON, truncated, another tool's JSON).
pub fn parse_input(bytes: &[u8], now: DateTime<Utc>) -> Result<StatusInput, NoInput> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        NoInput::Foreign(if e.is_eof() {
            "truncated JSON".into()
        } else {
            "not JSON".into()
        })
    })?;
    let Some(obj) = value.as_object() else {
        return Err(NoInput::Foreign("not a JSON object".into()));
    };
    if !["session_id", "model", "rate_limits", "workspace"]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return Err(NoInput::Foreign(
            "none of session_id, model, rate_limits, workspace".into(),
        ));
    }
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(|s| sanitize(s).chars().take(64).collect::<String>())
            .filter(|s| !s.is_empty())
    };
    let model = obj.get("model");
    let mut input = StatusInput {
        model_id: text(model.and_then(|m| m.get("id"))),
        model_display: text(model.and_then(|m| m.get("display_name"))),
        ..StatusInput::default()
    };
    let Some(limits) = obj.get("rate_limits").filter(|v| !v.is_null()) else {
        return Ok(input);
    };
    input.has_rate_limits = true;
    for (name, kind) in CAPTURED {
        let length = forecast::window_length(&kind).num_seconds();
        let Some(window) = limits.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        match validate(window, length, now) {
            Ok((utilization, resets_at)) => input.readings.push((
                name.to_owned(),
                Reading {
                    utilization,
                    resets_at,
                    fetched_at: now,
                    source: SOURCE.to_owned(),
                },
            )),
            Err(why) => input.rejected.push(format!("{name}: {why}")),
        }
    }
    Ok(input)
}

/// Checks one `rate_limits` window: `used_percentage` a number in 0–100, `resets_at` epoch
/// seconds after `now` and at most one window length (+ [`SAME_WINDOW_SECS`]) ahead.
fn validate(
    window: &Value,
    length: i64,
    now: DateTime<Utc>,
) -> Result<(f64, DateTime<Utc>), String> {
    let pct = window.get("used_percentage");
    let utilization = pct
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("used_percentage {} is not a number", shown(pct)))?;
    if !(0.0..=100.0).contains(&utilization) {
        return Err(format!(
            "used_percentage {} is not a percent 0–100",
            shown(pct)
        ));
    }
    let reset = window.get("resets_at");
    let secs = reset
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("resets_at {} is not epoch seconds", shown(reset)))?;
    let resets_at = Utc
        .timestamp_opt(secs.floor() as i64, 0)
        .single()
        .filter(|_| secs.is_finite())
        .ok_or_else(|| format!("resets_at {} is not epoch seconds", shown(reset)))?;
    if resets_at <= now {
        return Err(format!(
            "resets_at {} is in the past",
            crate::core::time::utc(resets_at)
        ));
    }
    if resets_at > now + chrono::Duration::seconds(length + SAME_WINDOW_SECS) {
        return Err(format!(
            "resets_at {} lies beyond the window's length",
            crate::core::time::utc(resets_at)
        ));
    }
    Ok((utilization, resets_at))
}

fn shown(v: Option<&Value>) -> String {
    let s = v.map_or_else(|| "(missing)".to_owned(), Value::to_string);
    s.chars().take(24).collect()
}

/// Merges two readings of one bucket into the one to keep (pure):
/// - same window (`resets_at` within [`SAME_WINDOW_SECS`]): the newer reading, with the
///   higher utilization of the two (utilization never falls within a window; the source label
///   is that of the reading whose utilization is kept);
/// - otherwise the reading of the later window (a later `resets_at` starts a new window; an
///   earlier one came from a stale response).
pub fn merge(a: &Reading, b: &Reading) -> Reading {
    let (older, newer) = if b.fetched_at >= a.fetched_at {
        (a, b)
    } else {
        (b, a)
    };
    let apart = (newer.resets_at - older.resets_at).num_seconds();
    if apart.abs() <= SAME_WINDOW_SECS {
        let mut kept = newer.clone();
        if older.utilization > newer.utilization {
            kept.utilization = older.utilization;
            kept.source = older.source.clone();
        }
        kept
    } else if apart > 0 {
        newer.clone()
    } else {
        older.clone()
    }
}

/// The capture file of the account whose OAuth cache file is `<oauth cache name>.json`
/// (`oauth-<key>` → `statusline-<key>.json`); `None` without a cache directory.
pub fn entry(oauth_cache_name: &str) -> Option<Entry> {
    let key = oauth_cache_name
        .strip_prefix("oauth-")
        .unwrap_or(oauth_cache_name);
    Entry::new(&format!("statusline-{key}"))
}

/// Reads the capture file (`None`: missing, unreadable or another format version).
pub fn load(entry: &Entry) -> Option<Captures> {
    entry
        .read_json::<Captures>()
        .filter(|c| c.version == FORMAT_VERSION)
}

/// Merges `readings` into the capture file (under its lock, waiting at most [`LOCK_WAIT`];
/// written atomically) and returns what it holds afterwards. `Err` says why nothing was
/// written (the lock stayed busy, the directory is not writable); the returned captures are
/// then the merge in memory.
pub fn record(
    entry: &Entry,
    readings: &[(String, Reading)],
) -> Result<Captures, (Captures, String)> {
    let lock = entry.lock_for(LOCK_WAIT);
    let mut captures = load(entry).unwrap_or_default();
    captures.version = FORMAT_VERSION;
    for (name, reading) in readings {
        let kept = match captures.readings.get(name) {
            Some(old) => merge(old, reading),
            None => reading.clone(),
        };
        captures.readings.insert(name.clone(), kept);
    }
    match lock {
        // Unavailable: no lock file (an unwritable directory: the write fails too) or no
        // `flock` (some network file systems): written unlocked, still atomically.
        Lock::Held(_) | Lock::Unavailable => {
            if entry.write_json(&captures) {
                Ok(captures)
            } else {
                Err((captures, "the cache directory is not writable".into()))
            }
        }
        Lock::Busy => Err((captures, "another statusline held the capture file".into())),
    }
}

/// The bucket kind of a captured bucket name.
fn kind_of(name: &str) -> BucketKind {
    match name {
        "five_hour" => BucketKind::FiveHour,
        "seven_day" => BucketKind::SevenDay,
        _ => BucketKind::Other,
    }
}

fn bucket_of(name: &str, r: &Reading) -> Bucket {
    Bucket {
        name: name.to_owned(),
        kind: kind_of(name),
        utilization: Some(r.utilization),
        resets_at: Some(r.resets_at),
        via: None,
        locked_reason: None,
        limit_dollars: None,
        used_dollars: None,
        fetched_at: Some(r.fetched_at),
        source: Some(r.source.clone()),
    }
}

/// Combines the captures with a full snapshot (pure): each captured bucket is merged with the
/// snapshot's reading of it by [`merge`] (the snapshot's reading taken at its bucket's or the
/// snapshot's `fetched_at`); a bucket the capture changed carries its own `fetched_at` and
/// source. A snapshot without usage is left alone (see [`capture_only`]). Returns the names of
/// the buckets the capture changed.
pub fn overlay(snapshot: &mut Snapshot, captures: &Captures) -> Vec<String> {
    let fetched_at = snapshot.fetched_at;
    let base_source = snapshot.origin.kind.clone();
    let Some(usage) = snapshot.usage.as_mut() else {
        return vec![];
    };
    let mut changed = Vec::new();
    for (name, capture) in &captures.readings {
        match usage.buckets.iter_mut().find(|b| &b.name == name) {
            Some(b) => {
                let taken = b.fetched_at.or(fetched_at);
                let existing = match (b.utilization, b.resets_at, taken) {
                    (Some(u), Some(r), Some(t)) => Some(Reading {
                        utilization: u,
                        resets_at: r,
                        fetched_at: t,
                        source: b.source.clone().unwrap_or_else(|| base_source.clone()),
                    }),
                    _ => None,
                };
                let kept = match &existing {
                    Some(e) => merge(e, capture),
                    // Unreadable, no reset time (no window yet) or of unknown age: a capture
                    // taken later replaces it.
                    None if taken.is_none_or(|t| t <= capture.fetched_at) => capture.clone(),
                    None => continue,
                };
                if existing.as_ref() != Some(&kept) {
                    let mut nb = bucket_of(name, &kept);
                    nb.via = None;
                    nb.locked_reason = b.locked_reason.clone();
                    *b = nb;
                    changed.push(name.clone());
                }
            }
            None => {
                // Absent or null in the snapshot: a window the capture has seen since.
                if fetched_at.is_none_or(|t| t <= capture.fetched_at) {
                    let at = usage
                        .buckets
                        .iter()
                        .position(|b| {
                            b.kind != BucketKind::FiveHour
                                && (name == "five_hour" || b.kind != BucketKind::SevenDay)
                        })
                        .unwrap_or(usage.buckets.len());
                    usage.buckets.insert(at, bucket_of(name, capture));
                    changed.push(name.clone());
                }
            }
        }
    }
    changed
}

/// A snapshot made of the captures alone (no full snapshot is cached): only `five_hour` and
/// `seven_day` are known, so it can refuse on a pinned one but never lets a run go (no
/// `fetched_at`: the decision treats it as stale).
pub fn capture_only(captures: &Captures, location: PathBuf) -> Snapshot {
    let mut buckets: Vec<Bucket> = captures
        .readings
        .iter()
        .map(|(name, r)| bucket_of(name, r))
        .collect();
    buckets.sort_by_key(|b| b.kind != BucketKind::FiveHour);
    Snapshot {
        usage: Some(Usage {
            buckets,
            other_keys: vec![],
        }),
        overage: None,
        subscription: None,
        fetched_at: None,
        org_uuid: None,
        account_email: None,
        origin: Origin {
            kind: SOURCE.into(),
            location: location.display().to_string(),
        },
        problems: vec![
            "only five_hour and seven_day are known (from Claude Code's statusline); no full snapshot is cached".into(),
        ],
    }
}

/// Whether a capture pins a bucket at `now` (`five_hour` / `seven_day` apply to every run):
/// the decision then refuses without any request.
pub fn pins(captures: &Captures, now: DateTime<Utc>) -> Vec<String> {
    captures
        .readings
        .iter()
        .filter(|(_, r)| r.utilization >= 100.0 && r.resets_at > now)
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn reading(u: f64, resets: i64, at: i64) -> Reading {
        Reading {
            utilization: u,
            resets_at: t(resets),
            fetched_at: t(at),
            source: SOURCE.into(),
        }
    }

    const CAPTURE: &str = include_str!(
        "../../tests/fixtures/payloads/client_capture__statusline_stdin_2.1.332_rate_limits.json"
    );

    #[test]
    fn the_captured_stdin_gives_two_readings() {
        // The capture's resets: five_hour 1796192948, seven_day 1796452148.
        let now = Utc.timestamp_opt(1_796_190_000, 0).unwrap();
        let input = parse_input(CAPTURE.as_bytes(), now).unwrap();
        assert_eq!(input.model_id.as_deref(), Some("claude-opus-5-5"));
        assert_eq!(input.model_display.as_deref(), Some("Opus 5.5"));
        assert!(input.has_rate_limits);
        assert_eq!(input.rejected, Vec::<String>::new());
        let names: Vec<&str> = input.readings.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["five_hour", "seven_day"]);
        assert_eq!(input.readings[0].1.utilization, 91.0);
        assert_eq!(input.readings[0].1.resets_at.timestamp(), 1_796_192_948);
        assert_eq!(input.readings[1].1.utilization, 31.0);
    }

    #[test]
    fn bad_readings_are_rejected_with_a_reason() {
        let now = t(0);
        let doc = |five: &str| {
            format!(r#"{{"session_id":"x","rate_limits":{{"five_hour":{five},"seven_day":null}}}}"#)
        };
        let future: i64 = 1_800_000_000 + 3600;
        for (five, why) in [
            (
                format!(r#"{{"used_percentage":{future},"resets_at":{future}}}"#),
                "not a percent",
            ),
            (
                format!(r#"{{"used_percentage":-1,"resets_at":{future}}}"#),
                "not a percent",
            ),
            (
                format!(r#"{{"used_percentage":"50","resets_at":{future}}}"#),
                "not a number",
            ),
            (
                r#"{"used_percentage":50,"resets_at":1799990000}"#.to_owned(),
                "in the past",
            ),
            (
                format!(r#"{{"used_percentage":50,"resets_at":{}}}"#, future * 1000),
                "beyond",
            ),
            (r#"{"used_percentage":50}"#.to_owned(), "not epoch seconds"),
        ] {
            let input = parse_input(doc(&five).as_bytes(), now).unwrap();
            assert!(input.readings.is_empty(), "{five}");
            assert!(
                input.rejected[0].contains(why),
                "{five}: {:?}",
                input.rejected
            );
        }
        let ok = parse_input(
            doc(&format!(
                r#"{{"used_percentage":100,"resets_at":{future}}}"#
            ))
            .as_bytes(),
            now,
        )
        .unwrap();
        assert_eq!(ok.readings[0].1.utilization, 100.0);
    }

    #[test]
    fn foreign_and_truncated_input_is_refused() {
        let now = t(0);
        assert!(matches!(
            parse_input(b"[1,2]", now),
            Err(NoInput::Foreign(_))
        ));
        assert!(matches!(
            parse_input(b"{\"a\":1}", now),
            Err(NoInput::Foreign(_))
        ));
        assert_eq!(
            parse_input(&CAPTURE.as_bytes()[..200], now),
            Err(NoInput::Foreign("truncated JSON".into()))
        );
        let none = parse_input(
            br#"{"session_id":"x","model":{"id":"claude-sonnet-5"}}"#,
            now,
        )
        .unwrap();
        assert!(!none.has_rate_limits && none.readings.is_empty());
    }

    #[test]
    fn merge_never_lowers_a_window_and_a_later_reset_starts_a_new_one() {
        // same window (resets 5 min apart), lower newer reading: the higher one is kept
        let m = merge(&reading(95.0, 3600, 0), &reading(91.0, 3900, 60));
        assert_eq!(
            (m.utilization, m.fetched_at, m.resets_at),
            (95.0, t(60), t(3900))
        );
        // same window, higher newer reading
        assert_eq!(
            merge(&reading(50.0, 3600, 0), &reading(60.0, 3600, 60)).utilization,
            60.0
        );
        // order of arguments does not matter
        assert_eq!(
            merge(&reading(91.0, 3900, 60), &reading(95.0, 3600, 0)).utilization,
            95.0
        );
        // a later reset: new window, lower is fine
        let m = merge(&reading(100.0, 3600, 0), &reading(3.0, 3600 + 5 * 3600, 60));
        assert_eq!(m.utilization, 3.0);
        // an earlier reset from a newer capture: a stale response, ignored
        let m = merge(&reading(3.0, 20_000, 0), &reading(99.0, 3600, 60));
        assert_eq!(m.utilization, 3.0);
    }

    #[test]
    fn overlay_combines_with_the_full_snapshot() {
        use crate::core::snapshot::{ParseContext, parse};
        let body = format!(
            r#"{{"five_hour":{{"utilization":40,"resets_at":"{}"}},"seven_day":null,"seven_day_opus":{{"utilization":70,"resets_at":"{}"}}}}"#,
            t(3600).to_rfc3339(),
            t(86400).to_rfc3339()
        );
        let ctx = ParseContext {
            default_fetched_at: Some(t(0)),
            ..Default::default()
        };
        let origin = Origin {
            kind: "cache".into(),
            location: String::new(),
        };
        let mut snap = parse(body.as_bytes(), origin, &ctx);
        let mut caps = Captures::default();
        caps.readings
            .insert("five_hour".into(), reading(100.0, 3700, 30));
        caps.readings
            .insert("seven_day".into(), reading(20.0, 5 * 86400, 30));
        let changed = overlay(&mut snap, &caps);
        assert_eq!(changed, ["five_hour", "seven_day"]);
        let u = snap.usage.as_ref().unwrap();
        let names: Vec<&str> = u.buckets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["five_hour", "seven_day", "seven_day_opus"]);
        let five = u.bucket("five_hour").unwrap();
        assert_eq!(
            (five.utilization, five.fetched_at, five.source.as_deref()),
            (Some(100.0), Some(t(30)), Some("statusline"))
        );
        assert_eq!(u.bucket("seven_day_opus").unwrap().fetched_at, None);
        // A capture older than the snapshot and lower in the same window changes nothing.
        let mut caps = Captures::default();
        caps.readings
            .insert("five_hour".into(), reading(10.0, 3600, -30));
        let mut snap2 = parse(
            body.as_bytes(),
            Origin {
                kind: "cache".into(),
                location: String::new(),
            },
            &ctx,
        );
        assert!(overlay(&mut snap2, &caps).is_empty());
    }
}
