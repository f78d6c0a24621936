//! GitHub Actions: with `GITHUB_ACTIONS=true`, `check`/`wait`/`run` append the decision to
//! `$GITHUB_OUTPUT`, a bucket table to `$GITHUB_STEP_SUMMARY`, and print one workflow command
//! (`::error::` for a refusal, `::warning::` for a billed run, unknown state or threshold).

mod common;

use std::path::PathBuf;

use common::{Guard, NOW, Out, example, recording_stub};

/// Temporary `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` files.
struct Actions {
    dir: tempfile::TempDir,
}

impl Actions {
    fn new() -> Self {
        Actions {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn output(&self) -> PathBuf {
        self.dir.path().join("output")
    }
    fn summary(&self) -> PathBuf {
        self.dir.path().join("summary")
    }
    fn read_output(&self) -> String {
        std::fs::read_to_string(self.output()).unwrap_or_default()
    }
    fn read_summary(&self) -> String {
        std::fs::read_to_string(self.summary()).unwrap_or_default()
    }
    /// A guard running as a GitHub Actions step.
    fn guard(&self) -> Guard {
        Guard::new()
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", self.output())
            .env("GITHUB_STEP_SUMMARY", self.summary())
            .env("TZ", "UTC")
    }
    fn check(&self, snapshot: &str, extra: &[&str]) -> Out {
        self.guard()
            .args(["check", "--now", NOW, "--snapshot"])
            .args([example(snapshot)])
            .args(extra)
            .run()
    }
}

/// Lines of `text` that are workflow commands.
fn commands(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("::")).collect()
}

#[test]
fn refusal_writes_outputs_summary_and_one_error() {
    let gh = Actions::new();
    let out = gh.check("opus-weekly-pinned.json", &[]);
    assert_eq!(out.code, Some(12), "{out:?}");
    assert_eq!(
        gh.read_output(),
        "decision=refuse\nreason=seven_day_opus\nexit_code=12\n\
         resets_at=2026-11-22T16:00:00.412911Z\nwait_seconds=198060\n"
    );
    assert_eq!(
        gh.read_summary(),
        "### claude-guard: refuse (`seven_day_opus`, exit 12)\n\
         \n\
         Model family: opus; resets 2026-11-22T16:00:01Z (in 2d 7h).\n\
         \n\
         | bucket | used | resets | applies |\n\
         |---|--:|---|---|\n\
         | `five_hour` | 12% | 2026-11-20T11:00:01Z (in 2h) | yes |\n\
         | `seven_day` | 78% | 2026-11-24T16:00:01Z (in 4d 7h) | yes |\n\
         | `seven_day_opus` | 100% | 2026-11-22T16:00:01Z (in 2d 7h) | **pinned** |\n\
         | `seven_day_sonnet` | 5% | 2026-11-24T16:00:01Z (in 4d 7h) | no |\n\
         | `seven_day_oauth_apps` | 0% | — | yes |\n\
         | `weekly_scoped:Fable` | 10% | 2026-11-24T16:00:01Z (in 4d 7h) | no |\n\
         | `seven_day_omelette` | 0% | 2026-11-24T16:00:01Z (in 4d 7h) | no |\n\
         \n"
    );
    let cmds = commands(&out.stdout);
    assert_eq!(cmds.len(), 1, "{}", out.stdout);
    assert!(
        cmds[0].starts_with(
            "::error::claude-guard: refused: the Opus weekly limit (seven_day_opus) is at 100%25 \
             — resets 2026-11-22T16:00:01Z ("
        ),
        "{}",
        cmds[0]
    );
    assert!(commands(&out.stderr).is_empty(), "{}", out.stderr);
}

#[test]
fn plain_go_writes_outputs_and_no_annotation() {
    let gh = Actions::new();
    let out = gh.check("healthy.json", &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        gh.read_output(),
        "decision=go\nreason=\nexit_code=0\nresets_at=\nwait_seconds=\n"
    );
    assert!(
        gh.read_summary()
            .starts_with("### claude-guard: go (exit 0)\n")
    );
    assert!(commands(&out.stdout).is_empty(), "{}", out.stdout);
    assert!(commands(&out.stderr).is_empty(), "{}", out.stderr);
}

#[test]
fn billed_go_is_a_warning() {
    let gh = Actions::new();
    let out = gh.check("opus-weekly-pinned-extra-usage.json", &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        gh.read_output()
            .starts_with("decision=go_billed\nreason=seven_day_opus\nexit_code=0\n")
    );
    assert_eq!(
        commands(&out.stdout),
        [
            "::warning::claude-guard: seven_day_opus is pinned; this run bills extra usage until it \
          resets 2026-11-22T16:00:01Z (2026-11-22 16:00 +00:00 local, in 2d 7h)."
        ]
    );
}

#[test]
fn threshold_is_a_warning() {
    let gh = Actions::new();
    let out = gh.check("healthy.json", &["--max-utilization", "40"]);
    assert_eq!(out.code, Some(18), "{out:?}");
    assert!(
        gh.read_output()
            .starts_with("decision=refuse\nreason=threshold\nexit_code=18\n")
    );
    let cmds = commands(&out.stdout);
    assert_eq!(cmds.len(), 1);
    assert!(
        cmds[0].starts_with("::warning::claude-guard: refused: the weekly limit (all models) (seven_day) is at 41%25, at or above --max-utilization"),
        "{}",
        cmds[0]
    );
}

#[test]
fn unknown_state_is_a_warning() {
    let gh = Actions::new();
    let out = gh.guard().args(["check", "--now", NOW]).run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert_eq!(
        gh.read_output(),
        "decision=unknown\nreason=unknown\nexit_code=20\nresets_at=\nwait_seconds=\n"
    );
    let cmds = commands(&out.stdout);
    assert_eq!(cmds.len(), 1);
    assert!(cmds[0].starts_with("::warning::claude-guard: refused (--on-unknown refuse): the usage state is unknown: no snapshot source"), "{}", cmds[0]);
    assert!(
        gh.read_summary()
            .contains("State unknown: no snapshot source")
    );
}

#[test]
fn other_refusals_are_errors() {
    for (snapshot, code, model) in [
        ("five-hour-pinned.json", 10, "opus"),
        ("oauth-apps-pinned.json", 14, "opus"),
        ("fable-weekly-pinned.json", 15, "fable"),
        ("subscription-past-due.json", 17, "opus"),
        ("out-of-credits.json", 10, "opus"),
    ] {
        let gh = Actions::new();
        let out = gh.check(snapshot, &["--model", model]);
        assert_eq!(out.code, Some(code), "{snapshot}: {out:?}");
        assert!(
            gh.read_output().contains(&format!("\nexit_code={code}\n")),
            "{snapshot}"
        );
        let cmds = commands(&out.stdout);
        assert_eq!(cmds.len(), 1, "{snapshot}: {}", out.stdout);
        assert!(
            cmds[0].starts_with("::error::claude-guard: refused"),
            "{}",
            cmds[0]
        );
    }
}

#[test]
fn json_keeps_stdout_one_object() {
    let gh = Actions::new();
    let out = gh.check("five-hour-pinned.json", &["--json"]);
    assert_eq!(out.code, Some(10));
    assert_eq!(out.json()["exit_code"], 10);
    assert_eq!(commands(&out.stderr).len(), 1, "{}", out.stderr);
    assert!(gh.read_output().contains("exit_code=10\n"));
}

#[test]
fn outputs_are_appended_not_replaced() {
    let gh = Actions::new();
    std::fs::write(gh.output(), "earlier=1\n").unwrap();
    std::fs::write(gh.summary(), "# Earlier step\n").unwrap();
    gh.check("healthy.json", &[]);
    assert!(gh.read_output().starts_with("earlier=1\ndecision=go\n"));
    assert!(
        gh.read_summary()
            .starts_with("# Earlier step\n### claude-guard: go")
    );
}

#[test]
fn write_errors_are_one_warning_each_and_change_nothing() {
    let gh = Actions::new();
    let out = gh
        .guard()
        .env("GITHUB_OUTPUT", "/nonexistent/dir/output")
        .env("GITHUB_STEP_SUMMARY", gh.dir.path()) // a directory: cannot be appended to
        .args(["check", "--now", NOW, "--snapshot"])
        .args([example("opus-weekly-pinned.json")])
        .run();
    assert_eq!(out.code, Some(12), "{out:?}");
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("could not append"))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", out.stderr);
    assert!(warnings[0].starts_with(
        "claude-guard: warning: could not append to GITHUB_OUTPUT (/nonexistent/dir/output): "
    ));
    assert!(warnings[1].contains("GITHUB_STEP_SUMMARY"));
    assert_eq!(
        commands(&out.stdout).len(),
        1,
        "the annotation still prints"
    );
}

#[test]
fn nothing_outside_github_actions() {
    let gh = Actions::new();
    let out = Guard::new()
        .env("GITHUB_OUTPUT", gh.output())
        .env("GITHUB_STEP_SUMMARY", gh.summary())
        .args(["check", "--now", NOW, "--snapshot"])
        .args([example("opus-weekly-pinned.json")])
        .run();
    assert_eq!(out.code, Some(12));
    assert!(!gh.output().exists() && !gh.summary().exists());
    assert!(commands(&out.stdout).is_empty() && commands(&out.stderr).is_empty());
}

#[test]
fn run_keeps_stdout_for_claude_and_annotates_on_stderr() {
    let gh = Actions::new();
    let stub_dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(stub_dir.path());
    let out = gh
        .guard()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("opus-weekly-pinned-extra-usage.json")])
        .args(["--", "-p", "hi"])
        .run();
    assert_eq!(out.code, Some(7), "the stub ran: {out:?}");
    assert_eq!(out.stdout, "", "nothing on claude's stdout before exec");
    assert_eq!(commands(&out.stderr).len(), 1, "{}", out.stderr);
    assert!(commands(&out.stderr)[0].starts_with("::warning::"));
    assert!(gh.read_output().starts_with("decision=go_billed\n"));
    assert!(stub_dir.path().join("record.argv").exists());

    let gh = Actions::new();
    let out = gh
        .guard()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("five-hour-pinned.json")])
        .args(["--", "-p", "hi"])
        .run();
    assert_eq!(out.code, Some(10), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(commands(&out.stderr)[0].starts_with("::error::claude-guard: refused"));
    assert!(gh.read_output().contains("\nexit_code=10\n"));
}

#[test]
fn wait_reports_its_final_decision() {
    let gh = Actions::new();
    let out = gh
        .guard()
        .args(["wait", "--now", NOW, "--max-wait", "1h", "--snapshot"])
        .args([example("opus-weekly-pinned.json")])
        .run();
    assert_eq!(out.code, Some(19), "the reset is days away: {out:?}");
    assert_eq!(
        gh.read_output(),
        "decision=refuse\nreason=max_wait\nexit_code=19\n\
         resets_at=2026-11-22T16:00:00.412911Z\nwait_seconds=198060\n"
    );
    assert!(commands(&out.stdout)[0].starts_with("::error::"));
}
