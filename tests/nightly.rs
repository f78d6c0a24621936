//! `examples/claude-nightly.sh` (the cron / systemd-timer job) run for real against a stub
//! `claude`: it goes on a healthy snapshot, falls back to Sonnet when the Opus weekly limit is
//! pinned, refuses a reset beyond its max wait, and sleeps through a near reset; and against
//! the real Claude Code and a stand-in API: a 5-hour stop mid-job is waited out and resumed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::recorded_args;
use common::{Guard, Out, example, recording_stub};

/// Runs the example script with the guard (as `claude-guard`) and a stub `claude` on PATH.
fn nightly(bin: &Path, snapshot: &str, now: &str, env: &[(&str, &str)]) -> Out {
    let mut guard = Guard::program("/bin/sh")
        .args([common::root().join("examples/claude-nightly.sh")])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("CLAUDE_GUARD_SNAPSHOT", example(snapshot))
        .env("CLAUDE_GUARD_NOW", now)
        .timeout(Duration::from_secs(20));
    for (k, v) in env {
        guard = guard.env(k, v);
    }
    guard.run()
}

/// The argv the stub recorded, after the `--session-id <uuid>` that `--supervise` adds in
/// front (checked here).
fn recorded(dir: &Path) -> Option<Vec<String>> {
    let mut argv = recorded_args(dir)?;
    assert_eq!(argv[0], "--session-id", "{argv:?}");
    assert_eq!(argv[1].len(), 36, "a UUID: {argv:?}");
    argv.drain(..2);
    Some(argv)
}

fn bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(common::bin(), dir.path().join("claude-guard")).unwrap();
    recording_stub(dir.path());
    dir
}

const PROMPT: &str =
    "Read TODO.md, do the first unchecked item, run the tests, and summarize what changed.";

fn expected(model: &str) -> Vec<String> {
    [
        "-p",
        PROMPT,
        "--model",
        model,
        "--permission-mode",
        "acceptEdits",
        "--max-turns",
        "30",
        "--output-format",
        "text",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn nightly_runs_claude_on_a_healthy_snapshot() {
    let bin = bin_dir();
    let out = nightly(bin.path(), "healthy.json", common::NOW, &[]);
    assert_eq!(out.code, Some(7), "claude's own status: {out:?}");
    assert_eq!(recorded(bin.path()).unwrap(), expected("opus"));
}

#[test]
fn nightly_falls_back_to_sonnet_when_opus_is_pinned() {
    let bin = bin_dir();
    let out = nightly(bin.path(), "opus-weekly-pinned.json", common::NOW, &[]);
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(recorded(bin.path()).unwrap(), expected("sonnet"));
    assert!(out.stderr.contains("running with --model sonnet instead"));
}

#[test]
fn nightly_refuses_a_reset_beyond_its_max_wait() {
    let bin = bin_dir();
    let out = nightly(
        bin.path(),
        "five-hour-pinned.json",
        common::NOW,
        &[("CLAUDE_GUARD_MAX_WAIT", "30m")],
    );
    assert_eq!(out.code, Some(19), "{out:?}");
    assert_eq!(recorded(bin.path()), None);
}

#[test]
fn nightly_sleeps_through_a_near_reset_then_runs() {
    // five_hour resets at 11:00:00; evaluated 2 s before, with a 1 s grace.
    let bin = bin_dir();
    let out = nightly(
        bin.path(),
        "five-hour-pinned.json",
        "2026-11-20T10:59:58Z",
        &[("CLAUDE_GUARD_GRACE", "1s")],
    );
    assert_eq!(out.code, Some(7), "{out:?}");
    assert!(out.elapsed >= Duration::from_secs(2), "{:?}", out.elapsed);
    assert_eq!(recorded(bin.path()).unwrap(), expected("opus"));
}

#[test]
fn nightly_resumes_the_real_claude_after_a_five_hour_stop() {
    use common::standin::{Limit, StandIn, Turn, epoch_in, fake_login, usage_body};
    let reset = epoch_in(3);
    let usage = |pct: f64| {
        usage_body(&[
            ("five_hour", pct, reset),
            ("seven_day", 20.0, epoch_in(3 * 86_400)),
            ("seven_day_opus", 30.0, epoch_in(3 * 86_400)),
        ])
    };
    let api = StandIn::start(vec![
        Turn::limit(Limit::five_hour(reset).then_usage(usage(100.0))),
        Turn::text("nightly done"),
    ]);
    api.set_usage(usage(40.0));
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(common::bin(), bin.path().join("claude-guard")).unwrap();
    let mut guard = Guard::program("/bin/sh")
        .args([common::root().join("examples/claude-nightly.sh")])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("CLAUDE_GUARD_CLAUDE", common::real_claude())
        .env("CLAUDE_GUARD_SOURCE", "oauth")
        .env("CLAUDE_GUARD_GRACE", "1s")
        .timeout(Duration::from_secs(90));
    let home = guard.home.path().to_owned();
    fake_login(&home);
    for (k, v) in api.claude_env(&home) {
        guard = guard.env(k, v);
    }
    let out = guard.run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let msgs = api.messages();
    assert_eq!(msgs.len(), 2, "the stopped run and its resume");
    assert!(msgs[1].texts().iter().any(|t| t.contains(PROMPT)));
    assert!(out.stdout.contains("nightly done"), "{}", out.stdout);
    assert!(out.stderr.contains("resuming session"), "{}", out.stderr);
}
