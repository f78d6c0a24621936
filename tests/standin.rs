//! The stand-in API itself, checked against the real Claude Code: a Bash tool loop that meets
//! the 5-hour limit on its second request, as `claude -p` sees it (exit status, output,
//! transcript). These are the facts `run --supervise` builds on.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::real_claude;
use common::standin::{Limit, StandIn, Turn, epoch_in, fake_login, transcripts, usage_body};

fn run_claude(
    api: &StandIn,
    home: &std::path::Path,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(real_claude());
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CLAUDE") || k.starts_with("ANTHROPIC") {
            cmd.env_remove(&key);
        }
    }
    cmd.envs(api.claude_env(home))
        .args(args)
        .current_dir(home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn claude");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_tool_loop_meets_the_five_hour_limit_on_its_second_request() {
    let reset = epoch_in(5);
    let api = StandIn::start(vec![
        Turn::bash("echo standin-tool-ran"),
        Turn::limit(Limit::five_hour(reset)),
    ]);
    api.set_usage(usage_body(&[("five_hour", 40.0, reset)]));
    let home = tempfile::tempdir().unwrap();
    fake_login(home.path());
    let (code, stdout, stderr) = run_claude(
        &api,
        home.path(),
        &[
            "-p",
            "run the tool",
            "--allowedTools",
            "Bash",
            "--output-format",
            "json",
        ],
    );
    let paths: Vec<String> = api
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        code,
        Some(1),
        "claude -p exits 1 on a plan limit\n{stdout}\n{stderr}\n{paths:?}"
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON result");
    assert_eq!(result["is_error"], true);
    assert_eq!(result["api_error"], "usage_limit_reached");
    assert_eq!(result["api_error_status"], 429);
    let session = result["session_id"]
        .as_str()
        .expect("session_id")
        .to_owned();
    // Two model requests: the first prompt, then the Bash result; the 429 ended the loop.
    let msgs = api.messages();
    assert_eq!(msgs.len(), 2, "{paths:?}");
    assert!(msgs[0].texts().iter().any(|t| t == "run the tool"));
    assert!(
        msgs[1]
            .texts()
            .iter()
            .any(|t| t.contains("standin-tool-ran")),
        "claude ran the Bash tool for real and sent its output back"
    );
    assert_eq!(
        msgs[0].model(),
        Some("claude-opus-5-5"),
        "a subscriber's default is Opus"
    );
    // The transcript names the bucket and its reset (epoch seconds).
    let all = transcripts(home.path());
    let (_, entries) = all
        .iter()
        .find(|(id, _)| *id == session)
        .expect("transcript of the session");
    let last = entries
        .iter()
        .rev()
        .find(|e| e["type"] == "assistant")
        .expect("an assistant entry");
    assert_eq!(last["isApiErrorMessage"], true);
    assert_eq!(last["apiError"], "usage_limit_reached");
    assert_eq!(last["quotaLimits"]["rateLimitType"], "five_hour");
    assert_eq!(last["quotaLimits"]["resetsAt"], reset);
    assert_eq!(last["apiErrorParams"]["rate_limit_info"]["resetsAt"], reset);
    // Nothing but the stand-in's paths was asked for.
    for r in api.requests() {
        assert!(
            [
                "/v1/messages",
                "/api/oauth/usage",
                "/api/oauth/profile",
                "/v1/messages/count_tokens"
            ]
            .contains(&r.path.split('?').next().unwrap()),
            "unexpected request {} {}",
            r.method,
            r.path
        );
    }
}
