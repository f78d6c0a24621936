//! Test harness: runs the built `claude-guard` with an isolated environment (temporary HOME,
//! no CLAUDE_GUARD_* / ANTHROPIC_* / CLAUDE_CODE_* variables from the developer's shell) and a
//! bounded wait, so no test can hang or read a real account.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `--now` that the bundled examples are evaluated at (2 minutes after their `fetched_at`).
pub const NOW: &str = "2026-11-20T09:00:00Z";

/// The built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_claude-guard"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `examples/<name>`.
pub fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// `tests/fixtures/payloads/<name>` (copies of the real payloads).
pub fn payload(name: &str) -> PathBuf {
    root().join("tests/fixtures/payloads").join(name)
}

/// The output of one run.
#[derive(Debug)]
pub struct Out {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Signal that ended it, if any.
    pub signal: Option<i32>,
    /// stdout, lossy UTF-8.
    pub stdout: String,
    /// stderr, lossy UTF-8.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Out {
    /// stdout parsed as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// stderr parsed as one JSON object on its last line (`run --json`).
    pub fn stderr_json(&self) -> serde_json::Value {
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .expect("a JSON line on stderr");
        serde_json::from_str(line).expect("JSON on stderr")
    }
}

/// A `claude-guard` invocation under an isolated environment.
pub struct Guard {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    /// The temporary HOME (kept alive for the run).
    pub home: tempfile::TempDir,
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Guard {
    /// `claude-guard` with a clean environment.
    pub fn new() -> Self {
        Self::program(bin())
    }

    /// Any program (e.g. a `claude` symlink to the guard) with the same clean environment.
    pub fn program(program: impl AsRef<OsStr>) -> Self {
        let home = tempfile::tempdir().expect("temp HOME");
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("CLAUDE")
                || k.starts_with("ANTHROPIC")
                || k.starts_with("XDG_")
                || k == "GITHUB_ACTIONS"
            {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", home.path())
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", home.path().join(".cache"))
            .current_dir(home.path());
        Guard {
            cmd,
            stdin: None,
            timeout: Duration::from_secs(30),
            home,
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Feeds stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Fails the test if the run takes longer than this (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The underlying command, for spawning by hand.
    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Runs to completion (bounded by the timeout; the child is killed past it).
    pub fn run(mut self) -> Out {
        let start = Instant::now();
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn claude-guard");
        if let Some(bytes) = self.stdin.take() {
            let mut pipe = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let out_pipe = child.stdout.take().unwrap();
        let err_pipe = child.stderr.take().unwrap();
        let out_t = std::thread::spawn(move || read_all(out_pipe));
        let err_t = std::thread::spawn(move || read_all(err_pipe));
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("claude-guard ran past {:?}", self.timeout);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        use std::os::unix::process::ExitStatusExt;
        Out {
            code: status.code(),
            signal: status.signal(),
            stdout: String::from_utf8_lossy(&out_t.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&err_t.join().unwrap()).into_owned(),
            elapsed: start.elapsed(),
        }
    }
}

fn read_all(mut r: impl std::io::Read) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = r.read_to_end(&mut v);
    v
}

/// Writes an executable script (through [`install_executable`]).
pub fn script(path: &Path, body: &str) {
    let name = path.file_name().unwrap().to_string_lossy();
    let draft = path.with_file_name(format!(".{name}.draft"));
    std::fs::write(&draft, body).unwrap();
    install_executable(&draft, path);
    std::fs::remove_file(&draft).unwrap();
}

/// Copies `src` to `dest` as an executable (mode 0755) through a child process
/// (`install -m 0755`), so this test process never holds `dest` open for writing. When it
/// does, a thread that forks at that moment (tests run in parallel) hands the descriptor to
/// its child until that child execs, and executing `dest` then fails with ETXTBSY ("Text file
/// busy"): a test that passes or fails by chance.
pub fn install_executable(src: &Path, dest: &Path) {
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(src)
        .arg(dest)
        .status()
        .expect("run install(1)");
    assert!(status.success(), "install -m 0755 {src:?} {dest:?}");
}

/// A recording stub `claude` in `dir`: writes its argv (NUL-separated), pid and stdin into
/// `dir/record.*`, then exits with `$STUB_EXIT` (default 7).
/// The argv that `recording_stub` in `dir` recorded (lossily UTF-8), or `None` when it never
/// started.
pub fn recorded_args(dir: &Path) -> Option<Vec<String>> {
    let bytes = std::fs::read(dir.join("record.argv")).ok()?;
    let mut parts: Vec<String> = bytes
        .split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    parts.pop(); // after the last NUL
    Some(parts)
}

pub fn recording_stub(dir: &Path) -> PathBuf {
    let path = dir.join("claude");
    let rec = dir.join("record");
    script(
        &path,
        &format!(
            "#!/bin/sh\nprintf '%s\\0' \"$@\" > '{r}.argv'\necho $$ > '{r}.pid'\ncat > '{r}.stdin'\nexit ${{STUB_EXIT:-7}}\n",
            r = rec.display()
        ),
    );
    path
}

/// The real Claude Code installed by `scripts/install-claude-code` (or
/// `$CLAUDE_GUARD_TEST_REAL_CLAUDE`). Fails, never skips, when it is missing.
pub fn real_claude() -> PathBuf {
    let path = std::env::var_os("CLAUDE_GUARD_TEST_REAL_CLAUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".tools/claude-code/node_modules/.bin/claude"));
    assert!(
        path.exists(),
        "the real Claude Code is not installed at {}; run scripts/install-claude-code (scripts/test does)",
        path.display()
    );
    path
}

// ---- Live-source helpers (issue #3): a local HTTP server, a silent server, credentials. ----

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One request the test server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request path (with query).
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// The value of header `name` (case-insensitive) among `headers` (names lower-cased).
pub fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

/// What the test server answers.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Sleep this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            body: body.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            delay: Duration::ZERO,
        }
    }

    /// A JSON answer with the contents of a payload fixture.
    pub fn payload(status: u16, name: &str) -> Reply {
        Reply::json(status, std::fs::read(payload(name)).expect("payload"))
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }

    /// Answers after `d`.
    pub fn after(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

type Route = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A real HTTP server on 127.0.0.1 (tiny_http) that records every request. Each request is
/// answered on its own thread; the server stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a server answering with `route`.
    pub fn start(route: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = server.server_addr().to_ip().expect("ip").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let route: Arc<Route> = Arc::new(route);
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(20)) else {
                    continue;
                };
                let s = Seen {
                    path: req.url().to_owned(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.field.as_str().as_str().to_ascii_lowercase(),
                                h.value.as_str().to_owned(),
                            )
                        })
                        .collect(),
                };
                seen2.lock().unwrap().push(s.clone());
                let route = Arc::clone(&route);
                std::thread::spawn(move || {
                    let reply = route(&s);
                    std::thread::sleep(reply.delay);
                    let mut resp =
                        tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
                    for (k, v) in &reply.headers {
                        resp.add_header(
                            tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                        );
                    }
                    let _ = req.respond(resp);
                });
            }
        });
        Server {
            base: format!("http://127.0.0.1:{port}"),
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests had exactly this path (query ignored).
    pub fn count(&self, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.split('?').next() == Some(path))
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A TCP server on 127.0.0.1 that accepts connections and never answers (for `lifetime`).
/// Returns its base URL.
pub fn silent_server(lifetime: Duration) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut held = Vec::new();
        while start.elapsed() < lifetime {
            if let Ok((conn, _)) = listener.accept() {
                held.push(conn);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// Epoch milliseconds `secs` seconds from now (negative: in the past).
pub fn epoch_ms_in(secs: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    now.as_millis() as i64 + secs * 1000
}

/// Writes Claude Code's `<dir>/.credentials.json` with this token, `expiresAt` and scopes
/// (the shape of payloads/credentials__claudeAiOauth_max5x_three_scopes.json).
pub fn write_credentials(dir: &Path, token: &str, expires_at_ms: i64, scopes: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let body = serde_json::json!({"claudeAiOauth": {
        "accessToken": token, "refreshToken": "sk-ant-ort01-REFRESH-NEVER-USED",
        "expiresAt": expires_at_ms, "scopes": scopes,
        "subscriptionType": "max", "rateLimitTier": "default_claude_max_5x"}});
    std::fs::write(dir.join(".credentials.json"), body.to_string()).unwrap();
}

/// The stand-in Anthropic API for the real Claude Code (issue 11): see `standin.rs`.
pub mod home;
pub mod standin;
