//! Issue 15, hardening: no hang on blocking files, no abort on huge durations, no forged go
//! (a snapshot from the future, another organization's snapshot, duplicate keys), no injected
//! line or terminal escape, no leaked secret. Each test failed before its fix.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Guard, NOW, example};
use serde_json::json;

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(ok.success(), "mkfifo {}", path.display());
}

/// Ends the child when a test fails before waiting for it.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `child` at most `limit`; the exit code, or a failed test naming `what`.
fn wait_bounded(child: &mut std::process::Child, limit: Duration, what: &str) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            start.elapsed() < limit,
            "{what}: still running after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rfc3339_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

/// A ClaudeMeter snapshot fetched at `fetched_at`, five_hour at `five` %.
fn claudemeter(fetched_at: &str, five: f64) -> String {
    json!({
        "org_uuid": "5b1c0f9e-2a7d-4c3e-9f10-6d2e8a4b7c01",
        "account_email": "dev@example.com",
        "fetched_at": fetched_at,
        "usage": {
            "five_hour": {"utilization": five, "resets_at": rfc3339_in(3600)},
            "seven_day": {"utilization": 10.0, "resets_at": rfc3339_in(86_400)},
            "extra_usage": {"is_enabled": false}
        },
        "errors": []
    })
    .to_string()
}

// ---- 1. blocking files ----

#[test]
fn a_fifo_snapshot_whose_writer_stalls_is_unknown_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("snap");
    mkfifo(&fifo);
    // A producer that writes half a snapshot and then keeps the pipe open (a stalled curl).
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        let _ = w.write_all(b"{\"five_hour\": ");
        std::thread::sleep(Duration::from_secs(12));
    });
    let out = Guard::new()
        .args(["check", "--snapshot"])
        .args([&fifo])
        .args(["--now", NOW])
        .timeout(Duration::from_secs(10))
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(out.stderr.contains("no end of input"), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(8), "{:?}", out.elapsed);
    drop(writer);
}

#[test]
fn a_fifo_nobody_writes_to_does_not_block_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("snap");
    mkfifo(&fifo);
    let out = Guard::new()
        .args(["check", "--snapshot"])
        .args([&fifo])
        .args(["--now", NOW])
        .timeout(Duration::from_secs(10))
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
}

#[test]
fn stdin_left_open_is_unknown_within_the_deadline_and_a_closed_pipe_still_works() {
    let mut g = Guard::new().args(["check", "--snapshot", "-", "--now", NOW]);
    let cmd = g.command();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = Reap(cmd.spawn().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    stdin
        .write_all(&std::fs::read(example("healthy.json")).unwrap())
        .unwrap();
    // the pipe stays open: the guard must give up on its own
    let code = wait_bounded(
        &mut child.0,
        Duration::from_secs(9),
        "--snapshot - on an open pipe",
    );
    assert_eq!(code, Some(20));
    drop(stdin);

    // `curl … | claude-guard check --snapshot -` keeps working
    let out = Guard::new()
        .args(["check", "--snapshot", "-", "--now", NOW])
        .stdin(std::fs::read(example("healthy.json")).unwrap())
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
}

// ---- 2. huge durations ----

#[test]
fn huge_durations_are_usage_errors_not_aborts() {
    for args in [
        vec!["wait", "--max-wait", "500000years"],
        vec!["wait", "--grace", "500000years"],
        vec!["run", "--wait", "--max-wait", "500000years", "--"],
        vec!["check", "--max-age", "500000000000years"],
    ] {
        let out = Guard::new()
            .args(&args)
            .args(["--snapshot"])
            .args([example("five-hour-pinned.json")])
            .args(["--now", NOW])
            .env("CLAUDE_GUARD_CLAUDE", "/bin/true")
            .run();
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("longer than 100 years"), "{out:?}");
    }
    for var in ["CLAUDE_GUARD_MAX_WAIT", "CLAUDE_GUARD_GRACE"] {
        let out = Guard::new()
            .args(["wait", "--snapshot"])
            .args([example("five-hour-pinned.json")])
            .args(["--now", NOW])
            .env(var, "500000years")
            .run();
        assert_eq!(out.code, Some(2), "{var}: {out:?}");
    }
    // the longest accepted value still decides
    let out = Guard::new()
        .args(["check", "--max-age", "100years", "--snapshot"])
        .args([example("healthy.json")])
        .args(["--now", NOW])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
}

// ---- 4. injection ----

#[test]
fn strings_from_a_snapshot_cannot_inject_lines_escapes_or_workflow_commands() {
    let evil = "x\n::add-mask::hunter2\r\n\u{1b}]0;pwned\u{7}\u{1b}[2J::error::forged";
    let snap = json!({
        "org_uuid": format!("org{evil}"),
        "account_email": format!("a@b{evil}"),
        "fetched_at": "2026-11-20T08:58:00Z",
        "usage": {
            "five_hour": {"utilization": 100.0, "resets_at": "2026-11-20T11:00:00Z"},
            format!("k{evil}"): {"utilization": 5.0, "resets_at": null},
            format!("o{evil}"): {"a": 1},
            "limits": [{"kind": "weekly_scoped", "percent": 100.0,
                        "resets_at": "2026-11-21T11:00:00Z",
                        "scope": {"model": {"display_name": format!("Opus{evil}")}}}]
        },
        "errors": [format!("e{evil}")]
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.json");
    std::fs::write(&path, snap.to_string()).unwrap();
    let output = dir.path().join("output");
    for args in [
        vec!["check", "--explain"],
        vec!["status"],
        vec!["check", "--json"],
        vec!["snapshot"],
    ] {
        let out = Guard::new()
            .args(&args)
            .args(["--snapshot"])
            .args([&path])
            .args(["--now", NOW])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &output)
            .run();
        for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(!text.contains('\u{1b}'), "{args:?} {name} has ESC: {text}");
            assert!(!text.contains('\r'), "{args:?} {name} has CR: {text}");
            for line in text.lines() {
                let t = line.trim_start();
                assert!(
                    !t.starts_with("::add-mask") && !t.starts_with("::error::forged"),
                    "{args:?} {name}: injected line {line:?}"
                );
                // text (not JSON, which escapes the newline): no workflow command anywhere
                let json = args.contains(&"--json") || args[0] == "snapshot";
                assert!(
                    json || !t.contains("::add-mask") && !t.contains("::error::forged"),
                    "{args:?} {name}: {line:?}"
                );
            }
            // the guard's own one workflow command is the only line starting with ::
            let commands = text
                .lines()
                .filter(|l| l.trim_start().starts_with("::"))
                .count();
            assert!(commands <= 1, "{args:?} {name}: {text}");
        }
    }
    let written = std::fs::read_to_string(&output).unwrap_or_default();
    assert!(
        written
            .lines()
            .all(|l| !l.contains("::add-mask") && !l.contains("hunter2")),
        "{written}"
    );
}

// ---- 5. a snapshot from the future ----

#[test]
fn a_snapshot_from_the_future_is_unknown_on_the_real_clock_but_not_in_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.json");
    std::fs::write(&path, claudemeter(&rfc3339_in(3 * 3600), 10.0)).unwrap();
    let out = Guard::new()
        .args(["check", "--snapshot"])
        .args([&path])
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr.contains("ahead of this machine's clock") && out.stderr.contains("5 min"),
        "{out:?}"
    );
    // within the skew: age 0, a go
    std::fs::write(&path, claudemeter(&rfc3339_in(120), 10.0)).unwrap();
    let out = Guard::new()
        .args(["check", "--snapshot"])
        .args([&path])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    // a replay: fetched after --now counts as age 0 (DESIGN.md)
    std::fs::write(&path, claudemeter("2026-11-20T12:00:00Z", 10.0)).unwrap();
    let out = Guard::new()
        .args(["check", "--now", NOW, "--snapshot"])
        .args([&path])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
}

// ---- 6. secrets ----

#[test]
fn a_rejected_bridge_url_is_not_echoed_with_its_secrets() {
    for url in [
        "http://user:hunter2@example.com/s?token=SECRET-TOKEN#frag",
        "ftp://user:hunter2@127.0.0.1/?token=SECRET-TOKEN",
        "user:hunter2@example.com/?token=SECRET-TOKEN",
    ] {
        for via_env in [false, true] {
            let mut g = Guard::new().args(["check"]);
            g = if via_env {
                g.env("CLAUDE_GUARD_BRIDGE", url)
            } else {
                g.args(["--bridge", url])
            };
            let out = g.run();
            assert_eq!(out.code, Some(2), "{url}: {out:?}");
            assert!(out.stderr.contains("--bridge"), "{out:?}");
            assert!(
                !out.stderr.contains("hunter2") && !out.stderr.contains("SECRET-TOKEN"),
                "{url}: {}",
                out.stderr
            );
        }
    }
}

#[test]
fn the_guards_secrets_are_not_in_claudes_environment() {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("claude");
    let env_file = dir.path().join("env");
    common::script(
        &stub,
        &format!("#!/bin/sh\nenv > '{}'\nexit 0\n", env_file.display()),
    );
    // exec'd, and as the child of `run --supervise`
    for run in [&["run"][..], &["run", "--supervise"]] {
        let _ = std::fs::remove_file(&env_file);
        let out = Guard::new()
            .args(run)
            .args(["--snapshot"])
            .args([example("healthy.json")])
            .args(["--now", NOW, "--", "-p", "task"])
            .env("CLAUDE_GUARD_CLAUDE", &stub)
            .env("CLAUDE_GUARD_SESSION_KEY", "sk-ant-sid01-CANARY-session")
            .env("CLAUDE_GUARD_MAX_AGE", "2h")
            .run();
        assert_eq!(out.code, Some(0), "{run:?}: {out:?}");
        let env = std::fs::read_to_string(&env_file).unwrap();
        assert!(!env.contains("CANARY"), "{run:?}: {env}");
        assert!(!env.contains("CLAUDE_GUARD_SESSION_KEY"), "{run:?}: {env}");
        // settings that are not secrets are passed on (a guard inside the session reads them)
        assert!(env.contains("CLAUDE_GUARD_MAX_AGE=2h"), "{run:?}: {env}");
    }
}

// ---- 7. --org on a single object ----

#[test]
fn org_is_honoured_for_a_single_claudemeter_object() {
    let out = Guard::new()
        .args(["check", "--org", "team@other.example", "--snapshot"])
        .args([example("healthy.json")])
        .args(["--now", NOW])
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr.contains("not --org team@other.example"),
        "{out:?}"
    );
    for org in ["dev@example.com", "5B1C0F9E-2A7D-4C3E-9F10-6D2E8A4B7C01"] {
        let out = Guard::new()
            .args(["check", "--org", org, "--snapshot"])
            .args([example("healthy.json")])
            .args(["--now", NOW])
            .run();
        assert_eq!(out.code, Some(0), "{org}: {out:?}");
    }
}

// ---- 8. smaller ----

#[test]
fn attempts_say_the_age_at_the_evaluation_time_and_status_has_no_stray_space() {
    let out = Guard::new()
        .args(["check", "--json", "--snapshot"])
        .args([example("healthy.json")])
        .args(["--now", NOW])
        .run();
    let attempts = out.json()["source"]["attempts"].to_string();
    assert!(attempts.contains("(fetched 120s ago)"), "{attempts}");

    let out = Guard::new().args(["status", "--source", "snapshot"]).run();
    assert!(
        !out.stdout.contains(" ,") && !out.stderr.contains(" ,"),
        "{out:?}"
    );
    assert!(out.stdout.contains("source: snapshot,"), "{out:?}");
}

#[test]
fn duplicate_keys_make_the_snapshot_unknown() {
    let body = r#"{"five_hour":{"utilization":100.0,"resets_at":"2026-11-20T11:00:00Z"},"seven_day":{"utilization":1,"resets_at":null},"five_hour":null}"#;
    let out = Guard::new()
        .args(["check", "--snapshot", "-", "--now", NOW])
        .stdin(body)
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(out.stderr.contains("\"five_hour\" twice"), "{out:?}");
    // nested too: a bucket with two utilizations
    let body = r#"{"five_hour":{"utilization":100.0,"utilization":1,"resets_at":null}}"#;
    let out = Guard::new()
        .args(["check", "--snapshot", "-", "--now", NOW])
        .stdin(body)
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
}

#[test]
fn a_blank_api_key_helper_keeps_plan_checks_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".claude")).unwrap();
    std::fs::write(
        dir.path().join(".claude/settings.json"),
        r#"{"apiKeyHelper": "   "}"#,
    )
    .unwrap();
    let out = Guard::new()
        .args(["check", "--snapshot"])
        .args([example("five-hour-pinned.json")])
        .args(["--now", NOW])
        .cwd(dir.path())
        .run();
    assert_eq!(out.code, Some(10), "{out:?}");
}
