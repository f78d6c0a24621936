//! The built binary on every bundled example, every real payload, and bad input.

mod common;

use common::{Guard, NOW, example, payload};
use serde_json::Value;

fn check(path: &std::path::Path, extra: &[&str]) -> common::Out {
    Guard::new()
        .args(["check", "--json", "--now", NOW, "--snapshot"])
        .args([path])
        .args(extra)
        .run()
}

#[test]
fn each_example_gives_its_exit_code_reason_and_reset() {
    /// (example, extra args, exit code, decision, reason, resets_at)
    type Case<'a> = (&'a str, &'a [&'a str], i32, &'a str, Value, Value);
    let cases: &[Case] = &[
        ("healthy.json", &[], 0, "go", Value::Null, Value::Null),
        (
            "five-hour-pinned.json",
            &[],
            10,
            "refuse",
            "five_hour".into(),
            "2026-11-20T11:00:00.412873Z".into(),
        ),
        (
            "opus-weekly-pinned.json",
            &[],
            12,
            "refuse",
            "seven_day_opus".into(),
            "2026-11-22T16:00:00.412911Z".into(),
        ),
        (
            "opus-weekly-pinned.json",
            &["--model", "sonnet"],
            0,
            "go",
            Value::Null,
            Value::Null,
        ),
        (
            "opus-weekly-pinned-extra-usage.json",
            &[],
            0,
            "go_billed",
            "seven_day_opus".into(),
            "2026-11-22T16:00:00.412911Z".into(),
        ),
        (
            "opus-weekly-pinned-extra-usage.json",
            &["--overage", "refuse"],
            16,
            "refuse",
            "overage".into(),
            "2026-11-22T16:00:00.412911Z".into(),
        ),
        (
            "oauth-apps-pinned.json",
            &["--model", "haiku"],
            14,
            "refuse",
            "seven_day_oauth_apps".into(),
            "2026-11-23T09:00:00.413100Z".into(),
        ),
        (
            "subscription-past-due.json",
            &[],
            17,
            "refuse",
            "subscription".into(),
            Value::Null,
        ),
        (
            "out-of-credits.json",
            &[],
            10,
            "refuse",
            "five_hour".into(),
            "2026-11-20T11:00:00.412873Z".into(),
        ),
        (
            "fable-weekly-pinned.json",
            &[],
            0,
            "go",
            Value::Null,
            Value::Null,
        ),
        (
            "fable-weekly-pinned.json",
            &["--model", "fable"],
            15,
            "refuse",
            "weekly_scoped:Fable".into(),
            "2026-11-24T16:00:00.413002Z".into(),
        ),
        (
            "two-organizations.json",
            &[],
            20,
            "unknown",
            "unknown".into(),
            Value::Null,
        ),
        (
            "two-organizations.json",
            &["--org", "dev@work.example"],
            10,
            "refuse",
            "five_hour".into(),
            "2026-11-20T11:00:00.412873Z".into(),
        ),
        (
            "healthy.json",
            &["--max-utilization", "40"],
            18,
            "refuse",
            "threshold".into(),
            "2026-11-24T16:00:00.412901Z".into(),
        ),
    ];
    for (file, extra, code, decision, reason, resets_at) in cases {
        let out = check(&example(file), extra);
        assert_eq!(out.code, Some(*code), "{file} {extra:?}\n{}", out.stderr);
        let j = out.json();
        assert_eq!(j["decision"], *decision, "{file} {extra:?}");
        assert_eq!(j["reason"], *reason, "{file} {extra:?}");
        assert_eq!(j["exit_code"], *code, "{file} {extra:?}");
        assert_eq!(j["resets_at"], *resets_at, "{file} {extra:?}");
        assert_eq!(j["schema_version"], 1);
    }
}

#[test]
fn json_lists_buckets_pinned_and_source() {
    let j = check(&example("opus-weekly-pinned.json"), &[]).json();
    assert_eq!(j["pinned"], serde_json::json!(["seven_day_opus"]));
    assert_eq!(j["model_family"], "opus");
    assert_eq!(j["source"]["kind"], "file");
    assert_eq!(j["source"]["fetched_at"], "2026-11-20T08:58:00Z");
    assert_eq!(j["source"]["age_seconds"], 120);
    // 2026-11-22T16:00:00Z − 2026-11-20T09:00:00Z = 55 h, plus the 60 s grace
    assert_eq!(j["wait_seconds"], 55 * 3600 + 60);
    let buckets = j["buckets"].as_array().unwrap();
    let opus = buckets
        .iter()
        .find(|b| b["name"] == "seven_day_opus")
        .unwrap();
    assert_eq!(
        (opus["applies"].as_bool(), opus["pinned"].as_bool()),
        (Some(true), Some(true))
    );
    let sonnet = buckets
        .iter()
        .find(|b| b["name"] == "seven_day_sonnet")
        .unwrap();
    assert_eq!(sonnet["applies"], false);
    assert_eq!(j["subscription"]["status"], "active");
    assert_eq!(j["overage"]["available"], false);
}

#[test]
fn refusal_message_names_the_bucket_percent_and_reset() {
    let out = Guard::new()
        .args(["check", "--now", NOW, "--snapshot"])
        .args([&example("opus-weekly-pinned.json")])
        .env("TZ", "Europe/Berlin")
        .run();
    assert_eq!(out.code, Some(12));
    let err = &out.stderr;
    assert!(
        err.contains("Opus weekly limit (seven_day_opus) is at 100%"),
        "{err}"
    );
    // The reset is 16:00:00.412911: people see it rounded up, never earlier.
    assert!(err.contains("2026-11-22T16:00:01Z"), "{err}");
    assert!(
        err.contains("2026-11-22 17:00 +01:00 local"),
        "local time in TZ: {err}"
    );
    assert!(err.contains("in 2d 7h"), "{err}");
    assert!(
        err.contains("--model sonnet"),
        "suggests a model with room: {err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "NO_COLOR means no escapes: {err:?}"
    );
}

#[test]
fn every_real_payload_parses() {
    // Evaluated as of each payload's own date, so its resets are in the future. The file's
    // mtime is its fetched_at; a fetch "after --now" counts as age 0.
    let cases: &[(&str, &str, i32, &str)] = &[
        (
            "claude_ai_usage__2026-04_extra_enabled_1450_weekly_92.json",
            "2026-04-15T01:00:00Z",
            0,
            "go",
        ),
        (
            "oauth_usage__2025-11-25_oauth_apps_nonnull_zero.json",
            "2025-11-25T20:00:00Z",
            0,
            "go",
        ),
        (
            "oauth_usage__2026-04_issue202_opus_null_sonnet_extra_disabled.json",
            "2026-04-11T05:00:00Z",
            0,
            "go",
        ),
        (
            "oauth_usage__2026-07_usd_session_critical_scoped_warning.json",
            "2026-07-06T08:00:00Z",
            0,
            "go",
        ),
        (
            "oauth_usage__doc_openusage_illustrative_int_Z_omelette.json",
            "2026-01-28T12:00:00Z",
            0,
            "go",
        ),
        (
            "oauth_usage_error__401_token_expired_error_code.json",
            "2026-07-06T08:00:00Z",
            20,
            "unknown",
        ),
        (
            "oauth_usage_error__403_scope_user_profile.json",
            "2026-07-06T08:00:00Z",
            20,
            "unknown",
        ),
        (
            "oauth_usage_error__429_no_envelope_type_first.json",
            "2026-07-06T08:00:00Z",
            20,
            "unknown",
        ),
        (
            "overage__usd_enabled_truncated_fields.json",
            "2026-07-06T08:00:00Z",
            20,
            "unknown",
        ),
        (
            "synthetic__subscription_details__past_due.json",
            "2026-07-06T08:00:00Z",
            20,
            "unknown",
        ),
        (
            "credentials__claudeAiOauth_max5x_three_scopes.json",
            "2026-07-06T08:00:00Z",
            20,
            "unknown",
        ),
    ];
    for (file, now, code, decision) in cases {
        let out = Guard::new()
            .args(["check", "--json", "--now", now, "--snapshot"])
            .args([&payload(file)])
            .run();
        assert_eq!(out.code, Some(*code), "{file}: {}", out.stderr);
        assert_eq!(out.json()["decision"], *decision, "{file}");
    }
    // Every file, as status: never a crash.
    for entry in std::fs::read_dir(common::root().join("tests/fixtures/payloads")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let out = Guard::new()
                .args(["status", "--json", "--snapshot"])
                .args([&path])
                .run();
            assert_eq!(out.code, Some(0), "{}: {}", path.display(), out.stderr);
            out.json();
        }
    }
}

#[test]
fn the_2026_07_payload_reads_limits_and_threshold() {
    let out = Guard::new()
        .args([
            "check",
            "--json",
            "--now",
            "2026-07-06T08:00:00Z",
            "--max-utilization",
            "90",
            "--snapshot",
        ])
        .args([&payload(
            "oauth_usage__2026-07_usd_session_critical_scoped_warning.json",
        )])
        .run();
    assert_eq!(out.code, Some(18));
    let j = out.json();
    assert_eq!(j["reason"], "threshold");
    assert_eq!(j["resets_at"], "2026-07-06T10:59:59.800387Z");
    let names: Vec<&str> = j["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"weekly_scoped:Fable"), "{names:?}");
    assert_eq!(j["overage"]["available"], false);
    assert_eq!(j["overage"]["disabled_reason"], "out_of_credits");
    // Fable's scoped window (83 %) applies to a Fable run and is the hottest after five_hour.
    let j = Guard::new()
        .args([
            "check",
            "--json",
            "--now",
            "2026-07-06T08:00:00Z",
            "--model",
            "fable",
            "--snapshot",
        ])
        .args([&payload(
            "oauth_usage__2026-07_usd_session_critical_scoped_warning.json",
        )])
        .run()
        .json();
    let fable = j["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "weekly_scoped:Fable")
        .unwrap()
        .clone();
    assert_eq!(
        (fable["applies"].as_bool(), fable["utilization"].as_f64()),
        (Some(true), Some(83.0))
    );
}

#[test]
fn the_403_payload_names_the_missing_scope() {
    let out = Guard::new()
        .args(["check", "--snapshot"])
        .args([&payload("oauth_usage_error__403_scope_user_profile.json")])
        .run();
    assert_eq!(out.code, Some(20));
    assert!(out.stderr.contains("user:profile"), "{}", out.stderr);
}

#[test]
fn bad_input_is_unknown_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let big = "{\"five_hour\":{\"utilization\":1,\"resets_at\":null},\"pad\":\"".to_owned()
        + &"x".repeat(5 << 20)
        + "\"}";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"\x00\xffnot json at all".to_vec(),
            "not valid JSON",
        ),
        (
            "truncated",
            br#"{"five_hour":{"utilization":33.0,"resets_at":"2026-"#.to_vec(),
            "not valid JSON",
        ),
        ("empty", b"".to_vec(), "empty"),
        ("whitespace", b"  \n ".to_vec(), "empty"),
        (
            "wrong types",
            br#"{"five_hour":{"utilization":"high","resets_at":7}}"#.to_vec(),
            "unreadable: five_hour",
        ),
        ("array of numbers", b"[1,2,3]".to_vec(), "no organization"),
        ("number", b"42".to_vec(), "not an object"),
        ("empty object", b"{}".to_vec(), "user:profile"),
        ("oversized", big.into_bytes(), "larger than 4 MiB"),
        (
            "deep nesting",
            ("[".repeat(100_000) + &"]".repeat(100_000)).into_bytes(),
            "not valid JSON",
        ),
    ];
    for (label, bytes, why) in cases {
        let path = dir.path().join(label.replace(' ', "_"));
        std::fs::write(&path, &bytes).unwrap();
        let out = Guard::new()
            .args(["check", "--json", "--snapshot"])
            .args([&path])
            .run();
        assert_eq!(out.code, Some(20), "{label}: {}", out.stderr);
        let j = out.json();
        assert_eq!(j["decision"], "unknown", "{label}");
        let because = j["unknown_because"].to_string();
        assert!(because.contains(why), "{label}: {because}");
        // run with the default --on-unknown allow would go; check fails closed.
        let out = Guard::new()
            .args(["status", "--snapshot"])
            .args([&path])
            .run();
        assert_eq!(out.code, Some(0), "status on {label}");
    }
    // A missing file and a directory.
    let out = Guard::new()
        .args(["check", "--snapshot", "/nonexistent/snap.json"])
        .run();
    assert_eq!(out.code, Some(20));
    assert!(
        out.stderr.contains("could not open /nonexistent/snap.json"),
        "{}",
        out.stderr
    );
    let out = Guard::new()
        .args(["check", "--snapshot"])
        .args([dir.path()])
        .run();
    assert_eq!(out.code, Some(20));
    assert!(out.stderr.contains("is a directory"), "{}", out.stderr);
}

#[test]
fn stdin_snapshot_is_fresh_now() {
    let body = std::fs::read(payload(
        "oauth_usage__2026-04_issue202_opus_null_sonnet_extra_disabled.json",
    ))
    .unwrap();
    let out = Guard::new()
        .args([
            "check",
            "--json",
            "--now",
            "2026-04-11T05:00:00Z",
            "--snapshot",
            "-",
        ])
        .stdin(body)
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let j = out.json();
    assert_eq!(j["source"]["kind"], "stdin");
    assert_eq!(j["source"]["age_seconds"], 0);
}

#[test]
fn stale_snapshot_is_unknown_but_a_pinned_one_still_refuses() {
    let later = "2026-11-20T10:30:00Z"; // 92 minutes after fetched_at, over --max-age 1h
    let out = Guard::new()
        .args(["check", "--json", "--now", later, "--snapshot"])
        .args([&example("healthy.json")])
        .run();
    assert_eq!(out.code, Some(20));
    assert!(out.json()["unknown_because"].to_string().contains("STALE"));
    let out = Guard::new()
        .args(["check", "--now", later, "--max-age", "2h", "--snapshot"])
        .args([&example("healthy.json")])
        .run();
    assert_eq!(out.code, Some(0));
    let out = Guard::new()
        .args(["check", "--now", later, "--snapshot"])
        .args([&example("five-hour-pinned.json")])
        .run();
    assert_eq!(out.code, Some(10));
    let out = Guard::new()
        .args([
            "check",
            "--now",
            later,
            "--on-unknown",
            "allow",
            "--snapshot",
        ])
        .args([&example("healthy.json")])
        .run();
    assert_eq!(out.code, Some(0));
    assert!(out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn fraction_scale_reads_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fractions.json");
    std::fs::write(&path, br#"{"five_hour":{"utilization":1.0,"resets_at":"2026-11-20T11:00:00Z"},"seven_day":{"utilization":0.5,"resets_at":null}}"#).unwrap();
    let base = || {
        Guard::new()
            .args(["check", "--json", "--now", NOW, "--snapshot"])
            .args([&path])
    };
    assert_eq!(
        base().run().code,
        Some(0),
        "1 % is not pinned on the percent scale"
    );
    let out = base().args(["--utilization-scale", "fraction"]).run();
    assert_eq!(out.code, Some(10));
    assert_eq!(out.json()["buckets"][0]["utilization"], 100.0);
}

#[test]
fn options_read_their_environment_variables() {
    let out = Guard::new()
        .args(["check"])
        .env("CLAUDE_GUARD_SNAPSHOT", example("healthy.json"))
        .env("CLAUDE_GUARD_NOW", NOW)
        .env("CLAUDE_GUARD_MAX_UTILIZATION", "40")
        .env("CLAUDE_GUARD_JSON", "1")
        .run();
    assert_eq!(out.code, Some(18));
    assert_eq!(out.json()["reason"], "threshold");
}

#[test]
fn usage_errors_exit_2_and_name_the_fix() {
    for args in [
        vec!["check", "--max-age", "90"],
        vec!["check", "--max-utilization", "150"],
        vec!["check", "--overage", "maybe"],
        vec!["check", "--bridge", "http://example.com/snapshots"],
        vec!["check", "--now", "yesterday"],
        vec!["frobnicate"],
    ] {
        let out = Guard::new().args(&args).run();
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty());
    }
    let out = Guard::new()
        .args(["check", "--bridge", "http://example.com/s"])
        .run();
    assert!(
        out.stderr.contains("only allowed to loopback"),
        "{}",
        out.stderr
    );
}

#[test]
fn help_lists_the_exit_codes() {
    let out = Guard::new().args(["check", "--help"]).run();
    assert_eq!(out.code, Some(0));
    for code in ["10", "15", "19", "20", "127"] {
        assert!(
            out.stdout.contains(&format!("  {code}  ")),
            "{code} missing:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("seven_day_oauth_apps"));
}

#[test]
fn model_family_comes_from_env_and_settings() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("project");
    std::fs::create_dir_all(project.join(".claude")).unwrap();
    std::fs::create_dir_all(home.path().join(".claude")).unwrap();
    std::fs::write(
        home.path().join(".claude/settings.json"),
        br#"{"model":"haiku"}"#,
    )
    .unwrap();
    let pinned = example("opus-weekly-pinned.json");
    let g = || {
        Guard::new()
            .env("HOME", home.path())
            .cwd(&project)
            .args(["check", "--json", "--now", NOW, "--snapshot"])
            .args([&pinned])
    };
    let j = g().run().json();
    assert_eq!(
        (j["model_family"].as_str(), j["exit_code"].as_i64()),
        (Some("haiku"), Some(0))
    );
    std::fs::write(
        project.join(".claude/settings.json"),
        br#"{"model":"claude-opus-5-5"}"#,
    )
    .unwrap();
    assert_eq!(g().run().json()["exit_code"], 12);
    std::fs::write(
        project.join(".claude/settings.local.json"),
        br#"{"model":"sonnet"}"#,
    )
    .unwrap();
    assert_eq!(g().run().json()["model_family"], "sonnet");
    let j = g().env("ANTHROPIC_MODEL", "opus").run().json();
    assert_eq!(
        (j["model_family"].as_str(), j["model"]["source"].as_str()),
        (Some("opus"), Some("ANTHROPIC_MODEL"))
    );
    let alt = home.path().join("alt-config");
    std::fs::create_dir_all(&alt).unwrap();
    std::fs::write(alt.join("settings.json"), br#"{"model":"fable"}"#).unwrap();
    std::fs::remove_file(project.join(".claude/settings.local.json")).unwrap();
    std::fs::remove_file(project.join(".claude/settings.json")).unwrap();
    let j = g().env("CLAUDE_CONFIG_DIR", &alt).run().json();
    assert_eq!(
        j["model_family"], "fable",
        "CLAUDE_CONFIG_DIR/settings.json"
    );
}

#[test]
fn plan_limits_do_not_apply_with_other_auth() {
    let pinned = example("five-hour-pinned.json");
    let out = Guard::new()
        .args(["check", "--json", "--now", NOW, "--snapshot"])
        .args([&pinned])
        .env("ANTHROPIC_AUTH_TOKEN", "tok")
        .run();
    assert_eq!(out.code, Some(0));
    let j = out.json();
    assert_eq!(j["plan_limits"]["apply"], false);
    assert!(
        j["plan_limits"]["why"]
            .as_str()
            .unwrap()
            .contains("ANTHROPIC_AUTH_TOKEN")
    );
    assert!(
        !out.stdout.contains("\"tok\""),
        "the token value is never printed"
    );
    let out = Guard::new()
        .args(["check", "--now", NOW, "--snapshot"])
        .args([&pinned])
        .env("CLAUDE_CODE_USE_BEDROCK", "1")
        .run();
    assert_eq!(out.code, Some(0));
}

#[test]
fn the_readme_main_command_prints_what_the_readme_shows() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let shown = readme
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the sample output block after the main command");
    let out = Guard::new()
        .env("TZ", "UTC")
        .args(["check", "--snapshot"])
        .args([example("opus-weekly-pinned.json")])
        .args(["--now", "2026-11-20T09:00:00Z"])
        .run();
    assert_eq!(out.code, Some(12));
    assert_eq!(
        out.stderr, shown,
        "README.md's sample output drifted from the binary"
    );
    assert!(readme.contains(
        "claude-guard check --snapshot examples/opus-weekly-pinned.json --now 2026-11-20T09:00:00Z"
    ));
}

#[test]
fn the_readme_documents_every_exit_code() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let help = Guard::new().args(["run", "--help"]).run().stdout;
    for line in help.lines().filter_map(|l| l.trim().split_once("  ")) {
        let (code, _) = line;
        if let Ok(code) = code.trim().parse::<u16>() {
            assert!(
                readme.contains(&format!("| {code} |"))
                    || readme.contains(&format!("| {code} / "))
                    || readme.contains(&format!("/ {code} |")),
                "exit code {code} is not in the README table"
            );
        }
    }
}
