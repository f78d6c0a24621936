//! The forecast (issue 12, DESIGN.md "Forecast"): a sequence of ClaudeMeter snapshots with
//! increasing `fetched_at`, replayed with `--snapshot` and `--now`, fills the usage history;
//! then `status` shows the pace, `check --needs` exits 0 or 21, and `--json` carries the
//! `forecast` array. Also: 20 guards recording at once (and some killed mid-write) lose no
//! reading and corrupt nothing; a damaged history is a note; a cache hit of a recorded
//! snapshot does not open the history.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use common::{Guard, Reply, Seen, Server, epoch_ms_in, write_credentials};
use serde_json::json;

const HISTORY: &str = "history.sqlite3";

/// A scratch directory with the cache (and so the history) and the snapshot files.
struct Scratch {
    dir: tempfile::TempDir,
    /// Real time when the scratch was made, whole seconds (the history keeps seconds).
    now: DateTime<Utc>,
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Scratch {
    fn new() -> Scratch {
        let now = Utc::now();
        Scratch {
            dir: tempfile::tempdir().unwrap(),
            now: now - chrono::Duration::nanoseconds(now.timestamp_subsec_nanos() as i64),
        }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn history(&self) -> PathBuf {
        self.cache().join(HISTORY)
    }

    fn guard(&self) -> Guard {
        Guard::new()
            .env("CLAUDE_GUARD_CACHE_DIR", self.cache())
            .timeout(Duration::from_secs(30))
    }

    /// Writes a ClaudeMeter snapshot fetched at `at` with `five_hour` and `seven_day` at the
    /// given percents and resets; returns its path.
    fn snapshot(
        &self,
        name: &str,
        at: DateTime<Utc>,
        five: (f64, DateTime<Utc>),
        week: (f64, DateTime<Utc>),
    ) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.json"));
        let body = json!({
            "org_uuid": "9f0c1a2b-0000-4000-8000-00000000feed",
            "account_email": "replay@example.com",
            "fetched_at": rfc(at),
            "usage": {
                "five_hour": {"utilization": five.0, "resets_at": rfc(five.1)},
                "seven_day": {"utilization": week.0, "resets_at": rfc(week.1)},
                "seven_day_opus": null,
                "seven_day_oauth_apps": null
            },
            "overage": null,
            "subscription": null,
            "errors": []
        });
        std::fs::write(&path, body.to_string()).unwrap();
        path
    }

    /// Replays `check --snapshot FILE --now FETCHED_AT` for each snapshot, asserting a go.
    fn replay(&self, snaps: &[(PathBuf, DateTime<Utc>)]) {
        for (path, at) in snaps {
            let out = self
                .guard()
                .args(["check", "--snapshot"])
                .arg_path(path)
                .args(["--now", &rfc(*at)])
                .run();
            assert_eq!(out.code, Some(0), "{out:?}");
            assert!(!out.stderr.contains("note:"), "{}", out.stderr);
        }
    }

    /// Readings in the history, and SQLite's integrity verdict.
    fn inspect(&self) -> (i64, String) {
        let db = rusqlite::Connection::open(self.history()).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        let n: i64 = db
            .query_row("SELECT count(*) FROM reading", [], |r| r.get(0))
            .unwrap();
        let ok: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        (n, ok)
    }
}

trait ArgPath {
    fn arg_path(self, p: &Path) -> Self;
}

impl ArgPath for Guard {
    fn arg_path(self, p: &Path) -> Self {
        self.args([p.as_os_str()])
    }
}

/// Seven snapshots over the last hour: `five_hour` 40 % → 64 % (24 %/h), resetting in 3 h;
/// `seven_day` 20 % → 23 % (3 %/h), resetting in 3 days. Returns them and the last one.
fn rising(s: &Scratch) -> Vec<(PathBuf, DateTime<Utc>)> {
    let five_reset = s.now + chrono::Duration::hours(3);
    let week_reset = s.now + chrono::Duration::days(3);
    (0..7)
        .map(|i| {
            let at = s.now - chrono::Duration::minutes(60 - i * 10);
            let path = s.snapshot(
                &format!("s{i}"),
                at,
                (40.0 + 4.0 * i as f64, five_reset),
                (20.0 + 0.5 * i as f64, week_reset),
            );
            (path, at)
        })
        .collect()
}

#[test]
fn replayed_snapshots_give_pace_status_needs_and_json() {
    let s = Scratch::new();
    let snaps = rising(&s);
    s.replay(&snaps);
    let (last, at) = snaps.last().unwrap().clone();
    let now = rfc(at);
    let (n, ok) = s.inspect();
    assert_eq!(n, 14, "7 snapshots × 2 buckets");
    assert_eq!(ok, "ok");

    // status: pace, outlook, sparkline, no colour under NO_COLOR (the harness sets it).
    let out = s
        .guard()
        .args(["status", "--snapshot"])
        .arg_path(&last)
        .args(["--now", &now])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| {
                l.trim_start().starts_with(&format!("{name} "))
                    && (l.contains("reaches") || l.contains("stays"))
            })
            .unwrap_or_else(|| panic!("no pace line for {name}: {}", out.stdout))
            .to_owned()
    };
    let five = line("five_hour");
    assert!(five.contains("24 (r)"), "{five}");
    assert!(
        // 3 h from --now, which advances in real time while the guard runs: 2h 59m.
        five.contains("reaches 100 % in 1h 30m — before its reset (in 2h 59m)")
            || five.contains("reaches 100 % in 1h 30m — before its reset (in 3h)"),
        "{five}"
    );
    assert!(
        five.contains('▄') || five.contains('▅'),
        "sparkline: {five}"
    );
    let week = line("seven_day");
    assert!(week.contains("3 (r)"), "{week}");
    assert!(!out.stdout.contains('\u{1b}'), "no colour under NO_COLOR");

    // check --needs: 2 h does not fit (100 % in 1h 30m), 1 h does.
    let out = s
        .guard()
        .args(["check", "--needs", "2h", "--snapshot"])
        .arg_path(&last)
        .args(["--now", &now])
        .run();
    assert_eq!(out.code, Some(21), "{out:?}");
    for want in [
        "five_hour",
        "24 %/h",
        "recent pace",
        "1h 30m",
        "before its reset",
        "--wait",
        "smaller job",
        "another model",
    ] {
        assert!(out.stderr.contains(want), "{want}: {}", out.stderr);
    }
    let out = s
        .guard()
        .args(["check", "--needs", "1h", "--snapshot"])
        .arg_path(&last)
        .args(["--now", &now])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    // From the environment, as an aliased `claude` takes it.
    let out = s
        .guard()
        .env("CLAUDE_GUARD_NEEDS", "2h")
        .args(["check", "--snapshot"])
        .arg_path(&last)
        .args(["--now", &now])
        .run();
    assert_eq!(out.code, Some(21), "{out:?}");
    // Against --max-utilization 80: 16 % left at 24 %/h is 40 min.
    let out = s
        .guard()
        .args([
            "check",
            "--needs",
            "1h",
            "--max-utilization",
            "80",
            "--snapshot",
        ])
        .arg_path(&last)
        .args(["--now", &now])
        .run();
    assert_eq!(out.code, Some(21), "{out:?}");

    // --json
    let out = s
        .guard()
        .args(["check", "--json", "--needs", "2h", "--snapshot"])
        .arg_path(&last)
        .args(["--now", &now])
        .run();
    assert_eq!(out.code, Some(21), "{out:?}");
    let j = out.json();
    assert_eq!(j["reason"], "needs");
    assert_eq!(j["exit_code"], 21);
    assert_eq!(j["decision"], "refuse");
    assert_eq!(j["resets_at"], rfc(s.now + chrono::Duration::hours(3)));
    let f = j["forecast"].as_array().unwrap();
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0]["bucket"], "five_hour");
    assert_eq!(f[0]["basis"], "recent");
    assert!((f[0]["pace_per_hour"].as_f64().unwrap() - 24.0).abs() < 1e-6);
    assert_eq!(f[0]["before_reset"], true);
    // 36 % at 24 %/h: 90 minutes after --now (which advances in real time while it runs).
    let reaches = DateTime::parse_from_rfc3339(f[0]["reaches_limit_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let off = (reaches - (at + chrono::Duration::minutes(90))).num_seconds();
    assert!((0..=5).contains(&off), "{f:?}");
    assert_eq!(f[1]["bucket"], "seven_day");
    assert!((f[1]["pace_per_hour"].as_f64().unwrap() - 3.0).abs() < 1e-6);

    // Evaluated an hour earlier (--now), only the first reading counts: a window pace.
    let (first, first_at) = snaps[0].clone();
    let out = s
        .guard()
        .args(["check", "--json", "--snapshot"])
        .arg_path(&first)
        .args(["--now", &rfc(first_at)])
        .run();
    let f = out.json()["forecast"].clone();
    assert_eq!(f[0]["basis"], "window", "{f}");
    // 40 % over the 1 h elapsed of the 5-hour window (it resets 4 h later): 40 %/h.
    assert!(
        (f[0]["pace_per_hour"].as_f64().unwrap() - 40.0).abs() < 1e-6,
        "{f}"
    );
}

#[test]
fn a_fresh_window_has_no_forecast_and_never_refuses() {
    let s = Scratch::new();
    // five_hour started 10 minutes ago (10 % of 5 h is 30 min) at 30 %: no pace yet.
    let snap = s.snapshot(
        "fresh",
        s.now,
        (30.0, s.now + chrono::Duration::minutes(290)),
        (10.0, s.now + chrono::Duration::days(6)),
    );
    let out = s
        .guard()
        .args(["check", "--json", "--needs", "5h", "--snapshot"])
        .arg_path(&snap)
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let f = out.json()["forecast"].clone();
    assert_eq!(f[0]["basis"], "none", "{f}");
    assert_eq!(f[0]["pace_per_hour"], serde_json::Value::Null);
    assert_eq!(f[0]["reaches_limit_at"], serde_json::Value::Null);
    let out = s
        .guard()
        .args(["status", "--snapshot"])
        .arg_path(&snap)
        .run();
    assert!(out.stdout.contains("no forecast yet"), "{}", out.stdout);
}

#[test]
fn waiting_for_the_reset_turns_a_needs_refusal_into_a_go() {
    let s = Scratch::new();
    // five_hour: 10 % → 50 % → 99.9 % over the last 10 minutes (~535 %/h), resetting in 6 s:
    // 100 % comes before the reset, so a 1-hour job is refused; after the reset it goes.
    let reset = Utc::now() + chrono::Duration::seconds(6);
    let week = (5.0, s.now + chrono::Duration::days(5));
    let snaps: Vec<(PathBuf, DateTime<Utc>)> = [(10, 10.0), (5, 50.0), (0, 99.9)]
        .iter()
        .map(|(ago, u)| {
            let at = s.now - chrono::Duration::minutes(*ago);
            (s.snapshot(&format!("w{ago}"), at, (*u, reset), week), at)
        })
        .collect();
    s.replay(&snaps);
    let last = &snaps.last().unwrap().0;
    let out = s
        .guard()
        .args(["check", "--needs", "1h", "--snapshot"])
        .arg_path(last)
        .run();
    assert_eq!(out.code, Some(21), "{out:?}");
    let out = s
        .guard()
        .args([
            "wait",
            "--needs",
            "1h",
            "--grace",
            "1s",
            "--max-wait",
            "1m",
            "--quiet",
            "--json",
            "--snapshot",
        ])
        .arg_path(last)
        .timeout(Duration::from_secs(25))
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["decision"], "go");
    assert!(out.elapsed >= Duration::from_secs(3), "it waited: {out:?}");
}

#[test]
fn twenty_guards_recording_at_once_lose_nothing_and_a_kill_corrupts_nothing() {
    let s = Scratch::new();
    let five_reset = s.now + chrono::Duration::hours(4);
    let week_reset = s.now + chrono::Duration::days(4);
    let snaps: Vec<PathBuf> = (0..20)
        .map(|i| {
            let at = s.now - chrono::Duration::minutes(2 * (20 - i));
            s.snapshot(
                &format!("c{i}"),
                at,
                (10.0 + i as f64, five_reset),
                (30.0 + i as f64 / 10.0, week_reset),
            )
        })
        .collect();
    let handles: Vec<_> = snaps
        .iter()
        .map(|p| {
            let g = s.guard().args(["check", "--snapshot"]).arg_path(p);
            std::thread::spawn(move || g.run())
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(!out.stderr.contains("note:"), "{}", out.stderr);
    }
    let (n, ok) = s.inspect();
    assert_eq!(n, 40, "20 snapshots × 2 buckets, none lost");
    assert_eq!(ok, "ok");

    // Twenty more, half of them killed at once while they run: the history stays sound and
    // every guard that finished has its readings.
    let more: Vec<PathBuf> = (0..20)
        .map(|i| {
            let at = s.now - chrono::Duration::seconds(30 * (20 - i) + 7);
            s.snapshot(
                &format!("k{i}"),
                at,
                (40.0 + i as f64, five_reset),
                (33.0 + i as f64 / 10.0, week_reset),
            )
        })
        .collect();
    // Each guard is kept (it owns the child's temporary HOME) until its child is reaped.
    let mut children: Vec<(Guard, std::process::Child)> = more
        .iter()
        .map(|p| {
            let mut g = s.guard().args(["check", "--snapshot"]).arg_path(p);
            let child = g
                .command()
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (g, child)
        })
        .collect();
    // Kills spread over the guards' run (a start is a few milliseconds), so some land
    // before, some during and some after the write.
    for (_, c) in children.iter_mut().step_by(2) {
        std::thread::sleep(Duration::from_millis(2));
        let _ = c.kill();
    }
    let mut finished = 0;
    for (_, c) in &mut children {
        let status = c.wait().unwrap();
        if status.success() {
            finished += 1;
        }
    }
    let (n, ok) = s.inspect();
    assert_eq!(ok, "ok");
    assert!(n >= 40 + 2 * finished, "{n} readings, {finished} finished");
    assert!(n <= 80);
    // And the next guard records as usual.
    let next = s.snapshot("next", s.now, (70.0, five_reset), (36.0, week_reset));
    let out = s
        .guard()
        .args(["check", "--snapshot"])
        .arg_path(&next)
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stderr.contains("note:"), "{}", out.stderr);
    assert_eq!(s.inspect().0, n + 2);
}

#[test]
fn a_damaged_history_is_a_note_never_a_failure() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.cache()).unwrap();
    std::fs::write(s.history(), vec![b'x'; 4096]).unwrap();
    let snaps = rising(&s);
    let (last, _) = snaps.last().unwrap();
    // Without the history, the pace is the window's: 64 % over 2 h, 100 % in 1h 7m.
    for args in [&["check"][..], &["check", "--needs", "30m"], &["status"]] {
        let out = s
            .guard()
            .args(args)
            .args(["--snapshot"])
            .arg_path(last)
            .run();
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert!(out.stderr.contains("note: history"), "{}", out.stderr);
        assert!(out.stderr.contains("remove the file"), "{}", out.stderr);
    }
    // The file is left as it was (the user decides).
    assert_eq!(std::fs::read(s.history()).unwrap(), vec![b'x'; 4096]);
}

const TOKEN: &str = "sk-ant-oat01-CANARY-forecast-tests-77";
const PROFILE: &str = "oauth_profile__max20x_trimmed_user_rate_limit_tier.json";

/// A logged-in scratch whose first `check` fetched from a usage stand-in and recorded the
/// readings (2) in the history, which is then damaged: a start that opens the history prints
/// a note. Returns the scratch, its HOME and the stand-in.
fn recorded_then_damaged() -> (Scratch, std::path::PathBuf, Server) {
    let s = Scratch::new();
    let home = s.dir.path().join("home");
    write_credentials(
        &home.join(".claude"),
        TOKEN,
        epoch_ms_in(86_400),
        &["user:inference", "user:profile"],
    );
    let server = Server::start(move |seen: &Seen| {
        match seen.path.as_str() {
        "/api/oauth/usage" => Reply::json(
            200,
            json!({
                "five_hour": {"utilization": 20.0, "resets_at": rfc(Utc::now() + chrono::Duration::hours(2))},
                "seven_day": {"utilization": 10.0, "resets_at": rfc(Utc::now() + chrono::Duration::days(3))}
            })
            .to_string(),
        ),
        "/api/oauth/profile" => Reply::payload(200, PROFILE),
        _ => Reply::json(404, "{}"),
    }
    });
    let out = guarded(&s, &home, &server).args(["check"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(s.inspect().0, 2, "the fetch is recorded");
    // Damage the history: a start that opens it would print a note.
    std::fs::write(s.history(), vec![b'x'; 4096]).unwrap();
    let _ = std::fs::remove_file(s.cache().join(format!("{HISTORY}-wal")));
    let _ = std::fs::remove_file(s.cache().join(format!("{HISTORY}-shm")));
    (s, home, server)
}

/// The guard of [`recorded_then_damaged`]'s scratch.
fn guarded(s: &Scratch, home: &std::path::Path, server: &Server) -> Guard {
    s.guard()
        .env("HOME", home)
        .env("CLAUDE_GUARD_OAUTH_BASE_URL", &server.base)
        .cwd(home)
}

#[test]
fn a_cache_hit_of_a_recorded_snapshot_does_not_open_the_history() {
    let (s, home, server) = recorded_then_damaged();
    let guard = || guarded(&s, &home, &server);
    let out = guard().args(["check", "--explain"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("cache: used"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("note:"),
        "a cache hit opened the history: {}",
        out.stderr
    );
    assert_eq!(server.count("/api/oauth/usage"), 1);
    // A new fetch opens it (and notes the damage).
    let out = guard().args(["check", "--refresh"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("note: history"), "{}", out.stderr);
    assert_eq!(server.count("/api/oauth/usage"), 2);
}

#[test]
fn a_stale_but_safe_start_of_a_recorded_snapshot_does_not_open_the_history() {
    let (s, home, server) = recorded_then_damaged();
    // Past --ttl 1s, under 80 %: decided at once on the cached copy, the refresh detached.
    std::thread::sleep(Duration::from_millis(1100));
    let out = guarded(&s, &home, &server)
        .args(["check", "--explain", "--ttl", "1s"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("background:"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("note:"),
        "a stale-but-safe start opened the history: {}",
        out.stderr
    );
}
