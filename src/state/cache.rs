//! The guard's own on-disk cache, shared by every claude-guard process of the user, so that
//! a guard started many times an hour sends few requests (the OAuth usage endpoint allows
//! roughly 30 an hour per token).
//!
//! - Location: `$CLAUDE_GUARD_CACHE_DIR`, else `$XDG_CACHE_HOME/claude-guard`, else
//!   `~/.cache/claude-guard`. Directory 0700, files 0600, written atomically (temp + rename).
//! - One JSON file per account and live source (`oauth-<key>.json`, `web-<key>.json`): the
//!   last good snapshot (ClaudeMeter JSON), when it was fetched, and the back-off state
//!   (`not_before` after a 429 or repeated failures; the fingerprint of a rejected token).
//!   `<key>` is a SHA-256 prefix: no account id, token or cookie appears in names or contents.
//! - `profile-<key>.json`: the organization and email a token belongs to, for a day.
//! - Fetches are serialized with an exclusive `flock` on `<file>.lock`; the wait is bounded.
//! - At most [`HOURLY_BUDGET`] fetches per file in any rolling hour, whatever the TTL.
//! - A directory that cannot be written degrades to no cache, with one warning.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::decide;
use crate::core::model::Family;
use crate::core::snapshot::Snapshot;
use crate::state::http::Deadline;

/// Freshness while every applicable bucket is under [`HOT_PERCENT`].
pub const COOL_TTL: Duration = Duration::from_secs(300);
/// Freshness once an applicable bucket is at or above [`HOT_PERCENT`].
pub const HOT_TTL: Duration = Duration::from_secs(60);
/// The utilization (percent) from which the short TTL applies.
pub const HOT_PERCENT: f64 = 80.0;
/// Claude Code's cached copy is never trusted past this age (it does the same).
pub const CLAUDE_CODE_MAX_AGE: Duration = Duration::from_secs(3600);
/// Longest wait for another process's fetch (bounded further by the decision's deadline).
pub const LOCK_WAIT: Duration = Duration::from_millis(5500);
/// How often a waiting process retries the lock.
const LOCK_POLL: Duration = Duration::from_millis(15);
/// Largest cache file read.
const MAX_FILE_BYTES: u64 = 8 << 20;
/// Version of the cache file format; other versions are ignored (treated as empty).
pub const FORMAT_VERSION: u32 = 1;

/// How long a snapshot counts as fresh: `--ttl` when given, else 60 s when any bucket that
/// applies to `family` is at or above 80 % (or unreadable), else 5 minutes. A bucket whose
/// `resets_at` has passed counts as 0 %.
pub fn ttl(
    snapshot: &Snapshot,
    family: Family,
    now: DateTime<Utc>,
    over: Option<Duration>,
) -> Duration {
    if let Some(t) = over {
        return t;
    }
    let hot = snapshot
        .usage
        .iter()
        .flat_map(|u| u.buckets.iter())
        .filter(|b| decide::applies(b, family))
        .any(|b| {
            let has_reset = b.resets_at.is_some_and(|r| r <= now);
            !has_reset && b.utilization.is_none_or(|u| u >= HOT_PERCENT)
        });
    if hot { HOT_TTL } else { COOL_TTL }
}

/// The cache directory, when one can be named.
pub fn dir() -> Option<PathBuf> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = nonempty("CLAUDE_GUARD_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(x) = nonempty("XDG_CACHE_HOME").map(PathBuf::from)
        && x.is_absolute()
    {
        return Some(x.join("claude-guard"));
    }
    crate::state::claude_files::home().map(|h| h.join(".cache").join("claude-guard"))
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Prints the one warning about an unusable cache directory (once per process).
fn warn_unusable(what: &str) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        let _ = writeln!(
            anstream::stderr(),
            "claude-guard: warning: {what}; continuing without a cache (every start may query the usage endpoint)"
        );
    }
}

/// One live source's record for one account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// [`FORMAT_VERSION`].
    #[serde(default)]
    pub version: u32,
    /// The last good snapshot, as ClaudeMeter JSON (an object, or an array per organization).
    #[serde(default)]
    pub snapshot: Option<Value>,
    /// When `snapshot` was fetched (UTC).
    #[serde(default)]
    pub fetched_at: Option<DateTime<Utc>>,
    /// No request before this time (after a 429, or repeated failures).
    #[serde(default)]
    pub not_before: Option<DateTime<Utc>>,
    /// Why `not_before` is set, in words.
    #[serde(default)]
    pub backoff_reason: Option<String>,
    /// Consecutive failed fetches (reset by a success).
    #[serde(default)]
    pub failures: u32,
    /// Fingerprint of a token or cookie the server rejected (401, missing scope): it is not
    /// sent again; a new login has a new fingerprint.
    #[serde(default)]
    pub rejected: Option<String>,
    /// Why it was rejected, in words.
    #[serde(default)]
    pub rejected_reason: Option<String>,
    /// When requests were sent in the last hour (for [`HOURLY_BUDGET`]).
    #[serde(default)]
    pub sent: Vec<DateTime<Utc>>,
    /// The `fetched_at` of the snapshot whose readings are in the usage history
    /// (`crate::state::history`): equal to `fetched_at` when this snapshot is recorded, so
    /// that a start reading it from the cache does not open the history at all.
    #[serde(default)]
    pub recorded: Option<DateTime<Utc>>,
}

/// At most this many fetches per account and source in any rolling hour, across all
/// processes. The OAuth endpoint allows roughly 30 an hour per token and Claude Code itself
/// uses the same budget; without a cap, the 60 s TTL above 80 % would spend ~40 an hour
/// for a guard started every half minute.
pub const HOURLY_BUDGET: usize = 20;

impl State {
    /// Records a request sent at `now` (and forgets those older than an hour).
    pub fn record_sent(&mut self, now: DateTime<Utc>) {
        self.sent.retain(|t| now - *t < chrono::Duration::hours(1));
        self.sent.push(now);
    }

    /// When [`HOURLY_BUDGET`] is used up at `now`: the time the next request is allowed.
    pub fn budget_exhausted(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut recent: Vec<DateTime<Utc>> = self
            .sent
            .iter()
            .copied()
            .filter(|t| now - *t < chrono::Duration::hours(1))
            .collect();
        if recent.len() < HOURLY_BUDGET {
            return None;
        }
        recent.sort();
        Some(recent[recent.len() - HOURLY_BUDGET] + chrono::Duration::hours(1))
    }

    /// The back-off after `failures` consecutive failures: 15 s, 1 min, 4 min, then 15 min.
    pub fn failure_backoff(failures: u32) -> Duration {
        let secs = 15u64.saturating_mul(4u64.saturating_pow(failures.saturating_sub(1)));
        Duration::from_secs(secs.min(900))
    }
}

/// A named file in the cache directory.
#[derive(Debug, Clone)]
pub struct Entry {
    dir: PathBuf,
    /// The JSON file.
    pub path: PathBuf,
}

/// The outcome of trying to take an entry's fetch lock.
pub enum Lock {
    /// This process holds the lock until the value is dropped.
    Held(#[allow(dead_code)] Flock<File>),
    /// Another process held it for the whole wait.
    Busy,
    /// The lock file cannot be created (the directory is not writable): no cache.
    Unavailable,
}

impl Entry {
    /// `<cache dir>/<name>.json`; `None` when no cache directory can be named, or when the
    /// directory exists but is not trusted ([`untrusted_dir`]; warned once): the guard then
    /// decides without a cache.
    pub fn new(name: &str) -> Option<Entry> {
        let dir = dir()?;
        if let Some(why) = untrusted_dir(&dir) {
            warn_unusable(&why);
            return None;
        }
        Some(Entry {
            path: dir.join(format!("{name}.json")),
            dir,
        })
    }

    /// Reads and parses the file; `None` when missing, too large, not the expected JSON, or
    /// not a trusted regular file ([`open_trusted`]: a symlink, FIFO or another user's file is
    /// refused with one warning, never followed or waited on).
    pub fn read_json<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        let (file, meta) = match open_trusted(&self.path, OpenOptions::new().read(true)) {
            Ok(f) => f,
            Err(Refused::Missing) => return None,
            Err(Refused::Untrusted(why)) => {
                warn_unusable(&why);
                return None;
            }
        };
        if meta.len() > MAX_FILE_BYTES {
            return None;
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES).read_to_end(&mut bytes).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The source state (`None` when missing, unreadable or another format version).
    pub fn read(&self) -> Option<State> {
        self.read_json::<State>()
            .filter(|s| s.version == FORMAT_VERSION)
    }

    /// [`ensure_private_dir`] of the entry's directory.
    fn ensure_dir(&self) -> Result<(), String> {
        ensure_private_dir(&self.dir)
    }

    /// Writes `value` atomically (temp file 0600 + rename). On failure, warns once and
    /// returns `false`; the caller goes on without a cache.
    pub fn write_json<T: Serialize>(&self, value: &T) -> bool {
        match self.try_write(value) {
            Ok(()) => true,
            Err(why) => {
                warn_unusable(&why);
                false
            }
        }
    }

    fn try_write<T: Serialize>(&self, value: &T) -> Result<(), String> {
        self.ensure_dir()?;
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            drop(f);
            std::fs::rename(&tmp, &self.path)
        })();
        if result.is_ok() {
            self.prune(Utc::now());
        }
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!(
                "cache directory {} is not writable ({e})",
                self.dir.display()
            )
        })
    }

    /// Writes the source state (see [`Entry::write_json`]).
    pub fn write(&self, state: &State) -> bool {
        let mut s = state.clone();
        s.version = FORMAT_VERSION;
        self.write_json(&s)
    }

    /// `<cache dir>/<name>.lock`: the file whose `flock` serializes fetches for this entry.
    pub fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    /// Takes the exclusive fetch lock, polling for at most [`LOCK_WAIT`] and what is left of
    /// `deadline`. Never blocks past that.
    pub fn lock(&self, deadline: &Deadline) -> Lock {
        // A background refresh holds the lock it inherited from the guard that started it.
        if let Some(held) = adopted_lock(&self.lock_path()) {
            return Lock::Held(held);
        }
        self.lock_for(LOCK_WAIT.min(deadline.remaining()))
    }

    /// Takes the exclusive lock, polling for at most `wait` (the statusline's capture file
    /// waits briefly, never the fetch budget).
    pub fn lock_for(&self, wait: Duration) -> Lock {
        if let Err(why) = self.ensure_dir() {
            warn_unusable(&why);
            return Lock::Unavailable;
        }
        let file = match open_lock_file(&self.lock_path()) {
            Ok(f) => f,
            Err(e) => {
                warn_unusable(&format!(
                    "cache directory {} is not writable ({e})",
                    self.dir.display()
                ));
                return Lock::Unavailable;
            }
        };
        let started = std::time::Instant::now();
        let mut file = file;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(held) => return Lock::Held(held),
                Err((f, errno)) => {
                    if errno != nix::errno::Errno::EWOULDBLOCK && errno != nix::errno::Errno::EINTR
                    {
                        // flock unsupported (some network file systems): go on unlocked.
                        return Lock::Unavailable;
                    }
                    if started.elapsed() >= wait {
                        return Lock::Busy;
                    }
                    file = f;
                    std::thread::sleep(LOCK_POLL);
                }
            }
        }
    }
}

/// Opens (creating, 0600) a lock file for `flock`, through the cache's trust checks.
pub(crate) fn open_lock_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600);
    open_trusted(path, &mut options)
        .map(|(file, _)| file)
        .map_err(|r| match r {
            Refused::Missing => std::io::Error::from(std::io::ErrorKind::NotFound),
            Refused::Untrusted(why) => std::io::Error::other(why),
        })
}

/// Files of other accounts or tokens untouched for this long are removed when the cache is
/// written (a token refresh names a new entry, lock and profile file).
pub const PRUNE_AFTER: Duration = Duration::from_secs(86_400);

impl Entry {
    /// Removes the guard's files (`oauth-*`, `web-*`, `profile-*`: `.json` and `.lock`, and
    /// stale `.tmp` files) not modified for [`PRUNE_AFTER`], except this entry's own. A lock
    /// another process holds is kept. Best effort: errors are ignored.
    fn prune(&self, now: DateTime<Utc>) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let own = [self.path.clone(), self.lock_path()];
        for item in dir.flatten() {
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            let ours = [
                "oauth-",
                "web-",
                "profile-",
                ".oauth-",
                ".web-",
                ".profile-",
            ]
            .iter()
            .any(|p| name.starts_with(p))
                && [".json", ".lock", ".tmp"].iter().any(|e| name.ends_with(e));
            if !ours || own.contains(&path) {
                continue;
            }
            let Ok(meta) = item.metadata() else { continue };
            let old = meta
                .modified()
                .ok()
                .map(DateTime::<Utc>::from)
                .is_some_and(|t| now - t > chrono::Duration::seconds(PRUNE_AFTER.as_secs() as i64));
            if !old || !meta.is_file() {
                continue;
            }
            if name.ends_with(".lock") {
                // Only a lock nobody holds (taking it without waiting proves that).
                let Ok(f) = File::open(&path) else { continue };
                let Ok(held) = Flock::lock(f, FlockArg::LockExclusiveNonblock) else {
                    continue;
                };
                let _ = std::fs::remove_file(&path);
                drop(held);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Why a cache directory must not be used, or `None` when it may: like ssh and gpg, it must be
/// a real directory (not reached through a symbolic link at its own path), owned by this user,
/// and not writable by group or others; else another user could forge an entry (a **go**
/// while the server says 100 %) or block fetches. A missing directory is fine (the guard
/// creates it, 0700).
pub fn untrusted_dir(dir: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(dir).ok()?;
    let shown = dir.display();
    if meta.file_type().is_symlink() {
        return Some(format!(
            "cache directory {shown} is a symbolic link; not used (point CLAUDE_GUARD_CACHE_DIR at the real directory)"
        ));
    }
    if !meta.is_dir() {
        return Some(format!("cache directory {shown} is not a directory"));
    }
    untrusted_owner_or_mode(&format!("cache directory {shown}"), &meta)
}

/// Why a file or directory with `meta` must not be trusted: another owner, or writable by
/// group or others.
fn untrusted_owner_or_mode(what: &str, meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let me = *EUID.get_or_init(|| nix::unistd::geteuid().as_raw());
    if meta.uid() != me {
        return Some(format!(
            "{what} is owned by uid {}, not by you (uid {me}); not used",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Some(format!(
            "{what} is writable by group or others (mode {mode:o}); not used (chmod go-w it, or pick another CLAUDE_GUARD_CACHE_DIR)"
        ));
    }
    None
}

/// Why [`open_trusted`] refused a path.
enum Refused {
    /// Nothing there (not worth a warning).
    Missing,
    /// A symlink, a FIFO or other non-regular file, or another user's or a shared-writable file.
    Untrusted(String),
}

/// Creates `dir` (0700) when missing, then checks that it is trusted ([`untrusted_dir`]). An
/// existing directory's mode is never changed (it may be shared, or the working directory);
/// `Err` says why it is unusable. For cache entries and the usage history alike.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cache directory {} cannot be created ({e})", dir.display()))?;
    match untrusted_dir(dir) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Opens a cache file without following a symbolic link (`O_NOFOLLOW`) or blocking on a FIFO
/// (`O_NONBLOCK`), then checks that it is a regular file this user owns and others cannot
/// write. Returns the file and its metadata.
fn open_trusted(
    path: &Path,
    options: &mut OpenOptions,
) -> Result<(File, std::fs::Metadata), Refused> {
    use nix::fcntl::OFlag;
    let file = options
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == nix::errno::Errno::ELOOP as i32 => Refused::Untrusted(format!(
                "cache file {} is a symbolic link; not followed",
                path.display()
            )),
            _ if e.kind() == std::io::ErrorKind::NotFound => Refused::Missing,
            _ => Refused::Untrusted(format!(
                "cache file {} cannot be opened ({e})",
                path.display()
            )),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Refused::Untrusted(format!("cache file {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Refused::Untrusted(format!(
            "cache file {} is not a regular file; not read",
            path.display()
        )));
    }
    match untrusted_owner_or_mode(&format!("cache file {}", path.display()), &meta) {
        Some(why) => Err(Refused::Untrusted(why)),
        None => Ok((file, meta)),
    }
}

/// The fetch lock file this process inherited locked (a background refresh's fetching stage,
/// through `state::refresh`); set once, at its start.
static ADOPTED: std::sync::OnceLock<File> = std::sync::OnceLock::new();

/// Records `file` as the fetch lock this process inherited (already locked by its parent).
pub fn adopt_lock(file: File) {
    let _ = ADOPTED.set(file);
}

/// The inherited fetch lock, when `lock_path` names the file this process inherited locked:
/// a guard on the same open file description (so taking it cannot block). `None` otherwise,
/// and in every process but a background refresh.
fn adopted_lock(lock_path: &Path) -> Option<Flock<File>> {
    use std::os::unix::fs::MetadataExt;
    let adopted = ADOPTED.get()?;
    let mine = adopted.metadata().ok()?;
    let theirs = std::fs::metadata(lock_path).ok()?;
    if (mine.dev(), mine.ino()) != (theirs.dev(), theirs.ino()) {
        return None;
    }
    Flock::lock(adopted.try_clone().ok()?, FlockArg::LockExclusiveNonblock).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_backoff_grows_and_caps() {
        let secs: Vec<u64> = (1..=6)
            .map(|n| State::failure_backoff(n).as_secs())
            .collect();
        assert_eq!(secs, [15, 60, 240, 900, 900, 900]);
        assert_eq!(State::failure_backoff(u32::MAX).as_secs(), 900);
    }

    #[test]
    fn hourly_budget_rolls() {
        let t0 = Utc::now();
        let mut s = State::default();
        for i in 0..HOURLY_BUDGET as i64 {
            assert_eq!(s.budget_exhausted(t0 + chrono::Duration::minutes(i)), None);
            s.record_sent(t0 + chrono::Duration::minutes(i));
        }
        let now = t0 + chrono::Duration::minutes(30);
        assert_eq!(
            s.budget_exhausted(now),
            Some(t0 + chrono::Duration::hours(1))
        );
        assert_eq!(s.budget_exhausted(t0 + chrono::Duration::minutes(61)), None);
        s.record_sent(t0 + chrono::Duration::minutes(61));
        // minutes 0 and 1 are an hour old at minute 61
        assert_eq!(s.sent.len(), HOURLY_BUDGET - 1);
    }

    #[test]
    fn ttl_depends_on_applicable_buckets() {
        use crate::core::snapshot::{Origin, ParseContext, parse};
        let now = Utc::now();
        let origin = || Origin {
            kind: "t".into(),
            location: String::new(),
        };
        let ctx = ParseContext::default();
        let cool = parse(
            br#"{"five_hour":{"utilization":79.9,"resets_at":null},"seven_day_sonnet":{"utilization":95,"resets_at":null}}"#,
            origin(),
            &ctx,
        );
        assert_eq!(ttl(&cool, Family::Opus, now, None), COOL_TTL);
        assert_eq!(ttl(&cool, Family::Sonnet, now, None), HOT_TTL);
        let hot = parse(
            br#"{"five_hour":{"utilization":80,"resets_at":null}}"#,
            origin(),
            &ctx,
        );
        assert_eq!(ttl(&hot, Family::Opus, now, None), HOT_TTL);
        let reset = parse(
            br#"{"five_hour":{"utilization":100,"resets_at":"2020-01-01T00:00:00Z"}}"#,
            origin(),
            &ctx,
        );
        assert_eq!(ttl(&reset, Family::Opus, now, None), COOL_TTL);
        assert_eq!(
            ttl(&hot, Family::Opus, now, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }
}
