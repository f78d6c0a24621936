//! The real Claude Code (npm `@anthropic-ai/claude-code`, installed into `.tools/claude-code`
//! by `scripts/install-claude-code`, which `scripts/test` runs first). No stub here.

mod common;

use common::{Guard, NOW, example, real_claude};

#[test]
fn run_execs_the_real_claude_code() {
    let claude = real_claude();
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &claude)
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("healthy.json")])
        .args(["--", "--version"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("(Claude Code)"),
        "real version string: {:?}",
        out.stdout
    );
    assert!(
        out.stderr.is_empty(),
        "a healthy go prints nothing: {}",
        out.stderr
    );
}

#[test]
fn a_refusal_keeps_the_real_claude_from_starting() {
    let claude = real_claude();
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &claude)
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("opus-weekly-pinned.json")])
        .args(["--", "-p", "hi"])
        .run();
    assert_eq!(out.code, Some(12));
    assert!(!out.stdout.contains("Claude Code"));
}

#[test]
fn the_real_claude_is_found_on_path_behind_a_claude_symlink() {
    let claude = real_claude();
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(common::bin(), tmp.path().join("claude")).unwrap();
    let path = std::env::join_paths([
        tmp.path(),
        claude.parent().unwrap(),
        std::path::Path::new("/usr/bin"),
        std::path::Path::new("/bin"),
    ])
    .unwrap();
    // As `alias claude='claude-guard run --'` would, with no snapshot: unknown, allowed, warned.
    // (`-p --version` is checked like a model turn; only `--version` alone passes unread.)
    let out = Guard::program(tmp.path().join("claude"))
        .env("PATH", &path)
        .args(["-p", "--version"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("(Claude Code)"), "{:?}", out.stdout);
    assert!(out.stderr.contains("usage state unknown"), "{}", out.stderr);
    // `--version` alone runs no model turn: straight through, nothing read, nothing said.
    let out = Guard::program(tmp.path().join("claude"))
        .env("PATH", &path)
        .args(["--version"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("(Claude Code)"), "{:?}", out.stdout);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}
