//! Sleep-until-reset with real short waits (no mocked clock): snapshot files that the test
//! rewrites while the guard sleeps.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use common::{Guard, real_claude, recording_stub};

/// Writes a ClaudeMeter snapshot atomically: five_hour at `five` %, resetting at `resets`.
fn write_snapshot(path: &Path, five: f64, resets: DateTime<Utc>, subscription: &str) {
    let body = serde_json::json!({
        "org_uuid": "5b1c0f9e-2a7d-4c3e-9f10-6d2e8a4b7c01",
        "account_email": "dev@example.com",
        "fetched_at": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, false),
        "usage": {
            "five_hour": {"utilization": five, "resets_at": resets.to_rfc3339_opts(SecondsFormat::Micros, false)},
            "seven_day": {"utilization": 40.0, "resets_at": (Utc::now() + chrono::Duration::days(3)).to_rfc3339()},
            "seven_day_opus": null, "seven_day_sonnet": null, "seven_day_oauth_apps": null,
            "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null}
        },
        "overage": null,
        "subscription": {"status": subscription},
        "errors": []
    });
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body.to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn in_secs(s: f64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::milliseconds((s * 1000.0) as i64)
}

#[test]
fn run_wait_sleeps_again_while_still_pinned_then_execs_the_real_claude() {
    let claude = real_claude();
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snapshot.json");
    let start = Instant::now();
    let first_reset = in_secs(2.0);
    write_snapshot(&snap, 100.0, first_reset, "active");
    let writer = {
        let snap = snap.clone();
        std::thread::spawn(move || {
            // While the guard sleeps toward the first reset, a new window opens that is also
            // pinned (server lag / new window): it must sleep again.
            std::thread::sleep(Duration::from_millis(1000));
            let second_reset = Utc::now() + chrono::Duration::milliseconds(2500);
            write_snapshot(&snap, 100.0, second_reset, "active");
            std::thread::sleep(Duration::from_millis(2000));
            // Healthy before the second wake-up.
            write_snapshot(
                &snap,
                12.0,
                Utc::now() + chrono::Duration::hours(5),
                "active",
            );
            second_reset
        })
    };
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &claude)
        .args(["run", "--wait", "--grace", "500ms", "--snapshot"])
        .args([&snap])
        // Checked like a model turn (only `--version` alone passes unread); claude prints its
        // version.
        .args(["--", "-p", "--version"])
        .timeout(Duration::from_secs(20))
        .run();
    let second_reset = writer.join().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("(Claude Code)"),
        "the real claude ran: {:?}",
        out.stdout
    );
    assert_eq!(
        out.stderr.matches("claude-guard: waiting:").count(),
        2,
        "slept twice:\n{}",
        out.stderr
    );
    let woke = Utc::now();
    assert!(
        woke >= second_reset,
        "claude started only after the second reset"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(3400),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn wait_subcommand_exits_0_once_the_window_resets() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s.json");
    let reset = in_secs(1.5);
    write_snapshot(&snap, 100.0, reset, "active");
    let out = Guard::new()
        .args(["wait", "--grace", "300ms", "--snapshot"])
        .args([&snap])
        .timeout(Duration::from_secs(15))
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let late = Utc::now() - reset;
    assert!(
        late >= chrono::Duration::milliseconds(300),
        "woke after reset + grace ({late})"
    );
    assert!(
        late < chrono::Duration::milliseconds(1500),
        "and promptly ({late})"
    );
    assert!(out.stderr.contains("five_hour"), "{}", out.stderr);
}

#[test]
fn run_wait_json_prints_one_object_for_the_final_decision() {
    let dir = tempfile::tempdir().unwrap();
    let stub_dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(stub_dir.path());
    let snap = dir.path().join("s.json");
    write_snapshot(&snap, 100.0, in_secs(1.5), "active");
    let writer = {
        let snap = snap.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            write_snapshot(&snap, 12.0, in_secs(5.0 * 3600.0), "active");
        })
    };
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args([
            "run",
            "--wait",
            "--grace",
            "200ms",
            "--json",
            "--explain",
            "--snapshot",
        ])
        .args([&snap])
        .args(["--", "-p", "hi"])
        .timeout(Duration::from_secs(15))
        .run();
    writer.join().unwrap();
    assert_eq!(
        out.code,
        Some(7),
        "the stub ran after the wait: {}",
        out.stderr
    );
    let objects: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(serde_json::Value::is_object)
        .collect();
    assert_eq!(
        objects.len(),
        1,
        "one JSON object on stderr:\n{}",
        out.stderr
    );
    assert_eq!(objects[0]["decision"], "go", "{}", objects[0]);
    assert_eq!(objects[0]["exit_code"], 0, "{}", objects[0]);
    // --explain still shows the refusal that was waited on, then the final walk.
    assert!(
        out.stderr.contains("five_hour") && out.stderr.matches("1. ").count() >= 2,
        "two explanations:\n{}",
        out.stderr
    );
}

#[test]
fn a_reset_beyond_max_wait_refuses_at_once_with_19() {
    let dir = tempfile::tempdir().unwrap();
    let stub_dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(stub_dir.path());
    let snap = dir.path().join("s.json");
    write_snapshot(&snap, 100.0, in_secs(9.0 * 3600.0), "active");
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--wait", "--snapshot"])
        .args([&snap])
        .run();
    assert_eq!(out.code, Some(19), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(2));
    assert!(
        out.stderr.contains("later than --max-wait"),
        "{}",
        out.stderr
    );
    assert!(!stub_dir.path().join("record.argv").exists());
    // `wait` applies --max-wait the same way, and says so in JSON.
    write_snapshot(&snap, 100.0, in_secs(30.0), "active");
    let out = Guard::new()
        .args(["wait", "--max-wait", "10s", "--json", "--snapshot"])
        .args([&snap])
        .run();
    assert_eq!(out.code, Some(19));
    assert_eq!(out.json()["reason"], "max_wait");
}

#[test]
fn subscription_and_unknown_states_are_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s.json");
    write_snapshot(&snap, 100.0, in_secs(5.0), "past_due");
    let out = Guard::new()
        .args(["wait", "--snapshot"])
        .args([&snap])
        .run();
    assert_eq!(out.code, Some(17));
    assert!(out.elapsed < Duration::from_secs(2));
    let out = Guard::new()
        .args(["wait", "--snapshot"])
        .args([dir.path().join("missing.json")])
        .run();
    assert_eq!(
        out.code,
        Some(20),
        "wait fails closed on unknown, like check"
    );
    assert!(out.elapsed < Duration::from_secs(2));
}

fn spawn_waiting(stub: &Path, snap: &Path) -> std::process::Child {
    let mut g = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", stub)
        .args(["run", "--wait", "--snapshot"])
        .args([snap])
        .args(["--", "-p", "x"]);
    g.command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal_exits(sig: nix::sys::signal::Signal, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    let snap = dir.path().join("s.json");
    write_snapshot(&snap, 100.0, in_secs(120.0), "active");
    let mut child = spawn_waiting(&stub, &snap);
    std::thread::sleep(Duration::from_millis(700));
    assert!(child.try_wait().unwrap().is_none(), "still waiting");
    let sent = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "exits at once on {sig}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(code), "{sig}");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("claude was not started"), "{err}");
    assert!(
        !dir.path().join("record.argv").exists(),
        "claude never started"
    );
}

#[test]
fn sigint_while_waiting_exits_130_without_starting_claude() {
    signal_exits(nix::sys::signal::Signal::SIGINT, 130);
}

#[test]
fn sigterm_while_waiting_exits_143_without_starting_claude() {
    signal_exits(nix::sys::signal::Signal::SIGTERM, 143);
}

#[test]
fn the_aliased_claude_waits_with_claude_guard_wait() {
    let dir = tempfile::tempdir().unwrap();
    let stub_dir = dir.path().join("real");
    let link_dir = dir.path().join("guard");
    std::fs::create_dir_all(&stub_dir).unwrap();
    std::fs::create_dir_all(&link_dir).unwrap();
    recording_stub(&stub_dir);
    std::os::unix::fs::symlink(common::bin(), link_dir.join("claude")).unwrap();
    let snap = dir.path().join("s.json");
    write_snapshot(&snap, 100.0, in_secs(1.0), "active");
    let path = std::env::join_paths([
        &link_dir,
        &stub_dir,
        Path::new("/usr/bin"),
        Path::new("/bin"),
    ])
    .unwrap();
    let out = Guard::program(link_dir.join("claude"))
        .env("PATH", &path)
        .env("CLAUDE_GUARD_SNAPSHOT", &snap)
        .env("CLAUDE_GUARD_WAIT", "1")
        .env("CLAUDE_GUARD_GRACE", "200ms")
        .env("CLAUDE_GUARD_MAX_WAIT", "1m")
        .args(["-p", "after the reset"])
        .timeout(Duration::from_secs(15))
        .run();
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert!(
        out.elapsed >= Duration::from_millis(900),
        "{:?}",
        out.elapsed
    );
    assert!(stub_dir.join("record.argv").exists());
}
