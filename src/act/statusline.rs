//! `claude-guard statusline`: one run of Claude Code's `statusLine` command. Reads the JSON on
//! stdin (bounded in size and time), records its `five_hour` / `seven_day` readings for the
//! logged-in account ([`crate::state::capture`]), combines them with the guard's cached full
//! snapshot (any age; never a request), and returns the line to print
//! ([`crate::report::statusline`]). Nothing here fails: bad input gives a short line.

use chrono::Utc;

use crate::core::model;
use crate::core::snapshot::{Origin, ParseContext, Snapshot};
use crate::report::statusline::{self as line, LineInput};
use crate::state::cache::Entry;
use crate::state::capture::{self, Captures};
use crate::state::credentials::{self, Lookup};
use crate::state::{oauth, source};

/// Whether colour is wanted: Claude Code shows the line's ANSI colours (its stdout is a pipe,
/// so colour is not tied to a terminal here); `NO_COLOR` (non-empty) turns it off.
fn colour_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The guard's cached full snapshot for the account whose OAuth cache file is `name`, at any
/// age (the line shows old readings with their age).
fn cached_snapshot(name: &str) -> Option<Snapshot> {
    let entry = Entry::new(name)?;
    let state = entry.read()?;
    let raw = state.snapshot.as_ref()?;
    let origin = Origin {
        kind: "cache".into(),
        location: entry.path.display().to_string(),
    };
    let ctx = ParseContext {
        default_fetched_at: state.fetched_at,
        ..ParseContext::default()
    };
    let snap = source::parse_value_with_org(raw, origin, ctx);
    snap.usage.is_some().then_some(snap)
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
    let account = match credentials::find() {
        Lookup::Found(creds) => Some(oauth::cache_name(&creds)),
        _ => None,
    };
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
    let mut snapshot = account.as_deref().and_then(cached_snapshot);
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
    line::line(&LineInput {
        model_display: input.model_display.as_deref(),
        family,
        snapshot: snapshot.as_ref(),
        pace: &|_| None,
        now,
        color: colour_wanted(),
    })
}
