//! The ordered chain of snapshot sources (`--source auto`), or one source alone:
//!
//! 1. `snapshot` — `--snapshot PATH|-` when given;
//! 2. `cache` — the guard's own cache ([`crate::state::cache`]) when fresh;
//! 3. `claude-code` — `cachedUsageUtilization` in Claude Code's global config, when its
//!    `accountUuid` matches the login and it is fresh (never past 1 h); costs no request;
//! 4. `bridge` — `--bridge URL` (GET; any accepted snapshot shape);
//! 5. `oauth` — Claude Code's token against `/api/oauth/usage` ([`crate::state::oauth`]);
//! 6. `web` — claude.ai with `CLAUDE_GUARD_SESSION_KEY` ([`crate::state::web`]).
//!
//! Between 3 and 4, `statusline`: when Claude Code's statusline captured a pinned `five_hour` or
//! `seven_day` for this login ([`crate::state::capture`]), the run is refused without a request.
//! Whatever source is used (except `--snapshot` and `--bridge`, which may be another account,
//! and any source under `--org`), the statusline's readings are combined with it, each bucket
//! keeping its own `fetched_at` and source.
//!
//! A source that is not configured is skipped; one that fails falls through to the next and
//! its reason is kept (for `--explain`, and for the unknown message when all fail). When no
//! source gives a usable snapshot, the newest last-good copy (the cache, or Claude Code's copy
//! under 1 h) is handed to the decision, which only lets it *go* when younger than
//! `--max-age` (a pinned bucket refuses at any age, DESIGN.md "Freshness"); else the state is
//! unknown with every reason. Live fetches share one request per account across processes
//! (a file lock), honour recorded back-offs, and stay within a ~6 s budget.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::core::model::Family;
use crate::core::snapshot::{self, Origin, ParseContext, Snapshot};
use crate::state::cache::{self, Entry, Lock, State};
use crate::state::credentials::{self, Credentials, Lookup, Token};
use crate::state::http::Deadline;
use crate::state::oauth::{self, Fetch};
use crate::state::{capture, claude_files, refresh, source, web};

mod live;
use live::Live;

/// Which source(s) to read (`--source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SourceChoice {
    /// Every source in order: snapshot, cache, claude-code, bridge, oauth, web.
    #[default]
    Auto,
    /// Only `--snapshot PATH|-`.
    Snapshot,
    /// Only the guard's own cache (any age; no request).
    Cache,
    /// Only Claude Code's cached copy in ~/.claude.json (at most 1 h old; no request).
    ClaudeCode,
    /// Only `--bridge URL`.
    Bridge,
    /// Only the OAuth usage endpoint (through the guard's cache and back-off).
    Oauth,
    /// Only claude.ai with CLAUDE_GUARD_SESSION_KEY (through the cache and back-off).
    Web,
}

impl From<refresh::LiveSource> for SourceChoice {
    fn from(live: refresh::LiveSource) -> Self {
        match live {
            refresh::LiveSource::Oauth => SourceChoice::Oauth,
            refresh::LiveSource::Web => SourceChoice::Web,
        }
    }
}

/// The options that pick and tune the sources, as plain data (the command line builds it from
/// its shared options; nothing here knows clap's structs).
#[derive(Debug, Clone, Default)]
pub struct SourceConfig {
    /// `--snapshot PATH|-`: a file, or `-` for stdin.
    pub snapshot: Option<std::ffi::OsString>,
    /// `--bridge URL` (already checked: `https://`, or `http://` to loopback).
    pub bridge: Option<reqwest::Url>,
    /// `--source`: every source in order, or one alone.
    pub source: SourceChoice,
    /// `--ttl`: how long a cached snapshot is fresh (`None`: the cache's own rule).
    pub ttl: Option<Duration>,
    /// `--org UUID|EMAIL`: the organization to pick among several.
    pub org: Option<String>,
    /// `--utilization-scale`: how foreign files write utilization.
    pub utilization_scale: snapshot::UtilizationScale,
    /// Stale-while-revalidate: decide on a stale cached snapshot at once (refreshing it in
    /// the background) when it is within `--max-age` and no applicable bucket is near its
    /// limit ([`crate::state::refresh`]). `None`: a stale cache is fetched in the foreground.
    pub revalidate: Option<crate::state::refresh::Revalidate>,
}

/// What the chain needs to know.
pub struct Request<'a> {
    /// Which sources, and their options.
    pub config: &'a SourceConfig,
    /// The evaluation time (`--now` aware), for files and stdin.
    pub now: DateTime<Utc>,
    /// The run's model family (decides which buckets set the cache TTL).
    pub family: Family,
    /// Skip both cached copies and fetch (recorded back-offs still hold).
    pub refresh: bool,
}

/// One source's turn, for `--explain` and `--json` (`source.attempts`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    /// `snapshot`, `cache`, `claude-code`, `bridge`, `oauth`, `web` or `fallback`; or
    /// `refresh` after a stale `cache`: `background: ...` (decided on the stale snapshot, a
    /// detached refresh started or already under way) or `foreground: ...` (why the chain
    /// goes on to fetch now).
    pub source: &'static str,
    /// What happened, in words (`used: ...`, `skipped: ...`, `failed: ...`). Never a secret.
    pub result: String,
}

/// What the chain produced.
pub struct Loaded {
    /// The snapshot to decide on (unknown when nothing usable was found).
    pub snapshot: Snapshot,
    /// The ClaudeMeter JSON as read or fetched (cache and live sources), for `snapshot`.
    pub raw: Option<Value>,
    /// Every source's turn, in order.
    pub attempts: Vec<Attempt>,
    /// Things to tell the user that are not about the sources: a usage history that could
    /// not be written ([`crate::state::history`]), in words. Never fatal.
    pub notes: Vec<String>,
}

/// The message when no source is configured at all.
pub const NO_SOURCE: &str = "no snapshot source is configured: log in with `claude` (its OAuth token is used), or pass --snapshot PATH|- or --bridge URL, or set CLAUDE_GUARD_SESSION_KEY";

/// Runs the chain. Never fails: problems end up in the snapshot and the attempts. The
/// snapshot used is recorded in the usage history (DESIGN.md "Forecast"), unless it is one
/// the history already holds (a cache hit of a recorded fetch costs nothing).
pub fn load(req: &Request) -> Loaded {
    let mut chain = Chain::new(req);
    let mut loaded = chain.run();
    if !chain.history_done && usable(&loaded.snapshot) {
        chain.history_note = record_history(&loaded.snapshot).err();
    }
    loaded.notes.extend(chain.history_note.take());
    chain.scrub(loaded)
}

/// Records a snapshot's readings in the usage history; `Err` is the note to show.
fn record_history(snapshot: &Snapshot) -> Result<usize, String> {
    crate::state::history::record(
        &crate::state::history::account_of(snapshot),
        &crate::state::history::readings_of(snapshot),
    )
}

enum Step {
    Used(Box<Snapshot>, Option<Value>),
    Skipped(String),
    Failed(String),
}

impl Step {
    /// A snapshot read from a file, stdin or a bridge: used when it has usage, else failed
    /// with its problems.
    fn of(snapshot: Snapshot) -> Step {
        if usable(&snapshot) {
            Step::Used(Box::new(snapshot), None)
        } else {
            Step::Failed(snapshot.problems.join("; "))
        }
    }
}

struct Chain<'a> {
    req: &'a Request<'a>,
    ctx: ParseContext,
    deadline: Deadline,
    /// Real time when the chain started (cache mechanics use the real clock, not `--now`).
    started: DateTime<Utc>,
    attempts: Vec<Attempt>,
    failures: Vec<(&'static str, String)>,
    /// Last good copies seen on the way, for the fallback.
    fallback: Vec<(Snapshot, Option<Value>)>,
    secrets: Vec<Token>,
    /// The statusline's captures of this login, and the file they came from.
    captures: Option<(capture::Captures, std::path::PathBuf)>,
    /// The snapshot used is in the usage history already (or recording it was tried).
    history_done: bool,
    /// Why recording in the history failed.
    history_note: Option<String>,
    /// Notes to add after the current source's own attempt (the background refresh).
    pending: Vec<(&'static str, String)>,
}

fn usable(s: &Snapshot) -> bool {
    s.usage.is_some()
}

fn age_words(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{}s", (now - t).num_seconds().max(0))
}

impl<'a> Chain<'a> {
    fn new(req: &'a Request<'a>) -> Self {
        Chain {
            req,
            ctx: ParseContext {
                scale: req.config.utilization_scale,
                org: req.config.org.clone(),
                logged_in_org: None,
                default_fetched_at: None,
            },
            deadline: Deadline::start(),
            started: Utc::now(),
            attempts: Vec::new(),
            failures: Vec::new(),
            fallback: Vec::new(),
            secrets: Vec::new(),
            captures: None,
            history_done: false,
            history_note: None,
            pending: Vec::new(),
        }
    }

    fn on(&self, s: SourceChoice) -> bool {
        self.req.config.source == SourceChoice::Auto || self.req.config.source == s
    }

    fn alone(&self, s: SourceChoice) -> bool {
        self.req.config.source == s
    }

    fn note(&mut self, source: &'static str, result: impl Into<String>) {
        self.attempts.push(Attempt {
            source,
            result: result.into(),
        });
    }

    /// Records a step; returns the snapshot when it is used.
    fn record(&mut self, source: &'static str, step: Step) -> Option<(Snapshot, Option<Value>)> {
        match step {
            Step::Used(s, raw) => {
                let s = *s;
                let what = match s.fetched_at {
                    Some(t) => format!(
                        "used: {} {} (fetched {} ago)",
                        s.origin.kind,
                        s.origin.location,
                        age_words(t, self.req.now)
                    ),
                    None => format!("used: {} {}", s.origin.kind, s.origin.location),
                };
                self.note(source, what);
                Some((s, raw))
            }
            Step::Skipped(why) => {
                self.note(source, format!("skipped: {why}"));
                None
            }
            Step::Failed(why) => {
                self.note(source, format!("failed: {why}"));
                self.failures.push((source, why));
                None
            }
        }
    }

    fn run(&mut self) -> Loaded {
        let common = self.req.config;
        // 1. --snapshot
        if self.on(SourceChoice::Snapshot) {
            let step = match &common.snapshot {
                Some(path) => Step::of(source::from_path(path, &self.ctx, self.req.now)),
                None if self.alone(SourceChoice::Snapshot) => {
                    Step::Failed("--source snapshot needs --snapshot PATH|-".into())
                }
                None => Step::Skipped("no --snapshot given".into()),
            };
            if let Some(used) = self.record("snapshot", step) {
                return self.done(used, false);
            }
        }

        let oauth = (self.on(SourceChoice::Cache) || self.on(SourceChoice::Oauth))
            .then(|| self.oauth_setup());
        let web =
            (self.on(SourceChoice::Cache) || self.on(SourceChoice::Web)).then(|| self.web_setup());

        // 2. the guard's own cache
        if self.on(SourceChoice::Cache) {
            let step = if self.req.refresh && !self.alone(SourceChoice::Cache) {
                Step::Skipped("--refresh".into())
            } else {
                let lives: Vec<&Live> = [&oauth, &web]
                    .into_iter()
                    .filter_map(|l| l.as_ref().and_then(|l| l.as_ref().ok()))
                    .collect();
                self.cache_step(&lives)
            };
            let used = self.record("cache", step);
            for (source, note) in std::mem::take(&mut self.pending) {
                self.note(source, note);
            }
            if let Some(used) = used {
                return self.done(used, true);
            }
        }

        // 3. Claude Code's cached copy
        if self.on(SourceChoice::ClaudeCode) {
            let step = if self.req.refresh && !self.alone(SourceChoice::ClaudeCode) {
                Step::Skipped("--refresh".into())
            } else {
                self.claude_code_step()
            };
            if let Some(used) = self.record("claude-code", step) {
                return self.done(used, true);
            }
        }

        // 3b. a pinned bucket the statusline saw: refuse without a request
        if let Some(used) = self.statusline_step() {
            return self.done(used, false);
        }

        // 4. bridge
        if self.on(SourceChoice::Bridge) {
            let step = match &common.bridge {
                Some(url) => {
                    let timeout = self.deadline.request_timeout().unwrap_or_default();
                    Step::of(source::from_bridge(url, &self.ctx, self.req.now, timeout))
                }
                None if self.alone(SourceChoice::Bridge) => {
                    Step::Failed("--source bridge needs --bridge URL".into())
                }
                None => Step::Skipped("no --bridge given".into()),
            };
            if let Some(used) = self.record("bridge", step) {
                return self.done(used, false);
            }
        }

        // 5. OAuth, 6. claude.ai
        for (name, choice, live) in [
            ("oauth", SourceChoice::Oauth, oauth),
            ("web", SourceChoice::Web, web),
        ] {
            if !self.on(choice) {
                continue;
            }
            let step = match live {
                Some(Ok(live)) => self.live_step(&live),
                Some(Err(step)) => step,
                None => continue,
            };
            if let Some(used) = self.record(name, step) {
                return self.done(used, true);
            }
        }
        self.finish()
    }

    /// A snapshot was chosen: earlier failures become its problems (shown if it turns out
    /// stale or unreadable, and in `snapshot`'s `errors`).
    fn done(&mut self, (mut snap, raw): (Snapshot, Option<Value>), combine: bool) -> Loaded {
        if combine && self.req.config.org.is_none() {
            self.combine_captures(&mut snap);
        }
        for (source, why) in &self.failures {
            snap.problems.push(format!("{source}: {why}"));
        }
        Loaded {
            snapshot: snap,
            raw,
            attempts: std::mem::take(&mut self.attempts),
            notes: Vec::new(),
        }
    }

    /// Nothing usable: the newest last-good copy, else unknown with every reason.
    fn finish(&mut self) -> Loaded {
        let newest = std::mem::take(&mut self.fallback)
            .into_iter()
            .max_by_key(|(s, _)| s.fetched_at);
        if let Some((mut snap, raw)) = newest {
            snap.origin.location.push_str(" (last good copy)");
            let age = snap
                .fetched_at
                .map_or("an unknown time".into(), |t| age_words(t, self.req.now));
            self.note(
                "fallback",
                format!(
                    "using the last good snapshot ({} {}, fetched {age} ago); the decision lets it go only if younger than --max-age",
                    snap.origin.kind, snap.origin.location
                ),
            );
            return self.done((snap, raw), true);
        }
        let snap = if self.failures.is_empty() {
            Snapshot::unknown(
                Origin {
                    kind: "none".into(),
                    location: String::new(),
                },
                NO_SOURCE,
            )
        } else {
            let (first, _) = self.failures[0];
            let mut s = Snapshot::unknown(
                Origin {
                    kind: first.into(),
                    location: String::new(),
                },
                "",
            );
            s.problems = self
                .failures
                .iter()
                .map(|(src, why)| format!("{src}: {why}"))
                .collect();
            s
        };
        Loaded {
            snapshot: snap,
            raw: None,
            attempts: std::mem::take(&mut self.attempts),
            notes: Vec::new(),
        }
    }

    /// Combines the statusline's captures with the snapshot about to be used, and says so.
    fn combine_captures(&mut self, snap: &mut Snapshot) {
        let Some((captures, _)) = &self.captures else {
            return;
        };
        let changed = capture::overlay(snap, captures);
        if !changed.is_empty() {
            let now = Utc::now();
            let what: Vec<String> = changed
                .iter()
                .filter_map(|name| {
                    let b = snap.usage.as_ref()?.bucket(name)?;
                    Some(format!(
                        "{name} {}% (read {})",
                        crate::core::decide::fmt_pct(b.utilization?),
                        b.fetched_at
                            .map_or("at an unknown time".into(), |t| format!(
                                "{} ago",
                                age_words(t, now)
                            ))
                    ))
                })
                .collect();
            self.note(
                "statusline",
                format!(
                    "combined: {} from Claude Code's statusline",
                    what.join(", ")
                ),
            );
        }
    }

    /// Refuses without a request when the statusline captured a pinned `five_hour` or
    /// `seven_day`: the captures combined with the newest last good copy (or alone).
    fn statusline_step(&mut self) -> Option<(Snapshot, Option<Value>)> {
        if self.req.config.org.is_some() {
            return None;
        }
        let (captures, path) = self.captures.as_ref()?;
        let pinned = capture::pins(captures, self.req.now);
        if pinned.is_empty() {
            self.note("statusline", "skipped: no pinned bucket captured");
            return None;
        }
        let base = self
            .fallback
            .iter()
            .max_by_key(|(s, _)| s.fetched_at)
            .cloned();
        let (mut snap, raw) = match base {
            Some(found) => found,
            None => (capture::capture_only(captures, path.clone()), None),
        };
        capture::overlay(&mut snap, captures);
        self.note(
            "statusline",
            format!(
                "used: {} pinned as Claude Code's statusline saw it ({}); no request needed",
                pinned.join(", "),
                path.display()
            ),
        );
        Some((snap, raw))
    }

    /// `s` with every known secret replaced by `<redacted>`. Defence in depth: no message is
    /// built from a secret, but a server may echo one back in an error body.
    fn scrubbed(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for t in &self.secrets {
            if t.expose().len() >= 4 && out.contains(t.expose()) {
                out = out.replace(t.expose(), "<redacted>");
            }
        }
        out
    }

    /// `value` with every known secret scrubbed from its strings and keys (see
    /// [`Chain::scrubbed`]): a body a server answered with 200 may echo a credential back, and
    /// it is cached and printed by `snapshot`.
    fn scrub_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.scrubbed(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_value(v)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    self.scrub_value(&mut v);
                    map.insert(self.scrubbed(&k), v);
                }
            }
            _ => {}
        }
    }

    /// Scrubs every message and string that leaves the chain (see [`Chain::scrubbed`]).
    fn scrub(&self, mut loaded: Loaded) -> Loaded {
        if self.secrets.is_empty() {
            return loaded;
        }
        if let Some(raw) = &mut loaded.raw {
            self.scrub_value(raw);
        }
        let s = &mut loaded.snapshot;
        for p in s.org_uuid.iter_mut().chain(s.account_email.iter_mut()) {
            *p = self.scrubbed(p);
        }
        if let Some(u) = &mut s.usage {
            for name in u
                .buckets
                .iter_mut()
                .map(|b| &mut b.name)
                .chain(u.other_keys.iter_mut())
            {
                *name = self.scrubbed(name);
            }
        }
        for p in &mut loaded.snapshot.problems {
            *p = self.scrubbed(p);
        }
        for a in &mut loaded.attempts {
            a.result = self.scrubbed(&a.result);
        }
        loaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_on_the_command_line() {
        use clap::ValueEnum;
        let names: Vec<String> = SourceChoice::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
            .collect();
        assert_eq!(
            names,
            [
                "auto",
                "snapshot",
                "cache",
                "claude-code",
                "bridge",
                "oauth",
                "web"
            ]
        );
    }
}
