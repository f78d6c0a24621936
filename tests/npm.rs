//! The npm package, installed the way a user's `npm install` does it, with nothing fetched:
//! `scripts/npm-package` builds this platform's package around the built binary, `npm pack`
//! packs it and `npm/claude-guard`, and `npm install --offline` installs both tarballs into a
//! scratch prefix. The installed `claude-guard` then runs `--version` and `check`: once as
//! the binary itself (install.js, the postinstall, put it in place of the launcher), once as
//! the Node.js launcher (`--ignore-scripts`), which passes exit codes and signals through.
//!
//! Needs npm (`.ci/run` installs it and sets `CLAUDE_GUARD_TEST_REQUIRE_NPM=1`); without it
//! the tests are skipped with a notice.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Guard, NOW, Out, example};

/// npm on PATH, or `None` after a notice (a failure under CLAUDE_GUARD_TEST_REQUIRE_NPM=1).
fn npm() -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("npm"))
        .find(|p| p.is_file());
    if found.is_none() {
        let how = "npm is not installed; install Node.js and npm (apt-get install -y nodejs npm)";
        if std::env::var_os("CLAUDE_GUARD_TEST_REQUIRE_NPM").is_some_and(|v| v == "1") {
            panic!("{how} (CLAUDE_GUARD_TEST_REQUIRE_NPM=1)");
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: the npm package test {} ({how}) ***\n",
            std::thread::current().name().unwrap_or("tests/npm.rs")
        );
    }
    found
}

/// The release target triple of this machine (as scripts/npm-package names them).
fn target() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "x86_64-unknown-linux-gnu",
        ("linux", "aarch64") => "aarch64-unknown-linux-gnu",
        ("macos", "x86_64") => "x86_64-apple-darwin",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        other => panic!("no npm platform package for {other:?}"),
    }
}

/// Runs npm (offline, no update check, a scratch cache and HOME) in `dir`.
fn run_npm(npm: &Path, scratch: &Path, dir: &Path, args: &[&str]) -> Out {
    let out = Guard::program(npm)
        .args(args)
        .args([
            "--offline",
            "--no-update-notifier",
            "--no-audit",
            "--no-fund",
            "--loglevel=warn",
        ])
        .arg_path("--cache", &scratch.join("npm-cache"))
        .cwd(dir)
        .timeout(Duration::from_secs(180))
        .run();
    assert_eq!(out.code, Some(0), "npm {args:?}: {out:?}");
    out
}

trait ArgPath {
    fn arg_path(self, flag: &str, p: &Path) -> Self;
}

impl ArgPath for Guard {
    fn arg_path(self, flag: &str, p: &Path) -> Self {
        self.args([flag]).args([p])
    }
}

/// Packs the platform package and the main package into `scratch`; returns both tarballs
/// (platform, main).
fn pack(npm: &Path, scratch: &Path) -> (PathBuf, PathBuf) {
    // The test build without its debug info (a third of the size; packing and unpacking 34 MB
    // is most of this test's time). The release binaries are stripped by the build profile.
    let bin = scratch.join("claude-guard");
    std::fs::copy(common::bin(), &bin).unwrap();
    let _ = std::process::Command::new("strip")
        .arg(&bin)
        .stderr(Stdio::null())
        .status();
    let made = Guard::program(common::root().join("scripts/npm-package"))
        .args([target()])
        .args([bin, scratch.join("pkgs")])
        .run();
    assert_eq!(made.code, Some(0), "{made:?}");
    let platform_dir = PathBuf::from(made.stdout.trim());
    let version = env!("CARGO_PKG_VERSION");
    for dir in [
        platform_dir.clone(),
        common::root().join("npm/claude-guard"),
    ] {
        run_npm(
            npm,
            scratch,
            &dir,
            &["pack", "--pack-destination", scratch.to_str().unwrap()],
        );
    }
    let platform_name = platform_dir.file_name().unwrap().to_str().unwrap();
    let platform = scratch.join(format!("claude-guard-{platform_name}-{version}.tgz"));
    let main = scratch.join(format!("claude-guard-{version}.tgz"));
    assert!(
        platform.is_file() && main.is_file(),
        "{platform:?} {main:?}"
    );
    (platform, main)
}

/// `npm install --offline` of these tarballs into a fresh project at `prefix`; returns the
/// installed command `node_modules/.bin/claude-guard`.
fn install(
    npm: &Path,
    scratch: &Path,
    prefix: &Path,
    extra: &[&str],
    tarballs: &[&Path],
) -> PathBuf {
    std::fs::create_dir_all(prefix).unwrap();
    let mut args = vec!["install", "--prefix", prefix.to_str().unwrap()];
    args.extend(extra);
    args.extend(tarballs.iter().map(|t| t.to_str().unwrap()));
    run_npm(npm, scratch, scratch, &args);
    prefix.join("node_modules/.bin/claude-guard")
}

/// Whether the file is a script (the Node.js launcher) rather than a native binary.
fn is_script(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.starts_with(b"#!")
}

/// `--version`, a go and a refusal through the installed command.
fn runs_with_exit_codes(cmd: &Path) {
    let out = Guard::program(cmd).args(["--version"]).run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        concat!("claude-guard ", env!("CARGO_PKG_VERSION"))
    );

    let out = Guard::program(cmd)
        .args(["check", "--now", NOW, "--snapshot"])
        .args([example("healthy.json")])
        .run();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("go"), "{out:?}");

    let out = Guard::program(cmd)
        .args(["check", "--now", NOW, "--snapshot"])
        .args([example("opus-weekly-pinned.json")])
        .run();
    assert_eq!(out.code, Some(12), "{out:?}");
    assert!(out.stderr.contains("seven_day_opus"), "{out:?}");
}

#[test]
fn npm_install_of_the_packed_tarballs_runs_the_binary() {
    let Some(npm) = npm() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let (platform, main) = pack(&npm, scratch);

    // With install scripts (npm's default): the command is the binary itself.
    let cmd = install(
        &npm,
        scratch,
        &scratch.join("project"),
        &[],
        &[&platform, &main],
    );
    assert!(
        scratch
            .join("project/node_modules/@claude-guard")
            .join(platform_dir_name())
            .join("bin/claude-guard")
            .is_file()
    );
    assert!(
        !is_script(&cmd),
        "install.js put the binary in place of the launcher"
    );
    runs_with_exit_codes(&cmd);

    // Without install scripts: the Node.js launcher resolves the platform package.
    let cmd = install(
        &npm,
        scratch,
        &scratch.join("no-scripts"),
        &["--ignore-scripts"],
        &[&platform, &main],
    );
    assert!(is_script(&cmd), "the launcher stays with --ignore-scripts");
    runs_with_exit_codes(&cmd);

    // SIGTERM to the launcher reaches the waiting guard, whose own status (143) comes back.
    let snap = scratch.join("pinned.json");
    let resets = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc3339();
    std::fs::write(
        &snap,
        serde_json::json!({
            "five_hour": {"utilization": 100.0, "resets_at": resets},
            "seven_day": {"utilization": 10.0, "resets_at": resets},
        })
        .to_string(),
    )
    .unwrap();
    let mut g = Guard::program(&cmd)
        .args(["wait", "--snapshot"])
        .args([&snap]);
    let mut child = g
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "still waiting");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let sent = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(sent.elapsed() < Duration::from_secs(5), "exits on SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(143), "{status:?}");
}

/// `linux-x64`, `darwin-arm64`, …: the platform package's directory name.
fn platform_dir_name() -> &'static str {
    match target() {
        "x86_64-unknown-linux-gnu" => "linux-x64",
        "aarch64-unknown-linux-gnu" => "linux-arm64",
        "x86_64-apple-darwin" => "darwin-x64",
        _ => "darwin-arm64",
    }
}

#[test]
fn without_the_platform_package_the_launcher_says_how_to_fix_it() {
    // `npm install --omit=optional` (or a platform with no package) leaves the binary out.
    let Some(npm) = npm() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    run_npm(
        &npm,
        scratch,
        &common::root().join("npm/claude-guard"),
        &["pack", "--pack-destination", scratch.to_str().unwrap()],
    );
    let main = scratch.join(concat!("claude-guard-", env!("CARGO_PKG_VERSION"), ".tgz"));
    let cmd = install(&npm, scratch, &scratch.join("project"), &[], &[&main]);
    assert!(is_script(&cmd), "nothing to put in the launcher's place");
    let out = Guard::program(&cmd).args(["--version"]).run();
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "the platform package @claude-guard/{} is not installed",
            platform_dir_name()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("help:"), "{}", out.stderr);
}
