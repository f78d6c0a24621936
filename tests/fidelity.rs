//! Fidelity: for each command line in tests/fixtures/claude-argv-cases.json marked `real`, the
//! guard (`run --json`) decides and execs the REAL Claude Code, which talks to a stand-in
//! Messages API on 127.0.0.1. The model in the request body claude sends must be of the family
//! the guard checked (`model_family`), and of the family the table expects; a `no-turn` case
//! must send no model request (and the guard must pass it through without a decision); a
//! `plan-off` case must not use the plan's OAuth login. When a Claude Code release changes a
//! rule, this test fails instead of the guard misjudging runs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::standin::{StandIn, Turn, fake_login};
use common::{Guard, NOW, example, real_claude, recorded_args, recording_stub};

/// The token [`fake_login`] writes: a request carrying it used the plan's OAuth login.
const FAKE_OAUTH: &str = "sk-ant-oat01-STANDIN-NOT-A-REAL-TOKEN";

#[derive(serde::Deserialize, Clone)]
struct Case {
    name: String,
    argv: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    files: BTreeMap<String, serde_json::Value>,
    expect: String,
    #[serde(default)]
    real: bool,
    #[serde(default)]
    pty: bool,
    #[serde(default)]
    approved_api_keys: Vec<String>,
}

fn cases() -> Vec<Case> {
    #[derive(serde::Deserialize)]
    struct Table {
        cases: Vec<Case>,
    }
    let text =
        std::fs::read_to_string(common::root().join("tests/fixtures/claude-argv-cases.json"))
            .expect("the case table");
    let table: Table = serde_json::from_str(&text).expect("the case table parses");
    // CLAUDE_GUARD_FIDELITY_ONLY=TEXT runs the cases whose name contains TEXT (while working on
    // one rule).
    let only = std::env::var("CLAUDE_GUARD_FIDELITY_ONLY").unwrap_or_default();
    table
        .cases
        .into_iter()
        .filter(|c| (c.real || c.pty) && c.name.contains(&only))
        .collect()
}

/// Writes the case's settings and agent files: `user_*` under `home/.claude`, `project_*` and
/// `local_*` under `work/.claude`.
fn write_files(case: &Case, home: &Path, work: &Path) {
    for (key, value) in &case.files {
        let (base, rest) = match key.split_once('_') {
            Some(("user", rest)) => (home.join(".claude"), rest),
            Some(("project", rest)) => (work.join(".claude"), rest),
            Some(("local", "settings")) => (work.join(".claude"), "local"),
            _ => panic!("{}: unknown files key {key}", case.name),
        };
        std::fs::create_dir_all(&base).unwrap();
        match rest {
            "settings" => std::fs::write(base.join("settings.json"), value.to_string()).unwrap(),
            "local" => std::fs::write(base.join("settings.local.json"), value.to_string()).unwrap(),
            "agents" => {
                let dir = base.join("agents");
                std::fs::create_dir_all(&dir).unwrap();
                for (file, text) in value.as_object().expect("agents: {file: text}") {
                    std::fs::write(dir.join(file), text.as_str().unwrap()).unwrap();
                }
            }
            other => panic!("{}: unknown files kind {other}", case.name),
        }
    }
}

/// A model id's family by name, independent of the guard's own code.
fn family_of_id(model: &str) -> &'static str {
    for family in ["opus", "sonnet", "haiku", "fable", "mythos"] {
        if model.contains(family) {
            return family;
        }
    }
    "unknown"
}

/// What one case gave: the guard's JSON (none when it passed the run through), the stand-in's
/// main-loop requests, and the output for messages.
struct Seen {
    guard: Option<serde_json::Value>,
    models: Vec<String>,
    oauth_used: bool,
    stderr: String,
    code: Option<i32>,
}

fn run_case(case: &Case) -> Seen {
    let api = StandIn::start(vec![Turn::text("done.")]);
    let tmp = tempfile::tempdir().unwrap();
    let (home, work) = (tmp.path().join("home"), tmp.path().join("work"));
    std::fs::create_dir_all(&work).unwrap();
    fake_login(&home);
    write_files(case, &home, &work);
    // An interactive claude asks nothing about a working directory it already trusts.
    let config_path = home.join(".claude.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["projects"] = serde_json::json!({
        work.display().to_string(): {"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}
    });
    config["customApiKeyResponses"] =
        serde_json::json!({"approved": case.approved_api_keys, "rejected": []});
    std::fs::write(&config_path, config.to_string()).unwrap();
    let mut guard_argv: Vec<std::ffi::OsString> = ["run", "--json", "--now", NOW, "--snapshot"]
        .iter()
        .map(Into::into)
        .collect();
    guard_argv.push(example("healthy.json").into());
    guard_argv.push("--".into());
    guard_argv.extend(case.argv.iter().map(Into::into));
    let mut cmd = if case.pty {
        // On a terminal: script(1) runs the guard (and so claude) on a pseudo-terminal.
        let quote =
            |a: &std::ffi::OsStr| format!("'{}'", a.to_string_lossy().replace('\'', r"'\''"));
        let line: Vec<String> = std::iter::once(common::bin().into_os_string())
            .chain(guard_argv)
            .map(|a| quote(&a))
            .collect();
        let mut c = Command::new("script");
        c.args(["-qefc", &line.join(" "), "/dev/null"])
            .env("TERM", "xterm");
        c
    } else {
        let mut c = Command::new(common::bin());
        c.args(guard_argv);
        c
    };
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CLAUDE") || k.starts_with("ANTHROPIC") {
            cmd.env_remove(&key);
        }
    }
    cmd.envs(api.claude_env(&home))
        .envs(&case.env)
        .env("CLAUDE_GUARD_CLAUDE", real_claude())
        .env("NO_COLOR", "1")
        .current_dir(&work)
        // Kept open (piped, never written) so an interactive claude waits instead of ending.
        .stdin(if case.pty {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn claude-guard");
    let start = Instant::now();
    let limit = Duration::from_secs(if case.pty { 30 } else { 90 });
    while child.try_wait().unwrap().is_none()
        && start.elapsed() < limit
        && (!case.pty || api.messages().is_empty())
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    // An interactive claude never ends by itself: stopped once its first request is in.
    std::thread::sleep(Duration::from_millis(if case.pty { 300 } else { 0 }));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let guard = stderr
        .lines()
        .filter_map(|l| l.find('{').map(|i| l[i..].trim_end()))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("decision").is_some());
    let messages = api.messages();
    Seen {
        guard,
        models: messages
            .iter()
            .filter_map(|r| r.model().map(str::to_owned))
            .collect(),
        oauth_used: messages.iter().any(|r| {
            r.header("authorization")
                .is_some_and(|a| a.contains(FAKE_OAUTH))
        }),
        stderr,
        code: out.status.code(),
    }
}

/// The mismatch for one case, if any.
fn check(case: &Case, seen: &Seen) -> Option<String> {
    let real = seen.models.first().map(|m| family_of_id(m));
    let guard_family = seen
        .guard
        .as_ref()
        .and_then(|g| g["model_family"].as_str().map(str::to_owned));
    let plan_off = seen
        .guard
        .as_ref()
        .is_some_and(|g| g["plan_limits"]["apply"] == serde_json::json!(false));
    let problem = match case.expect.as_str() {
        "no-turn" if !seen.models.is_empty() => {
            format!("claude made a model turn ({:?})", seen.models)
        }
        "no-turn" if seen.guard.is_some() => "the guard decided instead of passing through".into(),
        "no-turn" => return None,
        _ if real.is_none() => "claude sent no model request".into(),
        "plan-off" if seen.oauth_used => "claude used the plan's OAuth login".into(),
        "plan-off" if !plan_off => "the guard checked plan limits".into(),
        "plan-off" => return None,
        want if real != Some(want) => {
            format!("claude ran {:?}, the table says {want}", seen.models[0])
        }
        want if guard_family.as_deref() != Some(want) => {
            format!("the guard checked {guard_family:?}, claude ran {want}")
        }
        _ if !seen.oauth_used => "claude did not use the plan's OAuth login".into(),
        _ => return None,
    };
    Some(format!(
        "{}: {:?}: {problem} (exit {:?})\n{}",
        case.name,
        case.argv,
        seen.code,
        seen.stderr
            .lines()
            .filter(|l| !l.starts_with('{'))
            .take(6)
            .collect::<Vec<_>>()
            .join("\n")
    ))
}

#[test]
fn the_guard_checks_the_model_the_real_claude_code_runs() {
    let cases = cases();
    let filtered = std::env::var_os("CLAUDE_GUARD_FIDELITY_ONLY").is_some();
    assert!(
        filtered || cases.len() >= 30,
        "the table marks {} real cases",
        cases.len()
    );
    // Two at a time: each run is one real Claude Code start (about a second of CPU).
    let mut problems = Vec::new();
    for pair in cases.chunks(2) {
        let handles: Vec<_> = pair
            .iter()
            .cloned()
            .map(|case| std::thread::spawn(move || (run_case(&case), case)))
            .collect();
        for h in handles {
            let (seen, case) = h.join().unwrap();
            problems.extend(check(&case, &seen));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// `claude-guard run --snapshot SNAPSHOT -- ARGS` with a recording stub as claude: the exit
/// code, whether the stub started, and stderr.
fn stub_run(snapshot: &Path, args: &[&str]) -> (Option<i32>, bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--on-unknown", "refuse", "--now", NOW, "--snapshot"])
        .args([snapshot])
        .args(["--"])
        .args(args)
        .run();
    let started = recorded_args(dir.path()).is_some_and(|a| a == args);
    (out.code, started, out.stderr)
}

#[test]
fn model_turns_that_looked_like_subcommands_are_checked() {
    let pinned = example("five-hour-pinned.json");
    for args in [
        &["-p", "doctor"][..],
        &["doctor", "-p"],
        &["-p", "update"],
        &["-p", "mcp", "list"],
        &["-p", "--", "doctor"],
        &["--verbose", "logs"],
        &["--model", "opus", "stop", "myname"],
        &["plugin", "eval", "./p"],
        &["plugin", "test", "./p"],
    ] {
        let (code, started, stderr) = stub_run(&pinned, args);
        assert_eq!((code, started), (Some(10), false), "{args:?}: {stderr}");
    }
    // The real subcommands still go.
    for args in [
        &["doctor"][..],
        &["logs"],
        &["--verbose", "stop", "1a2b3c4d"],
    ] {
        let (code, started, stderr) = stub_run(&pinned, args);
        assert_eq!((code, started), (Some(7), true), "{args:?}: {stderr}");
    }
}

#[test]
fn no_model_turn_passes_through_without_reading_any_state() {
    // The snapshot does not exist and unknown refuses: only a run that reads no state goes.
    let missing = Path::new("/nonexistent/claude-guard-snapshot.json");
    for args in [
        &["--version"][..],
        &["-v"],
        &["-V"],
        &["--help"],
        &["-p", "hi", "-h"],
        &["--update"],
        &["--upgrade"],
        &["-p", "/usage"],
        &["mcp", "list"],
    ] {
        let (code, started, stderr) = stub_run(missing, args);
        assert_eq!((code, started), (Some(7), true), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    for args in [
        &["-v", "-p", "hi"][..],
        &["--update", "now"],
        &["-p", "/usage now"],
    ] {
        let (code, started, _) = stub_run(missing, args);
        assert_eq!((code, started), (Some(20), false), "{args:?}");
    }
}

#[test]
fn opusplan_and_plan_mode_pick_the_bucket_claude_uses() {
    let opus_pinned = example("opus-weekly-pinned.json");
    let (code, started, stderr) = stub_run(&opus_pinned, &["-p", "--model", "opusplan", "hi"]);
    assert_eq!(
        (code, started),
        (Some(7), true),
        "opusplan runs Sonnet: {stderr}"
    );
    let (code, started, _) = stub_run(
        &opus_pinned,
        &[
            "-p",
            "--permission-mode",
            "plan",
            "--model",
            "opusplan",
            "hi",
        ],
    );
    assert_eq!(
        (code, started),
        (Some(12), false),
        "opusplan in plan mode runs Opus"
    );
}

#[test]
fn resets_at_keeps_the_servers_fraction_for_programs() {
    let out = Guard::new()
        .args(["check", "--json", "--now", NOW, "--snapshot"])
        .args([example("five-hour-pinned.json")])
        .run();
    assert_eq!(out.code, Some(10), "{out:?}");
    let json = out.json();
    assert_eq!(json["resets_at"], "2026-11-20T11:00:00.412873Z");
    let five = json["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "five_hour")
        .cloned()
        .unwrap();
    assert_eq!(five["resets_at"], "2026-11-20T11:00:00.412873Z");
    // People's text rounds up, never to an earlier second.
    let human = Guard::new()
        .args(["check", "--now", NOW, "--snapshot"])
        .args([example("five-hour-pinned.json")])
        .run();
    assert!(
        human.stderr.contains("2026-11-20T11:00:01Z"),
        "{}",
        human.stderr
    );
}

#[test]
fn a_refusal_on_oauth_apps_alone_says_claude_code_does_not_list_it() {
    let out = Guard::new()
        .args(["check", "--now", NOW, "--snapshot"])
        .args([example("oauth-apps-pinned.json")])
        .run();
    assert_eq!(out.code, Some(14), "{out:?}");
    assert!(
        out.stderr
            .contains("Claude Code's own client does not list seven_day_oauth_apps"),
        "{}",
        out.stderr
    );
    let other = Guard::new()
        .args(["check", "--now", NOW, "--snapshot"])
        .args([example("five-hour-pinned.json")])
        .run();
    assert!(!other.stderr.contains("does not list"), "{}", other.stderr);
}

#[test]
fn a_mistyped_guard_option_before_an_explicit_separator_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--wiat", "--", "-p", "x"])
        .run();
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("'--wiat'"), "{}", out.stderr);
    assert!(recorded_args(dir.path()).is_none(), "claude must not start");
}

#[test]
fn agents_and_settings_come_from_claude_config_dir() {
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("agents")).unwrap();
    std::fs::write(
        config.path().join("agents/rev.md"),
        "---\nname: rev\ndescription: Reviews\nmodel: haiku\n---\nReview.\n",
    )
    .unwrap();
    std::fs::write(
        config.path().join("settings.json"),
        r#"{"agent": "rev", "permissions": {"defaultMode": "plan"}}"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .env("CLAUDE_CONFIG_DIR", config.path())
        .args(["run", "--json", "--now", NOW, "--snapshot"])
        .args([example("healthy.json")])
        .args(["--", "-p", "hi"])
        .run();
    assert_eq!(out.code, Some(7), "{out:?}");
    let json = out.stderr_json();
    // haiku, from the agent in CLAUDE_CONFIG_DIR, is Sonnet in plan mode (from its settings).
    assert_eq!(json["model_family"], "sonnet", "{json}");
    assert!(
        json["model"]["source"]
            .as_str()
            .unwrap()
            .contains("agent rev"),
        "{json}"
    );
}
