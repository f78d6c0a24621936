//! `claude-guard statusline`: one run of Claude Code's `statusLine` command. Reads the JSON on
//! stdin (bounded in size and time), records its `five_hour` / `seven_day` readings for the
//! logged-in account ([`crate::state::capture`]), combines them with the guard's cached full
//! snapshot (any age; never a request), and returns the line to print
//! ([`crate::report::statusline`]). Nothing here fails: bad input gives a short line.

use chrono::Utc;

use crate::core::snapshot::{Origin, ParseContext, Snapshot};
use crate::core::{decide, forecast, model};
use crate::report::statusline::{self as line, LineInput};
use crate::state::cache::{self, Entry, State};
use crate::state::capture::{self, Captures};
use crate::state::credentials::{self, Lookup};
use crate::state::{claude_files, history, oauth, refresh, source};

/// Whether colour is wanted: Claude Code shows the line's ANSI colours (its stdout is a pipe,
/// so colour is not tied to a terminal here); `NO_COLOR` (non-empty) turns it off.
fn colour_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The guard's cached full snapshot for the account whose OAuth cache file is `entry`, at
/// any age (the line shows old readings with their age), and the entry's state.
fn cached_snapshot(entry: &Entry) -> (Option<Snapshot>, Option<State>) {
    let Some(state) = entry.read() else {
        return (None, None);
    };
    let Some(raw) = state.snapshot.as_ref() else {
        return (None, Some(state));
    };
    let origin = Origin {
        kind: "cache".into(),
        location: entry.path.display().to_string(),
    };
    let ctx = ParseContext {
        default_fetched_at: state.fetched_at,
        ..ParseContext::default()
    };
    let snap = source::parse_value_with_org(raw, origin, ctx);
    (snap.usage.is_some().then_some(snap), Some(state))
}

/// Starts the shared detached background refresh ([`refresh::spawn_background_unless_newer`]) when the
/// cached snapshot is older than its TTL (or missing) and a request may be sent now (no
/// back-off, hourly budget left, the token usable). Never waits for the network.
fn refresh_if_stale(
    entry: &Entry,
    state: Option<&State>,
    snapshot: Option<&Snapshot>,
    creds: &credentials::Credentials,
    family: model::Family,
    now: chrono::DateTime<Utc>,
) {
    if creds.unusable_because(now).is_some() {
        return;
    }
    if let Some(state) = state {
        let blocked =
            state.not_before.is_some_and(|t| t > now) || state.budget_exhausted(now).is_some();
        let fresh = match (snapshot, state.fetched_at) {
            (Some(s), Some(t)) => {
                (now - t).to_std().unwrap_or_default() <= cache::ttl(s, family, now, None)
            }
            _ => false,
        };
        if blocked || fresh {
            return;
        }
    }
    let seen = state.and_then(|s| s.fetched_at);
    let _ = refresh::spawn_background_unless_newer(entry, refresh::LiveSource::Oauth, None, seen);
}

/// Runs the statusline and returns its line (without a newline).
pub fn run() -> String {
    let now = Utc::now();
    let bytes = match capture::read_stdin(capture::READ_DEADLINE) {
        Ok(b) => b,
        Err(why) => return line::short_line(&why.to_string()),
    };
    let input = match capture::parse_input(&bytes, now) {
        Ok(i) => i,
        Err(why) => return line::short_line(&why.to_string()),
    };
    let family = input
        .model_id
        .as_deref()
        .and_then(|m| model::family_of(m, false));
    let creds = match credentials::find() {
        Lookup::Found(creds) => Some(creds),
        _ => None,
    };
    let account = creds.as_ref().map(oauth::cache_name);
    let capture_entry = account.as_deref().and_then(capture::entry);
    let captures: Option<Captures> = match &capture_entry {
        Some(entry) if !input.readings.is_empty() => {
            Some(capture::record(entry, &input.readings).unwrap_or_else(|(in_memory, _)| in_memory))
        }
        Some(entry) => capture::load(entry),
        None if !input.readings.is_empty() => Some(Captures {
            version: capture::FORMAT_VERSION,
            readings: input.readings.iter().cloned().collect(),
        }),
        None => None,
    };
    let cache_entry = account.as_deref().and_then(Entry::new);
    let (mut snapshot, state) = match &cache_entry {
        Some(entry) => cached_snapshot(entry),
        None => (None, None),
    };
    let cached_account = snapshot
        .as_ref()
        .map(|s| (s.org_uuid.clone(), s.account_email.clone()));
    // A pinned capture stays pinned until its reset: no fetch can change that before then.
    let pinned = captures
        .as_ref()
        .is_some_and(|c| !capture::pins(c, now).is_empty());
    if let (Some(entry), Some(creds), false) = (&cache_entry, &creds, pinned) {
        refresh_if_stale(
            entry,
            state.as_ref(),
            snapshot.as_ref(),
            creds,
            family.unwrap_or(model::Family::Opus),
            now,
        );
    }
    if let Some(caps) = &captures {
        match &mut snapshot {
            Some(s) => {
                capture::overlay(s, caps);
            }
            None => {
                let at = capture_entry.map(|e| e.path).unwrap_or_default();
                snapshot = Some(capture::capture_only(caps, at));
            }
        }
    }
    let forecasts = match history_account(cached_account.as_ref()) {
        Some(key) => paces(
            &key,
            &input.readings,
            snapshot.as_ref(),
            family.unwrap_or(model::Family::Opus),
            now,
        ),
        None => Vec::new(),
    };
    let pace = |bucket: &str| {
        forecasts
            .iter()
            .find(|f| f.bucket == bucket)
            .and_then(|f| f.pace_per_hour)
    };
    line::line(&LineInput {
        model_display: input.model_display.as_deref(),
        family,
        snapshot: snapshot.as_ref(),
        pace: &pace,
        now,
        color: colour_wanted(),
    })
}

/// The usage history's key of the logged-in account ([`history::account_key`]): from the
/// cached snapshot's `org_uuid` / `account_email` (the OAuth profile), else Claude Code's
/// `oauthAccount` in its global config (read only when nothing is cached).
fn history_account(cached: Option<&(Option<String>, Option<String>)>) -> Option<String> {
    if let Some((org, email)) = cached
        && (org.is_some() || email.is_some())
    {
        return Some(history::account_key(org.as_deref(), email.as_deref()));
    }
    let (_, parts) = claude_files::global_config_parts().ok()?;
    let account = parts.oauth_account.as_ref()?;
    let text = |k: &str| account.get(k).and_then(|v| v.as_str());
    let (org, email) = (text("organizationUuid"), text("emailAddress"));
    (org.is_some() || email.is_some()).then(|| history::account_key(org, email))
}

/// Records the accepted readings as they came (a lower one of the same window is kept in the
/// history but does not lower the bucket: DESIGN.md "Windows") and returns the forecast (pace)
/// of every bucket that applies to `family`, on one open history. A history that cannot be
/// used is skipped silently: the line has no room for a note.
fn paces(
    key: &str,
    readings: &[(String, capture::Reading)],
    snapshot: Option<&Snapshot>,
    family: model::Family,
    now: chrono::DateTime<Utc>,
) -> Vec<forecast::BucketForecast> {
    let rows: Vec<history::BucketReading> = readings
        .iter()
        .map(|(name, r)| history::BucketReading {
            bucket: name.clone(),
            reading: forecast::Reading {
                fetched_at: r.fetched_at,
                utilization: r.utilization,
                resets_at: Some(r.resets_at),
            },
        })
        .collect();
    let targets: Vec<history::Target> = snapshot
        .and_then(|s| s.usage.as_ref())
        .into_iter()
        .flat_map(|u| u.buckets.iter())
        .filter(|b| decide::applies(b, family))
        .map(|b| history::Target {
            bucket: &b.name,
            kind: &b.kind,
            current: snapshot.and_then(|s| history::current_reading(s, b)),
        })
        .collect();
    history::record_and_forecast(key, &rows, &targets, now, 100.0).0
}
