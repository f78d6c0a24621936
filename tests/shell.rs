//! Shell integration: real bash, zsh and fish source `claude-guard init` and run `claude`
//! against a recording stub; completions generate (and load) for every shell; the man page
//! renders. `scripts/test` installs bash, zsh and fish when it can (root and apt-get). Where it
//! cannot, the tests of a missing shell are skipped with a notice on the terminal naming the
//! shell and how to install it; with `CLAUDE_GUARD_TEST_REQUIRE_SHELLS=1` (set by `.ci/run`) a
//! missing shell fails instead, so CI never skips.

mod common;

use std::path::{Path, PathBuf};

use common::{Guard, NOW, Out, example, recording_stub};

/// A directory holding the guard (as `claude-guard`) and a recording stub `claude`.
struct Bin {
    dir: tempfile::TempDir,
}

impl Bin {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(common::bin(), dir.path().join("claude-guard")).unwrap();
        recording_stub(dir.path());
        Bin { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// PATH with this directory first.
    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// The stub's argv, or `None` when the stub never started.
    fn recorded(&self) -> Option<Vec<String>> {
        common::recorded_args(self.path())
    }
}

/// The installed shell. When it is missing: a failure under
/// `CLAUDE_GUARD_TEST_REQUIRE_SHELLS=1`, else `None` after a notice that names the shell and
/// how to install it. The notice is written to the real stderr, past the test harness's
/// capture, so it shows in `cargo test`'s output although the test passes.
fn shell(name: &str) -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        let how = format!(
            "{name} is not installed; install it with `apt-get install -y {name}` \
             (or dnf, or brew), or run scripts/test as root, which installs it"
        );
        if std::env::var_os("CLAUDE_GUARD_TEST_REQUIRE_SHELLS").is_some_and(|v| v == "1") {
            panic!("{how} (CLAUDE_GUARD_TEST_REQUIRE_SHELLS=1: every shell is required)");
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: the {name} tests of {} ({how}) ***\n",
            std::thread::current().name().unwrap_or("tests/shell.rs")
        );
    }
    found
}

/// Runs `script` in `sh -c`-style with the guard and the stub first on PATH, evaluating the
/// given example snapshot at the examples' `--now`.
fn run_shell(sh: &Path, bin: &Bin, snapshot: &str, script: &str) -> Out {
    Guard::program(sh)
        .args(["-c", script])
        .env("PATH", bin.path_var())
        .env("CLAUDE_GUARD_SNAPSHOT", example(snapshot))
        .env("CLAUDE_GUARD_NOW", NOW)
        .env("TZ", "UTC")
        .run()
}

/// The same words in every shell: a space inside one argument, an empty one, a `$`.
const ARGS: &str = r#"claude -p "two words" '' '$HOME' --model=sonnet"#;
const EXPECTED: [&str; 5] = ["-p", "two words", "", "$HOME", "--model=sonnet"];

fn init_line(sh: &str) -> String {
    match sh {
        "fish" => "claude-guard init fish | source".into(),
        _ => format!(r#"eval "$(claude-guard init {sh})""#),
    }
}

fn guards_claude(sh: &str) {
    let Some(path) = shell(sh) else { return };
    let script = format!("{}\n{ARGS}", init_line(sh));

    let bin = Bin::new();
    let out = run_shell(&path, &bin, "five-hour-pinned.json", &script);
    assert_eq!(out.code, Some(10), "{sh}: {out:?}");
    assert!(out.stderr.contains("five_hour"), "{sh}: {}", out.stderr);
    assert_eq!(
        bin.recorded(),
        None,
        "{sh}: the stub must not start on a refusal"
    );

    let bin = Bin::new();
    let out = run_shell(&path, &bin, "healthy.json", &script);
    assert_eq!(out.code, Some(7), "{sh}: the stub's own status: {out:?}");
    assert_eq!(bin.recorded().unwrap(), EXPECTED, "{sh}: argv intact");
}

#[test]
fn bash_init_guards_claude() {
    guards_claude("bash");
}

#[test]
fn zsh_init_guards_claude() {
    guards_claude("zsh");
}

#[test]
fn fish_init_guards_claude() {
    guards_claude("fish");
}

#[test]
fn init_replaces_an_alias_of_the_same_name() {
    // Claude Code's local installer adds `alias claude=...`; the function must win over it.
    for (sh, prelude) in [("bash", "shopt -s expand_aliases\n"), ("zsh", "")] {
        let Some(path) = shell(sh) else { continue };
        let bin = Bin::new();
        let script = format!(
            "{prelude}alias claude=/nonexistent/claude\n{}\nclaude -p hi",
            init_line(sh)
        );
        let out = run_shell(&path, &bin, "five-hour-pinned.json", &script);
        assert_eq!(out.code, Some(10), "{sh}: {out:?}");
    }
}

#[test]
fn init_cmd_defines_another_name() {
    for sh in ["bash", "zsh", "fish"] {
        let Some(path) = shell(sh) else { continue };
        let bin = Bin::new();
        let init = match sh {
            "fish" => "claude-guard init fish --cmd cl | source".to_owned(),
            _ => format!(r#"eval "$(claude-guard init {sh} --cmd cl)""#),
        };
        let out = run_shell(
            &path,
            &bin,
            "five-hour-pinned.json",
            &format!("{init}\ncl -p hi"),
        );
        assert_eq!(out.code, Some(10), "{sh}: {out:?}");
        assert_eq!(bin.recorded(), None);
        // `claude` itself is left alone: the stub runs unguarded.
        let out = run_shell(
            &path,
            &bin,
            "five-hour-pinned.json",
            &format!("{init}\nclaude -p hi"),
        );
        assert_eq!(out.code, Some(7), "{sh}: {out:?}");
        assert_eq!(bin.recorded().unwrap(), ["-p", "hi"]);
    }
}

#[test]
fn init_refuses_a_cmd_name_a_shell_would_parse() {
    let out = Guard::new().args(["init", "bash", "--cmd", "x;rm"]).run();
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn init_output_is_the_function() {
    let out = Guard::new().args(["init", "bash"]).run();
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout
            .contains("function claude() {\n    \\command claude-guard run -- \"$@\"\n}\n"),
        "{}",
        out.stdout
    );
    let out = Guard::new().args(["init", "fish"]).run();
    assert!(
        out.stdout
            .contains("    command claude-guard run -- $argv\nend\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn completions_generate_for_each_shell() {
    for sh in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Guard::new().args(["completions", sh]).run();
        assert_eq!(out.code, Some(0), "{sh}: {out:?}");
        assert!(out.stdout.contains("claude-guard"), "{sh}");
        assert!(out.stdout.contains("model-fallback"), "{sh}: run's options");
    }
    assert_eq!(
        Guard::new().args(["completions", "tcsh"]).run().code,
        Some(2)
    );
}

#[test]
fn completions_load_in_real_shells() {
    let bin = Bin::new();
    if let Some(bash) = shell("bash") {
        let out = run_shell(
            &bash,
            &bin,
            "healthy.json",
            "source <(claude-guard completions bash) && complete -p claude-guard",
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("claude-guard"), "{}", out.stdout);
    }

    if let Some(zsh) = shell("zsh") {
        let out = run_shell(
            &zsh,
            &bin,
            "healthy.json",
            "claude-guard completions zsh > \"$HOME/_claude-guard\" && zsh -n \"$HOME/_claude-guard\"",
        );
        assert_eq!(out.code, Some(0), "{out:?}");
    }

    if let Some(fish) = shell("fish") {
        let out = run_shell(
            &fish,
            &bin,
            "healthy.json",
            "claude-guard completions fish | source; complete -C 'claude-guard ini'",
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("init"), "{}", out.stdout);
    }
}

#[test]
fn man_page_renders() {
    let out = Guard::new().args(["man"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(".TH claude-guard 1"), "{}", out.stdout);
    assert!(out.stdout.contains("claude\\-guard\\-run(1)"));

    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = Guard::new().args(["man", "--out-dir"]).args([&pages]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    let run = std::fs::read_to_string(pages.join("claude-guard-run.1")).unwrap();
    assert!(run.contains("CLAUDE_GUARD_MODEL_FALLBACK"), "{run}");
    assert!(run.contains("CLAUDE_GUARD_WAIT"));
    for page in [
        "claude-guard.1",
        "claude-guard-check.1",
        "claude-guard-init.1",
    ] {
        assert!(pages.join(page).is_file(), "{page}");
    }
}
