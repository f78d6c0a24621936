//! The guard's shared cache (issue #3): one request for many processes, TTLs, `--refresh`,
//! back-off with the last good snapshot, file modes, an unwritable directory, and the wait
//! loop's re-read past the cache.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::home::Home;
use common::{Reply, Seen, Server};
use serde_json::{Value, json};

const TOKEN: &str = "sk-ant-oat01-CANARY-cache-tests-0b1e";
const PROFILE: &str = "oauth_profile__max20x_trimmed_user_rate_limit_tier.json";

impl Home {
    fn logged_in() -> Home {
        Home::logged_in_with(TOKEN)
    }
}

fn rfc3339_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

fn usage_body(five: f64, five_resets_in: i64) -> String {
    json!({
        "five_hour": {"utilization": five, "resets_at": rfc3339_in(five_resets_in)},
        "seven_day": {"utilization": 10.0, "resets_at": rfc3339_in(3 * 86_400)},
        "seven_day_oauth_apps": null, "seven_day_opus": null, "seven_day_sonnet": null,
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null}
    })
    .to_string()
}

/// The number of requests to `path` once it reached `want` or stopped changing (a background
/// refresh runs after the guard exited): polls for at most 8 s.
fn settled_count(server: &Server, path: &str, want: usize) -> usize {
    let start = std::time::Instant::now();
    while server.count(path) < want && start.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.count(path)
}

fn oauth_api(usage: impl Fn() -> Reply + Send + Sync + 'static) -> Server {
    Server::start(move |s: &Seen| match s.path.as_str() {
        "/api/oauth/usage" => usage(),
        "/api/oauth/profile" => Reply::payload(200, PROFILE),
        _ => Reply::json(404, "{}"),
    })
}

#[test]
fn twenty_concurrent_guards_with_an_empty_cache_make_one_usage_request() {
    let home = Home::logged_in();
    // A slow answer makes sure the processes really overlap.
    let server =
        oauth_api(|| Reply::json(200, usage_body(30.0, 3600)).after(Duration::from_millis(400)));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let g = home.guard(&server.base).args(["check", "--json"]);
            std::thread::spawn(move || g.run())
        })
        .collect();
    let outs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for out in &outs {
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.json()["decision"], "go");
        assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN));
    }
    assert_eq!(
        server.count("/api/oauth/usage"),
        1,
        "one request for twenty processes"
    );
    assert_eq!(server.count("/api/oauth/profile"), 1);
    let kinds: Vec<String> = outs
        .iter()
        .map(|o| o.json()["source"]["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "oauth").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "cache").count(),
        19,
        "{kinds:?}"
    );
}

#[test]
fn a_fresh_cache_answers_and_refresh_or_ttl_fetch_again() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::json(200, usage_body(30.0, 3600)));
    let first = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(first.json()["source"]["kind"], "oauth");
    let second = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(second.code, Some(0));
    assert_eq!(second.json()["source"]["kind"], "cache");
    assert_eq!(server.count("/api/oauth/usage"), 1);
    let refreshed = home.guard(&server.base).args(["check", "--refresh"]).run();
    assert_eq!(refreshed.code, Some(0));
    assert_eq!(server.count("/api/oauth/usage"), 2);
    let _ = home
        .guard(&server.base)
        .env("CLAUDE_GUARD_REFRESH", "1")
        .args(["check"])
        .run();
    assert_eq!(server.count("/api/oauth/usage"), 3);
    // Past its TTL but far from a limit: decided at once, refreshed in the background.
    let _ = home
        .guard(&server.base)
        .args(["check", "--ttl", "0s"])
        .run();
    assert_eq!(settled_count(&server, "/api/oauth/usage", 4), 4);
    let _ = home
        .guard(&server.base)
        .env("CLAUDE_GUARD_TTL", "1h")
        .args(["check"])
        .run();
    assert_eq!(server.count("/api/oauth/usage"), 4);
    // the profile is fetched once and reused for a day
    assert_eq!(server.count("/api/oauth/profile"), 1);
}

#[test]
fn the_ttl_is_five_minutes_when_cool_and_sixty_seconds_when_hot() {
    // (percent, cache age in seconds, requests expected after the second start)
    for (pct, age, expected) in [(50.0, 90, 1), (50.0, 310, 2), (85.0, 30, 1), (85.0, 90, 2)] {
        let home = Home::logged_in();
        let server = oauth_api(move || Reply::json(200, usage_body(pct, 3600)));
        let _ = home.guard(&server.base).args(["check"]).run();
        home.age_cache(age);
        let out = home.guard(&server.base).args(["check"]).run();
        assert_eq!(out.code, Some(0), "{out:?}");
        // (a cool stale copy is refreshed in the background: wait for it)
        assert_eq!(
            settled_count(&server, "/api/oauth/usage", expected),
            expected,
            "{pct}% cached {age}s ago"
        );
    }
}

#[test]
fn cache_files_are_private_and_hold_no_secret() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::json(200, usage_body(30.0, 3600)));
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home.cache()), 0o700);
    let mut n = 0;
    for e in std::fs::read_dir(home.cache()).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        // Bytes, not UTF-8: the usage history is a SQLite database.
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        assert!(
            !text.contains(TOKEN) && !text.contains("CANARY"),
            "{}",
            p.display()
        );
        n += 1;
    }
    assert!(n >= 3, "usage, its lock and the profile");
    // an existing directory's mode is never changed (issue 15: it may be shared, or the
    // working directory); one only others cannot write to is still used
    std::fs::set_permissions(home.cache(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = home.guard(&server.base).args(["check", "--refresh"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stderr.contains("warning"), "{out:?}");
    assert_eq!(mode(&home.cache()), 0o755);
}

fn can_write_into_read_only_dirs() -> bool {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
    let ok = std::fs::write(d.path().join("probe"), "x").is_ok();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    ok
}

#[test]
fn an_unwritable_cache_directory_still_decides_with_one_warning() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::json(200, usage_body(100.0, 3600)));
    // A path under a regular file cannot be created, even by root.
    let file = home.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let mut dirs = vec![file.join("cache")];
    if !can_write_into_read_only_dirs() {
        let ro = home.path().join("read-only");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        dirs.push(ro);
    }
    for (i, dir) in dirs.iter().enumerate() {
        let out = home
            .guard(&server.base)
            .env("CLAUDE_GUARD_CACHE_DIR", dir)
            .args(["check"])
            .run();
        assert_eq!(out.code, Some(10), "{}: {out:?}", dir.display());
        let warnings = out
            .stderr
            .lines()
            .filter(|l| l.contains("warning:") && l.contains("without a cache"))
            .count();
        assert_eq!(warnings, 1, "{}", out.stderr);
        assert_eq!(server.count("/api/oauth/usage"), i + 1);
    }
}

#[test]
fn during_a_429_back_off_the_last_good_snapshot_is_used_within_max_age() {
    let home = Home::logged_in();
    let limited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&limited);
    let server = oauth_api(move || {
        if flag.load(std::sync::atomic::Ordering::Relaxed) {
            Reply::json(
                429,
                r#"{"error":{"type":"rate_limit_error","message":"Rate limited."}}"#,
            )
            .header("Retry-After", "600")
        } else {
            Reply::json(200, usage_body(40.0, 3600))
        }
    });
    assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
    limited.store(true, std::sync::atomic::Ordering::Relaxed);
    home.age_cache(10 * 60); // past its TTL, within --max-age (1 h)
    // 40 % is within 10 points of --max-utilization 45: fetched in the foreground.
    let out = home
        .guard(&server.base)
        .args(["check", "--json", "--explain", "--max-utilization", "45"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let j = out.json();
    assert_eq!(j["source"]["kind"], "cache");
    assert!(out.stderr.contains("HTTP 429"), "{}", out.stderr);
    assert!(out.stderr.contains("fallback"), "{}", out.stderr);
    assert_eq!(server.count("/api/oauth/usage"), 2);
    // inside the window nobody asks again; the last good copy keeps deciding
    assert_eq!(
        home.guard(&server.base)
            .args(["check", "--refresh"])
            .run()
            .code,
        Some(0)
    );
    assert_eq!(server.count("/api/oauth/usage"), 2);
    // once it is older than --max-age, the state is unknown, with the 429 as the reason
    let out = home
        .guard(&server.base)
        .args(["check", "--max-age", "5m"])
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr.contains("STALE") || out.stderr.contains("stale"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("no request before"), "{}", out.stderr);
    assert_eq!(server.count("/api/oauth/usage"), 2);
}

#[test]
fn a_pinned_last_good_snapshot_still_refuses_during_back_off() {
    let home = Home::logged_in();
    let limited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&limited);
    let server = oauth_api(move || {
        if flag.load(std::sync::atomic::Ordering::Relaxed) {
            Reply::json(429, "{}").header("Retry-After", "600")
        } else {
            Reply::json(200, usage_body(100.0, 3 * 3600))
        }
    });
    assert_eq!(
        home.guard(&server.base).args(["check"]).run().code,
        Some(10)
    );
    limited.store(true, std::sync::atomic::Ordering::Relaxed);
    home.age_cache(2 * 3600); // older than --max-age: a refusal still holds until the reset
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(10), "{out:?}");
}

#[test]
fn repeated_failures_back_off_across_processes() {
    let home = Home::logged_in();
    let server = oauth_api(|| {
        Reply::json(
            503,
            r#"{"error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
    });
    for _ in 0..4 {
        let out = home.guard(&server.base).args(["check"]).run();
        assert_eq!(out.code, Some(20), "{out:?}");
    }
    assert_eq!(
        server.count("/api/oauth/usage"),
        1,
        "15 s back-off after the first failure"
    );
    let state: Value = serde_json::from_slice(&std::fs::read(home.oauth_file()).unwrap()).unwrap();
    assert_eq!(state["failures"], 1);
    assert!(state["not_before"].is_string());
}

#[test]
fn wait_rereads_past_the_cache_after_the_reset() {
    let home = Home::logged_in();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = std::sync::Arc::clone(&calls);
    let server = oauth_api(move || {
        if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Reply::json(200, usage_body(100.0, 2))
        } else {
            Reply::json(200, usage_body(5.0, 5 * 3600))
        }
    });
    let out = home
        .guard(&server.base)
        .args([
            "wait",
            "--grace",
            "0s",
            "--max-wait",
            "1m",
            "--quiet",
            "--json",
        ])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    // The second read went to the server although the first answer was still within its TTL.
    assert_eq!(server.count("/api/oauth/usage"), 2);
    let j = out.json();
    assert_eq!(j["source"]["kind"], "oauth");
    assert_eq!(j["buckets"][0]["utilization"], 5.0);
}

#[test]
fn no_more_than_twenty_requests_an_hour_whatever_the_ttl() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::json(200, usage_body(90.0, 3600)));
    for i in 0..24 {
        let out = home
            .guard(&server.base)
            .args(["check", "--ttl", "0s", "--json", "--explain"])
            .run();
        assert_eq!(out.code, Some(0), "start {i}: {out:?}");
        if i >= 20 {
            // the last good snapshot (seconds old) keeps deciding
            assert_eq!(out.json()["source"]["kind"], "cache", "start {i}");
            assert!(
                out.stderr.contains("budget of 20 requests an hour"),
                "{}",
                out.stderr
            );
        }
    }
    assert_eq!(server.count("/api/oauth/usage"), 20);
}

// ---- issue 15: cache trust, blocking entries, echoed secrets, pruning, bad settings ----

/// A server whose five_hour utilization can be changed between runs.
fn oauth_api_at(pct: &std::sync::Arc<std::sync::Mutex<f64>>) -> Server {
    let pct = pct.clone();
    oauth_api(move || Reply::json(200, usage_body(*pct.lock().unwrap(), 3600)))
}

/// Rewrites the cached snapshot's five_hour utilization (a forged entry).
fn forge(path: &Path, pct: f64) -> Value {
    let mut state: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    state["snapshot"]["usage"]["five_hour"]["utilization"] = json!(pct);
    state
}

#[test]
fn a_cache_directory_others_can_write_or_reached_through_a_symlink_is_not_used() {
    let home = Home::logged_in();
    let pct = std::sync::Arc::new(std::sync::Mutex::new(10.0));
    let server = oauth_api_at(&pct);
    assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
    // Another user forges a fresh entry saying 10 % while the server says 100 %.
    let forged = forge(&home.oauth_file(), 10.0);
    *pct.lock().unwrap() = 100.0;
    std::fs::write(home.oauth_file(), forged.to_string()).unwrap();
    std::fs::set_permissions(home.cache(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    for _ in 0..2 {
        let out = home.guard(&server.base).args(["check"]).run();
        assert_eq!(
            out.code,
            Some(10),
            "the forged entry must not say go: {out:?}"
        );
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("warning:"))
            .collect();
        assert_eq!(warnings.len(), 1, "{out:?}");
        assert!(
            warnings[0].contains("writable by group or others"),
            "{out:?}"
        );
    }
    assert_eq!(
        server.count("/api/oauth/usage"),
        3,
        "no cache: each start asks"
    );
    // never chmodded: it is not the guard's directory
    let mode = std::fs::metadata(home.cache())
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o1777);

    // reached through a symbolic link: refused, and nothing is written behind it
    let real = home.path().join("real-cache");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = home.path().join("link-cache");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = home
        .guard(&server.base)
        .env("CLAUDE_GUARD_CACHE_DIR", &link)
        .args(["check"])
        .run();
    assert_eq!(out.code, Some(10), "{out:?}");
    assert!(out.stderr.contains("symbolic link"), "{out:?}");
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);

    // owned by another user (needs root to set up)
    if nix::unistd::geteuid().is_root() {
        let theirs = home.path().join("their-cache");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let out = home
            .guard(&server.base)
            .env("CLAUDE_GUARD_CACHE_DIR", &theirs)
            .args(["check"])
            .run();
        assert_eq!(out.code, Some(10), "{out:?}");
        assert!(out.stderr.contains("owned by uid 65534"), "{out:?}");
    }
}

#[test]
fn a_fifo_or_symlink_at_a_cache_entry_is_neither_waited_on_nor_followed() {
    let home = Home::logged_in();
    let pct = std::sync::Arc::new(std::sync::Mutex::new(10.0));
    let server = oauth_api_at(&pct);
    assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
    let entry = home.oauth_file();
    let forged = forge(&entry, 10.0);
    *pct.lock().unwrap() = 100.0;

    // a symlink to a forged copy: not followed, the server is asked
    let elsewhere = home.path().join("forged.json");
    std::fs::write(&elsewhere, forged.to_string()).unwrap();
    std::fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(10), "{out:?}");
    assert!(out.stderr.contains("symbolic link"), "{out:?}");

    // a FIFO: not opened for good (no writer would ever come)
    std::fs::remove_file(&entry).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&entry)
            .status()
            .unwrap()
            .success()
    );
    let out = home
        .guard(&server.base)
        .args(["check"])
        .timeout(Duration::from_secs(10))
        .run();
    assert_eq!(out.code, Some(10), "{out:?}");
    assert!(out.stderr.contains("not a regular file"), "{out:?}");
}

#[test]
fn a_token_echoed_in_a_200_body_reaches_no_output_and_no_cache_file() {
    let home = Home::logged_in();
    let server = oauth_api(|| {
        let mut body: Value = serde_json::from_str(&usage_body(30.0, 3600)).unwrap();
        body[TOKEN] = json!({"utilization": 1.0, "resets_at": null});
        body["debug"] = json!({"authorization": format!("Bearer {TOKEN}")});
        body["limits"] = json!([{"kind": format!("echo {TOKEN}"), "percent": 1.0}]);
        Reply::json(200, body.to_string())
    });
    for args in [
        vec!["check", "--json"],
        vec!["status"],
        vec!["snapshot"],
        vec!["check", "--explain"],
    ] {
        let out = home.guard(&server.base).args(&args).run();
        assert!(out.code == Some(0), "{args:?}: {out:?}");
        assert!(
            !out.stdout.contains("CANARY") && !out.stderr.contains("CANARY"),
            "{args:?}: {out:?}"
        );
    }
    for e in std::fs::read_dir(home.cache()).unwrap() {
        let p = e.unwrap().path();
        // Bytes, not UTF-8: the usage history is a SQLite database.
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        assert!(!text.contains("CANARY"), "{}: {text}", p.display());
    }
}

#[test]
fn files_of_other_tokens_older_than_a_day_are_pruned() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::json(200, usage_body(30.0, 3600)));
    std::fs::create_dir(home.cache()).unwrap();
    std::fs::set_permissions(home.cache(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
    let old = [
        "oauth-0123456789abcdef.json",
        "oauth-0123456789abcdef.lock",
        "profile-0123456789abcdef.json",
        "web-0123456789abcdef.json",
    ];
    for name in old {
        let f = std::fs::File::create(home.cache().join(name)).unwrap();
        f.set_modified(two_days_ago).unwrap();
    }
    std::fs::write(home.cache().join("oauth-fedcba9876543210.json"), "{}").unwrap();
    std::fs::write(home.cache().join("notes.txt"), "mine").unwrap();
    let f = std::fs::File::create(home.cache().join("unrelated.json")).unwrap();
    f.set_modified(two_days_ago).unwrap();
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let left: std::collections::BTreeSet<String> = std::fs::read_dir(home.cache())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in old {
        assert!(!left.contains(name), "{name} kept: {left:?}");
    }
    for name in ["oauth-fedcba9876543210.json", "notes.txt", "unrelated.json"] {
        assert!(left.contains(name), "{name} removed: {left:?}");
    }
    let own = |n: &&String| n.starts_with("oauth-") && !n.contains("fedcba");
    assert_eq!(
        left.iter().filter(own).count(),
        2,
        "own entry and lock: {left:?}"
    );
}

#[test]
fn a_bad_user_agent_or_a_base_url_with_a_query_is_named_as_such() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::json(200, usage_body(30.0, 3600)));
    let out = home
        .guard(&server.base)
        .env("CLAUDE_GUARD_USER_AGENT", "bad\u{1}agent")
        .args(["check", "--source", "oauth"])
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr
            .contains("CLAUDE_GUARD_USER_AGENT is not a valid HTTP header value"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("token is not"), "{out:?}");
    for tail in ["/?tenant=1", "/#frag"] {
        let out = home
            .guard(&format!("{}{tail}", server.base))
            .args(["check", "--source", "oauth"])
            .run();
        assert_eq!(out.code, Some(20), "{tail}: {out:?}");
        assert!(
            out.stderr.contains("CLAUDE_GUARD_OAUTH_BASE_URL")
                && out.stderr.contains("no ?query or #fragment"),
            "{out:?}"
        );
    }
    assert_eq!(server.count("/api/oauth/usage"), 0);
}

#[test]
fn a_cache_entry_from_the_future_is_a_miss_not_fresh_for_hours() {
    let home = Home::logged_in();
    let pct = std::sync::Arc::new(std::sync::Mutex::new(10.0));
    let server = oauth_api_at(&pct);
    assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
    // written by a host whose clock runs 2 h ahead (or before this clock stepped back)
    home.age_cache(-2 * 3600);
    *pct.lock().unwrap() = 100.0;
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.code, Some(10), "{out:?}");
    assert_eq!(server.count("/api/oauth/usage"), 2);
    let attempts = out.json()["source"]["attempts"].to_string();
    assert!(attempts.contains("in the future"), "{attempts}");
    // within the 5 min skew, it is still a fresh copy
    home.age_cache(-120);
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.json()["source"]["kind"], "cache", "{out:?}");
    assert_eq!(server.count("/api/oauth/usage"), 2);
}
