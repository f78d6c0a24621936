//! The mechanics of each source in the chain: the guard's cache, Claude Code's cached copy, and
//! the live endpoints (OAuth, claude.ai) behind the shared lock, back-off and hourly budget.
//! The order in which they are tried is in the parent module.

use chrono::{DateTime, Utc};

use crate::core::decide;

use super::*;

/// A live source (OAuth or claude.ai) ready to be read.
pub(super) struct Live {
    /// URL shown in messages (no credentials).
    pub(super) shown: String,
    /// The cache entry (`None`: no cache directory can be named).
    pub(super) entry: Option<Entry>,
    /// Fingerprint of the token or cookie, to recognise one the server rejected.
    pub(super) fingerprint: String,
    pub(super) kind: LiveKind,
}

impl Live {
    /// Which live source this is (what a background refresh of its entry fetches from).
    pub(super) fn source(&self) -> refresh::LiveSource {
        match self.kind {
            LiveKind::Oauth { .. } => refresh::LiveSource::Oauth,
            LiveKind::Web { .. } => refresh::LiveSource::Web,
        }
    }

    /// The source's name in messages and cache origins: `oauth`, `web`.
    pub(super) fn name(&self) -> &'static str {
        self.source().name()
    }
}

pub(super) enum LiveKind {
    Oauth {
        creds: Credentials,
        base: reqwest::Url,
    },
    Web {
        key: Token,
        base: reqwest::Url,
    },
}

/// A cached copy written more than [`decide::MAX_CLOCK_SKEW`] after `now` (real time): a
/// miss, so that a fresh copy is fetched instead of trusting it for as long as it stays ahead.
fn from_the_future(fetched: DateTime<Utc>, now: DateTime<Utc>) -> Option<String> {
    let ahead = (fetched - now).to_std().ok()?;
    (ahead > decide::MAX_CLOCK_SKEW).then(|| {
        format!(
            "fetched {} in the future (more than the {} min clock skew allowed); not trusted",
            humantime::format_duration(Duration::from_secs(ahead.as_secs())),
            decide::MAX_CLOCK_SKEW.as_secs() / 60
        )
    })
}

impl Chain<'_> {
    pub(super) fn oauth_setup(&mut self) -> Result<Live, Step> {
        let creds = match credentials::find() {
            Lookup::Found(c) => c,
            Lookup::NotConfigured(why) => return Err(Step::Skipped(why)),
            Lookup::Unusable(why) => return Err(Step::Failed(why)),
        };
        self.secrets.push(creds.token.clone());
        let name = oauth::cache_name(&creds);
        if let Some(entry) = capture::entry(&name)
            && let Some(found) = capture::load(&entry)
        {
            self.captures = Some((found, entry.path));
        }
        let base = oauth::base_url().map_err(Step::Failed)?;
        let shown = source::display_url(&crate::state::http::endpoint(&base, "/api/oauth/usage"));
        Ok(Live {
            shown,
            entry: Entry::new(&name),
            fingerprint: creds.token.fingerprint("claude-guard rejected"),
            kind: LiveKind::Oauth { creds, base },
        })
    }

    pub(super) fn web_setup(&mut self) -> Result<Live, Step> {
        let Some(key) = web::session_key() else {
            return Err(Step::Skipped(format!("{} is not set", web::KEY_ENV)));
        };
        self.secrets.push(key.clone());
        let base = web::base_url().map_err(Step::Failed)?;
        Ok(Live {
            shown: source::display_url(&base),
            entry: Entry::new(&web::cache_name(&key)),
            fingerprint: key.fingerprint("claude-guard rejected"),
            kind: LiveKind::Web { key, base },
        })
    }

    /// Parses a state's snapshot (from the cache, or just fetched) and remembers it for the
    /// fallback. `Err` says why it cannot be used here.
    pub(super) fn cached_snapshot(
        &mut self,
        live: &Live,
        state: &State,
    ) -> Result<Snapshot, String> {
        let raw = state.snapshot.as_ref().ok_or("no cached snapshot")?;
        let origin = Origin {
            kind: "cache".into(),
            location: match &live.entry {
                Some(entry) => format!("{} {}", live.name(), entry.path.display()),
                None => live.name().to_owned(),
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
    pub(super) fn org_mismatch(&self, snap: &Snapshot) -> Option<String> {
        let want = self.req.config.org.as_deref()?;
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

    /// Whether a cached state is fresh at `now`: its snapshot, when so; else why not, with the
    /// snapshot when it is only past its TTL (a candidate for stale-while-revalidate).
    pub(super) fn fresh(
        &mut self,
        live: &Live,
        state: &State,
        now: DateTime<Utc>,
    ) -> Result<Snapshot, (String, Option<Box<Snapshot>>)> {
        let snap = self
            .cached_snapshot(live, state)
            .map_err(|why| (format!("{}: {why}", live.name()), None))?;
        let fetched = snap.fetched_at.unwrap_or(DateTime::<Utc>::MIN_UTC);
        if let Some(why) = from_the_future(fetched, now) {
            return Err((format!("{}: {why}", live.name()), None));
        }
        let age = (now - fetched).to_std().unwrap_or_default();
        let ttl = cache::ttl(&snap, self.req.family, now, self.req.config.ttl);
        if age <= ttl {
            Ok(snap)
        } else {
            Err((
                format!(
                    "{}: cached {}s ago, older than its TTL {}s",
                    live.name(),
                    age.as_secs(),
                    ttl.as_secs()
                ),
                Some(Box::new(snap)),
            ))
        }
    }

    /// Stale-while-revalidate ([`crate::state::refresh`]): of the stale cached snapshots, the
    /// newest, when it is within `--max-age`, no applicable bucket is near its limit, and a
    /// request could be sent now; a background refresh of its entry is started (unless one
    /// is under way). `None`: the chain goes on and fetches in the foreground as before (the
    /// reason is noted for `--explain`).
    fn revalidate(
        &mut self,
        stale: Vec<(&Live, Box<Snapshot>, State)>,
        now: DateTime<Utc>,
    ) -> Option<Step> {
        let rv = self.req.config.revalidate?;
        let (live, snap, state) = stale.into_iter().max_by_key(|(_, s, _)| s.fetched_at)?;
        let age = snap.fetched_at.map(|t| (now - t).num_seconds().max(0));
        let max_age = rv.max_age.as_secs() as i64;
        if age.is_none_or(|a| a > max_age) {
            self.pending.push((
                "refresh",
                format!("foreground: the cached snapshot is older than --max-age {max_age}s"),
            ));
            return None;
        }
        // Judged with the statusline's readings: a capture near or at the limit means the
        // decision must not ride on the stale copy (a pinned capture refuses without a fetch).
        let mut judged = (*snap).clone();
        if self.req.config.org.is_none()
            && let Some((captures, _)) = &self.captures
        {
            capture::overlay(&mut judged, captures);
        }
        if let Some(why) = refresh::near_limit(&judged, self.req.family, now, rv.max_utilization) {
            self.pending.push(("refresh", format!("foreground: {why}")));
            return None;
        }
        // Blocked (back-off, budget, a rejected or expired token): the live step says why and
        // the chain goes on as before, without a request.
        if self.blocked(live, &state, now).is_some() {
            return None;
        }
        if let LiveKind::Oauth { creds, .. } = &live.kind
            && creds.unusable_because(now).is_some()
        {
            return None;
        }
        let entry = live.entry.as_ref()?;
        let spawned = refresh::spawn_background_unless_newer(
            entry,
            live.source(),
            self.req.config.org.as_deref(),
            state.fetched_at,
        );
        if let refresh::Spawned::Failed(why) = &spawned {
            // No refresh would ever come: fetch now, as without stale-while-revalidate.
            self.pending.push((
                "refresh",
                format!("foreground: no background refresh could be started ({why})"),
            ));
            return None;
        }
        self.pending.push(("refresh", spawned.describe()));
        // As on a fresh hit: a copy whose readings are in the history does not open it.
        self.seen_recorded(&state);
        Some(Step::Used(snap, state.snapshot))
    }

    pub(super) fn cache_step(&mut self, lives: &[&Live]) -> Step {
        if lives.is_empty() {
            return if self.alone(SourceChoice::Cache) {
                Step::Failed("no Claude Code login or session key names a cache entry".into())
            } else {
                Step::Skipped("no login or session key to look up".into())
            };
        }
        let now = Utc::now();
        let mut misses = Vec::new();
        let mut stale = Vec::new();
        for live in lives {
            let Some(state) = live.entry.as_ref().and_then(Entry::read) else {
                misses.push(format!("{}: no cache entry", live.name()));
                continue;
            };
            match self.fresh(live, &state, now) {
                Ok(snap) => {
                    self.seen_recorded(&state);
                    return Step::Used(Box::new(snap), state.snapshot);
                }
                Err((why, snap)) => {
                    misses.push(why);
                    if let Some(snap) = snap {
                        stale.push((*live, snap, state));
                    }
                }
            }
        }
        if !self.alone(SourceChoice::Cache)
            && let Some(step) = self.revalidate(stale, now)
        {
            return step;
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

    pub(super) fn claude_code_step(&mut self) -> Step {
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
        if let Some(why) = from_the_future(fetched, now) {
            return Step::Skipped(format!("Claude Code's cached usage: {why}"));
        }
        let age = (now - fetched).to_std().unwrap_or_default();
        if age > cache::CLAUDE_CODE_MAX_AGE {
            return Step::Skipped(format!(
                "Claude Code's cached usage is {}s old (trusted for at most 1 h)",
                age.as_secs()
            ));
        }
        self.fallback.push((snap.clone(), None));
        let ttl = cache::ttl(&snap, self.req.family, now, self.req.config.ttl)
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
    pub(super) fn blocked(&self, live: &Live, state: &State, now: DateTime<Utc>) -> Option<String> {
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
                crate::core::time::utc(t),
                crate::core::time::relative(t, now)
            ));
        }
        if let Some(t) = state.budget_exhausted(now) {
            return Some(format!(
                "claude-guard's own budget of {} requests an hour for this account is used up (the endpoint allows about 30, shared with Claude Code); no request before {} ({})",
                cache::HOURLY_BUDGET,
                crate::core::time::utc(t),
                crate::core::time::relative(t, now)
            ));
        }
        None
    }

    /// Whether a state (read under the lock, or after waiting for it) holds a snapshot this
    /// evaluation may use instead of fetching: one fetched since the chain started (another
    /// process just fetched), or — without `--refresh` — one still fresh.
    pub(super) fn fetched_meanwhile(&mut self, live: &Live, state: &State) -> Option<Snapshot> {
        let now = Utc::now();
        // (not one "fetched" after now: a copy from the future is never taken as just fetched)
        if state
            .fetched_at
            .is_some_and(|t| t >= self.started && from_the_future(t, now).is_none())
        {
            return self.cached_snapshot(live, state).ok();
        }
        if !self.req.refresh {
            return self.fresh(live, state, now).ok();
        }
        None
    }

    /// Notes that a cached state's snapshot is in the usage history already.
    fn seen_recorded(&mut self, state: &State) {
        if state.recorded.is_some() && state.recorded == state.fetched_at {
            self.history_done = true;
        }
    }

    pub(super) fn live_step(&mut self, live: &Live) -> Step {
        let prefix = format!("{} ({})", live.name(), live.shown);
        let now = Utc::now();
        let state = live
            .entry
            .as_ref()
            .and_then(Entry::read)
            .unwrap_or_default();
        // The last good copy stays available as the fallback, whatever happens below.
        let _ = self.cached_snapshot(live, &state);
        if let Some(snap) = self.fetched_meanwhile(live, &state) {
            self.seen_recorded(&state);
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
                self.seen_recorded(&state);
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
                let org = self.req.config.org.clone();
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
        if let Step::Used(snap, _) = &step {
            // Recorded here, under the lock, so that the cache entry says so and the starts
            // that read it from the cache do not open the history.
            self.history_done = true;
            match record_history(snap) {
                Ok(_) => state.recorded = state.fetched_at,
                Err(note) => self.history_note = Some(note),
            }
        }
        if let Some(entry) = &live.entry
            && matches!(lock, Lock::Held(_))
        {
            entry.write(&state);
        }
        drop(lock);
        step
    }

    /// Folds a fetch into the state (back-off, rejection, last good) and says what it gave.
    pub(super) fn apply(
        &mut self,
        live: &Live,
        state: &mut State,
        fetched: Fetch,
        now: DateTime<Utc>,
        prefix: &str,
    ) -> Step {
        let later = |d: Duration| crate::core::time::add_saturating(now, d);
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
            Fetch::Good(mut value) => {
                self.scrub_value(&mut value);
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
                            kind: live.name().into(),
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
                    crate::core::time::utc(until),
                    crate::core::time::relative(until, now)
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
