//! Finds the real `claude` and replaces this process with it (`execvp`: same pid, same TTY,
//! stdin/stdout/stderr and environment inherited, arguments passed byte for byte).

use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use crate::core::exit_codes::Exit;

/// A text marker in `bin/claude`: a `claude` on PATH containing it is our shim, not the real one.
pub const SHIM_MARKER: &[u8] = b"claude-guard-shim";

/// Why the real `claude` could not be started; carries its exit code (126 or 127).
#[derive(Debug)]
pub struct LaunchError {
    /// 126 (not executable) or 127 (not found).
    pub exit: Exit,
    /// What happened and how to fix it.
    pub message: String,
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LaunchError {}

/// This running binary, as a path that `stat` and `read` follow: `/proc/self/exe` on Linux
/// (one `stat` instead of a `readlink` and a `stat`), `current_exe()` elsewhere.
fn this_binary() -> Option<PathBuf> {
    if cfg!(target_os = "linux") {
        Some(PathBuf::from("/proc/self/exe"))
    } else {
        std::env::current_exe().ok()
    }
}

/// Whether `path` (whose metadata is `meta`) is claude-guard itself (a symlink, hard link or
/// copy of this binary) or the `bin/claude` shim, either of which would loop back into the guard.
fn is_guard(path: &Path, meta: &Metadata) -> bool {
    if let Some(me) = this_binary()
        && let Ok(mine) = std::fs::metadata(&me)
    {
        if meta.dev() == mine.dev() && meta.ino() == mine.ino() {
            return true; // the binary itself, through a symlink or hard link
        }
        if meta.len() == mine.len()
            && meta.len() < 64 << 20
            && std::fs::read(path).ok() == std::fs::read(&me).ok()
        {
            return true; // a copy of the guard binary
        }
    }
    // The shim is a small text script carrying the marker.
    meta.len() < 16 << 10
        && std::fs::read(path).is_ok_and(|b| b.windows(SHIM_MARKER.len()).any(|w| w == SHIM_MARKER))
}

fn is_executable(meta: &Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// Resolves the real `claude`: `CLAUDE_GUARD_CLAUDE` when set, else the first `claude` on
/// `PATH` that is not claude-guard or its shim.
pub fn find_claude(explicit: Option<&OsStr>) -> Result<PathBuf, LaunchError> {
    if let Some(explicit) = explicit.filter(|e| !e.is_empty()) {
        let path = PathBuf::from(explicit);
        let path = if path.components().count() > 1 {
            path
        } else {
            which::which(&path).unwrap_or(path)
        };
        let Ok(meta) = std::fs::metadata(&path) else {
            return Err(LaunchError {
                exit: Exit::NotFound,
                message: format!(
                    "CLAUDE_GUARD_CLAUDE={} does not exist; point it at the real claude",
                    path.display()
                ),
            });
        };
        if !is_executable(&meta) {
            return Err(LaunchError {
                exit: Exit::NotExecutable,
                message: format!(
                    "CLAUDE_GUARD_CLAUDE={} is not executable (chmod +x it)",
                    path.display()
                ),
            });
        }
        if is_guard(&path, &meta) {
            return Err(LaunchError {
                exit: Exit::NotFound,
                message: format!(
                    "CLAUDE_GUARD_CLAUDE={} is claude-guard itself; point it at the real claude",
                    path.display()
                ),
            });
        }
        return Ok(path);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let mut not_executable = None;
    for dir in std::env::split_paths(&path_var) {
        let candidate = dir.join("claude");
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if !is_executable(&meta) {
            not_executable.get_or_insert(candidate);
            continue;
        }
        if !is_guard(&candidate, &meta) {
            return Ok(candidate);
        }
    }
    Err(match not_executable {
        Some(p) => LaunchError {
            exit: Exit::NotExecutable,
            message: format!("{} is not executable; fix its mode or set CLAUDE_GUARD_CLAUDE", p.display()),
        },
        None => LaunchError {
            exit: Exit::NotFound,
            message: "the real claude was not found on PATH (claude-guard and its shim are skipped); \
                      install it (npm install -g @anthropic-ai/claude-code) or set CLAUDE_GUARD_CLAUDE=/path/to/claude"
                .into(),
        },
    })
}

/// The guard's own secrets among the environment variables, removed from `claude`'s environment
/// (every Bash tool, hook and MCP server of the session could read them):
/// `CLAUDE_GUARD_SESSION_KEY` (a claude.ai cookie), and `CLAUDE_GUARD_BRIDGE` when its URL
/// carries a user name, password, query or fragment (a plain bridge URL is kept, so that a
/// guard started inside the session reads the same bridge).
pub fn secret_env_vars(env: &dyn Fn(&str) -> Option<String>) -> Vec<&'static str> {
    let mut vars = vec![crate::state::web::KEY_ENV];
    if env("CLAUDE_GUARD_BRIDGE").is_some_and(|b| {
        reqwest::Url::parse(&b).map_or(true, |u| {
            !u.username().is_empty()
                || u.password().is_some()
                || u.query().is_some()
                || u.fragment().is_some()
        })
    }) {
        vars.push("CLAUDE_GUARD_BRIDGE");
    }
    vars
}

/// `program args...` as claude is started, by exec or as a child: the guard's secrets
/// ([`secret_env_vars`]) removed from its environment.
pub fn command(program: &Path, args: &[OsString]) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for var in secret_env_vars(&|k| std::env::var(k).ok()) {
        cmd.env_remove(var);
    }
    cmd
}

impl LaunchError {
    /// `program` could not be started: not found (127) or not executable (126).
    pub fn start_failed(program: &Path, err: &std::io::Error) -> LaunchError {
        let exit = match err.kind() {
            std::io::ErrorKind::NotFound => Exit::NotFound,
            _ => Exit::NotExecutable,
        };
        LaunchError {
            exit,
            message: format!("could not start {}: {err}", program.display()),
        }
    }
}

/// Replaces this process with `program args...` ([`command`]). Returns only on failure.
/// std's `exec` restores SIGPIPE to its default before `execvp`, as a shell would.
pub fn exec(program: &Path, args: &[OsString]) -> LaunchError {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let err = command(program, args).exec();
    LaunchError::start_failed(program, &err)
}
