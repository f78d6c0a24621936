//! The GitHub Action (`action.yml`, composite), run locally the way the Actions runner runs it:
//! each step's `env:` evaluated (`${{ inputs.* }}` with the declared defaults,
//! `${{ steps.*.outputs.* }}`, `${{ github.action_path }}`), its `run:` script executed with
//! `bash --noprofile --norc -eo pipefail`, a fresh `$GITHUB_OUTPUT` per step, one
//! `$GITHUB_STEP_SUMMARY`, `$GITHUB_PATH` applied to later steps, and the action's outputs read
//! from the steps' outputs. Nothing is downloaded: the install step gets the built binary
//! (`binary` input) or a release directory on disk (`CLAUDE_GUARD_RELEASES_URL=file://…`).
//! Also checks `action.yml` against the keys the runner requires.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{NOW, Out, Reply, Seen, Server, example, script};
use serde_json::{Value, json};

/// A recognizable fake token: it must never appear in any output, argument or file.
const TOKEN: &str = "sk-ant-oat01-CANARY-action-0c1d-never-print-me";

/// The keys the guard writes to `$GITHUB_OUTPUT` (src/report/github.rs `OUTPUT_KEYS`).
const GUARD_OUTPUTS: [&str; 5] = [
    "decision",
    "reason",
    "exit_code",
    "resets_at",
    "wait_seconds",
];

fn action() -> Value {
    let text = std::fs::read_to_string(common::root().join("action.yml")).expect("action.yml");
    serde_yaml_ng::from_str(&text).expect("action.yml is YAML")
}

fn steps(action: &Value) -> &Vec<Value> {
    action["runs"]["steps"].as_array().expect("runs.steps")
}

/// Every `${{ … }}` expression in `s`, trimmed.
fn expressions(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        let end = rest[start..].find("}}").expect("unclosed ${{") + start;
        out.push(rest[start + 3..end].trim().to_owned());
        rest = &rest[end + 2..];
    }
    out
}

/// The runner's own name for the runner's OS (`RUNNER_OS`).
fn runner_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macOS",
        "linux" => "Linux",
        other => other,
    }
}

/// The runner's own name for the runner's CPU (`RUNNER_ARCH`).
fn runner_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        other => other,
    }
}

/// One run of the action: inputs as a workflow's `with:` gives them, the job's environment.
struct Run {
    /// Scratch space: RUNNER_TEMP, the files of the step commands, the workspace.
    dir: tempfile::TempDir,
    inputs: BTreeMap<String, String>,
    env: Vec<(String, String)>,
    /// PATH instead of the test's own (before the additions).
    path_base: Option<String>,
}

/// What a run left behind.
#[derive(Debug)]
struct Done {
    /// Each step that ran: its id and what it printed and returned.
    steps: Vec<(String, Out)>,
    /// The action's outputs, evaluated like the runner does (missing step outputs are empty).
    outputs: BTreeMap<String, String>,
    summary: String,
    github_path: String,
    runner_temp: PathBuf,
    /// Keeps RUNNER_TEMP and the step files alive while the test looks at them.
    _scratch: tempfile::TempDir,
}

impl Done {
    /// The step with this id.
    fn step(&self, id: &str) -> &Out {
        &self
            .steps
            .iter()
            .find(|(s, _)| s == id)
            .unwrap_or_else(|| panic!("step {id} did not run: {self:?}"))
            .1
    }

    /// Whether every step ran and succeeded.
    fn succeeded(&self) -> bool {
        self.steps.len() == steps(&action()).len()
            && self.steps.iter().all(|(_, o)| o.code == Some(0))
    }

    fn out(&self, key: &str) -> &str {
        self.outputs
            .get(key)
            .unwrap_or_else(|| panic!("no output {key}"))
    }

    /// Everything the run printed or wrote, for secret checks.
    fn all_text(&self) -> String {
        let mut all = String::new();
        for (_, o) in &self.steps {
            all.push_str(&o.stdout);
            all.push_str(&o.stderr);
        }
        for v in self.outputs.values() {
            all.push_str(v);
        }
        all.push_str(&self.summary);
        all.push_str(&self.github_path);
        all
    }
}

/// `$GITHUB_OUTPUT` text as the runner reads it: `key=value` lines and `key<<DELIM` blocks.
fn parse_output_file(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((key, delim)) = line.split_once("<<")
            && !key.contains('=')
        {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            map.insert(key.to_owned(), value.join("\n"));
        } else if let Some((key, value)) = line.split_once('=') {
            map.insert(key.to_owned(), value.to_owned());
        } else if !line.is_empty() {
            panic!("invalid $GITHUB_OUTPUT line: {line:?}");
        }
    }
    map
}

impl Run {
    fn new() -> Self {
        Run {
            dir: tempfile::tempdir().unwrap(),
            inputs: BTreeMap::new(),
            env: vec![("CLAUDE_GUARD_NOW".into(), NOW.into())],
            path_base: None,
        }
    }

    /// The built binary as the `binary` input (nothing is downloaded).
    fn local() -> Self {
        Run::new().with("binary", common::bin().to_str().unwrap())
    }

    /// Evaluated at the real time (a live source), not the examples' NOW.
    fn live(mut self) -> Self {
        self.env.retain(|(k, _)| k != "CLAUDE_GUARD_NOW");
        self
    }

    fn with(mut self, input: &str, value: &str) -> Self {
        self.inputs.insert(input.into(), value.into());
        self
    }

    fn env(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.env.push((key.into(), value.as_ref().into()));
        self
    }

    /// Evaluates one `${{ … }}` expression.
    fn eval(
        &self,
        expr: &str,
        declared: &Value,
        step_outputs: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> String {
        let parts: Vec<&str> = expr.split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => {
                let decl = &declared[*name];
                assert!(
                    decl.is_object(),
                    "${{{{ {expr} }}}}: input {name} is not declared"
                );
                self.inputs
                    .get(*name)
                    .cloned()
                    .unwrap_or_else(|| decl["default"].as_str().unwrap_or_default().to_owned())
            }
            ["steps", id, "outputs", key] => step_outputs
                .get(*id)
                .and_then(|o| o.get(*key))
                .cloned()
                .unwrap_or_default(),
            ["github", "action_path"] => common::root().display().to_string(),
            _ => panic!("the test runner does not know the expression ${{{{ {expr} }}}}"),
        }
    }

    /// Substitutes every expression in `s`.
    fn interpolate(
        &self,
        s: &str,
        declared: &Value,
        step_outputs: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("${{") {
            let end = rest[start..].find("}}").unwrap() + start;
            out.push_str(&rest[..start]);
            out.push_str(&self.eval(rest[start + 3..end].trim(), declared, step_outputs));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn run(self) -> Done {
        for name in self.inputs.keys() {
            assert!(
                action()["inputs"][name].is_object(),
                "the workflow passes an undeclared input {name}"
            );
        }
        let action = action();
        let declared = &action["inputs"];
        let root = self.dir.path();
        let runner_temp = root.join("runner-temp");
        let workspace = root.join("workspace");
        let files = root.join("files");
        for d in [&runner_temp, &workspace, &files] {
            std::fs::create_dir_all(d).unwrap();
        }
        let summary = files.join("step_summary");
        let github_path = files.join("github_path");
        let github_env = files.join("github_env");
        for f in [&summary, &github_path, &github_env] {
            std::fs::write(f, "").unwrap();
        }
        let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut ran = Vec::new();
        for (i, step) in steps(&action).iter().enumerate() {
            let id = step["id"].as_str().unwrap_or("").to_owned();
            let shell = step["shell"].as_str().expect("shell");
            assert_eq!(shell, "bash", "the test runner runs bash steps only");
            let body = step["run"].as_str().expect("run");
            let script_file = files.join(format!("step-{i}.sh"));
            std::fs::write(&script_file, body).unwrap();
            let output = files.join(format!("output-{i}"));
            std::fs::write(&output, "").unwrap();

            // PATH: the test's own (or the given one), with $GITHUB_PATH entries first (the
            // last line added is searched first, as the runner does).
            let mut path: Vec<PathBuf> = std::fs::read_to_string(&github_path)
                .unwrap()
                .lines()
                .rev()
                .map(PathBuf::from)
                .collect();
            let base = self
                .path_base
                .clone()
                .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
            path.extend(std::env::split_paths(&base));

            let mut guard = common::Guard::program("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail"])
                .args([&script_file])
                .cwd(&workspace)
                .timeout(Duration::from_secs(60))
                .env("PATH", std::env::join_paths(&path).unwrap())
                .env("TZ", "UTC")
                .env("CI", "true")
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_ACTION_PATH", common::root())
                .env("GITHUB_WORKSPACE", &workspace)
                .env("GITHUB_OUTPUT", &output)
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("GITHUB_PATH", &github_path)
                .env("GITHUB_ENV", &github_env)
                .env("RUNNER_TEMP", &runner_temp)
                .env("RUNNER_OS", runner_os())
                .env("RUNNER_ARCH", runner_arch());
            for (k, v) in &self.env {
                guard = guard.env(k, v);
            }
            if let Some(env) = step["env"].as_object() {
                for (k, v) in env {
                    let v = v.as_str().expect("env values are strings");
                    guard = guard.env(k, self.interpolate(v, declared, &step_outputs));
                }
            }
            let out = guard.run();
            step_outputs.insert(
                id.clone(),
                parse_output_file(&std::fs::read_to_string(&output).unwrap()),
            );
            let failed = out.code != Some(0);
            ran.push((id, out));
            if failed {
                break;
            }
        }
        let outputs = action["outputs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let value = v["value"].as_str().unwrap();
                (k.clone(), self.interpolate(value, declared, &step_outputs))
            })
            .collect();
        Done {
            steps: ran,
            outputs,
            summary: std::fs::read_to_string(&summary).unwrap(),
            github_path: std::fs::read_to_string(&github_path).unwrap(),
            runner_temp,
            _scratch: self.dir,
        }
    }
}

// ---- action.yml as the runner reads it ----

#[test]
fn action_yml_has_the_keys_the_runner_requires() {
    let a = action();
    assert!(a["name"].as_str().is_some_and(|s| !s.is_empty()), "name");
    assert!(
        a["description"].as_str().is_some_and(|s| !s.is_empty()),
        "description"
    );
    assert_eq!(a["runs"]["using"], "composite");
    let steps = steps(&a);
    assert!(!steps.is_empty());
    let mut ids = Vec::new();
    for step in steps {
        let keys: Vec<&String> = step.as_object().unwrap().keys().collect();
        for k in &keys {
            assert!(
                [
                    "name",
                    "id",
                    "if",
                    "shell",
                    "env",
                    "run",
                    "uses",
                    "with",
                    "working-directory",
                    "continue-on-error"
                ]
                .contains(&k.as_str()),
                "a composite step has no key {k}"
            );
        }
        assert!(
            step["run"].is_string() != step["uses"].is_string(),
            "a step has run or uses: {step}"
        );
        if step["run"].is_string() {
            assert!(step["shell"].is_string(), "a run step needs shell: {step}");
            // No expression in a script: inputs reach it through the environment only.
            assert!(
                !step["run"].as_str().unwrap().contains("${{"),
                "expression in run: {step}"
            );
        }
        if let Some(id) = step["id"].as_str() {
            ids.push(id.to_owned());
        }
        if let Some(env) = step["env"].as_object() {
            for v in env.values() {
                assert!(v.is_string(), "env values are strings: {step}");
            }
        }
    }
    let inputs = a["inputs"].as_object().expect("inputs");
    for (name, input) in inputs {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "input id {name}"
        );
        assert!(
            input["description"].is_string(),
            "input {name}: description"
        );
        for k in input.as_object().unwrap().keys() {
            assert!(
                ["description", "required", "default", "deprecationMessage"].contains(&k.as_str()),
                "input {name}: unknown key {k}"
            );
        }
    }
    for wanted in [
        "token",
        "model",
        "max-utilization",
        "overage",
        "on-unknown",
        "needs",
        "wait",
        "max-wait",
        "snapshot",
    ] {
        assert!(inputs.contains_key(wanted), "input {wanted}");
    }
    let outputs = a["outputs"].as_object().expect("outputs");
    for (name, output) in outputs {
        assert!(
            output["description"].is_string(),
            "output {name}: description"
        );
        let value = output["value"]
            .as_str()
            .unwrap_or_else(|| panic!("output {name}: value"));
        for expr in expressions(value) {
            let parts: Vec<&str> = expr.split('.').collect();
            assert!(
                matches!(parts.as_slice(), ["steps", id, "outputs", _] if ids.contains(&id.to_string())),
                "output {name}: {expr} names no step of this action"
            );
        }
    }
    for key in GUARD_OUTPUTS {
        assert_eq!(
            outputs[key]["value"],
            format!("${{{{ steps.guard.outputs.{key} }}}}"),
            "output {key} is the guard's own"
        );
    }

    // Every input is used, every expression names a declared input, and the token appears in
    // exactly one place: the environment of the step that runs the guard.
    let mut used = Vec::new();
    let mut token_uses = Vec::new();
    for step in steps {
        for (k, v) in step["env"].as_object().into_iter().flatten() {
            for expr in expressions(v.as_str().unwrap()) {
                if let Some(name) = expr.strip_prefix("inputs.") {
                    assert!(inputs.contains_key(name), "{expr}: no such input");
                    used.push(name.to_owned());
                    if name == "token" {
                        token_uses.push((step["id"].clone(), k.clone()));
                    }
                }
            }
        }
        for key in ["with", "if", "working-directory", "name"] {
            assert!(
                !step[key].to_string().contains("inputs.token"),
                "the token only in env"
            );
        }
    }
    for name in inputs.keys() {
        assert!(used.contains(name), "input {name} is never used");
    }
    assert_eq!(
        token_uses,
        [(json!("guard"), "INPUT_TOKEN".to_owned())],
        "the token goes to the guard step's environment only"
    );
}

// ---- the steps, run ----

#[test]
fn a_refusal_sets_the_outputs_and_the_step_succeeds() {
    let done = Run::local()
        .with(
            "snapshot",
            example("opus-weekly-pinned.json").to_str().unwrap(),
        )
        .run();
    assert!(done.succeeded(), "{done:#?}");
    assert_eq!(done.out("decision"), "refuse");
    assert_eq!(done.out("reason"), "seven_day_opus");
    assert_eq!(done.out("exit_code"), "12");
    // The server's fractional seconds are kept (issue 14): never half a second early.
    assert_eq!(done.out("resets_at"), "2026-11-22T16:00:00.412911Z");
    let wait: u64 = done.out("wait_seconds").parse().expect("wait_seconds");
    // 2d 7h to the reset from NOW, plus the grace.
    assert!((198_000..=198_200).contains(&wait), "{wait}");
    // The guard's own summary table and annotation.
    assert!(done.summary.contains("seven_day_opus"), "{}", done.summary);
    assert!(
        done.step("guard").stdout.contains("::error"),
        "{:?}",
        done.step("guard")
    );
    // The binary is installed in RUNNER_TEMP and its directory added to PATH.
    let installed = done.runner_temp.join("claude-guard/bin/claude-guard");
    assert_eq!(done.out("path"), installed.to_str().unwrap());
    assert_eq!(
        done.github_path.trim(),
        installed.parent().unwrap().to_str().unwrap()
    );
    assert!(
        done.step("install")
            .stdout
            .contains(concat!("claude-guard ", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn fail_on_refuse_fails_the_step_with_the_guards_code() {
    let done = Run::local()
        .with(
            "snapshot",
            example("five-hour-pinned.json").to_str().unwrap(),
        )
        .with("fail-on-refuse", "true")
        .run();
    assert_eq!(done.step("guard").code, Some(10), "{done:#?}");
    assert_eq!(done.out("decision"), "refuse");
    assert_eq!(done.out("exit_code"), "10");
}

#[test]
fn a_go_with_the_options_as_inputs() {
    let done = Run::local()
        .with("snapshot", example("healthy.json").to_str().unwrap())
        .with("model", "sonnet")
        .with("overage", "refuse")
        .with("on-unknown", "refuse")
        .run();
    assert!(done.succeeded(), "{done:#?}");
    assert_eq!(done.out("decision"), "go");
    assert_eq!(done.out("exit_code"), "0");
    assert_eq!(done.out("reason"), "");

    // The same snapshot under a soft threshold below its hottest bucket (41 %).
    let done = Run::local()
        .with("snapshot", example("healthy.json").to_str().unwrap())
        .with("max-utilization", "40")
        .run();
    assert_eq!(done.out("reason"), "threshold", "{done:#?}");
    assert_eq!(done.out("exit_code"), "18");
}

#[test]
fn wait_with_max_wait_refuses_a_later_reset_at_once() {
    let done = Run::local()
        .with(
            "snapshot",
            example("opus-weekly-pinned.json").to_str().unwrap(),
        )
        .with("wait", "true")
        .with("max-wait", "1h")
        .run();
    assert!(done.succeeded(), "{done:#?}");
    assert_eq!(done.out("reason"), "max_wait");
    assert_eq!(done.out("exit_code"), "19");
    assert!(done.step("guard").elapsed < Duration::from_secs(10));
}

#[test]
fn a_bad_input_fails_the_step_with_a_usage_error() {
    let done = Run::local()
        .with("snapshot", example("healthy.json").to_str().unwrap())
        .with("overage", "sometimes")
        .run();
    let guard = done.step("guard");
    assert_eq!(guard.code, Some(2), "{done:#?}");
    assert!(guard.stderr.contains("sometimes"), "{}", guard.stderr);
    assert_eq!(done.out("exit_code"), "2");

    let done = Run::local().with("wait", "yes").run();
    assert_eq!(done.step("guard").code, Some(2), "{done:#?}");
    assert!(
        done.step("guard")
            .stdout
            .contains("input wait must be true or false")
    );
}

/// A `binary` that records its argv and CLAUDE_GUARD_NEEDS / CLAUDE_CODE_OAUTH_* (whether set)
/// next to it, then execs the real guard.
fn recording_guard(dir: &Path) -> PathBuf {
    let path = dir.join("claude-guard-recording");
    script(
        &path,
        &format!(
            "#!/bin/sh\nprintf '%s\\0' \"$@\" > '{d}/argv'\n\
             printf 'needs=%s\\nscopes=%s\\ntoken_set=%s\\n' \"$CLAUDE_GUARD_NEEDS\" \
             \"$CLAUDE_CODE_OAUTH_SCOPES\" \"${{CLAUDE_CODE_OAUTH_TOKEN:+yes}}\" > '{d}/env'\n\
             exec '{bin}' \"$@\"\n",
            d = dir.display(),
            bin = common::bin().display()
        ),
    );
    path
}

#[test]
fn needs_goes_through_the_environment_and_options_through_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let rec = recording_guard(dir.path());
    let snapshot = example("healthy.json");
    let done = Run::new()
        .with("binary", rec.to_str().unwrap())
        .with("snapshot", snapshot.to_str().unwrap())
        .with("needs", "45m")
        .with("model", "opus")
        .run();
    assert!(done.succeeded(), "{done:#?}");
    assert_eq!(done.out("decision"), "go");
    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    let argv: Vec<&str> = argv.trim_end_matches('\0').split('\0').collect();
    assert_eq!(
        argv,
        [
            "check",
            "--model",
            "opus",
            "--snapshot",
            snapshot.to_str().unwrap()
        ]
    );
    let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
    assert!(env.contains("needs=45m\n"), "{env}");
    assert!(
        env.contains("token_set=\n"),
        "no token input, none set: {env}"
    );
}

/// The OAuth usage API on 127.0.0.1: a healthy account.
fn oauth_api() -> Server {
    let body = json!({
        "five_hour": {"utilization": 20.0,
                      "resets_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()},
        "seven_day": {"utilization": 35.0,
                      "resets_at": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339()},
        "seven_day_opus": null, "seven_day_sonnet": null, "seven_day_oauth_apps": null,
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null}
    })
    .to_string();
    Server::start(move |s: &Seen| match s.path.as_str() {
        "/api/oauth/usage" => Reply::json(200, body.clone()),
        "/api/oauth/profile" => Reply::payload(
            200,
            "oauth_profile__max20x_trimmed_user_rate_limit_tier.json",
        ),
        _ => Reply::json(404, r#"{"error":{"type":"not_found_error"}}"#),
    })
}

#[test]
fn the_token_reaches_the_guard_by_environment_only() {
    let server = oauth_api();
    let dir = tempfile::tempdir().unwrap();
    let rec = recording_guard(dir.path());
    let done = Run::new()
        .with("binary", rec.to_str().unwrap())
        .with("token", TOKEN)
        .env("CLAUDE_GUARD_OAUTH_BASE_URL", &server.base)
        .live()
        .run();
    assert!(done.succeeded(), "{done:#?}");
    assert_eq!(done.out("decision"), "go", "{done:#?}");
    let usage: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.path == "/api/oauth/usage")
        .collect();
    assert_eq!(usage.len(), 1);
    assert_eq!(
        usage[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    assert_eq!(argv, "check\0", "no token, no option in argv");
    let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
    assert!(
        env.contains("scopes=user:inference user:profile\n") && env.contains("token_set=yes"),
        "{env}"
    );
    assert!(!done.all_text().contains("CANARY"), "{done:#?}");
}

#[test]
fn token_scopes_without_user_profile_read_nothing() {
    // A `claude setup-token` token: the guard must not send it to the usage endpoint.
    let server = oauth_api();
    let done = Run::local()
        .with("token", TOKEN)
        .with("token-scopes", "user:inference")
        .env("CLAUDE_GUARD_OAUTH_BASE_URL", &server.base)
        .live()
        .run();
    assert!(done.succeeded(), "{done:#?}");
    assert_eq!(done.out("decision"), "unknown");
    assert_eq!(done.out("exit_code"), "20");
    assert_eq!(server.seen().len(), 0);
    assert!(
        done.step("guard").stderr.contains("user:profile")
            || done.step("guard").stdout.contains("user:profile"),
        "{done:#?}"
    );
    assert!(!done.all_text().contains("CANARY"));
}

// ---- the install step's download path, from a release directory on disk ----

/// A release directory laid out as the release workflow publishes it:
/// `v<version>/claude-guard-<target>.tar.gz` and `.sha256`, holding the built binary.
fn release_dir(corrupt_checksum: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // The release targets of .github/workflows/release.yml.
    let target = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "x86_64-unknown-linux-gnu",
        ("linux", "aarch64") => "aarch64-unknown-linux-gnu",
        ("macos", "x86_64") => "x86_64-apple-darwin",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        other => panic!("no release target for {other:?}"),
    };
    let version = env!("CARGO_PKG_VERSION");
    let stage = dir.path().join("stage");
    let rel = dir.path().join(format!("v{version}"));
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::create_dir_all(&rel).unwrap();
    std::fs::copy(common::bin(), stage.join("claude-guard")).unwrap();
    let asset = format!("claude-guard-{target}.tar.gz");
    let status = std::process::Command::new("tar")
        .args(["-czf"])
        .arg(rel.join(&asset))
        .arg("-C")
        .arg(&stage)
        .arg("claude-guard")
        .status()
        .unwrap();
    assert!(status.success());
    // `sha256sum`'s line, as the release workflow's `shasum -a 256` writes it.
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        &std::fs::read(rel.join(&asset)).unwrap(),
    );
    let mut hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    if corrupt_checksum {
        hex = "0".repeat(64);
    }
    let text = format!("{hex}  {asset}\n");
    std::fs::write(rel.join(format!("{asset}.sha256")), text).unwrap();
    dir
}

#[test]
fn install_downloads_the_release_for_this_platform_and_verifies_its_checksum() {
    let releases = release_dir(false);
    let done = Run::new()
        .with("snapshot", example("healthy.json").to_str().unwrap())
        .env(
            "CLAUDE_GUARD_RELEASES_URL",
            format!("file://{}", releases.path().display()),
        )
        .run();
    assert!(done.succeeded(), "{done:#?}");
    let install = done.step("install");
    assert!(install.stdout.contains("verified"), "{install:?}");
    assert!(
        install
            .stdout
            .contains(concat!("claude-guard ", env!("CARGO_PKG_VERSION"))),
        "{install:?}"
    );
    assert_eq!(done.out("decision"), "go");
    let installed = done.runner_temp.join("claude-guard/bin/claude-guard");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(common::bin()).unwrap()
    );
}

#[test]
fn install_refuses_a_download_whose_checksum_does_not_match() {
    let releases = release_dir(true);
    let done = Run::new()
        .env(
            "CLAUDE_GUARD_RELEASES_URL",
            format!("file://{}", releases.path().display()),
        )
        .run();
    let install = done.step("install");
    assert_eq!(install.code, Some(1), "{done:#?}");
    assert!(install.stdout.contains("checksum mismatch"), "{install:?}");
    assert_eq!(done.steps.len(), 1, "the guard does not run");
    assert!(
        !done
            .runner_temp
            .join("claude-guard/bin/claude-guard")
            .exists()
    );
}

#[test]
fn install_without_a_release_and_without_cargo_says_what_to_do() {
    // An empty release directory (no asset for this version) and no cargo on PATH: the
    // fallback build is chosen and fails with the fix. (The build itself is not run here.)
    let empty = tempfile::tempdir().unwrap();
    let mut run = Run::new().env(
        "CLAUDE_GUARD_RELEASES_URL",
        format!("file://{}", empty.path().display()),
    );
    run.path_base = Some("/usr/bin:/bin".into());
    let done = run.run();
    let install = done.step("install");
    assert_eq!(install.code, Some(1), "{done:#?}");
    assert!(
        install.stdout.contains("no release binary at file://"),
        "{install:?}"
    );
    assert!(
        install.stdout.contains("cargo is not installed"),
        "{install:?}"
    );
}

// ---- examples/github-actions.yml, on the action ----

#[test]
fn the_ci_example_gates_on_the_action() {
    let text = std::fs::read_to_string(common::root().join("examples/github-actions.yml")).unwrap();
    let example: Value = serde_yaml_ng::from_str(&text).unwrap();
    let gate = example["jobs"]["review"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.contains("/claude-guard@"))
        })
        .expect("a step using the action")
        .clone();
    let id = gate["id"].as_str().expect("the gate has an id");

    // Its inputs, run against a healthy account on the OAuth API (the token secret given).
    let server = oauth_api();
    let mut run = Run::local()
        .live()
        .env("CLAUDE_GUARD_OAUTH_BASE_URL", &server.base);
    for (k, v) in gate["with"].as_object().unwrap() {
        let v = v.as_str().expect("inputs are strings");
        let v = match v {
            "${{ secrets.CLAUDE_USAGE_TOKEN }}" => TOKEN,
            other => {
                assert!(!other.contains("${{"), "{k}: {other}");
                other
            }
        };
        run = run.with(k, v);
    }
    let done = run.run();
    assert!(done.succeeded(), "{done:#?}");
    assert_eq!(done.out("decision"), "go", "{done:#?}");
    assert_eq!(done.out("exit_code"), "0");
    assert_eq!(server.count("/api/oauth/usage"), 1);

    // Every output the later steps read is one the action has.
    let outputs = action()["outputs"].clone();
    let prefix = format!("steps.{id}.outputs.");
    let mut read = 0;
    for (i, _) in text.match_indices(&prefix) {
        let key: String = text[i + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(outputs[&key].is_object(), "the example reads output {key}");
        read += 1;
    }
    assert!(read >= 3, "{read}");
}
