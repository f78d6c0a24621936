//! Stale-while-revalidate: a start that may decide on a stale cached snapshot refreshes the
//! cache in a detached background process instead of waiting for the usage endpoint.
//!
//! The mechanism, shared by every caller (the guard's source chain, the statusline):
//!
//! 1. [`spawn_background_unless_newer`] takes the cache entry's
//!    fetch lock (`<entry>.lock`, the same `flock` foreground fetches take) *without
//!    waiting*. When another process holds it (a foreground fetch, or a refresh already
//!    running), or the entry was refreshed since the caller read it, nothing is started: one
//!    refresh at a time across all guards. When nothing can be started at all
//!    ([`Spawned::Failed`]), the source chain fetches in the foreground instead.
//! 2. It re-executes the guard's own binary (`std::env::current_exe`, i.e. /proc/self/exe)
//!    as `claude-guard __refresh --stage detach --source oauth|web [--org X]` (parsed apart
//!    from the command line: never in help, completions or man pages), with the *locked*
//!    lock file as its stdin and stdout/stderr on
//!    /dev/null, and waits for that short-lived process only: it calls `setsid` (its own
//!    session, no controlling terminal), starts `__refresh --stage fetch` with the same stdin,
//!    and exits at once. The fetching process is thus nobody's child that could stay a
//!    zombie under `claude`, and the lock stays held (by the open file description it
//!    inherited) from the moment the guard took it until the fetch is written.
//! 3. The fetching process ([`run`]) adopts the inherited lock ([`crate::state::cache::adopt_lock`], which
//!    [`crate::state::cache::Entry::lock`] consults), runs the source chain for that one live
//!    source with `refresh` on (handed in by the caller as a function: the chain starts
//!    refreshes, so this module does not import it) — the same back-off, rejected-token and hourly-budget checks
//!    and the same recording of a failure as a foreground fetch — and exits. A watchdog
//!    ends it [`WATCHDOG`] after it started, whatever happens (the fetch deadline is
//!    [`crate::state::http::BUDGET`]); it starts nothing itself.
//!
//! The token never appears on a command line: the fetching process finds the login the same
//! way the guard did (it inherits the environment).

use std::ffi::OsString;
use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::fcntl::FlockArg;

use crate::core::decide;
use crate::core::exit_codes::Exit;
use crate::core::model::Family;
use crate::core::snapshot::Snapshot;
use crate::state::cache::{self, Entry};

/// The internal command of the background refresh (`claude-guard __refresh ...`).
pub const COMMAND: &str = "__refresh";

/// The fetching process exits this long after it started at the latest: the fetch deadline
/// ([`crate::state::http::BUDGET`], 5.9 s) plus a margin for writing the cache.
pub const WATCHDOG: Duration = Duration::from_millis(6500);

/// Below this utilization (percent) a bucket is clear of the hot TTL: the same 80 % that
/// shortens the TTL ([`cache::HOT_PERCENT`]).
pub const NEAR_PERCENT: f64 = cache::HOT_PERCENT;

/// A bucket is near its limit when within this many points of `--max-utilization`.
pub const NEAR_MARGIN: f64 = 10.0;

/// When a stale cached snapshot may be decided on at once (stale-while-revalidate): the
/// parts of the policy that bound it. `None` in the source options (`revalidate`) turns it off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Revalidate {
    /// `--max-age`: a snapshot older than this is never served stale.
    pub max_age: Duration,
    /// `--max-utilization` (percent 0–100): every applicable bucket must be more than
    /// [`NEAR_MARGIN`] points below it.
    pub max_utilization: f64,
}

/// Why a stale snapshot must not be served without a fetch: an applicable bucket at or above
/// [`NEAR_PERCENT`] or within [`NEAR_MARGIN`] points of `max_utilization` (a bucket whose
/// `resets_at` has passed counts as 0 %), unreadable, or locked. `None`: safe to serve.
pub fn near_limit(
    snapshot: &Snapshot,
    family: Family,
    now: DateTime<Utc>,
    max_utilization: f64,
) -> Option<String> {
    let below = NEAR_PERCENT.min(max_utilization - NEAR_MARGIN);
    snapshot
        .usage
        .iter()
        .flat_map(|u| u.buckets.iter())
        .filter(|b| decide::applies(b, family))
        .find_map(|b| {
            if b.resets_at.is_some_and(|r| r <= now) {
                return None;
            }
            match b.utilization {
                None => Some(format!("{} is unreadable", b.name)),
                Some(_) if b.locked_reason.is_some() => Some(format!("{} is locked", b.name)),
                Some(u) if u >= below => Some(format!(
                    "{} at {}% is near the limit (background refresh only below {}%)",
                    b.name,
                    decide::fmt_pct(u),
                    decide::fmt_pct(below.max(0.0))
                )),
                Some(_) => None,
            }
        })
}

/// What [`spawn_background_unless_newer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spawned {
    /// A refresh process was started; it holds the entry's fetch lock.
    Started,
    /// Another process holds the fetch lock (a fetch or a refresh is under way), or has just
    /// refreshed the entry: none started.
    Busy,
    /// None could be started (the caller then fetches in the foreground); why, in words.
    Failed(String),
}

impl Spawned {
    /// In words, for `--explain` and `source.attempts` (`background: ...`).
    pub fn describe(&self) -> String {
        match self {
            Spawned::Started => {
                "background: refresh started (detached; this start did not wait)".into()
            }
            Spawned::Busy => {
                "background: another claude-guard process is fetching or has just fetched; none started".into()
            }
            Spawned::Failed(why) => format!("background: no refresh started ({why})"),
        }
    }
}

/// The live source a background refresh fetches from (`__refresh --source oauth|web`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LiveSource {
    /// The OAuth usage endpoint.
    Oauth,
    /// claude.ai with `CLAUDE_GUARD_SESSION_KEY`.
    Web,
}

impl LiveSource {
    /// The command-line name (`oauth`, `web`).
    pub fn name(self) -> &'static str {
        match self {
            LiveSource::Oauth => "oauth",
            LiveSource::Web => "web",
        }
    }
}

/// Starts one detached background refresh of `entry` from the live `source` (`org` is
/// `--org`), unless another process holds the entry's fetch lock, or, once the lock is taken,
/// the entry holds a snapshot fetched after `seen` (the `fetched_at` of the stale copy the
/// caller decided on: another process refreshed it in between; [`Spawned::Busy`]). Costs the
/// caller one lock attempt and the start of a short-lived process (about a millisecond);
/// never waits for the network. See the module documentation for the mechanism.
pub fn spawn_background_unless_newer(
    entry: &Entry,
    source: LiveSource,
    org: Option<&str>,
    seen: Option<DateTime<Utc>>,
) -> Spawned {
    let name = source.name();
    let file = match cache::open_lock_file(&entry.lock_path()) {
        Ok(f) => f,
        Err(e) => return Spawned::Failed(format!("the lock file cannot be opened: {e}")),
    };
    // The plain `flock` call, not nix's `Flock` guard: the guard unlocks on drop, which would
    // release the lock the refresh process inherits through the same open file description.
    // Closing this descriptor (when `file` drops) leaves the lock to that process.
    #[allow(deprecated)]
    match nix::fcntl::flock(
        std::os::fd::AsRawFd::as_raw_fd(&file),
        FlockArg::LockExclusiveNonblock,
    ) {
        Ok(()) => {}
        Err(nix::errno::Errno::EWOULDBLOCK) => return Spawned::Busy,
        Err(e) => return Spawned::Failed(format!("the lock cannot be taken: {e}")),
    }
    if let Some(seen) = seen
        && entry
            .read()
            .and_then(|s| s.fetched_at)
            .is_some_and(|t| t > seen)
    {
        // Refreshed between the caller's read and the lock (dropping `file` unlocks it).
        return Spawned::Busy;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return Spawned::Failed(format!("the guard's own binary is not known: {e}")),
    };
    let mut cmd = Command::new(exe);
    cmd.arg0("claude-guard")
        .args([COMMAND, "--stage", "detach", "--source", name])
        .stdin(Stdio::from(file))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(org) = org {
        cmd.arg("--org").arg(org);
    }
    match cmd.status() {
        Ok(s) if s.success() => Spawned::Started,
        Ok(s) => Spawned::Failed(format!("the refresh process could not start ({s})")),
        Err(e) => Spawned::Failed(format!("the refresh process could not start: {e}")),
    }
}

/// Which half of the background refresh a `__refresh` process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// Leave the caller's session and start the fetching process, then exit at once.
    Detach,
    /// Fetch once under the inherited lock, write the cache, exit.
    Fetch,
}

/// Takes over the fetch lock inherited on stdin, when stdin is a regular file (the lock file
/// [`spawn_background_unless_newer`] passed on); a terminal or pipe is ignored.
fn adopt_stdin_lock() {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return;
    }
    let Ok(fd) = stdin.as_fd().try_clone_to_owned() else {
        return;
    };
    let file = File::from(fd);
    if file.metadata().is_ok_and(|m| m.is_file()) {
        cache::adopt_lock(file);
    }
}

/// The `__refresh` subcommand: `stage` detach or fetch, for the live `source`, with `--org`.
/// `fetch` runs the source chain for `source` alone with `refresh` on (the fetch stage calls
/// it once, under the inherited lock; the caller wires it to `state::sources`).
/// Returns the process's exit status: go when done (whatever the fetch gave: its outcome is
/// in the cache), internal when the fetching stage could not be started. Prints nothing (its
/// output goes to /dev/null anyway).
pub fn run(
    stage: Stage,
    source: LiveSource,
    org: Option<String>,
    fetch: impl FnOnce(LiveSource, Option<String>),
) -> Exit {
    let name = source.name();
    match stage {
        Stage::Detach => {
            // Own session: no controlling terminal, no SIGHUP/SIGINT from the user's shell.
            let _ = nix::unistd::setsid();
            let exe = match std::env::current_exe() {
                Ok(p) => p,
                Err(_) => return Exit::Internal,
            };
            let mut args: Vec<OsString> = [COMMAND, "--stage", "fetch", "--source", name]
                .iter()
                .map(OsString::from)
                .collect();
            if let Some(org) = &org {
                args.extend(["--org".into(), org.into()]);
            }
            let spawned = Command::new(exe)
                .arg0("claude-guard")
                .args(args)
                .stdin(Stdio::inherit())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            // Not waited for: this process exits now, so the fetching one is re-parented to
            // init (or a subreaper), which reaps it.
            if spawned.is_ok() {
                Exit::Go
            } else {
                Exit::Internal
            }
        }
        Stage::Fetch => {
            // A stand-alone run (`claude-guard __refresh` typed by hand) is a session leader
            // already or not: either way, leave the terminal's session.
            let _ = nix::unistd::setsid();
            std::thread::spawn(|| {
                std::thread::sleep(WATCHDOG);
                std::process::exit(i32::from(Exit::Internal.code()));
            });
            adopt_stdin_lock();
            fetch(source, org);
            Exit::Go
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::snapshot::{Origin, ParseContext, parse};

    fn snap(json: &str) -> Snapshot {
        parse(
            json.as_bytes(),
            Origin {
                kind: "t".into(),
                location: String::new(),
            },
            &ParseContext::default(),
        )
    }

    #[test]
    fn near_limit_follows_the_hot_ttl_and_max_utilization() {
        let now = Utc::now();
        let cool = snap(
            r#"{"five_hour":{"utilization":79.9,"resets_at":null},"seven_day_sonnet":{"utilization":95,"resets_at":null}}"#,
        );
        assert_eq!(near_limit(&cool, Family::Opus, now, 100.0), None);
        assert!(near_limit(&cool, Family::Sonnet, now, 100.0).is_some());
        // 10 points below --max-utilization 85 is 75: 79.9 is near.
        assert!(
            near_limit(&cool, Family::Opus, now, 85.0)
                .is_some_and(|w| w.contains("five_hour") && w.contains("75%"))
        );
        assert_eq!(near_limit(&cool, Family::Opus, now, 90.0), None);
        let hot = snap(r#"{"five_hour":{"utilization":80,"resets_at":null}}"#);
        assert!(near_limit(&hot, Family::Opus, now, 100.0).is_some());
        let reset = snap(r#"{"five_hour":{"utilization":100,"resets_at":"2020-01-01T00:00:00Z"}}"#);
        assert_eq!(near_limit(&reset, Family::Opus, now, 100.0), None);
        let unreadable = snap(r#"{"five_hour":{"utilization":"x","resets_at":null}}"#);
        assert!(near_limit(&unreadable, Family::Opus, now, 100.0).is_some());
    }
}
