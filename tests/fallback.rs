//! `run --model-fallback MODEL`: claude runs on MODEL when the run's own model-scoped weekly
//! limit is pinned and MODEL is clear; argv is rewritten in each form; never when a shared
//! bucket (`five_hour`, `seven_day`, `seven_day_oauth_apps`) is pinned.

mod common;

use common::{Guard, NOW, Out, example, recording_stub};

/// A recording stub plus the guard pointed at it.
struct Stub {
    dir: tempfile::TempDir,
}

impl Stub {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        recording_stub(dir.path());
        Stub { dir }
    }

    /// `claude-guard run --now NOW --snapshot EXAMPLE GUARD_ARGS -- CLAUDE_ARGS`.
    fn guard(&self, snapshot: &str, guard_args: &[&str], claude_args: &[&str]) -> Guard {
        Guard::new()
            .env("CLAUDE_GUARD_CLAUDE", self.dir.path().join("claude"))
            .env("TZ", "UTC")
            .args(["run", "--now", NOW, "--snapshot"])
            .args([example(snapshot)])
            .args(guard_args)
            .args(["--"])
            .args(claude_args)
    }

    fn run(&self, snapshot: &str, guard_args: &[&str], claude_args: &[&str]) -> Out {
        self.guard(snapshot, guard_args, claude_args).run()
    }

    fn argv(&self) -> Option<Vec<String>> {
        common::recorded_args(self.dir.path())
    }
}

const SWITCH_LINE: &str = "claude-guard: seven_day_opus is pinned; running with --model sonnet instead (--model-fallback).";

#[test]
fn replaces_model_value() {
    let stub = Stub::new();
    let out = stub.run(
        "opus-weekly-pinned.json",
        &["--model-fallback", "sonnet"],
        &["-p", "--model", "opus", "fix the bug"],
    );
    assert_eq!(out.code, Some(7), "claude ran: {out:?}");
    assert_eq!(
        stub.argv().unwrap(),
        ["-p", "--model", "sonnet", "fix the bug"]
    );
    assert_eq!(out.stderr.lines().collect::<Vec<_>>(), [SWITCH_LINE]);
    assert_eq!(out.stdout, "");
}

#[test]
fn replaces_inline_model() {
    let stub = Stub::new();
    let out = stub.run(
        "opus-weekly-pinned.json",
        &["--model-fallback", "sonnet"],
        &["--model=claude-opus-5-5", "-p", "hi"],
    );
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(stub.argv().unwrap(), ["--model=sonnet", "-p", "hi"]);
}

#[test]
fn adds_model_when_it_came_from_the_default() {
    let stub = Stub::new();
    let out = stub.run(
        "opus-weekly-pinned.json",
        &["--model-fallback", "sonnet"],
        &["-p", "hi"],
    );
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(stub.argv().unwrap(), ["-p", "hi", "--model", "sonnet"]);
}

#[test]
fn adds_model_when_it_came_from_env_or_settings() {
    let stub = Stub::new();
    let out = stub
        .guard(
            "opus-weekly-pinned.json",
            &["--model-fallback", "sonnet"],
            &["-p", "hi"],
        )
        .env("ANTHROPIC_MODEL", "opus")
        .run();
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(stub.argv().unwrap(), ["-p", "hi", "--model", "sonnet"]);

    let stub = Stub::new();
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join(".claude")).unwrap();
    std::fs::write(
        project.path().join(".claude/settings.json"),
        r#"{"model": "claude-opus-5-5"}"#,
    )
    .unwrap();
    let out = stub
        .guard(
            "opus-weekly-pinned.json",
            &["--model-fallback", "sonnet"],
            &["-p", "hi"],
        )
        .cwd(project.path())
        .run();
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(stub.argv().unwrap(), ["-p", "hi", "--model", "sonnet"]);
}

#[test]
fn adds_model_before_the_terminator() {
    let stub = Stub::new();
    let out = stub.run(
        "opus-weekly-pinned.json",
        &["--model-fallback", "sonnet"],
        &["-p", "--", "--model opus is what I want"],
    );
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(
        stub.argv().unwrap(),
        [
            "-p",
            "--model",
            "sonnet",
            "--",
            "--model opus is what I want"
        ]
    );
}

#[test]
fn reads_the_environment_variable() {
    let stub = Stub::new();
    let out = stub
        .guard("opus-weekly-pinned.json", &[], &["-p", "hi"])
        .env("CLAUDE_GUARD_MODEL_FALLBACK", "sonnet")
        .run();
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(stub.argv().unwrap(), ["-p", "hi", "--model", "sonnet"]);
}

#[test]
fn free_fallback_beats_a_billed_run() {
    let stub = Stub::new();
    let out = stub.run(
        "opus-weekly-pinned-extra-usage.json",
        &["--model-fallback", "sonnet"],
        &["-p", "hi"],
    );
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(stub.argv().unwrap(), ["-p", "hi", "--model", "sonnet"]);
    assert_eq!(
        out.stderr.trim_end(),
        "claude-guard: seven_day_opus is pinned; running with --model sonnet instead of billing \
         extra usage (--model-fallback)."
    );
}

#[test]
fn model_scoped_limit_falls_back_too() {
    let stub = Stub::new();
    let out = stub.run(
        "fable-weekly-pinned.json",
        &["--model-fallback", "sonnet"],
        &["--model", "fable", "-p", "hi"],
    );
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(stub.argv().unwrap(), ["--model", "sonnet", "-p", "hi"]);
    assert!(
        out.stderr.contains("weekly_scoped:Fable is pinned"),
        "{}",
        out.stderr
    );
}

#[test]
fn never_when_a_shared_bucket_is_pinned() {
    for (snapshot, code) in [
        ("five-hour-pinned.json", 10),
        ("oauth-apps-pinned.json", 14),
        ("out-of-credits.json", 10),
    ] {
        let stub = Stub::new();
        let out = stub.run(snapshot, &["--model-fallback", "sonnet"], &["-p", "hi"]);
        assert_eq!(out.code, Some(code), "{snapshot}: {out:?}");
        assert_eq!(stub.argv(), None, "{snapshot}: claude must not start");
        assert!(!out.stderr.contains("--model-fallback"), "{}", out.stderr);
    }
}

#[test]
fn never_to_the_same_family() {
    let stub = Stub::new();
    let out = stub.run(
        "opus-weekly-pinned.json",
        &["--model-fallback", "claude-opus-5-5"],
        &["-p", "hi"],
    );
    assert_eq!(out.code, Some(12), "{out:?}");
    assert_eq!(stub.argv(), None);
}

#[test]
fn not_when_the_run_already_goes() {
    let stub = Stub::new();
    let out = stub.run(
        "healthy.json",
        &["--model-fallback", "sonnet"],
        &["-p", "--model", "opus", "hi"],
    );
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(stub.argv().unwrap(), ["-p", "--model", "opus", "hi"]);
    assert_eq!(out.stderr, "");
}

#[test]
fn switch_beats_waiting_and_json_shows_the_model_run() {
    let stub = Stub::new();
    let out = stub
        .guard(
            "opus-weekly-pinned.json",
            &["--model-fallback", "sonnet", "--wait", "--json"],
            &["-p", "hi"],
        )
        .timeout(std::time::Duration::from_secs(10))
        .run();
    assert_eq!(out.code, Some(7), "{out:?}");
    let json = out.stderr_json();
    assert_eq!(json["decision"], "go");
    assert_eq!(json["model_family"], "sonnet");
    assert_eq!(json["model"]["name"], "sonnet");
}

#[test]
fn an_unknown_family_is_a_usage_error() {
    let stub = Stub::new();
    let out = stub.run(
        "opus-weekly-pinned.json",
        &["--model-fallback", "gizmo-9"],
        &["-p", "hi"],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("names no model family"),
        "{}",
        out.stderr
    );
    assert_eq!(stub.argv(), None);
}

#[test]
fn github_outputs_describe_the_fallback_run() {
    let stub = Stub::new();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let out = stub
        .guard(
            "opus-weekly-pinned.json",
            &["--model-fallback", "sonnet"],
            &["-p", "hi"],
        )
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .run();
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "decision=go\nreason=\nexit_code=0\nresets_at=\nwait_seconds=\n"
    );
}

#[test]
fn an_empty_environment_variable_means_off() {
    let stub = Stub::new();
    let out = stub
        .guard("opus-weekly-pinned.json", &[], &["-p", "hi"])
        .env("CLAUDE_GUARD_MODEL_FALLBACK", "")
        .run();
    assert_eq!(out.code, Some(12), "{out:?}");
    assert_eq!(stub.argv(), None);
}
