//! `run` execs the real claude: argv byte for byte, stdin, same pid, claude's own status;
//! a refusal never starts it; the guard never finds itself or its shim as "the real claude".

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use common::{Guard, NOW, example, recording_stub};

fn recorded_argv(dir: &Path) -> Vec<Vec<u8>> {
    let raw = std::fs::read(dir.join("record.argv")).expect("the stub ran");
    let mut parts: Vec<Vec<u8>> = raw.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    assert_eq!(parts.pop(), Some(vec![]), "NUL-terminated");
    parts
}

fn healthy_run(stub: &Path) -> Guard {
    Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", stub)
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("healthy.json")])
        .args(["--"])
}

#[test]
fn argv_is_passed_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    let args: Vec<OsString> = vec![
        "-p".into(),
        "hello world".into(),
        "it's \"quoted\" $HOME `x` *".into(),
        "".into(),
        OsString::from_vec(vec![0xff, 0xfe, b'a']),
        "--".into(),
        "--model".into(),
        "sonnet".into(),
        "line\nbreak".into(),
    ];
    let out = healthy_run(&stub).args(&args).run();
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    let want: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    assert_eq!(recorded_argv(dir.path()), want);
}

#[test]
fn stdin_is_inherited_and_claude_status_returned() {
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    let out = healthy_run(&stub)
        .args(["-p"])
        .stdin("piped prompt\n")
        .env("STUB_EXIT", "0")
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        std::fs::read(dir.path().join("record.stdin")).unwrap(),
        b"piped prompt\n"
    );
    let out = healthy_run(&stub).env("STUB_EXIT", "42").run();
    assert_eq!(out.code, Some(42));
}

#[test]
fn exec_keeps_the_pid() {
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    let mut g = healthy_run(&stub);
    let mut child = g
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7));
    let recorded: u32 = std::fs::read_to_string(dir.path().join("record.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        recorded, pid,
        "the stub runs in the guard's own process (exec, not spawn)"
    );
}

#[test]
fn a_refusal_never_starts_claude() {
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    for (file, code) in [
        ("five-hour-pinned.json", 10),
        ("opus-weekly-pinned.json", 12),
        ("subscription-past-due.json", 17),
    ] {
        let out = Guard::new()
            .env("CLAUDE_GUARD_CLAUDE", &stub)
            .args(["run", "--now", NOW, "--snapshot"])
            .args([example(file)])
            .args(["--", "-p", "hi"])
            .run();
        assert_eq!(out.code, Some(code), "{file}: {}", out.stderr);
        assert!(out.stderr.contains("refused"), "{}", out.stderr);
        assert!(
            !dir.path().join("record.argv").exists(),
            "{file}: claude must not start"
        );
    }
}

#[test]
fn run_json_goes_to_stderr_so_claude_owns_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("claude");
    common::script(&stub, "#!/bin/sh\necho claude-output\n");
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--json", "--now", NOW, "--snapshot"])
        .args([example("healthy.json")])
        .run();
    assert_eq!(out.code, Some(0));
    assert_eq!(out.stdout, "claude-output\n");
    assert_eq!(out.stderr_json()["decision"], "go");
}

#[test]
fn billed_and_unknown_runs_go_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("opus-weekly-pinned-extra-usage.json")])
        .run();
    assert_eq!(out.code, Some(7));
    assert_eq!(out.stderr.matches("warning").count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("bills extra usage"), "{}", out.stderr);
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--overage", "refuse", "--now", NOW, "--snapshot"])
        .args([example("opus-weekly-pinned-extra-usage.json")])
        .run();
    assert_eq!(out.code, Some(16));
    // No snapshot at all: run allows and warns; --on-unknown refuse exits 20.
    std::fs::remove_file(dir.path().join("record.argv")).unwrap();
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--", "x"])
        .run();
    assert_eq!(out.code, Some(7));
    assert!(out.stderr.contains("usage state unknown"), "{}", out.stderr);
    assert!(dir.path().join("record.argv").exists());
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--on-unknown", "refuse", "--", "x"])
        .run();
    assert_eq!(out.code, Some(20));
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[test]
fn a_claude_named_symlink_runs_the_guard_and_skips_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let guard_dir = tmp.path().join("guard");
    let real_dir = tmp.path().join("real");
    std::fs::create_dir_all(&guard_dir).unwrap();
    std::fs::create_dir_all(&real_dir).unwrap();
    symlink(&common::bin(), &guard_dir.join("claude"));
    recording_stub(&real_dir);
    let path = std::env::join_paths([
        &guard_dir,
        &real_dir,
        Path::new("/usr/bin"),
        Path::new("/bin"),
    ])
    .unwrap();
    let run = |snapshot: &str| {
        Guard::program(guard_dir.join("claude"))
            .env("PATH", &path)
            .env("CLAUDE_GUARD_SNAPSHOT", example(snapshot))
            .env("CLAUDE_GUARD_NOW", NOW)
            .args(["--model", "sonnet", "-p", "hi"])
            .run()
    };
    // opus pinned, but the argv says sonnet: go, through the symlink, to the real stub.
    let out = run("opus-weekly-pinned.json");
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    let argv = recorded_argv(&real_dir);
    assert_eq!(
        argv,
        [
            b"--model".to_vec(),
            b"sonnet".to_vec(),
            b"-p".to_vec(),
            b"hi".to_vec()
        ]
    );
    std::fs::remove_file(real_dir.join("record.argv")).unwrap();
    let out = run("five-hour-pinned.json");
    assert_eq!(out.code, Some(10));
    assert!(!real_dir.join("record.argv").exists());
}

#[test]
fn a_copy_of_the_guard_named_claude_is_skipped_too() {
    let tmp = tempfile::tempdir().unwrap();
    let copy_dir = tmp.path().join("copy");
    let real_dir = tmp.path().join("real");
    std::fs::create_dir_all(&copy_dir).unwrap();
    std::fs::create_dir_all(&real_dir).unwrap();
    common::install_executable(&common::bin(), &copy_dir.join("claude"));
    recording_stub(&real_dir);
    let path = std::env::join_paths([
        &copy_dir,
        &real_dir,
        Path::new("/usr/bin"),
        Path::new("/bin"),
    ])
    .unwrap();
    let out = Guard::program(copy_dir.join("claude"))
        .env("PATH", &path)
        .env("CLAUDE_GUARD_SNAPSHOT", example("healthy.json"))
        .env("CLAUDE_GUARD_NOW", NOW)
        .args(["--version"])
        .run();
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert_eq!(recorded_argv(&real_dir), [b"--version".to_vec()]);
}

#[test]
fn the_bin_claude_shim_first_on_path_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let real_dir = tmp.path().join("real");
    let guard_dir = tmp.path().join("guard-bin");
    std::fs::create_dir_all(&real_dir).unwrap();
    std::fs::create_dir_all(&guard_dir).unwrap();
    symlink(&common::bin(), &guard_dir.join("claude-guard"));
    recording_stub(&real_dir);
    let shim_dir = common::root().join("bin");
    let path = std::env::join_paths([
        &shim_dir,
        &guard_dir,
        &real_dir,
        Path::new("/usr/bin"),
        Path::new("/bin"),
    ])
    .unwrap();
    let out = Guard::program(shim_dir.join("claude"))
        .env("PATH", &path)
        .env("CLAUDE_GUARD_SNAPSHOT", example("healthy.json"))
        .env("CLAUDE_GUARD_NOW", NOW)
        .args(["-p", "two words"])
        .run();
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert_eq!(
        recorded_argv(&real_dir),
        [b"-p".to_vec(), b"two words".to_vec()]
    );
}

#[test]
fn missing_or_unexecutable_claude_gives_127_or_126() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Guard::new()
        .env("PATH", tmp.path())
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("healthy.json")])
        .run();
    assert_eq!(out.code, Some(127), "{}", out.stderr);
    assert!(
        out.stderr.contains("CLAUDE_GUARD_CLAUDE"),
        "names the fix: {}",
        out.stderr
    );
    let plain = tmp.path().join("claude");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let out = Guard::new()
        .env("PATH", tmp.path())
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("healthy.json")])
        .run();
    assert_eq!(out.code, Some(126), "{}", out.stderr);
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", tmp.path().join("nope"))
        .args(["run"])
        .run();
    assert_eq!(out.code, Some(127));
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &plain)
        .args(["run"])
        .run();
    assert_eq!(out.code, Some(126));
    assert!(out.stderr.contains("not executable"));
}

#[test]
fn subcommands_that_run_no_model_turn_are_not_gated() {
    let dir = tempfile::tempdir().unwrap();
    let stub = recording_stub(dir.path());
    let out = Guard::new()
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("five-hour-pinned.json")])
        .args(["--", "mcp", "list"])
        .run();
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert_eq!(
        recorded_argv(dir.path()),
        [b"mcp".to_vec(), b"list".to_vec()]
    );
}

#[test]
fn the_shell_alias_example_guards_claude() {
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("bin");
    let real_dir = tmp.path().join("real");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::fs::create_dir_all(&real_dir).unwrap();
    symlink(&common::bin(), &bin_dir.join("claude-guard"));
    recording_stub(&real_dir);
    let path = std::env::join_paths([
        &bin_dir,
        &real_dir,
        Path::new("/usr/bin"),
        Path::new("/bin"),
    ])
    .unwrap();
    let alias = |snapshot: &str| {
        Guard::program("bash")
            .env("PATH", &path)
            .env("CLAUDE_GUARD_SNAPSHOT", example(snapshot))
            .env("CLAUDE_GUARD_NOW", NOW)
            .args([common::root().join("examples/shell-alias.sh")])
            .args(["-p", "hello there"])
            .run()
    };
    let out = alias("five-hour-pinned.json");
    assert_eq!(out.code, Some(10), "{}", out.stderr);
    assert!(!real_dir.join("record.argv").exists());
    let out = alias("healthy.json");
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    assert_eq!(
        recorded_argv(&real_dir),
        [b"-p".to_vec(), b"hello there".to_vec()]
    );
}

#[test]
fn closed_standard_streams_reach_claude_as_dev_null_and_sigpipe_as_default() {
    // A guard started with stdout and stderr closed (cron's `>&-`) reopens them on /dev/null,
    // as std's runtime start-up used to: otherwise the first file the guard opened would
    // become its stdout, and claude would inherit a closed one.
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("claude");
    let rec = dir.path().join("fds");
    common::script(
        &stub,
        &format!(
            "#!/bin/sh\none=$(readlink /proc/$$/fd/1)\ntwo=$(readlink /proc/$$/fd/2)\n\
             ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)\n\
             printf '1 %s\\n2 %s\\nSigIgn %s\\n' \"$one\" \"$two\" \"$ign\" > '{}'\n",
            rec.display()
        ),
    );
    let out = Guard::program("/bin/sh")
        .args(["-c", "exec 1>&- 2>&-; exec \"$0\" \"$@\""])
        .args([common::bin()])
        .env("CLAUDE_GUARD_CLAUDE", &stub)
        .args(["run", "--now", NOW, "--snapshot"])
        .args([example("healthy.json")])
        .args(["--", "-p"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let fds = std::fs::read_to_string(&rec).expect("the stub ran");
    // The stub shell's own descriptors, read before it redirects anything.
    assert!(fds.starts_with("1 /dev/null\n2 /dev/null\n"), "{fds}");
    // The guard ignores SIGPIPE for itself; claude starts with the default (bit 13 clear).
    let ignored = fds.lines().nth(2).and_then(|l| l.strip_prefix("SigIgn "));
    let mask = u64::from_str_radix(ignored.expect("SigIgn recorded"), 16).unwrap();
    assert_eq!(mask & (1 << 12), 0, "SIGPIPE ignored in claude: {fds}");
}
