//! The ordered chain of snapshot sources (`--source auto`), or one source alone:
//!
//! 1. `snapshot` — `--snapshot PATH|-` when given;
//! 2. `cache` — the guard's own cache ([`crate::cache`]) when fresh;
//! 3. `claude-code` — `cachedUsageUtilization` in Claude Code's global config, when its
//!    `accountUuid` matches the login and it is fresh (never past 1 h); costs no request;
//! 4. `bridge` — `--bridge URL` (GET; any accepted snapshot shape);
//! 5. `oauth` — Claude Code's token against `/api/oauth/usage` ([`crate::oauth`]);
//! 6. `web` — claude.ai with `CLAUDE_GUARD_SESSION_KEY` ([`crate::web`]).
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

use crate::cache::{self, Entry, Lock, State};
use crate::cli::Common;
use crate::credentials::{self, Credentials, Lookup, Token};
use crate::http::Deadline;
use crate::model::Family;
use crate::oauth::{self, Fetch};
use crate::report;
use crate::snapshot::{self, Origin, ParseContext, Snapshot};
use crate::{claude_files, source, web};

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

/// What the chain needs to know.
pub struct Request<'a> {
    /// Shared options (`--snapshot`, `--bridge`, `--source`, `--ttl`, `--org`, ...).
    pub common: &'a Common,
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
    /// `snapshot`, `cache`, `claude-code`, `bridge`, `oauth`, `web` or `fallback`.
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
}

/// The message when no source is configured at all.
pub const NO_SOURCE: &str = "no snapshot source is configured: log in with `claude` (its OAuth token is used), or pass --snapshot PATH|- or --bridge URL, or set CLAUDE_GUARD_SESSION_KEY";

/// Runs the chain. Never fails: problems end up in the snapshot and the attempts.
pub fn load(req: &Request) -> Loaded {
    let mut chain = Chain::new(req);
    let loaded = chain.run();
    chain.scrub(loaded)
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

/// A live source (OAuth or claude.ai) ready to be read.
struct Live {
    name: &'static str,
    /// URL shown in messages (no credentials).
    shown: String,
    /// The cache entry (`None`: no cache directory can be named).
    entry: Option<Entry>,
    /// Fingerprint of the token or cookie, to recognise one the server rejected.
    fingerprint: String,
    kind: LiveKind,
}

enum LiveKind {
    Oauth {
        creds: Credentials,
        base: reqwest::Url,
    },
    Web {
        key: Token,
        base: reqwest::Url,
    },
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
                scale: req.common.utilization_scale,
                org: req.common.org.clone(),
                logged_in_org: None,
                default_fetched_at: None,
            },
            deadline: Deadline::start(),
            started: Utc::now(),
            attempts: Vec::new(),
            failures: Vec::new(),
            fallback: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn on(&self, s: SourceChoice) -> bool {
        self.req.common.source == SourceChoice::Auto || self.req.common.source == s
    }

    fn alone(&self, s: SourceChoice) -> bool {
        self.req.common.source == s
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
                        age_words(t, Utc::now())
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
        let common = self.req.common;
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
                return self.done(used);
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
            if let Some(used) = self.record("cache", step) {
                return self.done(used);
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
                return self.done(used);
            }
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
                return self.done(used);
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
                return self.done(used);
            }
        }
        self.finish()
    }

    /// A snapshot was chosen: earlier failures become its problems (shown if it turns out
    /// stale or unreadable, and in `snapshot`'s `errors`).
    fn done(&mut self, (mut snap, raw): (Snapshot, Option<Value>)) -> Loaded {
        for (source, why) in &self.failures {
            snap.problems.push(format!("{source}: {why}"));
        }
        Loaded {
            snapshot: snap,
            raw,
            attempts: std::mem::take(&mut self.attempts),
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
                .map_or("an unknown time".into(), |t| age_words(t, Utc::now()));
            self.note(
                "fallback",
                format!(
                    "using the last good snapshot ({} {}, fetched {age} ago); the decision lets it go only if younger than --max-age",
                    snap.origin.kind, snap.origin.location
                ),
            );
            return self.done((snap, raw));
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
        }
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

    /// Scrubs every message that leaves the chain (see [`Chain::scrubbed`]).
    fn scrub(&self, mut loaded: Loaded) -> Loaded {
        for p in &mut loaded.snapshot.problems {
            *p = self.scrubbed(p);
        }
        for a in &mut loaded.attempts {
            a.result = self.scrubbed(&a.result);
        }
        loaded
    }

    fn oauth_setup(&mut self) -> Result<Live, Step> {
        let creds = match credentials::find() {
            Lookup::Found(c) => c,
            Lookup::NotConfigured(why) => return Err(Step::Skipped(why)),
            Lookup::Unusable(why) => return Err(Step::Failed(why)),
        };
        self.secrets.push(creds.token.clone());
        let base = oauth::base_url().map_err(Step::Failed)?;
        let shown = source::display_url(&crate::http::endpoint(&base, "/api/oauth/usage"));
        Ok(Live {
            name: "oauth",
            shown,
            entry: Entry::new(&oauth::cache_name(&creds)),
            fingerprint: creds.token.fingerprint("claude-guard rejected"),
            kind: LiveKind::Oauth { creds, base },
        })
    }

    fn web_setup(&mut self) -> Result<Live, Step> {
        let Some(key) = web::session_key() else {
            return Err(Step::Skipped(format!("{} is not set", web::KEY_ENV)));
        };
        self.secrets.push(key.clone());
        let base = web::base_url().map_err(Step::Failed)?;
        Ok(Live {
            name: "web",
            shown: source::display_url(&base),
            entry: Entry::new(&web::cache_name(&key)),
            fingerprint: key.fingerprint("claude-guard rejected"),
            kind: LiveKind::Web { key, base },
        })
    }

    /// Parses a state's snapshot (from the cache, or just fetched) and remembers it for the
    /// fallback. `Err` says why it cannot be used here.
    fn cached_snapshot(&mut self, live: &Live, state: &State) -> Result<Snapshot, String> {
        let raw = state.snapshot.as_ref().ok_or("no cached snapshot")?;
        let origin = Origin {
            kind: "cache".into(),
            location: match &live.entry {
                Some(entry) => format!("{} {}", live.name, entry.path.display()),
                None => live.name.to_owned(),
            },
        };
        let ctx = ParseContext {
            default_fetched_at: state.fetched_at,
            ..self.ctx.clone()
        };
        let snap = source::parse_value_with_org(raw, origin, ctx);
        if !usable(&snap) {
            return Err(snap.problems.join("; "));
        }
        if let Some(why) = self.org_mismatch(&snap) {
            return Err(why);
        }
        self.fallback.push((snap.clone(), Some(raw.clone())));
        Ok(snap)
    }

    /// For a single-organization source: why `--org` does not match the snapshot.
    fn org_mismatch(&self, snap: &Snapshot) -> Option<String> {
        let want = self.req.common.org.as_deref()?;
        let names = [snap.org_uuid.as_deref(), snap.account_email.as_deref()];
        if names.iter().all(Option::is_none)
            || names.iter().flatten().any(|n| n.eq_ignore_ascii_case(want))
        {
            return None;
        }
        Some(format!(
            "this login is for {}, not --org {want}",
            names
                .iter()
                .flatten()
                .copied()
                .collect::<Vec<_>>()
                .join(" / ")
        ))
    }

    /// Whether a cached state is fresh at `now`: its snapshot, when so.
    fn fresh(
        &mut self,
        live: &Live,
        state: &State,
        now: DateTime<Utc>,
    ) -> Result<Snapshot, String> {
        let snap = self
            .cached_snapshot(live, state)
            .map_err(|why| format!("{}: {why}", live.name))?;
        let fetched = snap.fetched_at.unwrap_or(DateTime::<Utc>::MIN_UTC);
        let age = (now - fetched).to_std().unwrap_or_default();
        let ttl = cache::ttl(&snap, self.req.family, now, self.req.common.ttl);
        if age <= ttl {
            Ok(snap)
        } else {
            Err(format!(
                "{}: cached {}s ago, older than its TTL {}s",
                live.name,
                age.as_secs(),
                ttl.as_secs()
            ))
        }
    }

    fn cache_step(&mut self, lives: &[&Live]) -> Step {
        if lives.is_empty() {
            return if self.alone(SourceChoice::Cache) {
                Step::Failed("no Claude Code login or session key names a cache entry".into())
            } else {
                Step::Skipped("no login or session key to look up".into())
            };
        }
        let now = Utc::now();
        let mut misses = Vec::new();
        for live in lives {
            let Some(state) = live.entry.as_ref().and_then(Entry::read) else {
                misses.push(format!("{}: no cache entry", live.name));
                continue;
            };
            match self.fresh(live, &state, now) {
                Ok(snap) => {
                    let raw = state.snapshot.clone();
                    return Step::Used(Box::new(snap), raw);
                }
                Err(why) => misses.push(why),
            }
        }
        if self.alone(SourceChoice::Cache) {
            // Alone, any age will do: the decision judges freshness against --max-age.
            if let Some((snap, raw)) = std::mem::take(&mut self.fallback)
                .into_iter()
                .max_by_key(|(s, _)| s.fetched_at)
            {
                return Step::Used(Box::new(snap), raw);
            }
            return Step::Failed(misses.join("; "));
        }
        Step::Skipped(format!("miss ({})", misses.join("; ")))
    }

    fn claude_code_step(&mut self) -> Step {
        let (path, value) = match claude_files::cached_usage() {
            Ok(found) => found,
            Err(why) if self.alone(SourceChoice::ClaudeCode) => return Step::Failed(why),
            Err(why) => return Step::Skipped(why),
        };
        let origin = Origin {
            kind: "claude-code-cache".into(),
            location: path.display().to_string(),
        };
        let snap = snapshot::parse_value(&value, origin, &self.ctx);
        if !usable(&snap) {
            return Step::Skipped(snap.problems.join("; "));
        }
        if let Some(why) = self.org_mismatch(&snap) {
            return Step::Skipped(why);
        }
        let now = Utc::now();
        let Some(fetched) = snap.fetched_at else {
            return Step::Skipped("Claude Code's cached usage has no fetchedAtMs".into());
        };
        let age = (now - fetched).to_std().unwrap_or_default();
        if age > cache::CLAUDE_CODE_MAX_AGE {
            return Step::Skipped(format!(
                "Claude Code's cached usage is {}s old (trusted for at most 1 h)",
                age.as_secs()
            ));
        }
        self.fallback.push((snap.clone(), None));
        let ttl = cache::ttl(&snap, self.req.family, now, self.req.common.ttl)
            .min(cache::CLAUDE_CODE_MAX_AGE);
        if age <= ttl || self.alone(SourceChoice::ClaudeCode) {
            Step::Used(Box::new(snap), None)
        } else {
            Step::Skipped(format!(
                "Claude Code's cached usage is {}s old, older than its TTL {}s",
                age.as_secs(),
                ttl.as_secs()
            ))
        }
    }

    /// Why no request may be sent now, from the recorded state.
    fn blocked(&self, live: &Live, state: &State, now: DateTime<Utc>) -> Option<String> {
        if state.rejected.as_deref() == Some(live.fingerprint.as_str())
            && state.not_before.is_some_and(|t| t > now)
        {
            return Some(format!(
                "{} (not sent again with this credential for an hour or until it changes)",
                state.rejected_reason.as_deref().unwrap_or("rejected")
            ));
        }
        if let Some(t) = state.not_before.filter(|t| *t > now)
            && state.rejected.is_none()
        {
            return Some(format!(
                "{}; no request before {} ({})",
                state.backoff_reason.as_deref().unwrap_or("backing off"),
                report::utc(t),
                report::relative(t, now)
            ));
        }
        if let Some(t) = state.budget_exhausted(now) {
            return Some(format!(
                "claude-guard's own budget of {} requests an hour for this account is used up (the endpoint allows about 30, shared with Claude Code); no request before {} ({})",
                cache::HOURLY_BUDGET,
                report::utc(t),
                report::relative(t, now)
            ));
        }
        None
    }

    /// Whether a state (read under the lock, or after waiting for it) holds a snapshot this
    /// evaluation may use instead of fetching: one fetched since the chain started (another
    /// process just fetched), or — without `--refresh` — one still fresh.
    fn fetched_meanwhile(&mut self, live: &Live, state: &State) -> Option<Snapshot> {
        let now = Utc::now();
        if state.fetched_at.is_some_and(|t| t >= self.started) {
            return self.cached_snapshot(live, state).ok();
        }
        if !self.req.refresh {
            return self.fresh(live, state, now).ok();
        }
        None
    }

    fn live_step(&mut self, live: &Live) -> Step {
        let prefix = format!("{} ({})", live.name, live.shown);
        let now = Utc::now();
        let state = live
            .entry
            .as_ref()
            .and_then(Entry::read)
            .unwrap_or_default();
        // The last good copy stays available as the fallback, whatever happens below.
        let _ = self.cached_snapshot(live, &state);
        if let Some(snap) = self.fetched_meanwhile(live, &state) {
            return Step::Used(Box::new(snap), state.snapshot.clone());
        }
        if let Some(why) = self.blocked(live, &state, now) {
            return Step::Failed(format!("{prefix}: {why}"));
        }
        if let LiveKind::Oauth { creds, .. } = &live.kind
            && let Some(why) = creds.unusable_because(now)
        {
            return Step::Failed(why);
        }
        let lock = match &live.entry {
            Some(entry) => entry.lock(&self.deadline),
            None => Lock::Unavailable,
        };
        let mut state = state;
        if matches!(lock, Lock::Held(_) | Lock::Busy) {
            // Another process may have fetched while this one waited for the lock.
            state = live
                .entry
                .as_ref()
                .and_then(Entry::read)
                .unwrap_or_default();
            if let Some(snap) = self.fetched_meanwhile(live, &state) {
                return Step::Used(Box::new(snap), state.snapshot.clone());
            }
            if matches!(lock, Lock::Busy) {
                return Step::Failed(format!(
                    "{prefix}: another claude-guard process is fetching and did not finish in time; not sending a second request"
                ));
            }
            if let Some(why) = self.blocked(live, &state, Utc::now()) {
                return Step::Failed(format!("{prefix}: {why}"));
            }
        }
        let fetched = match &live.kind {
            LiveKind::Oauth { creds, base } => oauth::fetch(creds, base, &self.deadline),
            LiveKind::Web { key, base } => {
                let org = self.req.common.org.clone();
                web::fetch(
                    key,
                    base,
                    org.as_deref(),
                    &claude_files::logged_in_org,
                    &self.deadline,
                )
            }
        };
        let now = Utc::now();
        state.record_sent(now);
        let step = self.apply(live, &mut state, fetched, now, &prefix);
        if let Some(entry) = &live.entry
            && matches!(lock, Lock::Held(_))
        {
            entry.write(&state);
        }
        drop(lock);
        step
    }

    /// Folds a fetch into the state (back-off, rejection, last good) and says what it gave.
    fn apply(
        &mut self,
        live: &Live,
        state: &mut State,
        fetched: Fetch,
        now: DateTime<Utc>,
        prefix: &str,
    ) -> Step {
        let later = |d: Duration| now + chrono::Duration::from_std(d).unwrap_or_default();
        // Reasons are stored in the cache file: never with a secret a server echoed back.
        let fetched = match fetched {
            Fetch::Backoff { wait, why } => Fetch::Backoff {
                wait,
                why: self.scrubbed(&why),
            },
            Fetch::Rejected(why) => Fetch::Rejected(self.scrubbed(&why)),
            Fetch::Failed(why) => Fetch::Failed(self.scrubbed(&why)),
            good => good,
        };
        match fetched {
            Fetch::Good(value) => {
                state.snapshot = Some(value);
                state.fetched_at = Some(now);
                state.failures = 0;
                state.not_before = None;
                state.backoff_reason = None;
                state.rejected = None;
                state.rejected_reason = None;
                match self.cached_snapshot(live, state) {
                    Ok(mut snap) => {
                        snap.origin = Origin {
                            kind: live.name.into(),
                            location: live.shown.clone(),
                        };
                        Step::Used(Box::new(snap), state.snapshot.clone())
                    }
                    Err(why) => Step::Failed(format!("{prefix}: {why}")),
                }
            }
            Fetch::Backoff { wait, why } => {
                let until = later(wait);
                state.not_before = Some(until);
                state.backoff_reason = Some(why.clone());
                state.rejected = None;
                Step::Failed(format!(
                    "{prefix}: {why}; the next request is allowed at {} ({})",
                    report::utc(until),
                    report::relative(until, now)
                ))
            }
            Fetch::Rejected(why) => {
                state.rejected = Some(live.fingerprint.clone());
                state.rejected_reason = Some(why.clone());
                state.not_before = Some(later(Duration::from_secs(3600)));
                state.backoff_reason = None;
                Step::Failed(format!("{prefix}: {why}"))
            }
            Fetch::Failed(why) => {
                state.failures = state.failures.saturating_add(1);
                let until = later(State::failure_backoff(state.failures));
                state.not_before = Some(until);
                state.rejected = None;
                state.backoff_reason = Some(format!(
                    "{why} ({} failed attempt{} in a row)",
                    state.failures,
                    if state.failures == 1 { "" } else { "s" }
                ));
                Step::Failed(format!("{prefix}: {why}"))
            }
        }
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
