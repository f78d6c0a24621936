//! `run --supervise` (issue 11) against the REAL Claude Code and a stand-in API on 127.0.0.1
//! (tests/common/standin.rs): plan-limit stops read from claude's transcript, resumes with
//! --wait, --max-resumes, --abort-at, --model-fallback, signals, and the fallback read.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::standin::{
    Limit, StandIn, Turn, epoch_in, fake_login, rfc3339, transcripts, usage_body,
};
use common::{Guard, Out, real_claude};
use serde_json::Value;

const RESUME_PROMPT: &str = "The limit has reset: carry on.";

/// A guard whose HOME is a scratch Claude Code login talking to `api`.
fn guard(api: &StandIn) -> Guard {
    let g = Guard::new();
    let home = g.home.path().to_owned();
    configure(g, api, &home)
}

/// [`guard`] with `home` as HOME and working directory (kept after the run, for transcripts).
fn guard_in(api: &StandIn, home: &std::path::Path) -> Guard {
    configure(Guard::new().cwd(home), api, home)
}

fn configure(mut g: Guard, api: &StandIn, home: &std::path::Path) -> Guard {
    fake_login(home);
    for (k, v) in api.claude_env(home) {
        g = g.env(k, v);
    }
    g.env("CLAUDE_GUARD_CLAUDE", real_claude())
        .env("CLAUDE_GUARD_RESUME_PROMPT", RESUME_PROMPT)
        .timeout(Duration::from_secs(90))
}

/// Spawns `cmd` (stdin empty, stdout and stderr piped), then waits until claude's first request
/// has reached `api` (see [`wait_for_claude`]).
fn spawn_running(cmd: &mut std::process::Command, api: &StandIn) -> std::process::Child {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_claude(api, start);
    child
}

/// Waits (at most 30 s after `start`) until claude's first request has reached `api`.
fn wait_for_claude(api: &StandIn, start: Instant) {
    while api.messages().is_empty() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(api.messages().len(), 1, "claude is running");
}

/// Waits for `child` (at most `limit` after `start`: then it is killed and the test fails
/// with `what`) and returns its status, stdout and stderr (empty for a stream that was not
/// piped).
fn ended(
    mut child: std::process::Child,
    start: Instant,
    limit: Duration,
    what: &str,
) -> (std::process::ExitStatus, String, String) {
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            // Not read: claude may still hold the pipes open.
            let _ = child.kill();
            panic!("{what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(child.stdin.take());
    let read = |pipe: Option<&mut dyn Read>| {
        let mut text = String::new();
        if let Some(p) = pipe {
            p.read_to_string(&mut text).unwrap();
        }
        text
    };
    let stdout = read(child.stdout.as_mut().map(|p| p as &mut dyn Read));
    let stderr = read(child.stderr.as_mut().map(|p| p as &mut dyn Read));
    (status, stdout, stderr)
}

fn five_hour_at(pct: f64, reset: i64) -> Value {
    usage_body(&[
        ("five_hour", pct, reset),
        ("seven_day", 20.0, epoch_in(3 * 86_400)),
        ("seven_day_opus", 30.0, epoch_in(3 * 86_400)),
        ("seven_day_sonnet", 10.0, epoch_in(3 * 86_400)),
    ])
}

fn supervised(out: &Out) -> Value {
    out.stderr_json()["supervised"].clone()
}

fn has_text(r: &common::standin::Request, needle: &str) -> bool {
    r.texts().iter().any(|t| t.contains(needle))
}

#[test]
fn a_tool_loop_that_meets_the_five_hour_limit_exits_10_with_its_reset() {
    let reset = epoch_in(3600);
    let api = StandIn::start(vec![
        Turn::bash("echo supervised-tool-ran"),
        Turn::limit(Limit::five_hour(reset)),
    ]);
    api.set_usage(five_hour_at(40.0, reset));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_owned();
    let g = guard_in(&api, &home);
    let out = g
        .args(["run", "--supervise", "--json", "--"])
        .args(["-p", "run the tool", "--allowedTools", "Bash"])
        .run();
    assert_eq!(out.code, Some(10), "{}", out.stderr);
    let json = out.stderr_json();
    assert_eq!(json["reason"], "five_hour");
    assert_eq!(json["exit_code"], 10);
    assert_eq!(json["resets_at"], rfc3339(reset));
    let sup = supervised(&out);
    assert_eq!(sup["resumes"], 0);
    assert_eq!(sup["runs"][0]["exit_status"], 1, "claude -p's own status");
    assert_eq!(sup["runs"][0]["stopped_by"], "five_hour");
    assert_eq!(sup["runs"][0]["resets_at"], rfc3339(reset));
    // The guard named the session: the transcript it read is that one.
    let sid = sup["session_id"].as_str().expect("session_id").to_owned();
    assert_eq!(sid.len(), 36, "a UUID: {sid}");
    assert!(transcripts(&home).iter().any(|(id, _)| *id == sid));
    // The same refusal line as a pre-flight, naming the bucket.
    assert!(out.stderr.contains("five_hour"), "{}", out.stderr);
    // claude's stdout stays claude's: its limit message.
    assert!(out.stdout.contains("5-hour limit"), "{}", out.stdout);
    let msgs = api.messages();
    assert_eq!(msgs.len(), 2);
    assert!(has_text(&msgs[1], "supervised-tool-ran"));
    // Post-run truth cost no request: the pre-flight's read is the only one.
    assert_eq!(api.count("/api/oauth/usage"), 1);
}

#[test]
fn needs_warns_once_mid_run_when_the_recent_pace_turns_steep() {
    // The pre-flight fits: five_hour at 50 %, a recent pace of about 9 %/h from the history,
    // --needs 1h. While claude works the stand-in's five_hour jumps to 95 %: at the same pace
    // the window fills before the job's likely end, so the guard warns once (and lets the job
    // run: a warning is not a stop).
    let reset = epoch_in(3 * 3600);
    let api = StandIn::start(vec![Turn::text("done").after(Duration::from_secs(6))]);
    api.set_usage(five_hour_at(50.0, reset));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_owned();
    // The usage history: three readings of the same window over the last 40 minutes, recorded
    // as a user's earlier `check --snapshot` runs would (one cache directory for all runs).
    for (minutes_ago, pct) in [(40, 44.0), (25, 46.0), (12, 48.0)] {
        let fetched_at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
        let mut snapshot = serde_json::json!({
            "org_uuid": "00000000-0000-4000-8000-000000000002",
            "account_email": "standin@example.invalid",
            "fetched_at": fetched_at.to_rfc3339(),
        });
        snapshot["usage"] = five_hour_at(pct, reset);
        let file = home.join(format!("reading-{minutes_ago}.json"));
        std::fs::write(&file, snapshot.to_string()).unwrap();
        let seeded = guard_in(&api, &home)
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .args(["check", "--max-age", "2h", "--snapshot"])
            .args([&file])
            .run();
        assert_eq!(seeded.code, Some(0), "{}", seeded.stderr);
    }
    let mut g = guard_in(&api, &home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .args([
            "run",
            "--supervise",
            "--needs",
            "1h",
            "--ttl",
            "1s",
            "--json",
        ])
        .args(["--", "-p", "task"]);
    let child = spawn_running(g.command(), &api);
    api.set_usage(five_hour_at(95.0, reset));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("claude-guard: warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("five_hour is at 95%"), "{stderr}");
    assert!(
        warnings[0].contains("before this job is likely to end"),
        "{stderr}"
    );
}

#[test]
fn with_wait_the_job_resumes_once_in_the_same_conversation_and_exits_0() {
    let reset = epoch_in(4);
    let api = StandIn::start(vec![
        Turn::bash("echo supervised-tool-ran"),
        Turn::limit(Limit::five_hour(reset).then_usage(five_hour_at(100.0, reset))),
        Turn::text("all finished"),
    ]);
    api.set_usage(five_hour_at(40.0, reset));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_owned();
    let g = guard_in(&api, &home);
    let out = g
        .args([
            "run",
            "--supervise",
            "--wait",
            "--grace",
            "1s",
            "--max-wait",
            "1m",
        ])
        .args([
            "--json",
            "--",
            "-p",
            "first prompt",
            "--allowedTools",
            "Bash",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let sup = supervised(&out);
    assert_eq!(sup["resumes"], 1, "{sup}");
    assert_eq!(sup["runs"].as_array().unwrap().len(), 2);
    assert_eq!(sup["runs"][0]["stopped_by"], "five_hour");
    assert_eq!(sup["runs"][1]["exit_status"], 0);
    assert_eq!(sup["runs"][1]["stopped_by"], Value::Null);
    // It waited for the reset (+ grace) before resuming.
    assert!(out.elapsed >= Duration::from_secs(3), "{:?}", out.elapsed);
    let msgs = api.messages();
    assert_eq!(msgs.len(), 3, "first prompt, tool result, resume");
    let resume = &msgs[2];
    assert!(
        has_text(resume, "first prompt"),
        "the original conversation"
    );
    assert!(has_text(resume, "supervised-tool-ran"), "the tool result");
    assert!(has_text(resume, RESUME_PROMPT), "the resume prompt");
    // One session, resumed: one transcript.
    let sid = sup["session_id"].as_str().unwrap();
    let all = transcripts(&home);
    assert_eq!(
        all.len(),
        1,
        "{:?}",
        all.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    assert_eq!(all[0].0, sid);
    // Each run printed its own output.
    assert!(out.stdout.contains("5-hour limit"), "{}", out.stdout);
    assert!(out.stdout.contains("all finished"), "{}", out.stdout);
}

#[test]
fn the_weekly_opus_limit_exits_12() {
    let reset = epoch_in(2 * 86_400);
    let api = StandIn::start(vec![Turn::limit(Limit::new("seven_day_opus", reset))]);
    api.set_usage(five_hour_at(10.0, epoch_in(3600)));
    let out = guard(&api)
        .args(["run", "--supervise", "--json", "--", "-p", "task"])
        .run();
    assert_eq!(out.code, Some(12), "{}", out.stderr);
    let json = out.stderr_json();
    assert_eq!(json["reason"], "seven_day_opus");
    assert_eq!(json["resets_at"], rfc3339(reset));
    assert_eq!(supervised(&out)["runs"][0]["stopped_by"], "seven_day_opus");
}

#[test]
fn max_resumes_reached_exits_with_the_limit_code() {
    let r1 = epoch_in(2);
    let r2 = epoch_in(3);
    let api = StandIn::start(vec![
        Turn::limit(Limit::five_hour(r1)),
        Turn::limit(Limit::five_hour(r2)),
        Turn::text("never reached"),
    ]);
    api.set_usage(five_hour_at(40.0, r1));
    let out = guard(&api)
        .args([
            "run",
            "--supervise",
            "--wait",
            "--grace",
            "1s",
            "--max-resumes",
            "1",
        ])
        .args(["--json", "--", "-p", "task", "--output-format", "json"])
        .run();
    assert_eq!(out.code, Some(10), "{}", out.stderr);
    // With --output-format json: one JSON document per run, one per line, one session.
    let docs: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert_eq!(docs.len(), 2, "{}", out.stdout);
    assert!(docs.iter().all(|d| d["api_error"] == "usage_limit_reached"));
    assert_eq!(docs[0]["session_id"], docs[1]["session_id"]);
    let sup = supervised(&out);
    assert_eq!(sup["resumes"], 1);
    assert_eq!(sup["runs"].as_array().unwrap().len(), 2);
    assert_eq!(sup["runs"][1]["stopped_by"], "five_hour");
    assert_eq!(sup["runs"][1]["resets_at"], rfc3339(r2));
    assert_eq!(api.messages().len(), 2);
}

#[test]
fn a_400_error_passes_claudes_own_status_through_without_waiting() {
    // claude -p retries a 400 (six requests in all), then gives up with status 1; a script
    // shorter than that would let it recover with the default turn.
    let api = StandIn::start(vec![Turn::bad_request("stand-in says no"); 8]);
    api.set_usage(five_hour_at(40.0, epoch_in(3600)));
    let out = guard(&api)
        .args(["run", "--supervise", "--wait", "--json", "--", "-p", "task"])
        .run();
    // What claude itself exits with on that error, run directly against the same script.
    let direct = StandIn::start(vec![Turn::bad_request("stand-in says no"); 8]);
    let dir = tempfile::tempdir().unwrap();
    fake_login(dir.path());
    let own = std::process::Command::new(real_claude())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(direct.claude_env(dir.path()))
        .current_dir(dir.path())
        .args(["-p", "task"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(own.status.code(), Some(0), "claude itself failed");
    assert_eq!(out.code, own.status.code(), "{}", out.stderr);
    let sup = supervised(&out);
    assert_eq!(sup["runs"][0]["exit_status"], own.status.code().unwrap());
    assert_eq!(sup["runs"][0]["stopped_by"], Value::Null);
    assert!(!out.stderr.contains("waiting"), "{}", out.stderr);
    assert_eq!(api.count("/api/oauth/usage"), 1, "no read after the run");
    assert!(out.elapsed < Duration::from_secs(40));
}

#[test]
fn without_a_transcript_one_fresh_read_finds_the_pinned_bucket() {
    let reset = epoch_in(3600);
    let api = StandIn::start(vec![Turn::limit(
        Limit::five_hour(reset).then_usage(five_hour_at(100.0, reset)),
    )]);
    api.set_usage(five_hour_at(40.0, reset));
    let out = guard(&api)
        .args(["run", "--supervise", "--wait", "--json", "--"])
        .args(["-p", "task", "--no-session-persistence"])
        .run();
    assert_eq!(out.code, Some(10), "{}", out.stderr);
    assert_eq!(out.stderr_json()["resets_at"], rfc3339(reset));
    assert_eq!(
        api.count("/api/oauth/usage"),
        2,
        "pre-flight + the fallback read"
    );
}

#[test]
fn a_run_without_a_model_turn_is_still_execd() {
    let api = StandIn::start(vec![]);
    let out = guard(&api)
        .args(["run", "--supervise", "--json", "--", "--version"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("(Claude Code)"));
    // Exec'd before any supervision (with or without the pre-flight's JSON line).
    assert!(!out.stderr.contains("\"supervised\""), "{}", out.stderr);
    assert!(api.messages().is_empty());
}

/// Spawns the guard in its own process group (as a CI runner starts a step), sends `sig` to
/// the guard's pid alone after claude has sent its first request, and returns the output.
fn signalled(sig: nix::sys::signal::Signal) -> (Out, StandIn) {
    let api = StandIn::start(vec![Turn::text("slow").after(Duration::from_secs(40))]);
    api.set_usage(five_hour_at(40.0, epoch_in(3600)));
    let mut g = guard(&api).args(["run", "--supervise", "--json", "--", "-p", "task"]);
    let start = Instant::now();
    let child = spawn_running(g.command().process_group(0), &api);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, sig).unwrap();
    let (status, stdout, stderr) = ended(
        child,
        start,
        Duration::from_secs(60),
        &format!("the guard did not end after {sig}"),
    );
    use std::os::unix::process::ExitStatusExt;
    (
        Out {
            code: status.code(),
            signal: status.signal(),
            stdout,
            stderr,
            elapsed: start.elapsed(),
        },
        api,
    )
}

#[test]
fn sigterm_to_the_guard_reaches_claude_once() {
    let (out, api) = signalled(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(
        out.code,
        Some(143),
        "claude's own status on SIGTERM\n{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("passed SIGTERM on to claude").count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(supervised(&out)["runs"][0]["exit_status"], 143);
    assert!(
        out.elapsed < Duration::from_secs(30),
        "claude ended at once"
    );
    assert_eq!(api.count("/api/oauth/usage"), 1, "a cancel is not a limit");
}

#[test]
fn sigint_to_the_guard_reaches_claude_once() {
    let (out, _api) = signalled(nix::sys::signal::Signal::SIGINT);
    // In -p, claude ends with 0 on SIGINT.
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("passed SIGINT on to claude").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(out.elapsed < Duration::from_secs(30));
}

#[test]
fn a_job_under_timeout_gets_its_sigterm_once_from_the_group_kill() {
    // The common cron form: `timeout 6h claude-guard run --supervise ...`. GNU timeout puts
    // itself and the job in a new process group and, when the time is up, signals the guard
    // and then the whole group. claude gets the group's SIGTERM directly; the guard, whose
    // sender is in its own group, must not pass on a second one.
    let api = StandIn::start(vec![Turn::text("slow").after(Duration::from_secs(40))]);
    api.set_usage(five_hour_at(40.0, epoch_in(3600)));
    let g = Guard::program("timeout");
    let home = g.home.path().to_owned();
    let out = configure(g, &api, &home)
        .args(["--preserve-status", "-s", "TERM", "8"])
        .args([common::bin().as_os_str()])
        .args(["run", "--supervise", "--json", "--", "-p", "task"])
        .run();
    assert_eq!(
        api.messages().len(),
        1,
        "claude was running: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("passed SIGTERM"),
        "the guard repeated timeout's SIGTERM: {}",
        out.stderr
    );
    assert_eq!(
        supervised(&out)["runs"][0]["exit_status"],
        143,
        "claude ended on the group's SIGTERM: {}",
        out.stderr
    );
    assert_eq!(out.code, Some(143), "{}", out.stderr);
    assert!(
        out.elapsed < Duration::from_secs(30),
        "claude ended at once"
    );
}

#[test]
fn abort_at_ends_claude_and_counts_as_a_stop_on_that_bucket() {
    let reset = epoch_in(3600);
    let api = StandIn::start(vec![Turn::text("slow").after(Duration::from_secs(40))]);
    api.set_usage(five_hour_at(50.0, reset));
    let mut g = guard(&api)
        .args([
            "run",
            "--supervise",
            "--abort-at",
            "80",
            "--ttl",
            "1s",
            "--json",
        ])
        .args(["--", "-p", "task"]);
    let start = Instant::now();
    let child = spawn_running(g.command(), &api);
    api.set_usage(five_hour_at(85.0, reset));
    let (status, _, stderr) = ended(child, start, Duration::from_secs(35), "not aborted");
    assert_eq!(status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("--abort-at 80%"), "{stderr}");
    let line = stderr.lines().rev().find(|l| l.starts_with('{')).unwrap();
    let json: Value = serde_json::from_str(line).unwrap();
    assert_eq!(json["supervised"]["runs"][0]["stopped_by"], "five_hour");
    assert_eq!(
        json["supervised"]["runs"][0]["exit_status"], 0,
        "SIGINT: claude -p exits 0"
    );
    assert_eq!(json["resets_at"], rfc3339(reset));
    // Mid-flight reads went through the cache: at most one request per --ttl second.
    let reads = api.count("/api/oauth/usage");
    assert!(
        reads as u64 <= start.elapsed().as_secs() + 2,
        "{reads} reads"
    );
}

#[test]
fn abort_at_refuses_before_the_start_at_or_above_pct() {
    let api = StandIn::start(vec![Turn::text("never")]);
    api.set_usage(five_hour_at(85.0, epoch_in(3600)));
    let out = guard(&api)
        .args(["run", "--supervise", "--abort-at", "80", "--", "-p", "task"])
        .run();
    assert_eq!(out.code, Some(18), "{}", out.stderr);
    assert!(api.messages().is_empty());
}

#[test]
fn model_fallback_resumes_an_opus_stop_on_sonnet_at_once() {
    let reset = epoch_in(2 * 86_400);
    let api = StandIn::start(vec![
        Turn::limit(Limit::new("seven_day_opus", reset)),
        Turn::text("finished on sonnet"),
    ]);
    api.set_usage(five_hour_at(10.0, epoch_in(3600)));
    let out = guard(&api)
        .args(["run", "--supervise", "--model-fallback", "sonnet", "--json"])
        .args(["--", "-p", "the task"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let sup = supervised(&out);
    assert_eq!(sup["resumes"], 1);
    assert_eq!(sup["runs"][0]["stopped_by"], "seven_day_opus");
    let msgs = api.messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].model(), Some("claude-opus-5-5"));
    assert_eq!(msgs[1].model(), Some("claude-sonnet-5-5"));
    assert!(has_text(&msgs[1], "the task"), "same conversation");
    assert!(has_text(&msgs[1], RESUME_PROMPT));
    assert!(out.stdout.contains("finished on sonnet"));
}

/// Measurement, not a check (run by hand: `cargo test --test supervise -- --ignored
/// --nocapture`; `SUPERVISE_MEASURE_SECS`, default 300): the guard's own CPU time (user +
/// system, from /proc/<pid>/stat) while it supervises a job of that length with
/// `--abort-at 92` (`SUPERVISE_MEASURE_ABORT_AT`, empty: without; `SUPERVISE_MEASURE_BIN`: the
/// guard binary), and the usage requests it made. Results are in README "Long jobs".
#[test]
#[ignore]
fn measure_the_guards_cost_over_a_long_job() {
    let secs: u64 = std::env::var("SUPERVISE_MEASURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    // Claude Code gives up on a request after 10 minutes: a long job is a tool loop whose
    // model turns each take under 5 minutes.
    let steps = secs.div_ceil(290).max(1);
    let mut script: Vec<Turn> = (0..steps)
        .map(|_| Turn::bash("true").after(Duration::from_secs(secs / steps)))
        .collect();
    script.push(Turn::text("done"));
    let api = StandIn::start(script);
    api.set_usage(five_hour_at(40.0, epoch_in(4 * 3600)));
    let abort = std::env::var("SUPERVISE_MEASURE_ABORT_AT").unwrap_or_else(|_| "92".into());
    // `SUPERVISE_MEASURE_BIN`: another build of the guard (e.g. scripts/build-release's).
    let program = std::env::var_os("SUPERVISE_MEASURE_BIN")
        .map_or_else(common::bin, std::path::PathBuf::from);
    let g = Guard::program(program);
    let home = g.home.path().to_owned();
    let mut g = configure(g, &api, &home).args(["run", "--supervise"]);
    if !abort.is_empty() {
        g = g.args(["--abort-at", &abort]);
    }
    let mut g = g
        .args(["--", "-p", "task", "--allowedTools", "Bash"])
        .timeout(Duration::from_secs(secs + 120));
    let start = Instant::now();
    let mut child = g
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stat = format!("/proc/{}/stat", child.id());
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let mut cpu = 0.0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&stat) {
            // Fields after the ")" of the command name: utime is the 12th, stime the 13th.
            let rest = text.rsplit(')').next().unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 12 {
                let t = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
                cpu = t / ticks_per_s;
            }
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(secs + 120));
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status.code(), Some(0));
    eprintln!(
        "MEASURE job {:.0}s: guard CPU {:.3}s (user+system), usage requests {}",
        start.elapsed().as_secs_f64(),
        cpu,
        api.count("/api/oauth/usage")
    );
}

#[test]
fn a_reset_beyond_max_wait_exits_19_at_once() {
    let reset = epoch_in(2 * 3600);
    let api = StandIn::start(vec![Turn::limit(
        Limit::five_hour(reset).then_usage(five_hour_at(100.0, reset)),
    )]);
    api.set_usage(five_hour_at(40.0, reset));
    let out = guard(&api)
        .args([
            "run",
            "--supervise",
            "--wait",
            "--max-wait",
            "1m",
            "--explain",
        ])
        .args(["--json", "--", "-p", "task"])
        .run();
    assert_eq!(out.code, Some(19), "{}", out.stderr);
    assert_eq!(out.stderr_json()["reason"], "max_wait");
    assert!(out.elapsed < Duration::from_secs(40));
    assert!(
        out.stderr.contains("CLAUDE_CODE_RETRY_WATCHDOG"),
        "--explain names the removed variables: {}",
        out.stderr
    );
    assert_eq!(api.messages().len(), 1);
}

#[test]
fn the_guard_owns_waiting_claude_gets_no_wait_variables() {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("claude");
    common::script(
        &stub,
        &format!(
            "#!/bin/sh\nenv > '{}'\nexit 0\n",
            dir.path().join("env").display()
        ),
    );
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .env("CLAUDE_CODE_RETRY_WATCHDOG", "1")
        .env("CLAUDE_GUARD_SUPERVISE", "1")
        .env("CLAUDE_GUARD_WAIT", "1")
        .env("KEEP_ME", "yes")
        .args(["run", "--now", common::NOW, "--snapshot"])
        .args([common::example("healthy.json")])
        .args(["--", "-p", "task"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
    assert!(env.contains("KEEP_ME=yes"));
    for v in [
        "CLAUDE_CODE_RETRY_WATCHDOG",
        "CLAUDE_GUARD_SUPERVISE",
        "CLAUDE_GUARD_WAIT",
    ] {
        assert!(!env.contains(&format!("{v}=")), "{v} reached claude");
    }
}

#[test]
fn an_overage_stop_takes_the_code_of_the_window_a_fresh_read_shows_pinned() {
    let reset = epoch_in(3600);
    let api = StandIn::start(vec![Turn::limit(Limit::new("overage", reset).then_usage(
        usage_body(&[
            ("five_hour", 20.0, epoch_in(600)),
            ("seven_day", 100.0, reset),
        ]),
    ))]);
    api.set_usage(five_hour_at(20.0, epoch_in(600)));
    let out = guard(&api)
        .args(["run", "--supervise", "--json", "--", "-p", "task"])
        .run();
    assert_eq!(out.code, Some(11), "{}", out.stderr);
    assert_eq!(out.stderr_json()["reason"], "seven_day");
    assert_eq!(
        api.count("/api/oauth/usage"),
        2,
        "pre-flight + one fresh read"
    );
}

#[test]
fn the_fable_weekly_stop_exits_15() {
    let reset = epoch_in(86_400);
    let api = StandIn::start(vec![Turn::limit(Limit::new(
        "seven_day_overage_included",
        reset,
    ))]);
    api.set_usage(five_hour_at(10.0, epoch_in(3600)));
    let out = guard(&api)
        .args([
            "run",
            "--supervise",
            "--json",
            "--",
            "-p",
            "task",
            "--model",
            "fable",
        ])
        .run();
    assert_eq!(out.code, Some(15), "{}", out.stderr);
    assert_eq!(api.messages()[0].model(), Some("claude-fable-5-2"));
    let sup = supervised(&out);
    assert_eq!(sup["runs"][0]["stopped_by"], "weekly_scoped:Fable");
}

#[test]
fn a_stop_writes_the_same_github_outputs_as_a_pre_flight_refusal() {
    let reset = epoch_in(3600);
    let api = StandIn::start(vec![Turn::limit(Limit::five_hour(reset))]);
    api.set_usage(five_hour_at(40.0, reset));
    let outputs = tempfile::NamedTempFile::new().unwrap();
    let out = guard(&api)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", outputs.path())
        .args(["run", "--supervise", "--", "-p", "task"])
        .run();
    assert_eq!(out.code, Some(10), "{}", out.stderr);
    let written = std::fs::read_to_string(outputs.path()).unwrap();
    assert!(written.contains("decision=refuse"), "{written}");
    assert!(written.contains("reason=five_hour"), "{written}");
    assert!(written.contains("exit_code=10"), "{written}");
    assert!(
        written.contains(&format!("resets_at={}", rfc3339(reset))),
        "{written}"
    );
    assert!(out.stderr.contains("::error"), "{}", out.stderr);
}

#[test]
fn mid_flight_reads_stay_within_the_caches_hourly_budget() {
    // --ttl 1s would allow a request a second; the shared cache allows 20 an hour (pre-flight
    // included), however long the job runs.
    let api = StandIn::start(vec![Turn::text("done").after(Duration::from_secs(26))]);
    api.set_usage(five_hour_at(40.0, epoch_in(3600)));
    let out = guard(&api)
        .args(["run", "--supervise", "--abort-at", "95", "--ttl", "1s"])
        .args(["--", "-p", "task"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let reads = api.count("/api/oauth/usage");
    assert!(
        (8..=20).contains(&reads),
        "{reads} usage requests in {:?}",
        out.elapsed
    );
}

/// The guard run with `args` on a new pseudo-terminal (script(1)); what is written to the
/// child's stdin is typed on that terminal. Returns the Guard (it owns HOME, the working
/// directory, which claude already trusts) and the running `script`.
fn on_terminal(api: &StandIn, args: &str) -> (Guard, std::process::Child) {
    let g = Guard::program("script");
    let home = g.home.path().to_owned();
    // `exec`: script starts `$SHELL -c`, and a shell that stays as the guard's parent (dash
    // does) dies of a terminal's SIGINT itself, so script would report 130 whatever the guard
    // did. SHELL and TERM are pinned so the test runs the same on every machine.
    let command = format!("exec '{}' {args}", common::bin().display());
    let mut g = configure(g, api, &home)
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm")
        .args(["-qefc", &command, "/dev/null"]);
    let config_path = home.join(".claude.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["projects"] = serde_json::json!({
        home.display().to_string(): {"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}
    });
    std::fs::write(&config_path, config.to_string()).unwrap();
    let child = g
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (g, child)
}

/// Types `keys` on the terminal of [`on_terminal`]'s child.
fn type_keys(child: &mut std::process::Child, keys: &[u8]) {
    use std::io::Write;
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(keys).unwrap();
    stdin.flush().unwrap();
}

/// Waits (at most `limit` after `start`) for [`on_terminal`]'s child to end: its status and
/// what the terminal showed (the guard's `--json` object included: on a terminal stderr and
/// stdout are one stream).
fn terminal_end(
    child: std::process::Child,
    start: Instant,
    limit: Duration,
) -> (std::process::ExitStatus, String) {
    let (status, out, _) = ended(child, start, limit, "the job did not end in time");
    (status, out)
}

/// The guard's `--json` object in what a terminal showed.
fn json_on_terminal(out: &str) -> Value {
    // The terminal shows claude's own output (and ^C) before the guard's JSON line.
    let line = out
        .lines()
        .rev()
        .find(|l| l.contains("\"supervised\""))
        .unwrap_or_else(|| panic!("no --json object: {out}"));
    serde_json::from_str(line[line.find('{').unwrap()..].trim()).unwrap()
}

#[test]
fn a_terminal_ctrl_c_reaches_claude_from_the_terminal_and_is_not_repeated() {
    // A ^C typed on the terminal makes the kernel send SIGINT to the terminal's foreground
    // process group: claude and the guard.
    let api = StandIn::start(vec![Turn::text("slow").after(Duration::from_secs(40))]);
    api.set_usage(five_hour_at(40.0, epoch_in(3600)));
    let start = Instant::now();
    let (_g, mut child) = on_terminal(&api, "run --supervise --json -- -p task");
    wait_for_claude(&api, start);
    std::thread::sleep(Duration::from_millis(300));
    type_keys(&mut child, b"\x03");
    let (status, out) = terminal_end(child, start, Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(0),
        "claude -p ends with 0 on SIGINT: {out}"
    );
    assert!(
        !out.contains("passed SIGINT"),
        "the guard repeated ^C: {out}"
    );
    assert_eq!(
        json_on_terminal(&out)["supervised"]["runs"][0]["exit_status"],
        0
    );
    assert!(start.elapsed() < Duration::from_secs(35));
}

#[test]
fn an_interactive_session_that_met_the_limit_reports_it_when_the_user_leaves() {
    // DESIGN: interactive sessions get post-run truth only (Claude Code resumes those
    // itself). The user meets the 5-hour limit in the TUI, leaves with ^C ^C; the guard
    // reads the transcript and exits 10 with the reset, and --wait does not resume it.
    let reset = epoch_in(3600);
    let api = StandIn::start(vec![Turn::limit(Limit::five_hour(reset))]);
    api.set_usage(five_hour_at(40.0, reset));
    let start = Instant::now();
    let (g, mut child) = on_terminal(&api, "run --supervise --wait --json -- task");
    let recorded = || {
        transcripts(g.home.path()).iter().any(|(_, entries)| {
            entries
                .iter()
                .any(|e| e["apiError"] == "usage_limit_reached")
        })
    };
    while !recorded() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(api.messages().len(), 1, "the TUI sent the prompt");
    assert!(recorded(), "claude recorded the limit in its transcript");
    // The TUI shows "continuing automatically at ... · esc to cancel"; leave as a user does:
    // Esc, then ^C twice (raw mode: claude reads them as keys, no signal is sent).
    std::thread::sleep(Duration::from_millis(500));
    type_keys(&mut child, b"\x1b");
    std::thread::sleep(Duration::from_millis(500));
    type_keys(&mut child, b"\x03");
    std::thread::sleep(Duration::from_millis(300));
    type_keys(&mut child, b"\x03");
    let (status, out) = terminal_end(child, start, Duration::from_secs(60));
    assert_eq!(status.code(), Some(10), "{out}");
    let json = json_on_terminal(&out);
    assert_eq!(json["reason"], "five_hour", "{out}");
    assert_eq!(json["resets_at"], rfc3339(reset));
    let sup = &json["supervised"];
    assert_eq!(sup["resumes"], 0, "an interactive session is not resumed");
    assert_eq!(sup["runs"][0]["stopped_by"], "five_hour");
    assert_eq!(api.messages().len(), 1, "no resume request");
}

/// A stand-in whose first turn ends a plain session `original`, written by an unsupervised
/// `claude -p start --session-id original` in `home` (its working directory); the next turn
/// meets the 5-hour limit. For the tests that resume or continue that session.
fn after_a_first_session(home: &std::path::Path, original: &str) -> StandIn {
    let reset = epoch_in(3600);
    let api = StandIn::start(vec![
        Turn::text("first session done"),
        Turn::limit(Limit::five_hour(reset)),
    ]);
    api.set_usage(five_hour_at(40.0, reset));
    let first = guard_in(&api, home)
        .args(["run", "--", "-p", "start", "--session-id", original])
        .run();
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    api
}

#[test]
fn a_fork_of_a_resumed_session_gets_its_own_id_and_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_owned();
    let original = "0b9f6d3e-6a43-4c1e-9a57-1d2f3c4b5a69";
    let api = after_a_first_session(&home, original);
    let out = guard_in(&api, &home)
        .args(["run", "--supervise", "--json", "--"])
        .args(["-p", "--resume", original, "--fork-session", "go on"])
        .run();
    assert_eq!(out.code, Some(10), "{}", out.stderr);
    let sid = supervised(&out)["session_id"].as_str().unwrap().to_owned();
    assert_ne!(sid, original, "the fork has a new id");
    let all = transcripts(&home);
    assert!(
        all.iter().any(|(id, _)| *id == sid),
        "the fork's transcript"
    );
    assert!(all.iter().any(|(id, _)| id == original));
    // The fork carried the first session's conversation.
    assert!(has_text(&api.messages()[1], "start"));
}

#[test]
fn continue_follows_the_session_claude_picked() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_owned();
    let original = "5d1c2b3a-4f5e-4a6b-8c7d-9e0f1a2b3c4d";
    let api = after_a_first_session(&home, original);
    let out = guard_in(&api, &home)
        .args(["run", "--supervise", "--json", "--"])
        .args(["-p", "--continue", "go on"])
        .run();
    assert_eq!(out.code, Some(10), "{}", out.stderr);
    assert_eq!(supervised(&out)["session_id"], original);
    assert_eq!(supervised(&out)["runs"][0]["stopped_by"], "five_hour");
}

#[test]
fn abort_at_follows_up_with_sigterm_when_sigint_is_ignored() {
    // A claude that ignores SIGINT (a stub: the real one ends on it) gets SIGTERM 10 s later.
    let reset = epoch_in(3600);
    let api = StandIn::start(vec![]);
    api.set_usage(five_hour_at(50.0, reset));
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("claude");
    let started = dir.path().join("started");
    common::script(
        &stub,
        &format!(
            "#!/bin/sh\ntrap '' INT\ntouch '{}'\nfor i in $(seq 1 600); do sleep 0.1; done\n",
            started.display()
        ),
    );
    let mut g = guard(&api)
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args([
            "run",
            "--supervise",
            "--abort-at",
            "80",
            "--ttl",
            "1s",
            "--json",
        ])
        .args(["--", "-p", "task"]);
    let start = Instant::now();
    let child = g
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while !started.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    api.set_usage(five_hour_at(90.0, reset));
    let aborted_at = Instant::now();
    let (status, _, stderr) = ended(child, start, Duration::from_secs(45), "not ended");
    assert_eq!(status.code(), Some(10), "{stderr}");
    assert!(
        aborted_at.elapsed() >= Duration::from_secs(10),
        "SIGTERM only after 10 s"
    );
    let line = stderr.lines().rev().find(|l| l.starts_with('{')).unwrap();
    let json: Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        json["supervised"]["runs"][0]["exit_status"], 143,
        "ended by SIGTERM"
    );
    assert_eq!(json["supervised"]["runs"][0]["stopped_by"], "five_hour");
}
