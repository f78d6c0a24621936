//! The fast path (issue 17): a stale but safe cache decides at once and is refreshed by a
//! detached background process (one at a time, failures recorded); near a limit the fetch
//! stays in the foreground; a 21 MB ~/.claude.json is read right.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::home::Home;
use common::{Out, Reply, Seen, Server, epoch_ms_in, payload};
use serde_json::{Value, json};

const TOKEN: &str = "sk-ant-oat01-CANARY-revalidate-tests-5e1f";
const PROFILE: &str = "oauth_profile__max20x_trimmed_user_rate_limit_tier.json";
const USAGE: &str = "/api/oauth/usage";

impl Home {
    fn logged_in() -> Home {
        Home::logged_in_with(TOKEN)
    }

    /// Waits (at most 8 s) until the cache file satisfies `done`; returns its last state.
    fn await_state(&self, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let state = self.state();
            if done(&state) || start.elapsed() > Duration::from_secs(8) {
                return state;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Processes (other than this test) whose environment names this HOME's cache directory:
    /// a background refresh still running.
    fn refresh_processes(&self) -> Vec<u32> {
        let needle = format!("CLAUDE_GUARD_CACHE_DIR={}", self.cache().display());
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| *pid != std::process::id())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
            })
            .collect()
    }
}

fn rfc3339_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

fn usage_body(five: f64) -> String {
    json!({
        "five_hour": {"utilization": five, "resets_at": rfc3339_in(3600)},
        "seven_day": {"utilization": 10.0, "resets_at": rfc3339_in(3 * 86_400)},
        "seven_day_oauth_apps": null, "seven_day_opus": null, "seven_day_sonnet": null,
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null}
    })
    .to_string()
}

/// A usage stand-in: `first` answers the first (priming) request at once; later ones get
/// `later` after `delay`. Returns the server and when each later answer was sent.
fn stand_in(
    first: f64,
    later: impl Fn() -> Reply + Send + Sync + 'static,
    delay: Duration,
) -> (Server, Arc<Mutex<Vec<Instant>>>) {
    let answered = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&answered);
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = Server::start(move |s: &Seen| match s.path.as_str() {
        USAGE => {
            if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Reply::json(200, usage_body(first))
            } else {
                // The route runs before the server sleeps `delay`: the answer goes out then.
                log.lock().unwrap().push(Instant::now() + delay);
                later().after(delay)
            }
        }
        "/api/oauth/profile" => Reply::payload(200, PROFILE),
        _ => Reply::json(404, "{}"),
    });
    (server, answered)
}

fn attempt(out: &Out, source: &str) -> Option<String> {
    out.json()["source"]["attempts"]
        .as_array()?
        .iter()
        .find(|a| a["source"] == source)
        .map(|a| a["result"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn a_stale_safe_cache_decides_without_waiting_and_refreshes_after_the_guard_exited() {
    let home = Home::logged_in();
    let (server, answered) = stand_in(
        30.0,
        || Reply::json(200, usage_body(42.0)),
        Duration::from_secs(3),
    );
    assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
    home.age_cache(10 * 60); // past the 5 min TTL, within --max-age 1h, 30 % is far from 90 %
    let out = home
        .guard(&server.base)
        .args(["check", "--json", "--explain"])
        .run();
    let exited = Instant::now();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        !home.refresh_processes().is_empty(),
        "the detached refresh is running after the guard exited"
    );
    let j = out.json();
    assert_eq!(j["source"]["kind"], "cache");
    assert_eq!(
        j["buckets"][0]["utilization"], 30.0,
        "decided on the stale copy"
    );
    let refresh = attempt(&out, "refresh").expect("a refresh attempt");
    assert!(
        refresh.starts_with("background: refresh started"),
        "{refresh}"
    );
    assert!(out.stderr.contains("refresh: background"), "{}", out.stderr);
    // The refresh reached the stand-in, whose answer went out after the guard had exited.
    let state = home.await_state(|s| s["snapshot"]["usage"]["five_hour"]["utilization"] == 42.0);
    assert_eq!(state["snapshot"]["usage"]["five_hour"]["utilization"], 42.0);
    assert_eq!(server.count(USAGE), 2);
    let answers = answered.lock().unwrap().clone();
    assert_eq!(answers.len(), 1);
    assert!(answers[0] > exited, "the guard did not wait for the answer");
    // Nothing of the refresh outlives its fetch.
    let start = Instant::now();
    while !home.refresh_processes().is_empty() && start.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(home.refresh_processes(), Vec::<u32>::new());
    // The next start finds the refreshed copy fresh: no request, no refresh.
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.json()["buckets"][0]["utilization"], 42.0);
    assert_eq!(attempt(&out, "refresh"), None);
    assert_eq!(server.count(USAGE), 2);
    assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN));
}

#[test]
fn near_a_limit_a_stale_cache_waits_for_the_fetch() {
    // (cached percent, extra arguments): hot (≥ 80 %), and within 10 points of --max-utilization.
    for (pct, extra) in [(85.0, vec![]), (50.0, vec!["--max-utilization", "55"])] {
        let home = Home::logged_in();
        let (server, _) = stand_in(
            pct,
            move || Reply::json(200, usage_body(pct + 1.0)),
            Duration::from_millis(500),
        );
        assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
        home.age_cache(10 * 60);
        let out = home
            .guard(&server.base)
            .args(["check", "--json"])
            .args(extra.iter().copied())
            .run();
        assert_eq!(out.code, Some(0), "{pct}%: {out:?}");
        let j = out.json();
        assert_eq!(
            j["source"]["kind"], "oauth",
            "{pct}%: fetched in the foreground"
        );
        assert_eq!(j["buckets"][0]["utilization"], pct + 1.0);
        let refresh = attempt(&out, "refresh").expect("a refresh attempt");
        assert!(
            refresh.starts_with("foreground: five_hour at") && refresh.contains("near the limit"),
            "{refresh}"
        );
        assert_eq!(
            server.count(USAGE),
            2,
            "the guard's own request, already made"
        );
    }
}

#[test]
fn refresh_stays_synchronous() {
    let home = Home::logged_in();
    let (server, _) = stand_in(
        30.0,
        || Reply::json(200, usage_body(31.0)),
        Duration::from_millis(300),
    );
    assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
    home.age_cache(10 * 60);
    let out = home
        .guard(&server.base)
        .args(["check", "--json", "--refresh"])
        .run();
    assert_eq!(out.json()["source"]["kind"], "oauth");
    assert_eq!(out.json()["buckets"][0]["utilization"], 31.0);
    assert_eq!(attempt(&out, "refresh"), None);
}

#[test]
fn twenty_concurrent_stale_starts_spawn_one_refresh() {
    let home = Home::logged_in();
    let (server, _) = stand_in(
        30.0,
        || Reply::json(200, usage_body(33.0)),
        Duration::from_secs(1),
    );
    assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
    home.age_cache(10 * 60);
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let g = home.guard(&server.base).args(["check", "--json"]);
            std::thread::spawn(move || g.run())
        })
        .collect();
    let outs: Vec<Out> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut started = 0;
    for out in &outs {
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.json()["source"]["kind"], "cache");
        match attempt(out, "refresh") {
            Some(r) if r.starts_with("background: refresh started") => started += 1,
            Some(r) => assert!(r.contains("none started"), "{r}"),
            None => {} // started after the refresh finished: the copy was fresh
        }
    }
    assert_eq!(started, 1, "one refresh for twenty starts");
    let state = home.await_state(|s| s["snapshot"]["usage"]["five_hour"]["utilization"] == 33.0);
    assert_eq!(state["snapshot"]["usage"]["five_hour"]["utilization"], 33.0);
    // Give a second refresh, if one had been started, time to arrive.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.count(USAGE), 2);
}

#[test]
fn a_refresh_that_fails_leaves_the_back_off_in_the_cache() {
    let home = Home::logged_in();
    let (server, _) = stand_in(
        30.0,
        || {
            Reply::json(
                503,
                r#"{"error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
        },
        Duration::from_millis(200),
    );
    assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
    home.age_cache(10 * 60);
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(attempt(&out, "refresh").is_some_and(|r| r.contains("refresh started")));
    let state = home.await_state(|s| s["failures"] == 1);
    assert_eq!(state["failures"], 1, "{state}");
    assert!(state["not_before"].is_string(), "{state}");
    assert!(
        state["backoff_reason"]
            .as_str()
            .is_some_and(|r| r.contains("503")),
        "{state}"
    );
    // The last good copy is kept, and the back-off holds for the next starts: no request.
    assert_eq!(state["snapshot"]["usage"]["five_hour"]["utilization"], 30.0);
    let out = home
        .guard(&server.base)
        .args(["check", "--json", "--explain"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(attempt(&out, "refresh"), None, "blocked: nothing to start");
    assert!(out.stderr.contains("no request before"), "{}", out.stderr);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.count(USAGE), 2);
}

/// A ~21 MB `~/.claude.json` shaped like a heavy user's: `projects` history first, then
/// `oauthAccount` and `cachedUsageUtilization` at its end.
fn write_big_claude_json(home: &Path, body: &str) -> u64 {
    let account: Value = serde_json::from_slice(
        &std::fs::read(payload(
            "claude_json_oauthAccount__team_seat_org_tier_default_raven.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let mut text = String::from(
        r#"{"numStartups":812,"installMethod":"native","autoUpdates":true,"projects":{"#,
    );
    let mut i = 0;
    while text.len() < 21 << 20 {
        if i > 0 {
            text.push(',');
        }
        let history: Vec<Value> = (0..40)
            .map(|k| json!({"display": format!("refactor the {k}th module of project {i} and run the tests again"), "pastedContents": {}}))
            .collect();
        let project = json!({
            "allowedTools": [], "history": history, "mcpContextUris": [], "mcpServers": {},
            "enabledMcpjsonServers": [], "disabledMcpjsonServers": [],
            "hasTrustDialogAccepted": true, "projectOnboardingSeenCount": 3,
            "lastCost": 1.2345, "lastAPIDuration": 81234, "lastDuration": 912345,
            "lastLinesAdded": 120, "lastLinesRemoved": 33, "lastTotalInputTokens": 123456,
            "lastTotalOutputTokens": 23456, "lastSessionId": format!("00000000-0000-4000-8000-{i:012}"),
        });
        text.push_str(&format!("\"/home/user/src/project-{i}\":{project}"));
        i += 1;
    }
    text.push_str("},\"oauthAccount\":");
    text.push_str(&account["oauthAccount"].to_string());
    text.push_str(",\"cachedUsageUtilization\":");
    text.push_str(
        &json!({
            "fetchedAtMs": epoch_ms_in(-30),
            "accountUuid": account["oauthAccount"]["accountUuid"],
            "utilization": serde_json::from_str::<Value>(body).unwrap(),
        })
        .to_string(),
    );
    text.push('}');
    let path = home.join(".claude.json");
    std::fs::write(&path, &text).unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_21_mb_claude_json_with_cached_usage_at_its_end_is_read_right() {
    let home = Home::logged_in();
    let size = write_big_claude_json(home.path(), &usage_body(100.0));
    assert!(size >= 21 << 20, "{size}");
    let server = Server::start(|_: &Seen| Reply::json(500, "{}"));
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.code, Some(10), "five_hour pinned: {out:?}");
    let j = out.json();
    assert_eq!(j["source"]["kind"], "claude-code-cache");
    assert_eq!(j["source"]["account_email"], "user@example.com");
    assert_eq!(j["buckets"][0]["utilization"], 100.0);
    assert_eq!(
        server.seen().len(),
        0,
        "Claude Code's copy costs no request"
    );
}
