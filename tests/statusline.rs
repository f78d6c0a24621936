//! `claude-guard statusline` (issue 13): Claude Code's statusLine stdin (the real capture and
//! variants), the line, what the guard does with a capture (refuse without a request,
//! per-bucket source and age), `init statusline --install`, and many statuslines at once.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::home::Home;
use common::{Guard, Out, Reply, Seen, Server, epoch_ms_in, payload};
use serde_json::{Value, json};

const TOKEN: &str = "sk-ant-oat01-CANARY-statusline-tests-7f3a";
const PROFILE: &str = "oauth_profile__max20x_trimmed_user_rate_limit_tier.json";
const CAPTURE: &str = "client_capture__statusline_stdin_2.1.332_rate_limits.json";

fn epoch_in(secs: i64) -> i64 {
    epoch_ms_in(secs) / 1000
}

fn rfc3339_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

/// The real statusline stdin, with `rate_limits` replaced (`None`: removed, as before the
/// first response and in API-key sessions) and `model.id` set.
fn stdin_with(rate_limits: Option<Value>, model_id: &str) -> String {
    let mut v: Value = serde_json::from_slice(&std::fs::read(payload(CAPTURE)).unwrap()).unwrap();
    let obj = v.as_object_mut().unwrap();
    match rate_limits {
        Some(r) => {
            obj.insert("rate_limits".into(), r);
        }
        None => {
            obj.remove("rate_limits");
        }
    }
    obj.insert(
        "model".into(),
        json!({"id": model_id, "display_name": if model_id.contains("sonnet") { "Sonnet 5" } else { "Opus 5.5" }}),
    );
    v.to_string()
}

/// The real capture with its two readings moved relative to now (five_hour resets in
/// `five_in` seconds, seven_day in 3 days), keeping its percents unless given.
fn limits(five: Value, five_in: i64, seven: Value) -> Value {
    json!({"five_hour": {"used_percentage": five, "resets_at": epoch_in(five_in)},
           "seven_day": {"used_percentage": seven, "resets_at": epoch_in(3 * 86_400)}})
}

impl Home {
    fn logged_in() -> Home {
        Home::logged_in_with(TOKEN)
    }

    fn statusline(&self, base: &str, stdin: &str) -> Out {
        let out = self
            .guard(base)
            .args(["statusline"])
            .stdin(stdin.as_bytes())
            .run();
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.stdout.lines().count(), 1, "one line: {out:?}");
        assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
        out
    }

    fn files(&self, prefix: &str) -> Vec<PathBuf> {
        let Ok(dir) = std::fs::read_dir(self.cache()) else {
            return vec![];
        };
        dir.map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with(prefix) && n.ends_with(".json")
            })
            .collect()
    }

    /// The capture file's readings (`Null` when there is none).
    fn captures(&self) -> Value {
        match self.files("statusline-").as_slice() {
            [] => Value::Null,
            [one] => {
                serde_json::from_slice::<Value>(&std::fs::read(one).unwrap()).unwrap()["readings"]
                    .clone()
            }
            many => panic!("{many:?}"),
        }
    }
}

fn usage_body(five: f64, opus: f64) -> String {
    json!({
        "five_hour": {"utilization": five, "resets_at": rfc3339_in(3600)},
        "seven_day": {"utilization": 10.0, "resets_at": rfc3339_in(3 * 86_400)},
        "seven_day_oauth_apps": null,
        "seven_day_opus": {"utilization": opus, "resets_at": rfc3339_in(4 * 86_400)},
        "seven_day_sonnet": {"utilization": 12.0, "resets_at": rfc3339_in(4 * 86_400)},
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null}
    })
    .to_string()
}

/// The usage stand-in: counts requests.
fn usage_api(five: f64, opus: f64) -> Server {
    Server::start(move |s: &Seen| match s.path.as_str() {
        "/api/oauth/usage" => Reply::json(200, usage_body(five, opus)),
        "/api/oauth/profile" => Reply::payload(200, PROFILE),
        _ => Reply::json(404, "{}"),
    })
}

fn bucket<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {json}"))
}

#[test]
fn the_captured_stdin_is_recorded_and_shown_on_one_line() {
    let home = Home::logged_in();
    let server = usage_api(1.0, 1.0);
    let stdin = stdin_with(Some(limits(json!(91), 3600, json!(31))), "claude-opus-5-5");
    let out = home.statusline(&server.base, &stdin);
    let line = out.stdout.trim_end();
    assert!(line.starts_with("Opus 5.5 │ "), "{line}");
    assert!(line.contains("│ 5h 91% │ 7d 31% │"), "{line}");
    // no full snapshot cached yet: the model's own weekly bucket is not known
    assert!(line.contains("Opus 7d ?"), "{line}");
    assert!(
        line.contains("5h resets in 59m") || line.contains("5h resets in 1h"),
        "{line}"
    );
    assert!(!line.contains('\u{1b}'), "NO_COLOR: {line:?}");
    let caps = home.captures();
    assert_eq!(caps["five_hour"]["utilization"], 91.0);
    assert_eq!(caps["seven_day"]["utilization"], 31.0);
    // The reset the stdin carried (not `epoch_in(3600)` again: a second may have passed).
    let sent: Value = serde_json::from_str(&stdin).unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(caps["five_hour"]["resets_at"].as_str().unwrap())
            .unwrap()
            .timestamp(),
        sent["rate_limits"]["five_hour"]["resets_at"]
            .as_i64()
            .unwrap()
    );
    // The capture file is private, like the rest of the cache.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&home.files("statusline-")[0])
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_line_shows_the_model_s_own_weekly_bucket_from_the_cache() {
    let home = Home::logged_in();
    let server = usage_api(30.0, 45.0);
    let first = home.guard(&server.base).args(["check"]).run();
    assert_eq!(first.code, Some(0), "{first:?}");
    assert_eq!(server.count("/api/oauth/usage"), 1);
    let opus = home.statusline(
        &server.base,
        &stdin_with(Some(limits(json!(91), 3600, json!(31))), "claude-opus-5-5"),
    );
    let parts: Vec<&str> = opus.stdout.trim_end().split(" │ ").collect();
    for (part, expected) in
        parts
            .iter()
            .zip(["Opus 5.5", "Opus 7d 45%", "5h 91% +22.7%/h", "7d 31%"])
    {
        assert!(part.starts_with(expected), "{}", opus.stdout);
    }
    let sonnet = home.statusline(
        &server.base,
        &stdin_with(Some(limits(json!(91), 3600, json!(31))), "claude-sonnet-5"),
    );
    assert!(
        sonnet
            .stdout
            .starts_with("Sonnet 5 │ Sonnet 7d 12% +0.2%/h │ 5h 91%"),
        "{}",
        sonnet.stdout
    );
    // still the one request of the first check
    assert_eq!(server.count("/api/oauth/usage"), 1);
    // colour by level when NO_COLOR is not set (Claude Code renders ANSI colours)
    let mut g = home
        .guard(&server.base)
        .args(["statusline"])
        .stdin(stdin_with(
            Some(limits(json!(91), 3600, json!(31))),
            "claude-opus-5-5",
        ));
    g.command().env_remove("NO_COLOR");
    let coloured = g.run();
    assert!(
        coloured.stdout.contains("\u{1b}[33m91%"),
        "{:?}",
        coloured.stdout
    );
}

#[test]
fn variants_of_the_stdin_are_validated() {
    let home = Home::logged_in();
    let server = usage_api(1.0, 1.0);
    // Before the first response (and in API-key sessions) there is no rate_limits.
    let out = home.statusline(&server.base, &stdin_with(None, "claude-opus-5-5"));
    assert_eq!(out.stdout.trim_end(), "Opus 5.5 │ no usage known yet");
    assert_eq!(home.captures(), Value::Null, "nothing recorded");
    // An API-key session: no login, no rate_limits.
    let api_key = Guard::new()
        .env("ANTHROPIC_API_KEY", "sk-ant-api03-not-used")
        .args(["statusline"])
        .stdin(stdin_with(None, "claude-sonnet-5"))
        .run();
    assert_eq!(api_key.code, Some(0));
    assert_eq!(api_key.stdout.trim_end(), "Sonnet 5 │ no usage known yet");
    // A reset in the past and a percent above 100 (the reset epoch in the percent field) are
    // ignored; the other bucket of the same stdin is kept.
    let bad = json!({"five_hour": {"used_percentage": 12, "resets_at": epoch_in(-60)},
                     "seven_day": {"used_percentage": epoch_in(3600), "resets_at": epoch_in(3600)}});
    let out = home.statusline(&server.base, &stdin_with(Some(bad), "claude-opus-5-5"));
    assert_eq!(home.captures(), Value::Null, "{out:?}");
    let half = json!({"five_hour": {"used_percentage": 150.5, "resets_at": epoch_in(3600)},
                      "seven_day": {"used_percentage": 31, "resets_at": epoch_in(3 * 86_400)}});
    home.statusline(&server.base, &stdin_with(Some(half), "claude-opus-5-5"));
    let caps = home.captures();
    assert_eq!(caps["five_hour"], Value::Null);
    assert_eq!(caps["seven_day"]["utilization"], 31.0);
    // A percent of 100 is a real reading: the line says the window is full. Its reset is the
    // stand-in's (the same window as the cached snapshot the first call's background refresh
    // may already have fetched: an earlier reset would read as an older window).
    let full = home.statusline(
        &server.base,
        &stdin_with(Some(limits(json!(100), 3600, json!(31))), "claude-opus-5-5"),
    );
    assert!(full.stdout.contains("5h 100%"), "{}", full.stdout);
    assert!(
        full.stdout.contains("5h full · resets in 1h")
            || full.stdout.contains("5h full · resets in 59m"),
        "{}",
        full.stdout
    );
    assert_eq!(home.captures()["five_hour"]["utilization"], 100.0);
    // A lower reading of the same window does not lower the bucket (a stale response);
    // a later reset starts a new window.
    home.statusline(
        &server.base,
        &stdin_with(
            Some(limits(json!(40), 1800 + 120, json!(31))),
            "claude-opus-5-5",
        ),
    );
    assert_eq!(home.captures()["five_hour"]["utilization"], 100.0);
    home.statusline(
        &server.base,
        &stdin_with(
            Some(limits(json!(2), 1800 + 4 * 3600, json!(31))),
            "claude-opus-5-5",
        ),
    );
    assert_eq!(home.captures()["five_hour"]["utilization"], 2.0);
}

#[test]
fn a_stale_cache_is_refreshed_in_the_background_never_waited_for() {
    let home = Home::logged_in();
    // The stand-in answers after 3 s: a statusline that waited would show it.
    let slow = Server::start(|s: &Seen| match s.path.as_str() {
        "/api/oauth/usage" => {
            Reply::json(200, usage_body(30.0, 45.0)).after(Duration::from_secs(3))
        }
        "/api/oauth/profile" => Reply::payload(200, PROFILE),
        _ => Reply::json(404, "{}"),
    });
    let first = home.guard(&slow.base).args(["check"]).run();
    assert_eq!(first.code, Some(0), "{first:?}");
    assert_eq!(slow.count("/api/oauth/usage"), 1);
    home.age_cache(3700); // past every TTL
    let stdin = stdin_with(Some(limits(json!(50), 3600, json!(31))), "claude-opus-5-5");
    let out = home.statusline(&slow.base, &stdin);
    assert!(
        out.elapsed < Duration::from_millis(2500),
        "{:?}",
        out.elapsed
    );
    // The old cached model bucket is shown with its age meanwhile.
    assert!(
        out.stdout.contains("Opus 7d 45% +0.6%/h (1h 1m ago)"),
        "{}",
        out.stdout
    );
    // One detached refresh reaches the stand-in (a second statusline starts none).
    let again = home.statusline(&slow.base, &stdin);
    assert!(
        again.elapsed < Duration::from_millis(2500),
        "{:?}",
        again.elapsed
    );
    let started = Instant::now();
    while slow.count("/api/oauth/usage") < 2 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(slow.count("/api/oauth/usage"), 2, "one background refresh");
    // Once it is written, the line shows the fresh reading without an age.
    let started = Instant::now();
    loop {
        let out = home.statusline(&slow.base, &stdin);
        if out.stdout.contains("Opus 7d 45% +0.6%/h │") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            out.stdout
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(slow.count("/api/oauth/usage"), 2);
}

#[test]
fn the_line_shows_pace_from_the_usage_history() {
    let home = Home::logged_in();
    // Claude Code's login names the account (the usage history's key) before anything is
    // cached.
    std::fs::write(
        home.path().join(".claude.json"),
        r#"{"oauthAccount":{"organizationUuid":"org-7","emailAddress":"dev@example.com"}}"#,
    )
    .unwrap();
    // five_hour at 91 % with 1 h left: 4 h of the window elapsed, so about 22.7 %/h.
    let out = home.statusline(
        "http://127.0.0.1:9",
        &stdin_with(Some(limits(json!(91), 3600, json!(31))), "claude-opus-5-5"),
    );
    assert!(out.stdout.contains("5h 91% +22.7%/h"), "{}", out.stdout);
    assert!(home.cache().join("history.sqlite3").exists());
}

#[test]
fn empty_truncated_or_foreign_stdin_gives_a_short_line_and_exit_0() {
    let home = Home::logged_in();
    let real = stdin_with(Some(limits(json!(91), 3600, json!(31))), "claude-opus-5-5");
    for (stdin, expected) in [
        ("".to_owned(), "no input"),
        ("\n".to_owned(), "no input"),
        (real[..real.len() / 2].to_owned(), "truncated JSON"),
        ("not json at all".to_owned(), "not JSON"),
        ("[1,2,3]".to_owned(), "not a JSON object"),
        (r#"{"hello":"world"}"#.to_owned(), "unrecognised input"),
        ("\u{0}\u{1}\u{ff}".to_owned(), "not JSON"),
    ] {
        let out = home.statusline("http://127.0.0.1:9", &stdin);
        assert!(
            out.stdout.starts_with("claude-guard: "),
            "{stdin:?}: {out:?}"
        );
        assert!(out.stdout.contains(expected), "{stdin:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{stdin:?}: {out:?}");
    }
    // larger than the cap
    let huge = format!(r#"{{"session_id":"{}"}}"#, "x".repeat(400 << 10));
    let out = home.statusline("http://127.0.0.1:9", &huge);
    assert!(out.stdout.contains("too large"), "{out:?}");
    assert_eq!(home.captures(), Value::Null);
}

#[test]
fn an_unwritable_cache_directory_still_prints_the_line() {
    let home = Home::logged_in();
    let file = home.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = home
        .guard("http://127.0.0.1:9")
        .env("CLAUDE_GUARD_CACHE_DIR", file.join("cache"))
        .args(["statusline"])
        .stdin(stdin_with(
            Some(limits(json!(91), 3600, json!(31))),
            "claude-opus-5-5",
        ))
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(out.stdout.contains("5h 91%"), "{out:?}");
}

#[test]
fn a_stdin_that_stays_open_does_not_hang_the_statusline() {
    let home = Home::logged_in();
    let real = stdin_with(Some(limits(json!(91), 3600, json!(31))), "claude-opus-5-5");
    for first in [String::new(), real[..100].to_owned(), real.clone()] {
        let mut child = Command::new(common::bin())
            .arg("statusline")
            .env("HOME", home.path())
            .env("CLAUDE_GUARD_CACHE_DIR", home.cache())
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(first.as_bytes()).unwrap();
        pipe.flush().unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "hangs on an open stdin"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        drop(pipe); // held open until the statusline ended
        assert_eq!(status.code(), Some(0));
        let out = child.wait_with_output().unwrap();
        let line = String::from_utf8_lossy(&out.stdout);
        if first == real {
            // a complete object ends the read at once
            assert!(line.contains("5h 91%"), "{line}");
        } else {
            assert!(line.starts_with("claude-guard: "), "{line}");
        }
    }
}

#[test]
fn a_capture_makes_check_refuse_10_without_a_request() {
    let home = Home::logged_in();
    let server = usage_api(5.0, 5.0);
    home.statusline(
        &server.base,
        &stdin_with(
            Some(limits(json!(100), 2 * 3600, json!(31))),
            "claude-opus-5-5",
        ),
    );
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.code, Some(10), "{out:?}");
    let j = out.json();
    assert_eq!(j["reason"], "five_hour");
    assert_eq!(j["source"]["kind"], "statusline");
    assert_eq!(bucket(&j, "five_hour")["source"], "statusline");
    assert!(bucket(&j, "five_hour")["age_seconds"].as_i64().unwrap() < 30);
    assert_eq!(
        server.seen().len(),
        0,
        "no request to the usage stand-in: {:?}",
        server.seen()
    );
    // run refuses the same way (claude is never started)
    let run = home
        .guard(&server.base)
        .env("CLAUDE_GUARD_CLAUDE", "/bin/true")
        .args(["run", "--", "-p", "hi"])
        .run();
    assert_eq!(run.code, Some(10), "{run:?}");
    assert!(run.stderr.contains("five_hour"), "{}", run.stderr);
    assert_eq!(server.seen().len(), 0);
}

#[test]
fn a_capture_combines_with_the_cached_snapshot_bucket_by_bucket() {
    let home = Home::logged_in();
    let server = usage_api(30.0, 45.0);
    let first = home.guard(&server.base).args(["check"]).run();
    assert_eq!(first.code, Some(0), "{first:?}");
    assert_eq!(server.count("/api/oauth/usage"), 1);
    // The full snapshot is 10 minutes old (past its TTL); the statusline saw five_hour fill.
    home.age_cache(600);
    home.statusline(
        &server.base,
        &stdin_with(Some(limits(json!(100), 3600, json!(31))), "claude-opus-5-5"),
    );
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.code, Some(10), "{out:?}");
    let j = out.json();
    assert_eq!(server.count("/api/oauth/usage"), 1, "no second request");
    let five = bucket(&j, "five_hour");
    assert_eq!(
        (five["source"].as_str(), five["utilization"].as_f64()),
        (Some("statusline"), Some(100.0))
    );
    assert!(five["age_seconds"].as_i64().unwrap() < 30, "{five}");
    let opus = bucket(&j, "seven_day_opus");
    assert_eq!(
        (opus["source"].as_str(), opus["utilization"].as_f64()),
        (Some("cache"), Some(45.0))
    );
    assert!(opus["age_seconds"].as_i64().unwrap() >= 600, "{opus}");
    let seven = bucket(&j, "seven_day");
    assert_eq!(seven["source"], "statusline");
    assert_eq!(seven["utilization"], 31.0);
    // `status` names the reading's source on its row.
    let status = home.guard(&server.base).args(["status"]).run();
    let row = status
        .stdout
        .lines()
        .find(|l| l.contains("five_hour"))
        .unwrap_or_else(|| panic!("{}", status.stdout));
    assert!(row.contains("from statusline, "), "{row}");
    assert_eq!(server.count("/api/oauth/usage"), 1);

    // With a fresh full snapshot the capture is combined too (and a go stays a go when the
    // capture is under the limit).
    let home = Home::logged_in();
    let server = usage_api(30.0, 45.0);
    assert_eq!(home.guard(&server.base).args(["check"]).run().code, Some(0));
    home.statusline(
        &server.base,
        &stdin_with(Some(limits(json!(64), 3600, json!(31))), "claude-opus-5-5"),
    );
    let out = home.guard(&server.base).args(["check", "--json"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let j = out.json();
    assert_eq!(j["source"]["kind"], "cache");
    assert_eq!(bucket(&j, "five_hour")["utilization"], 64.0);
    assert_eq!(bucket(&j, "five_hour")["source"], "statusline");
    assert_eq!(bucket(&j, "seven_day_opus")["source"], "cache");
    assert_eq!(server.count("/api/oauth/usage"), 1);
    // --snapshot is used as given: no capture is mixed into a file
    let file = home.path().join("snap.json");
    std::fs::write(&file, usage_body(30.0, 45.0)).unwrap();
    let out = home
        .guard(&server.base)
        .args(["check", "--json", "--snapshot"])
        .args([&file])
        .run();
    assert_eq!(bucket(&out.json(), "five_hour")["utilization"], 30.0);
}

#[test]
fn init_statusline_prints_and_installs_the_settings_block() {
    let home = tempfile::tempdir().unwrap();
    let printed = Guard::new()
        .env("HOME", home.path())
        .args(["init", "statusline"])
        .run();
    assert_eq!(printed.code, Some(0));
    assert_eq!(
        printed.json(),
        json!({"statusLine": {"type": "command", "command": "claude-guard statusline"}})
    );

    let config = home.path().join("cfg");
    std::fs::create_dir_all(&config).unwrap();
    let settings = config.join("settings.json");
    let original = "{\n  \"model\": \"opus\",\n  \"permissions\": {\"allow\": [\"Bash(ls:*)\"], \"defaultMode\": \"plan\"},\n  \"env\": {\"FOO\": \"1\"}\n}\n";
    std::fs::write(&settings, original).unwrap();
    let install = |force: bool| {
        let mut g = Guard::new()
            .env("HOME", home.path())
            .env("CLAUDE_CONFIG_DIR", &config)
            .args(["init", "statusline", "--install"]);
        if force {
            g = g.args(["--force"]);
        }
        g.run()
    };
    let out = install(false);
    assert_eq!(out.code, Some(0), "{out:?}");
    let merged: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    let before: Value = serde_json::from_str(original).unwrap();
    for key in ["model", "permissions", "env"] {
        assert_eq!(merged[key], before[key], "{key} kept");
    }
    assert_eq!(merged["statusLine"]["command"], "claude-guard statusline");
    let backups: Vec<PathBuf> = std::fs::read_dir(&config)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), original);
    assert!(
        out.stderr.contains(&backups[0].display().to_string()),
        "{}",
        out.stderr
    );
    // again: nothing to do
    let again = install(false);
    assert_eq!(again.code, Some(0));
    assert!(again.stderr.contains("already"), "{}", again.stderr);

    // A different statusLine is not overwritten without --force.
    let other = "{\"statusLine\": {\"type\": \"command\", \"command\": \"ccstatusline\"}, \"model\": \"sonnet\"}";
    std::fs::write(&settings, other).unwrap();
    let refused = install(false);
    assert_ne!(refused.code, Some(0), "{refused:?}");
    assert!(
        refused.stderr.contains("--force") && refused.stderr.contains("ccstatusline"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        other,
        "file untouched"
    );
    let forced = install(true);
    assert_eq!(forced.code, Some(0), "{forced:?}");
    let merged: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(merged["statusLine"]["command"], "claude-guard statusline");
    assert_eq!(merged["model"], "sonnet");
    // A file that is not JSON is left alone.
    std::fs::write(&settings, "{ not json").unwrap();
    let broken = install(true);
    assert_ne!(broken.code, Some(0));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{ not json");
    // No settings file yet: created under ~/.claude.
    let fresh = tempfile::tempdir().unwrap();
    let out = Guard::new()
        .env("HOME", fresh.path())
        .args(["init", "statusline", "--install"])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let created: Value = serde_json::from_str(
        &std::fs::read_to_string(fresh.path().join(".claude/settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(created["statusLine"]["type"], "command");
    // --install is only for statusline
    let wrong = Guard::new().args(["init", "bash", "--install"]).run();
    assert_ne!(wrong.code, Some(0));
}

#[test]
fn twenty_statuslines_at_once_keep_the_capture_file_whole() {
    let home = Home::logged_in();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            // one window (resets within a minute of each other), percents 50..69
            let stdin = stdin_with(
                Some(limits(json!(50 + i), 3600 + i, json!(31))),
                "claude-opus-5-5",
            );
            let g = home
                .guard("http://127.0.0.1:9")
                .args(["statusline"])
                .stdin(stdin);
            std::thread::spawn(move || g.run())
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.starts_with("Opus 5.5 │"), "{out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
    }
    let caps = home.captures();
    // the highest reading of the window survives, whatever the order
    assert_eq!(caps["five_hour"]["utilization"], 69.0, "{caps}");
    let leftovers: Vec<_> = std::fs::read_dir(home.cache())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
