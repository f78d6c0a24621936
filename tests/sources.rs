//! Live snapshot sources (issue #3) against a real HTTP server on 127.0.0.1 replaying the
//! real payloads: OAuth (headers, statuses, bodies), claude.ai with a cookie, Claude Code's
//! cached copy, the bridge, the order of the chain, `--source`, `snapshot`, and that no
//! token or cookie is ever printed.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    Guard, Out, Reply, Seen, Server, epoch_ms_in, payload, silent_server, write_credentials,
};
use serde_json::{Value, json};

/// A recognizable fake token: it must never appear in any output.
const TOKEN: &str = "sk-ant-oat01-CANARY-7f3a9c41-never-print-me";
/// A recognizable fake claude.ai cookie value.
const SESSION: &str = "sk-ant-sid01-COOKIE-CANARY-51d2e8";

const USAGE_REAL: &str = "oauth_usage__2026-04_issue202_opus_null_sonnet_extra_disabled.json";
const PROFILE: &str = "oauth_profile__max20x_trimmed_user_rate_limit_tier.json";

/// An isolated HOME shared by several guard runs (credentials, cache, ~/.claude.json).
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A HOME where Claude Code is logged in with [`TOKEN`] (valid for a day, full scopes).
    fn logged_in() -> Home {
        let h = Home::new();
        write_credentials(
            &h.path().join(".claude"),
            TOKEN,
            epoch_ms_in(86_400),
            &[
                "user:inference",
                "user:profile",
                "user:sessions:claude_code",
            ],
        );
        h
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cache_dir(&self) -> PathBuf {
        self.path().join(".cache/claude-guard")
    }

    /// A guard run in this HOME, with both base URLs pointing at `base`.
    fn guard(&self, base: &str) -> Guard {
        Guard::new()
            .env("HOME", self.path())
            .env("XDG_CACHE_HOME", self.path().join(".cache"))
            .env("CLAUDE_GUARD_OAUTH_BASE_URL", base)
            .env("CLAUDE_GUARD_WEB_BASE_URL", base)
            .cwd(self.path())
            .timeout(Duration::from_secs(20))
    }
}

fn rfc3339_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

/// A usage body (the OAuth/claude.ai shape) with these percents, resets in the future.
fn usage_body(five: f64, week: f64) -> String {
    json!({
        "five_hour": {"utilization": five, "resets_at": rfc3339_in(2 * 3600)},
        "seven_day": {"utilization": week, "resets_at": rfc3339_in(3 * 86_400)},
        "seven_day_oauth_apps": null, "seven_day_opus": null, "seven_day_sonnet": null,
        "iguana_necktie": null,
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null}
    })
    .to_string()
}

/// The OAuth API: `usage` answers /api/oauth/usage; the profile is the real payload.
fn oauth_api(usage: impl Fn() -> Reply + Send + Sync + 'static) -> Server {
    Server::start(move |s: &Seen| match s.path.as_str() {
        "/api/oauth/usage" => usage(),
        "/api/oauth/profile" => Reply::payload(200, PROFILE),
        _ => Reply::json(404, r#"{"error":{"type":"not_found_error"}}"#),
    })
}

fn assert_no_secret(out: &Out) {
    for secret in [TOKEN, SESSION, "CANARY"] {
        assert!(
            !out.stdout.contains(secret),
            "secret in stdout:\n{}",
            out.stdout
        );
        assert!(
            !out.stderr.contains(secret),
            "secret in stderr:\n{}",
            out.stderr
        );
    }
}

#[test]
fn oauth_sends_the_right_headers_and_decides_from_the_real_body() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::payload(200, USAGE_REAL));
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let j = out.json();
    assert_eq!(j["decision"], "go");
    assert_eq!(j["source"]["kind"], "oauth");
    assert_eq!(
        j["source"]["location"],
        format!("{}/api/oauth/usage", server.base)
    );
    // organization and email come from the profile
    assert_eq!(
        j["source"]["org_uuid"],
        "22222222-2222-4222-8222-222222222222"
    );
    assert_eq!(j["source"]["account_email"], "taylor@example.com");
    let five = j["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "five_hour")
        .unwrap()
        .clone();
    assert_eq!(five["utilization"], 33.0);

    let seen = server.seen();
    let usage: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path == "/api/oauth/usage")
        .collect();
    assert_eq!(usage.len(), 1);
    let u = usage[0];
    assert_eq!(
        u.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(u.header("anthropic-beta"), Some("oauth-2025-04-20"));
    assert_eq!(
        u.header("user-agent"),
        Some(concat!("claude-guard/", env!("CARGO_PKG_VERSION")))
    );
    let profile: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path == "/api/oauth/profile")
        .collect();
    assert_eq!(profile.len(), 1);
    assert_eq!(
        profile[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        profile[0].header("anthropic-beta"),
        None,
        "Claude Code sends no beta header to /profile"
    );
    assert_no_secret(&out);
}

/// `check` in a logged-in HOME with one extra variable, against the real usage payload;
/// returns the guard's output and the first request the OAuth API saw.
fn check_with_env(name: &str, value: &str) -> (Out, Seen) {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::payload(200, USAGE_REAL));
    let out = home
        .guard(&server.base)
        .env(name, value)
        .args(["check"])
        .run();
    let first = server.seen().into_iter().next().expect("a usage request");
    (out, first)
}

#[test]
fn user_agent_can_be_overridden() {
    let (out, first) = check_with_env("CLAUDE_GUARD_USER_AGENT", "my-proxy-client/2");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(first.header("user-agent"), Some("my-proxy-client/2"));
}

#[test]
fn status_shows_the_logged_in_accounts_numbers_with_nothing_configured() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::json(200, usage_body(41.0, 12.0)));
    let out = home.guard(&server.base).args(["status"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("source: oauth"), "{}", out.stdout);
    assert!(out.stdout.contains("taylor@example.com"), "{}", out.stdout);
    let five = out
        .stdout
        .lines()
        .find(|l| l.contains("five_hour"))
        .unwrap();
    assert!(five.contains("41%"), "{five}");
}

#[test]
fn pinned_five_hour_from_oauth_refuses_with_its_code() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::json(200, usage_body(100.0, 40.0)));
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(10), "{out:?}");
    assert!(out.stderr.contains("five_hour"), "{}", out.stderr);
}

#[test]
fn expired_token_sends_nothing_and_says_run_claude() {
    let home = Home::new();
    write_credentials(
        &home.path().join(".claude"),
        TOKEN,
        epoch_ms_in(-3600),
        &["user:inference", "user:profile"],
    );
    let server = oauth_api(|| Reply::payload(200, USAGE_REAL));
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr.contains("run `claude` once to refresh it"),
        "{}",
        out.stderr
    );
    // expiresAt within the 5-minute margin counts as expired too
    write_credentials(
        &home.path().join(".claude"),
        TOKEN,
        epoch_ms_in(200),
        &["user:inference", "user:profile"],
    );
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert_eq!(server.seen().len(), 0, "an expired token must not be sent");
    assert_no_secret(&out);
}

#[test]
fn credentials_follow_claude_config_dir_and_secure_storage_dir() {
    let home = Home::new();
    let server = oauth_api(|| Reply::payload(200, USAGE_REAL));
    let cfg = home.path().join("cc-config");
    write_credentials(&cfg, TOKEN, epoch_ms_in(86_400), &["user:profile"]);
    let out = home
        .guard(&server.base)
        .env("CLAUDE_CONFIG_DIR", &cfg)
        .args(["check"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let secure = home.path().join("secure");
    write_credentials(
        &secure,
        "sk-ant-oat01-CANARY-secure-dir",
        epoch_ms_in(86_400),
        &["user:profile"],
    );
    let out = home
        .guard(&server.base)
        .env("CLAUDE_CONFIG_DIR", &cfg)
        .env("CLAUDE_SECURESTORAGE_CONFIG_DIR", &secure)
        .args(["check", "--refresh"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let auth: Vec<String> = server
        .seen()
        .iter()
        .filter(|s| s.path == "/api/oauth/usage")
        .filter_map(|s| s.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        auth,
        [
            format!("Bearer {TOKEN}"),
            "Bearer sk-ant-oat01-CANARY-secure-dir".to_owned()
        ]
    );
}

#[test]
fn scope_403_names_user_profile_and_is_not_retried_with_the_same_token() {
    let home = Home::logged_in();
    let server =
        oauth_api(|| Reply::payload(403, "oauth_usage_error__403_scope_user_profile.json"));
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(out.stderr.contains("user:profile"), "{}", out.stderr);
    assert!(out.stderr.contains("setup-token"), "{}", out.stderr);
    assert!(
        out.stderr.contains("--snapshot") && out.stderr.contains("bridge"),
        "{}",
        out.stderr
    );
    let again = home.guard(&server.base).args(["check", "--refresh"]).run();
    assert_eq!(again.code, Some(20));
    assert!(again.stderr.contains("user:profile"), "{}", again.stderr);
    assert_eq!(
        server.count("/api/oauth/usage"),
        1,
        "a rejected token is not sent again"
    );
    // a new login (new token) is tried at once
    write_credentials(
        &home.path().join(".claude"),
        "sk-ant-oat01-CANARY-new-login",
        epoch_ms_in(86_400),
        &["user:profile"],
    );
    let _ = home.guard(&server.base).args(["check"]).run();
    assert_eq!(server.count("/api/oauth/usage"), 2);
    assert_no_secret(&out);
    assert_no_secret(&again);
}

#[test]
fn setup_token_without_user_profile_scope_sends_nothing() {
    let home = Home::new();
    let server = oauth_api(|| Reply::payload(200, USAGE_REAL));
    let out = home
        .guard(&server.base)
        .env("CLAUDE_CODE_OAUTH_TOKEN", TOKEN)
        .env("CLAUDE_CODE_OAUTH_SCOPES", "user:inference")
        .args(["check", "--explain"])
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr.contains("lacks the user:profile scope"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("CLAUDE_CODE_OAUTH_TOKEN"),
        "{}",
        out.stderr
    );
    assert_eq!(server.seen().len(), 0);
    assert_no_secret(&out);
}

#[test]
fn env_token_without_declared_scopes_sends_nothing_and_says_how_to_declare_them() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::payload(200, USAGE_REAL));
    let out = home
        .guard(&server.base)
        .env("CLAUDE_CODE_OAUTH_TOKEN", TOKEN)
        .args(["check", "--explain"])
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr
            .contains(r#"CLAUDE_CODE_OAUTH_SCOPES="user:inference user:profile""#),
        "{}",
        out.stderr
    );
    assert_eq!(
        server.seen().len(),
        0,
        "no request with an inference-only token"
    );
    assert_no_secret(&out);
}

#[test]
fn env_token_is_used_before_the_credentials_file() {
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::payload(200, USAGE_REAL));
    let out = home
        .guard(&server.base)
        .env("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-CANARY-env")
        .env("CLAUDE_CODE_OAUTH_SCOPES", "user:inference user:profile")
        .args(["check"])
        .run();
    let first = server.seen().into_iter().next().expect("a usage request");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        first.header("authorization"),
        Some("Bearer sk-ant-oat01-CANARY-env")
    );
}

#[test]
fn token_401_says_run_claude() {
    let home = Home::logged_in();
    let server =
        oauth_api(|| Reply::payload(401, "oauth_usage_error__401_token_expired_error_code.json"));
    let out = home
        .guard(&server.base)
        .args(["check", "--explain", "--json"])
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(out.stderr.contains("HTTP 401"), "{}", out.stderr);
    assert!(out.stderr.contains("run `claude` once"), "{}", out.stderr);
    assert_eq!(out.json()["decision"], "unknown");
    assert_no_secret(&out);
}

#[test]
fn rate_limit_429_blocks_every_process_until_retry_after() {
    let home = Home::logged_in();
    let server = oauth_api(|| {
        Reply::payload(429, "oauth_usage_error__429_no_envelope_type_first.json")
            .header("Retry-After", "120")
    });
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(out.stderr.contains("HTTP 429"), "{}", out.stderr);
    assert!(
        out.stderr.contains("the next request is allowed at"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("in 2m") || out.stderr.contains("in 1m"),
        "{}",
        out.stderr
    );
    // Other processes, one after the other and at once, even with --refresh: no request.
    let later = home.guard(&server.base).args(["check", "--refresh"]).run();
    assert_eq!(later.code, Some(20));
    assert!(
        later.stderr.contains("no request before"),
        "{}",
        later.stderr
    );
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let g = home.guard(&server.base).args(["check"]);
            std::thread::spawn(move || g.run())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().code, Some(20));
    }
    assert_eq!(
        server.count("/api/oauth/usage"),
        1,
        "no request inside the Retry-After window"
    );
    assert_no_secret(&out);
}

#[test]
fn retry_after_zero_or_absent_backs_off_five_minutes() {
    for retry in [Some("0"), None] {
        let home = Home::logged_in();
        let server = oauth_api(move || {
            let r = Reply::payload(429, "oauth_usage_error__429_no_envelope_type_first.json");
            match retry {
                Some(v) => r.header("Retry-After", v),
                None => r,
            }
        });
        let out = home.guard(&server.base).args(["check"]).run();
        assert_eq!(out.code, Some(20));
        assert!(
            out.stderr.contains("(in 5m)") || out.stderr.contains("(in 4m)"),
            "{}",
            out.stderr
        );
        let _ = home.guard(&server.base).args(["check"]).run();
        assert_eq!(server.count("/api/oauth/usage"), 1);
    }
}

#[test]
fn a_server_that_never_answers_is_bounded_and_named() {
    let home = Home::logged_in();
    let base = silent_server(Duration::from_secs(20));
    let out = home.guard(&base).args(["check"]).run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.elapsed < Duration::from_millis(6500),
        "took {:?}",
        out.elapsed
    );
    assert!(
        out.elapsed >= Duration::from_secs(4),
        "gave up too early: {:?}",
        out.elapsed
    );
    assert!(out.stderr.contains("oauth"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{base}/api/oauth/usage")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    // the failure is recorded: the next start does not wait again
    let again = home.guard(&base).args(["check"]).run();
    assert_eq!(again.code, Some(20));
    assert!(
        again.elapsed < Duration::from_secs(2),
        "{:?}",
        again.elapsed
    );
    assert!(
        again.stderr.contains("no request before"),
        "{}",
        again.stderr
    );
    assert_no_secret(&out);
}

#[test]
fn connection_refused_names_the_source_and_url() {
    let home = Home::logged_in();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let out = home.guard(&base).args(["check"]).run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("oauth ({base}/api/oauth/usage)")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("could not connect"), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
}

#[test]
fn garbage_oversized_and_html_bodies_are_reasons_not_decisions() {
    type Answer = Box<dyn Fn() -> Reply + Send + Sync>;
    let cases: Vec<(&str, Answer)> = vec![
        (
            "not valid JSON",
            Box::new(|| Reply::json(200, "this is not json {")),
        ),
        (
            "larger than 4 MiB",
            Box::new(|| Reply::json(200, vec![b' '; (4 << 20) + 10])),
        ),
        (
            "HTML page",
            Box::new(|| {
                Reply::json(
                    200,
                    "<!DOCTYPE html><html><title>Just a moment...</title></html>",
                )
                .header("Content-Type", "text/html; charset=UTF-8")
            }),
        ),
        (
            "none of the usage keys",
            Box::new(|| Reply::json(200, r#"{"hello":"world"}"#)),
        ),
        (
            "HTTP 503",
            Box::new(|| {
                Reply::json(
                    503,
                    r#"{"error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                )
            }),
        ),
    ];
    for (expect, reply) in cases {
        let home = Home::logged_in();
        let server = oauth_api(reply);
        let out = home.guard(&server.base).args(["check"]).run();
        assert_eq!(out.code, Some(20), "{expect}: {out:?}");
        assert!(out.stderr.contains(expect), "{expect}: {}", out.stderr);
        assert!(out.stderr.contains("oauth"), "{expect}: {}", out.stderr);
    }
}

/// claude.ai with a session cookie: account, then usage / overage / subscription per org.
fn web_api(subscription: &'static str, overage: Option<&'static str>, usage: String) -> Server {
    Server::start(move |s: &Seen| {
        let org = "/api/organizations/22222222-2222-4222-8222-222222222222";
        match s.path.as_str() {
            "/api/account" => Reply::json(
                200,
                json!({"uuid": "u-1", "email_address": "web@example.com", "memberships": [
                    {"organization": {"uuid": "22222222-2222-4222-8222-222222222222", "name": "Org", "capabilities": ["chat", "claude_max"]}}
                ]})
                .to_string(),
            ),
            p if p == format!("{org}/usage") => Reply::json(200, usage.clone()),
            p if p == format!("{org}/overage_spend_limit") => match overage {
                Some(name) => Reply::payload(200, name),
                None => Reply::json(404, r#"{"error":{"type":"not_found_error"}}"#),
            },
            p if p == format!("{org}/subscription_details") => Reply::payload(200, subscription),
            _ => Reply::json(404, "{}"),
        }
    })
}

#[test]
fn web_source_gives_subscription_and_overage_detail() {
    let home = Home::new();
    let server = web_api(
        "synthetic__subscription_details__past_due.json",
        None,
        usage_body(20.0, 10.0),
    );
    let out = home
        .guard(&server.base)
        .env("CLAUDE_GUARD_SESSION_KEY", SESSION)
        .args(["check", "--json"])
        .run();
    assert_eq!(out.code, Some(17), "past_due refuses: {out:?}");
    let j = out.json();
    assert_eq!(j["source"]["kind"], "web");
    assert_eq!(j["subscription"]["status"], "past_due");
    assert_eq!(j["overage"]["is_enabled"], false, "404 = not enabled");
    let account = server
        .seen()
        .into_iter()
        .find(|s| s.path == "/api/account")
        .unwrap();
    assert_eq!(
        account.header("cookie"),
        Some(format!("sessionKey={SESSION}").as_str())
    );
    assert_no_secret(&out);

    // the real overage body: enabled with room, so a pinned five_hour bills
    let home = Home::new();
    let server = web_api(
        "synthetic__subscription_details__active_monthly_card.json",
        Some("overage__usd_enabled_truncated_fields.json"),
        usage_body(100.0, 10.0),
    );
    let out = home
        .guard(&server.base)
        .env("CLAUDE_GUARD_SESSION_KEY", SESSION)
        .args(["check", "--json"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["decision"], "go_billed");
    assert_eq!(out.json()["overage"]["source"], "overage_spend_limit");
}

#[test]
fn web_cloudflare_challenge_says_use_oauth() {
    let home = Home::new();
    let server = Server::start(|_s: &Seen| {
        Reply::json(
            403,
            "<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>",
        )
        .header("Content-Type", "text/html")
    });
    let out = home
        .guard(&server.base)
        .env("CLAUDE_GUARD_SESSION_KEY", SESSION)
        .args(["check"])
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr.contains("blocked by the web front; use OAuth"),
        "{}",
        out.stderr
    );
    assert_no_secret(&out);
}

#[test]
fn failing_oauth_falls_through_to_web() {
    let home = Home::logged_in();
    let usage = usage_body(15.0, 5.0);
    let server = Server::start(move |s: &Seen| match s.path.as_str() {
        "/api/oauth/usage" => Reply::json(
            500,
            r#"{"error":{"type":"api_error","message":"Internal"}}"#,
        ),
        "/api/account" => Reply::json(
            200,
            json!({"email_address": "w@x", "memberships": [{"organization": {"uuid": "abc-1"}}]})
                .to_string(),
        ),
        "/api/organizations/abc-1/usage" => Reply::json(200, usage.clone()),
        "/api/organizations/abc-1/subscription_details" => Reply::payload(
            200,
            "synthetic__subscription_details__active_monthly_card.json",
        ),
        _ => Reply::json(404, "{}"),
    });
    let out = home
        .guard(&server.base)
        .env("CLAUDE_GUARD_SESSION_KEY", SESSION)
        .args(["check", "--explain", "--json"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let j = out.json();
    assert_eq!(j["source"]["kind"], "web");
    let attempts = j["source"]["attempts"].as_array().unwrap();
    let oauth = attempts.iter().find(|a| a["source"] == "oauth").unwrap();
    assert!(
        oauth["result"].as_str().unwrap().contains("HTTP 500"),
        "{oauth}"
    );
    assert!(out.stderr.contains("oauth: failed"), "{}", out.stderr);
    assert_no_secret(&out);
}

/// Claude Code's `~/.claude.json` with a cached usage body `fetched_secs_ago`.
fn write_claude_json(home: &Path, cached_for: &str, fetched_secs_ago: i64, body: &str) {
    let account: Value = serde_json::from_slice(
        &std::fs::read(payload(
            "claude_json_oauthAccount__team_seat_org_tier_default_raven.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let mut doc = account.clone();
    doc["projects"] = json!({"/some/project": {"history": ["lots", "of", "other", "state"]}});
    doc["cachedUsageUtilization"] = json!({
        "fetchedAtMs": epoch_ms_in(-fetched_secs_ago),
        "accountUuid": cached_for,
        "utilization": serde_json::from_str::<Value>(body).unwrap(),
    });
    std::fs::write(home.join(".claude.json"), doc.to_string()).unwrap();
}

const RAVEN_ACCOUNT: &str = "00000000-0000-4000-8000-0000000000aa";

#[test]
fn claude_codes_cached_copy_is_used_with_zero_requests() {
    let home = Home::logged_in();
    write_claude_json(home.path(), RAVEN_ACCOUNT, 30, &usage_body(100.0, 10.0));
    let server = oauth_api(|| Reply::payload(200, USAGE_REAL));
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.code, Some(10), "{out:?}");
    let j = out.json();
    assert_eq!(j["source"]["kind"], "claude-code-cache");
    assert_eq!(j["source"]["account_email"], "user@example.com");
    assert_eq!(
        server.seen().len(),
        0,
        "Claude Code's copy costs no request"
    );
}

#[test]
fn claude_codes_copy_for_another_account_or_too_old_falls_through() {
    for (account, age) in [
        ("ffffffff-0000-4000-8000-000000000000", 30),
        (RAVEN_ACCOUNT, 2 * 3600),
        (RAVEN_ACCOUNT, 6 * 60),
        // fetchedAtMs 2 h ahead of this clock (issue 15): not fresh for the next 2 h
        (RAVEN_ACCOUNT, -2 * 3600),
    ] {
        let home = Home::logged_in();
        write_claude_json(home.path(), account, age, &usage_body(100.0, 10.0));
        let server = oauth_api(|| Reply::json(200, usage_body(5.0, 5.0)));
        let out = home.guard(&server.base).args(["check", "--json"]).run();
        assert_eq!(out.code, Some(0), "{account} {age}s: {out:?}");
        assert_eq!(out.json()["source"]["kind"], "oauth");
        assert_eq!(server.count("/api/oauth/usage"), 1);
    }
}

#[test]
fn a_working_bridge_comes_before_oauth_and_a_failing_one_falls_through() {
    let home = Home::logged_in();
    let body = usage_body(12.0, 3.0);
    let bridge = Server::start(move |_s: &Seen| Reply::json(200, body.clone()));
    let api = oauth_api(|| Reply::json(200, usage_body(100.0, 3.0)));
    let check_with_bridge = |base: &str| {
        home.guard(&api.base)
            .args(["check", "--json", "--bridge", &format!("{base}/snapshots")])
            .run()
    };
    let out = check_with_bridge(&bridge.base);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["source"]["kind"], "bridge");
    assert_eq!(api.seen().len(), 0);
    assert_eq!(bridge.seen()[0].path, "/snapshots");

    let broken = Server::start(|_s: &Seen| Reply::json(502, "bad gateway"));
    let out = check_with_bridge(&broken.base);
    assert_eq!(out.code, Some(10), "{out:?}");
    let j = out.json();
    assert_eq!(j["source"]["kind"], "oauth");
    let bridge_attempt = j["source"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["source"] == "bridge")
        .unwrap()
        .clone();
    assert!(
        bridge_attempt["result"].as_str().unwrap().contains("502"),
        "{bridge_attempt}"
    );
}

#[test]
fn a_failing_snapshot_file_falls_through_but_a_good_one_wins() {
    let home = Home::logged_in();
    let api = oauth_api(|| Reply::json(200, usage_body(3.0, 3.0)));
    let out = home
        .guard(&api.base)
        .args(["check", "--json", "--snapshot", "missing.json"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["source"]["kind"], "oauth");
    let file = home.path().join("pinned.json");
    std::fs::write(&file, usage_body(100.0, 3.0)).unwrap();
    let out = home
        .guard(&api.base)
        .args(["check", "--json", "--snapshot"])
        .arg_path(&file)
        .run();
    assert_eq!(out.code, Some(10), "{out:?}");
    assert_eq!(out.json()["source"]["kind"], "file");
    assert_eq!(api.count("/api/oauth/usage"), 1);
}

#[test]
fn source_option_reads_one_source_alone() {
    let home = Home::logged_in();
    let api = oauth_api(|| Reply::json(200, usage_body(3.0, 3.0)));
    // claude-code alone: no ~/.claude.json, so unknown, and no request despite the login
    let out = home
        .guard(&api.base)
        .args(["check", "--source", "claude-code"])
        .run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(out.stderr.contains(".claude.json"), "{}", out.stderr);
    assert_eq!(api.seen().len(), 0);
    // oauth alone ignores Claude Code's (pinned, fresh) copy
    write_claude_json(home.path(), RAVEN_ACCOUNT, 10, &usage_body(100.0, 10.0));
    let out = home
        .guard(&api.base)
        .env("CLAUDE_GUARD_SOURCE", "oauth")
        .args(["check"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(api.count("/api/oauth/usage"), 1);
    // cache alone: the entry just written, no request
    let out = home
        .guard(&api.base)
        .args(["check", "--source", "cache", "--json"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["source"]["kind"], "cache");
    assert_eq!(api.count("/api/oauth/usage"), 1);
    // snapshot alone without --snapshot
    let out = home
        .guard(&api.base)
        .args(["check", "--source", "snapshot"])
        .run();
    assert_eq!(out.code, Some(20));
    assert!(
        out.stderr.contains("--source snapshot needs --snapshot"),
        "{}",
        out.stderr
    );
}

#[test]
fn snapshot_command_prints_claudemeter_json_that_check_reads_back() {
    let home = Home::logged_in();
    let api = oauth_api(|| Reply::json(200, usage_body(100.0, 30.0)));
    let out = home.guard(&api.base).args(["snapshot"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let j = out.json();
    for key in [
        "org_uuid",
        "account_email",
        "fetched_at",
        "usage",
        "overage",
        "subscription",
        "errors",
    ] {
        assert!(j.get(key).is_some(), "missing {key}: {j}");
    }
    assert_eq!(j["org_uuid"], "22222222-2222-4222-8222-222222222222");
    assert_eq!(j["usage"]["five_hour"]["utilization"], 100.0);
    assert_no_secret(&out);

    // another machine (no login, no network) consumes it with --snapshot
    let ci = Home::new();
    let file = ci.path().join("snap.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let out = ci
        .guard("http://127.0.0.1:9")
        .args(["check", "--json", "--source", "snapshot", "--snapshot"])
        .arg_path(&file)
        .run();
    assert_eq!(out.code, Some(10), "{out:?}");
    assert_eq!(
        out.json()["source"]["org_uuid"],
        "22222222-2222-4222-8222-222222222222"
    );

    // with nothing usable: errors list every reason, exit 20
    let out = Home::new()
        .guard("http://127.0.0.1:9")
        .args(["snapshot"])
        .run();
    assert_eq!(out.code, Some(20));
    let j = out.json();
    assert_eq!(j["usage"], Value::Null);
    assert!(
        j["errors"][0]
            .as_str()
            .unwrap()
            .contains("no snapshot source is configured"),
        "{j}"
    );
}

#[test]
fn secrets_never_appear_in_any_output() {
    let replies: Vec<Box<dyn Fn() -> Reply + Send + Sync>> = vec![
        Box::new(|| Reply::payload(200, USAGE_REAL)),
        Box::new(|| Reply::payload(401, "oauth_usage_error__401_token_expired_error_code.json")),
        Box::new(|| Reply::payload(403, "oauth_usage_error__403_scope_user_profile.json")),
        Box::new(|| {
            Reply::payload(429, "oauth_usage_error__429_no_envelope_type_first.json")
                .header("Retry-After", "6")
        }),
        // a server that echoes the credentials back must not make us print them
        Box::new(|| {
            Reply::json(
                400,
                format!(
                    r#"{{"error":{{"type":"invalid_request_error","message":"bad token {TOKEN} / {SESSION}"}}}}"#
                ),
            )
        }),
    ];
    for reply in replies {
        let home = Home::logged_in();
        let server = oauth_api(reply);
        for args in [
            vec!["check", "--explain", "--json"],
            vec!["status", "--explain", "--json"],
            vec!["status", "--explain"],
            vec!["snapshot", "--explain", "--refresh"],
            vec![
                "run",
                "--explain",
                "--json",
                "--on-unknown",
                "refuse",
                "--",
                "-p",
                "hi",
            ],
        ] {
            let out = home
                .guard(&server.base)
                .env("CLAUDE_GUARD_SESSION_KEY", SESSION)
                .env("CLAUDE_GUARD_CLAUDE", "/bin/false")
                .args(&args)
                .run();
            assert_no_secret(&out);
        }
    }
}

trait ArgPath {
    fn arg_path(self, p: &Path) -> Self;
}

impl ArgPath for Guard {
    fn arg_path(self, p: &Path) -> Self {
        self.args([p.as_os_str()])
    }
}

#[test]
fn base_urls_must_not_send_secrets_over_plain_http_to_other_hosts() {
    let home = Home::logged_in();
    let out = home.guard("http://example.com").args(["check"]).run();
    assert_eq!(out.code, Some(20), "{out:?}");
    assert!(
        out.stderr.contains("CLAUDE_GUARD_OAUTH_BASE_URL"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("https://"), "{}", out.stderr);
    assert_no_secret(&out);
}

#[test]
fn cache_directory_named_by_the_home() {
    // the default cache location is $XDG_CACHE_HOME/claude-guard (the harness sets it)
    let home = Home::logged_in();
    let server = oauth_api(|| Reply::payload(200, USAGE_REAL));
    let out = home.guard(&server.base).args(["check"]).run();
    assert_eq!(out.code, Some(0));
    let names: Vec<String> = std::fs::read_dir(home.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("oauth-") && n.ends_with(".json")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("profile-")), "{names:?}");
}
