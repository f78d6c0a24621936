//! The usage **history**: every reading of every bucket the guard has seen, per account, for
//! the forecast (DESIGN.md "Forecast": pace, `--needs`, the `status` sparkline).
//!
//! - What: per account and bucket, `(fetched_at, utilization, resets_at)` — UTC epoch seconds,
//!   percent 0–100, UTC epoch seconds or null. Recorded from every snapshot the guard reads or
//!   fetches (any source) and from statusline captures, through [`record`].
//! - Where: `<cache dir>/history.sqlite3` (the directory of `crate::state::cache`, trusted by
//!   the same rule; the database and its `-wal`/`-shm` files 0600, created so before SQLite
//!   opens them, never through a symbolic link).
//! - Why SQLite: many guards write at once (a shell alias, CI matrices) and a guard can be
//!   killed mid-write; SQLite's WAL journal gives atomic, serialised transactions across
//!   processes and survives a crash mid-write, which an append-only file would have to
//!   re-implement with locks and repair. Writers wait at most [`BUSY_TIMEOUT`] for each other.
//!   `synchronous = OFF`: no fsync. A guard is one short-lived connection, so its close
//!   checkpoints the WAL into the database, and with `NORMAL` that fsync cost ~8–10 ms per
//!   recording start (scripts/bench-history); keeping the WAL instead makes every next start
//!   rebuild its index from the whole WAL. Without fsync a killed process still loses nothing
//!   (its writes are in the OS); only an OS crash or power loss mid-write could damage the
//!   file, which then gives a note, like any damage.
//! - Bounds: readings older than [`KEEP`] (8 days, by the real clock) are pruned on every
//!   write of their series (and all series once a day); once a day each account and bucket
//!   is cut to its newest [`MAX_PER_SERIES`] readings (8 days at one a minute is 11 520; one
//!   reading per second and series, the most a day can add, is 86 400); at most
//!   [`MAX_BUCKETS_PER_RECORD`] buckets per snapshot.
//! - Deduplicated: one reading per account, bucket and second (the highest wins), and a
//!   reading identical to its series' newest one (same utilization and `resets_at`) within
//!   [`SAME_READING`] is not stored again (a statusline refreshing every few seconds).
//! - Accounts are keyed by [`account_key`], a SHA-256 prefix: no email or organization id is
//!   stored.
//! - Failures never fail the guard: every function returns `Err(note)` with a sentence to
//!   show (damaged, unreadable, busy), and the guard goes on without history.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::core::forecast::{self, BucketForecast, Reading};
use crate::core::snapshot::{Bucket, BucketKind, Snapshot};
use crate::state::cache;

/// The database's file name inside the cache directory.
pub const FILE_NAME: &str = "history.sqlite3";
/// How long readings are kept (by the real clock).
pub const KEEP: chrono::Duration = chrono::Duration::days(8);
/// The most readings kept per account and bucket.
pub const MAX_PER_SERIES: i64 = 16_384;
/// The most buckets recorded from one snapshot (real bodies have about a dozen keys).
pub const MAX_BUCKETS_PER_RECORD: usize = 64;
/// A reading identical to its series' newest one within this span is not stored again.
pub const SAME_READING: chrono::Duration = chrono::Duration::seconds(60);
/// How long one guard waits for another's write before giving up (with a note).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(3);
/// Version of the schema (`PRAGMA user_version`); a database with another is not used.
const SCHEMA_VERSION: i64 = 1;
/// All series are pruned at most this often (one series is pruned on each of its writes).
const FULL_PRUNE_EVERY: i64 = 86_400;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS series (
    id      INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    bucket  TEXT NOT NULL,
    UNIQUE (account, bucket)
);
CREATE TABLE IF NOT EXISTS reading (
    series      INTEGER NOT NULL,
    fetched_at  INTEGER NOT NULL,
    utilization REAL NOT NULL,
    resets_at   INTEGER,
    PRIMARY KEY (series, fetched_at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// One reading of one bucket, as [`record`] takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketReading {
    /// The bucket's name (`five_hour`, `weekly_scoped:Fable`, ...).
    pub bucket: String,
    /// The reading.
    pub reading: Reading,
}

/// The history key of an account: a 16-hex-digit SHA-256 prefix of its organization UUID and
/// email (both lower-cased; either may be absent). Sources that name the same account give
/// the same key: a ClaudeMeter snapshot's `org_uuid`/`account_email`, the OAuth profile, and
/// Claude Code's `oauthAccount.organizationUuid`/`emailAddress` (for statusline captures).
pub fn account_key(org_uuid: Option<&str>, email: Option<&str>) -> String {
    let text = format!(
        "claude-guard history\n{}\n{}",
        org_uuid.unwrap_or("").trim().to_lowercase(),
        email.unwrap_or("").trim().to_lowercase()
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The history key of the account a snapshot belongs to ([`account_key`] of its
/// `org_uuid` and `account_email`).
pub fn account_of(snapshot: &Snapshot) -> String {
    account_key(
        snapshot.org_uuid.as_deref(),
        snapshot.account_email.as_deref(),
    )
}

/// The readings a snapshot holds: every bucket with a numeric utilization, at the bucket's
/// own `fetched_at` (a statusline capture combined with an older snapshot), else the
/// snapshot's (none without either).
pub fn readings_of(snapshot: &Snapshot) -> Vec<BucketReading> {
    snapshot
        .usage
        .iter()
        .flat_map(|u| u.buckets.iter())
        .filter_map(|b| {
            Some(BucketReading {
                bucket: b.name.clone(),
                reading: Reading {
                    fetched_at: b.fetched_at.or(snapshot.fetched_at)?,
                    utilization: b.utilization?,
                    resets_at: b.resets_at,
                },
            })
        })
        .take(MAX_BUCKETS_PER_RECORD)
        .collect()
}

/// The history database path: `<cache dir>/history.sqlite3`; `None` when no cache directory
/// can be named.
pub fn path() -> Option<PathBuf> {
    crate::state::cache::dir().map(|d| d.join(FILE_NAME))
}

/// Records `readings` of `account` (an [`account_key`]) in the default database ([`path`]),
/// creating it when needed; pruning uses the real clock. Readings already older than [`KEEP`]
/// or fetched more than `MAX_CLOCK_SKEW` in the future are left out; none left, or a missing
/// cache directory, does not open it. Returns how many readings were stored
/// (duplicates are not). `Err` is a note to show: the guard goes on without history.
pub fn record(account: &str, readings: &[BucketReading]) -> Result<usize, String> {
    // Readings the store would prune at once (an old replayed file) do not open it; nor do
    // readings from the future (a clock gone wrong, a forged file), which would linger.
    let real_now = Utc::now();
    let skew = chrono::Duration::from_std(crate::core::decide::MAX_CLOCK_SKEW).unwrap_or_default();
    let readings: Vec<BucketReading> = readings
        .iter()
        .filter(|r| {
            r.reading.fetched_at >= real_now - KEEP && r.reading.fetched_at <= real_now + skew
        })
        .cloned()
        .collect();
    if readings.is_empty() {
        return Ok(0);
    }
    // Without a cache directory (no HOME) there is no cache either: nothing to say twice.
    let Some(path) = path() else {
        return Ok(0);
    };
    History::open(&path)?.record(account, &readings, real_now)
}

/// Readings of `account`'s `buckets` fetched between `from` and `to` (inclusive), from the
/// default database, oldest first, one list per bucket in the order asked. A missing
/// database is an empty history. `Err` is a note to show.
pub fn read(
    account: &str,
    buckets: &[&str],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Vec<Reading>>, String> {
    let Some(path) = path() else {
        return Ok(vec![Vec::new(); buckets.len()]);
    };
    if !path.exists() {
        return Ok(vec![Vec::new(); buckets.len()]);
    }
    let h = History::open(&path)?;
    buckets
        .iter()
        .map(|b| h.readings(account, b, from, to))
        .collect()
}

/// A bucket to forecast: its name, kind, and its reading in the snapshot at hand.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The bucket's name (`five_hour`, ...).
    pub bucket: &'a str,
    /// What it counts (sets the window length).
    pub kind: &'a BucketKind,
    /// Its reading in the snapshot being decided on (already recorded or not).
    pub current: Option<Reading>,
}

/// The forecast of each target of `account` at `now`, projected to `limit` percent (100, or
/// `--max-utilization`), from the history's readings of the last 24 hours before `now` plus
/// each target's current reading ([`forecast::forecast`]). Usable by `check`/`status`, the
/// statusline and the supervisor alike. An unreadable history gives forecasts from the
/// current readings alone and a note (`Some`).
pub fn forecasts(
    account: &str,
    targets: &[Target],
    now: DateTime<Utc>,
    limit: f64,
) -> (Vec<BucketForecast>, Option<String>) {
    let names: Vec<&str> = targets.iter().map(|t| t.bucket).collect();
    let (history, note) = match read(account, &names, now - forecast::SPARKLINE_SPAN, now) {
        Ok(h) => (h, None),
        Err(note) => (vec![Vec::new(); targets.len()], Some(note)),
    };
    (forecast_targets(targets, &history, now, limit), note)
}

/// Each target's forecast from its readings (`history`, one list per target).
fn forecast_targets(
    targets: &[Target],
    history: &[Vec<Reading>],
    now: DateTime<Utc>,
    limit: f64,
) -> Vec<BucketForecast> {
    targets
        .iter()
        .zip(history)
        .map(|(t, h)| {
            forecast::forecast(
                t.bucket,
                forecast::window_length(t.kind),
                h,
                t.current,
                now,
                limit,
            )
        })
        .collect()
}

/// [`record`] and then [`forecasts`] on one open database (the statusline records a capture
/// and shows the pace in one start: one open instead of two). A history that cannot be opened,
/// written or read gives forecasts from the current readings alone and a note (`Some`).
pub fn record_and_forecast(
    account: &str,
    readings: &[BucketReading],
    targets: &[Target],
    now: DateTime<Utc>,
    limit: f64,
) -> (Vec<BucketForecast>, Option<String>) {
    let mut note = None;
    let empty = || vec![Vec::new(); targets.len()];
    let opened = path()
        .ok_or_else(|| "no cache directory can be named (HOME is not set)".to_owned())
        .and_then(|p| History::open(&p));
    let history = match opened {
        Ok(mut h) => {
            if !readings.is_empty()
                && let Err(e) = h.record(account, readings, Utc::now())
            {
                note = Some(e);
            }
            targets
                .iter()
                .map(|t| h.readings(account, t.bucket, now - forecast::SPARKLINE_SPAN, now))
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_else(|e| {
                    note = Some(e);
                    empty()
                })
        }
        Err(e) => {
            note = Some(e);
            empty()
        }
    };
    (forecast_targets(targets, &history, now, limit), note)
}

/// The current reading of a bucket of `snapshot` (its utilization, `resets_at` and its own
/// `fetched_at`, else the snapshot's), for a [`Target`].
pub fn current_reading(snapshot: &Snapshot, bucket: &Bucket) -> Option<Reading> {
    Some(Reading {
        fetched_at: bucket.fetched_at.or(snapshot.fetched_at)?,
        utilization: bucket.utilization?,
        resets_at: bucket.resets_at,
    })
}

/// An open history database.
pub struct History {
    conn: Connection,
    path: PathBuf,
    /// [`MAX_PER_SERIES`] (smaller in tests).
    max_per_series: i64,
}

/// The history's directory: the cache's ([`cache::ensure_private_dir`]).
fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    cache::ensure_private_dir(dir).map_err(|why| format!("no usage history: {why}"))
}

/// Creates the database file 0600 (SQLite gives its `-wal` and `-shm` files the same mode) by
/// the cache's rule for its own files ([`cache::open_lock_file`]): never through a symbolic
/// link or onto a FIFO, an existing one a regular file of this user that group and others
/// cannot write (its mode is never changed).
fn ensure_private_file(path: &Path) -> Result<(), String> {
    cache::open_lock_file(path)
        .map(drop)
        .map_err(|e| format!("no usage history: {e}"))
}

fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn time(secs: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(secs, 0).single()
}

impl History {
    /// Opens (creating when needed) the database at `path`: WAL journal, [`BUSY_TIMEOUT`],
    /// schema [`SCHEMA_VERSION`]. `Err` is a note naming the file and what to do.
    pub fn open(path: &Path) -> Result<History, String> {
        if let Some(dir) = path.parent() {
            ensure_private_dir(dir)?;
        }
        ensure_private_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| damaged(path, &e))?;
        let mut h = History {
            conn,
            path: path.to_owned(),
            max_per_series: MAX_PER_SERIES,
        };
        h.setup().map_err(|e| damaged(path, &e))?;
        Ok(h)
    }

    fn setup(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;

        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == SCHEMA_VERSION {
            return self.conn.pragma_update(None, "synchronous", "OFF");
        }
        if version != 0 {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "schema version {version}, this claude-guard reads version {SCHEMA_VERSION}"
            )));
        }
        // A new database: WAL (persistent), then the schema, once, under the write lock.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        let _ = mode; // a file system without shared memory keeps `delete`: still safe
        self.conn.pragma_update(None, "synchronous", "OFF")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()
    }

    /// Records `readings` of `account` in one transaction and prunes their series (readings
    /// older than [`KEEP`] before `real_now`); once a day, every series (age, and
    /// [`MAX_PER_SERIES`]). Readings already older than [`KEEP`] are not stored. Returns how many were stored.
    pub fn record(
        &mut self,
        account: &str,
        readings: &[BucketReading],
        real_now: DateTime<Utc>,
    ) -> Result<usize, String> {
        let path = self.path.clone();
        self.try_record(account, readings, real_now)
            .map_err(|e| damaged(&path, &e))
    }

    fn try_record(
        &mut self,
        account: &str,
        readings: &[BucketReading],
        real_now: DateTime<Utc>,
    ) -> rusqlite::Result<usize> {
        let oldest = secs(real_now - KEEP);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stored = 0;
        for r in readings.iter().take(MAX_BUCKETS_PER_RECORD) {
            let at = secs(r.reading.fetched_at);
            if at < oldest || !r.reading.utilization.is_finite() {
                continue;
            }
            tx.execute(
                "INSERT OR IGNORE INTO series (account, bucket) VALUES (?1, ?2)",
                params![account, r.bucket],
            )?;
            let series: i64 = tx.query_row(
                "SELECT id FROM series WHERE account = ?1 AND bucket = ?2",
                params![account, r.bucket],
                |row| row.get(0),
            )?;
            let resets = r.reading.resets_at.map(secs);
            // The series' newest reading at or before this one: an identical one within
            // SAME_READING makes this one a repeat.
            let newest: Option<(i64, f64, Option<i64>)> = tx
                .query_row(
                    "SELECT fetched_at, utilization, resets_at FROM reading
                     WHERE series = ?1 AND fetched_at <= ?2
                     ORDER BY fetched_at DESC LIMIT 1",
                    params![series, at],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?;
            if let Some((t, u, rs)) = newest
                && u == r.reading.utilization
                && rs == resets
                && at - t < SAME_READING.num_seconds()
            {
                continue;
            }
            stored += tx.execute(
                "INSERT INTO reading (series, fetched_at, utilization, resets_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (series, fetched_at) DO UPDATE
                 SET utilization = excluded.utilization, resets_at = excluded.resets_at
                 WHERE excluded.utilization > reading.utilization",
                params![series, at, r.reading.utilization, resets],
            )?;
            tx.execute(
                "DELETE FROM reading WHERE series = ?1 AND fetched_at < ?2",
                params![series, oldest],
            )?;
        }
        let last_full: Option<i64> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'full_prune'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        let now = secs(real_now);
        if last_full.is_none_or(|t| now - t >= FULL_PRUNE_EVERY || t > now) {
            tx.execute("DELETE FROM reading WHERE fetched_at < ?1", params![oldest])?;
            tx.execute(
                "DELETE FROM series WHERE id NOT IN (SELECT DISTINCT series FROM reading)",
                [],
            )?;
            let ids: Vec<i64> = tx
                .prepare("SELECT id FROM series")?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in ids {
                tx.execute(
                    "DELETE FROM reading WHERE series = ?1 AND fetched_at <= (
                         SELECT fetched_at FROM reading WHERE series = ?1
                         ORDER BY fetched_at DESC LIMIT 1 OFFSET ?2)",
                    params![id, self.max_per_series],
                )?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('full_prune', ?1)",
                params![now],
            )?;
        }
        tx.commit()?;
        Ok(stored)
    }

    /// Readings of `account`'s `bucket` fetched between `from` and `to` (inclusive), oldest
    /// first. `Err` is a note to show.
    pub fn readings(
        &self,
        account: &str,
        bucket: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Reading>, String> {
        self.try_readings(account, bucket, from, to)
            .map_err(|e| damaged(&self.path, &e))
    }

    fn try_readings(
        &self,
        account: &str,
        bucket: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> rusqlite::Result<Vec<Reading>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.fetched_at, r.utilization, r.resets_at
             FROM series s JOIN reading r ON r.series = s.id
             WHERE s.account = ?1 AND s.bucket = ?2 AND r.fetched_at BETWEEN ?3 AND ?4
             ORDER BY r.fetched_at",
        )?;
        let rows = stmt.query_map(params![account, bucket, secs(from), secs(to)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, f64>(1)?,
                row.get::<_, Option<i64>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (t, u, r) = row?;
            if let Some(fetched_at) = time(t) {
                out.push(Reading {
                    fetched_at,
                    utilization: u,
                    resets_at: r.and_then(time),
                });
            }
        }
        Ok(out)
    }

    /// How many readings the database holds (all accounts and buckets).
    #[cfg(test)]
    pub fn len(&self) -> Result<i64, String> {
        self.conn
            .query_row("SELECT count(*) FROM reading", [], |r| r.get(0))
            .map_err(|e| damaged(&self.path, &e))
    }

    /// SQLite's own consistency check: `Ok(())` when it says `ok`.
    #[cfg(test)]
    pub fn check(&self) -> Result<(), String> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| damaged(&self.path, &e))?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(format!(
                "history {} fails its integrity check: {verdict}",
                self.path.display()
            ))
        }
    }
}

/// The note for a database error: busy (another guard held it too long), damaged (remove
/// it), or anything else, naming the file.
fn damaged(path: &Path, e: &rusqlite::Error) -> String {
    use rusqlite::ffi::ErrorCode;
    let shown = path.display();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
            "history {shown} was busy with other claude-guard processes for {}s; this reading is not recorded",
            BUSY_TIMEOUT.as_secs()
        ),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => format!(
            "history {shown} is damaged ({e}); it is ignored — remove the file to start a new history"
        ),
        _ => format!(
            "history {shown} cannot be used ({e}); it is ignored — remove the file to start a new history"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(t: DateTime<Utc>, u: f64, r: Option<DateTime<Utc>>) -> Reading {
        Reading {
            fetched_at: t,
            utilization: u,
            resets_at: r,
        }
    }

    fn br(bucket: &str, t: DateTime<Utc>, u: f64) -> BucketReading {
        BucketReading {
            bucket: bucket.into(),
            reading: reading(t, u, Some(t + chrono::Duration::hours(3))),
        }
    }

    fn now() -> DateTime<Utc> {
        // Whole seconds: the store keeps seconds.
        Utc.timestamp_opt(Utc::now().timestamp(), 0).unwrap()
    }

    #[test]
    fn records_reads_and_deduplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(FILE_NAME);
        let mut h = History::open(&path).unwrap();
        let t = now() - chrono::Duration::hours(1);
        let rs = vec![br("five_hour", t, 10.0), br("seven_day", t, 40.0)];
        assert_eq!(h.record("a", &rs, now()).unwrap(), 2);
        // The same snapshot again: nothing new.
        assert_eq!(h.record("a", &rs, now()).unwrap(), 0);
        // An identical reading 30 s later is a repeat; 90 s later it is stored.
        let later = |s: i64, u: f64| BucketReading {
            bucket: "five_hour".into(),
            reading: reading(
                t + chrono::Duration::seconds(s),
                u,
                Some(t + chrono::Duration::hours(3)),
            ),
        };
        assert_eq!(h.record("a", &[later(30, 10.0)], now()).unwrap(), 0);
        assert_eq!(h.record("a", &[later(90, 10.0)], now()).unwrap(), 1);
        // A different value 1 s later is stored.
        assert_eq!(h.record("a", &[later(91, 10.5)], now()).unwrap(), 1);
        // The same second with a higher value replaces; with a lower one it does not.
        assert_eq!(h.record("a", &[later(91, 11.0)], now()).unwrap(), 1);
        assert_eq!(h.record("a", &[later(91, 9.0)], now()).unwrap(), 0);
        let got = h
            .readings("a", "five_hour", t - chrono::Duration::hours(1), now())
            .unwrap();
        let us: Vec<f64> = got.iter().map(|r| r.utilization).collect();
        assert_eq!(us, [10.0, 10.0, 11.0]);
        assert_eq!(got[0].resets_at, Some(t + chrono::Duration::hours(3)));
        // Other accounts and buckets are separate.
        assert!(h.readings("b", "five_hour", t, now()).unwrap().is_empty());
        assert_eq!(h.readings("a", "seven_day", t, now()).unwrap().len(), 1);
        h.check().unwrap();
        // Files are private.
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let wal = path.with_file_name(format!("{FILE_NAME}-wal"));
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
    }

    #[test]
    fn prunes_by_age_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut h = History::open(&path).unwrap();
        let real_now = now();
        let old = real_now - KEEP - chrono::Duration::minutes(1);
        // Too old to store at all.
        assert_eq!(
            h.record("a", &[br("five_hour", old, 1.0)], real_now)
                .unwrap(),
            0
        );
        // Stored while young, pruned once the real clock passes 8 days.
        let t = real_now - chrono::Duration::days(7);
        assert_eq!(
            h.record("a", &[br("five_hour", t, 1.0)], real_now).unwrap(),
            1
        );
        let later = real_now + chrono::Duration::days(2);
        h.record("a", &[br("five_hour", later, 2.0)], later)
            .unwrap();
        let all = h
            .readings("a", "five_hour", t - chrono::Duration::days(1), later)
            .unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(h.len().unwrap(), 1);
    }

    #[test]
    fn series_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(&dir.path().join(FILE_NAME)).unwrap();
        h.max_per_series = 200;
        let start = now() - chrono::Duration::days(1);
        // max_per_series + 10 distinct readings, a few seconds apart.
        let n = h.max_per_series + 10;
        let rs: Vec<BucketReading> = (0..n)
            .map(|i| {
                br(
                    "five_hour",
                    start + chrono::Duration::seconds(i * 2),
                    i as f64 / 1000.0,
                )
            })
            .collect();
        for chunk in rs.chunks(64) {
            h.record("a", chunk, now()).unwrap();
        }
        assert_eq!(h.len().unwrap(), n, "cut once a day");
        let tomorrow = now() + chrono::Duration::days(1);
        h.record("a", &[br("seven_day", tomorrow, 1.0)], tomorrow)
            .unwrap();
        assert_eq!(h.len().unwrap(), h.max_per_series + 1);
        let got = h.readings("a", "five_hour", start, tomorrow).unwrap();
        assert_eq!(got.len() as i64, h.max_per_series);
        assert_eq!(got[0].utilization, 10.0 / 1000.0, "the oldest go first");
    }

    #[test]
    fn damaged_file_is_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"this is not a database, just some bytes of text.............................................................................................").unwrap();
        let err = match History::open(&path) {
            Err(e) => e,
            Ok(mut h) => h
                .record("a", &[br("five_hour", now(), 1.0)], now())
                .unwrap_err(),
        };
        assert!(
            err.contains("damaged") || err.contains("cannot be used"),
            "{err}"
        );
        assert!(err.contains("remove the file"), "{err}");
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let base = now() - chrono::Duration::hours(2);
        let threads: Vec<_> = (0..8)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        let t = base + chrono::Duration::seconds(w * 1000 + i * 61);
                        let mut h = History::open(&path).unwrap();
                        h.record("a", &[br("five_hour", t, (w * 100 + i) as f64)], now())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let h = History::open(&path).unwrap();
        assert_eq!(h.len().unwrap(), 160);
        h.check().unwrap();
    }

    #[test]
    fn account_keys_are_stable_and_case_blind() {
        let a = account_key(Some("ORG-1"), Some("Me@Example.com"));
        assert_eq!(a, account_key(Some("org-1"), Some("me@example.com")));
        assert_ne!(a, account_key(Some("org-2"), Some("me@example.com")));
        assert_eq!(a.len(), 16);
        assert!(!a.contains("example"));
    }

    #[test]
    fn readings_take_each_bucket_s_own_time() {
        use crate::core::snapshot::{Origin, ParseContext, parse};
        let t = now() - chrono::Duration::hours(2);
        let ctx = ParseContext {
            default_fetched_at: Some(t),
            ..Default::default()
        };
        let origin = Origin {
            kind: "cache".into(),
            location: String::new(),
        };
        let mut snap = parse(
            br#"{"five_hour":{"utilization":40,"resets_at":null},"seven_day":{"utilization":9,"resets_at":null}}"#,
            origin,
            &ctx,
        );
        // A statusline capture combined with the older snapshot.
        let n = now();
        snap.usage.as_mut().unwrap().buckets[0].fetched_at = Some(n);
        let rs = readings_of(&snap);
        assert_eq!(rs[0].reading.fetched_at, n);
        assert_eq!(rs[1].reading.fetched_at, t);
        // Without any time, nothing is recorded.
        snap.fetched_at = None;
        assert_eq!(readings_of(&snap).len(), 1);
    }
}
