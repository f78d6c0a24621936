//! Where a snapshot comes from: a file, stdin, or a bridge URL. Every source is bounded (size
//! caps, timeouts) and never fails the guard: a source that gives nothing usable yields an
//! unknown [`Snapshot`] naming the source and the reason.

use std::io::{IsTerminal, Read};
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::Url;

use crate::core::snapshot::{self, Origin, ParseContext, Snapshot};

/// Largest snapshot file or response body read (4 MiB; real bodies are under 4 KiB).
pub const MAX_SNAPSHOT_BYTES: u64 = 4 << 20;

/// Connect timeout for loopback URLs.
const LOOPBACK_CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// Connect timeout for other hosts.
const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Whole-request timeout (connect, headers and body).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the URL's host is loopback (127.0.0.0/8, ::1, localhost).
pub fn url_is_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(|h| {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// Validates a bridge URL: `https://` anywhere, plain `http://` only to a loopback host.
pub fn parse_bridge_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{e}"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if url_is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "plain http:// is only allowed to loopback (127.0.0.1, ::1, localhost), not {}; use https://",
            url.host_str().unwrap_or("?")
        )),
        other => Err(format!(
            "unsupported scheme {other}://; use https:// or http://127.0.0.1"
        )),
    }
}

/// The URL as shown to people: no user name, password, query or fragment (they may hold secrets).
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// A URL as typed, for an error message about it: parsed, as [`display_url`] shows it; not
/// parsable, cut before any `?` or `#` and without anything before an `@` (user:password).
pub fn redact_url_text(s: &str) -> String {
    if let Ok(url) = Url::parse(s)
        && !url.cannot_be_a_base()
    {
        return display_url(&url);
    }
    let cut = s.find(['?', '#']).map_or(s, |i| &s[..i]);
    match cut.rfind('@') {
        Some(at) => {
            let start = cut.find("://").map_or(0, |i| i + 3).min(at);
            format!("{}<redacted>{}", &cut[..start], &cut[at..])
        }
        None => cut.to_owned(),
    }
}

/// Reads a snapshot file (`PATH`) or stdin (`-`), capped at [`MAX_SNAPSHOT_BYTES`].
/// A bare usage body's `fetched_at` is the file's modification time (stdin: `now`).
pub fn from_path(path: &std::ffi::OsStr, ctx: &ParseContext, now: DateTime<Utc>) -> Snapshot {
    if path == "-" {
        let origin = Origin {
            kind: "stdin".into(),
            location: "-".into(),
        };
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Snapshot::unknown(
                origin,
                "--snapshot - reads stdin, but stdin is a terminal; pipe a snapshot in",
            );
        }
        let bytes = match read_with_deadline(stdin.as_fd(), REQUEST_TIMEOUT) {
            Ok(b) => b,
            Err(why) => return Snapshot::unknown(origin, format!("stdin: {why}")),
        };
        let ctx = ParseContext {
            default_fetched_at: Some(now),
            ..ctx.clone()
        };
        return parse_with_org(&bytes, origin, ctx);
    }
    let path = Path::new(path);
    let origin = Origin {
        kind: "file".into(),
        location: path.display().to_string(),
    };
    // O_NONBLOCK: opening a FIFO nobody writes to must not block; reads of a regular file
    // ignore the flag, and anything else is read under the same deadline as a bridge.
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            return Snapshot::unknown(origin, format!("could not open {}: {e}", path.display()));
        }
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            return Snapshot::unknown(origin, format!("could not stat {}: {e}", path.display()));
        }
    };
    if meta.is_dir() {
        return Snapshot::unknown(
            origin,
            format!("{} is a directory, not a snapshot file", path.display()),
        );
    }
    if !meta.is_file() {
        let bytes = match read_with_deadline(file.as_fd(), REQUEST_TIMEOUT) {
            Ok(b) => b,
            Err(why) => return Snapshot::unknown(origin, format!("{}: {why}", path.display())),
        };
        let ctx = ParseContext {
            default_fetched_at: Some(now),
            ..ctx.clone()
        };
        return parse_with_org(&bytes, origin, ctx);
    }
    if meta.len() > MAX_SNAPSHOT_BYTES {
        return Snapshot::unknown(origin, too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    if let Err(e) = file.take(MAX_SNAPSHOT_BYTES + 1).read_to_end(&mut bytes) {
        return Snapshot::unknown(origin, format!("could not read {}: {e}", path.display()));
    }
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Snapshot::unknown(origin, too_large());
    }
    let mtime = meta.modified().ok().map(DateTime::<Utc>::from);
    let ctx = ParseContext {
        default_fetched_at: mtime,
        ..ctx.clone()
    };
    parse_with_org(&bytes, origin, ctx)
}

/// Reads a pipe, FIFO, terminal or socket (or anything else that may block) to its end, at most
/// [`MAX_SNAPSHOT_BYTES`], giving up after `timeout` (the deadline a bridge gets): a producer
/// that stalls (`--snapshot <(curl …)`, `--snapshot -` on a pipe left open) never hangs the
/// guard. Waits with `poll` and reads only what is ready, so the descriptor's flags are left
/// alone (stdin is inherited by `claude`). `Err` says what happened, in words.
pub fn read_with_deadline(fd: BorrowedFd<'_>, timeout: Duration) -> Result<Vec<u8>, String> {
    use nix::errno::Errno;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let deadline = Instant::now() + timeout;
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, wait) {
            Ok(0) => {
                return Err(format!(
                    "no end of input after {} s (the writer stalled or keeps the pipe open); not waiting longer",
                    timeout.as_secs()
                ));
            }
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("could not wait for input: {e}")),
        }
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return Ok(bytes),
            Ok(n) => {
                bytes.extend_from_slice(&buf[..n]);
                if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
                    return Err(too_large());
                }
            }
            Err(Errno::EINTR | Errno::EAGAIN) => {
                if left.is_zero() {
                    return Err(format!("no end of input after {} s", timeout.as_secs()));
                }
            }
            Err(e) => return Err(format!("could not read: {e}")),
        }
    }
}

fn too_large() -> String {
    format!(
        "the snapshot is larger than {} MiB; not read",
        MAX_SNAPSHOT_BYTES >> 20
    )
}

/// Parses, looking up Claude Code's logged-in organization only when an array needs it.
pub fn parse_with_org(bytes: &[u8], origin: Origin, mut ctx: ParseContext) -> Snapshot {
    if ctx.org.is_none() && snapshot::needs_logged_in_org(bytes) {
        ctx.logged_in_org = crate::state::claude_files::logged_in_org();
    }
    snapshot::parse(bytes, origin, &ctx)
}

/// Parses an already-decoded snapshot, looking up Claude Code's logged-in organization only
/// when an array of several organizations needs it.
pub fn parse_value_with_org(
    value: &serde_json::Value,
    origin: Origin,
    mut ctx: ParseContext,
) -> Snapshot {
    if ctx.org.is_none() && value.as_array().is_some_and(|a| a.len() > 1) {
        ctx.logged_in_org = crate::state::claude_files::logged_in_org();
    }
    snapshot::parse_value(value, origin, &ctx)
}

/// Builds a blocking HTTP client for `url`: short connect timeout and no proxy on loopback,
/// 2 s connect and the environment's proxies elsewhere; 5 s in all; no redirects off-host.
pub fn http_client(url: &Url) -> reqwest::Result<reqwest::blocking::Client> {
    let loopback = url_is_loopback(url);
    let mut builder = reqwest::blocking::Client::builder()
        .connect_timeout(if loopback {
            LOOPBACK_CONNECT_TIMEOUT
        } else {
            REMOTE_CONNECT_TIMEOUT
        })
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("claude-guard/", env!("CARGO_PKG_VERSION")));
    if loopback {
        builder = builder.no_proxy();
    }
    builder.build()
}

/// Reads at most `MAX_SNAPSHOT_BYTES` of a response body; `Err` names the problem.
pub fn read_capped(resp: reqwest::blocking::Response) -> Result<Vec<u8>, String> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_SNAPSHOT_BYTES)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    resp.take(MAX_SNAPSHOT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut || e.to_string().contains("timed out") {
                "timed out reading the body".to_owned()
            } else {
                format!("reading the body failed: {}", without_url(&e.to_string()))
            }
        })?;
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Describes a reqwest error without its URL (which may carry a query with secrets).
pub fn describe_http_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({})", without_url(&detail))
    }
}

fn without_url(s: &str) -> String {
    s.split_whitespace()
        .filter(|w| !w.contains("://"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// GETs a snapshot from a bridge URL. Any accepted snapshot shape may come back. `timeout`
/// bounds the whole request (at most [`REQUEST_TIMEOUT`]; less when the decision's time
/// budget is running out).
pub fn from_bridge(
    url: &Url,
    ctx: &ParseContext,
    now: DateTime<Utc>,
    timeout: Duration,
) -> Snapshot {
    let shown = display_url(url);
    let origin = Origin {
        kind: "bridge".into(),
        location: shown.clone(),
    };
    let client = match http_client(url) {
        Ok(c) => c,
        Err(e) => {
            return Snapshot::unknown(
                origin,
                format!("bridge {shown}: {}", describe_http_error(&e)),
            );
        }
    };
    let resp = match client
        .get(url.clone())
        .header("Accept", "application/json")
        .timeout(timeout.min(REQUEST_TIMEOUT))
        .send()
    {
        Ok(r) => r,
        Err(e) => {
            return Snapshot::unknown(
                origin,
                format!("bridge {shown}: {}", describe_http_error(&e)),
            );
        }
    };
    let status = resp.status();
    if !status.is_success() {
        return Snapshot::unknown(origin, format!("bridge {shown} answered HTTP {status}"));
    }
    match read_capped(resp) {
        Ok(bytes) => {
            let ctx = ParseContext {
                default_fetched_at: Some(now),
                ..ctx.clone()
            };
            parse_with_org(&bytes, origin, ctx)
        }
        Err(why) => Snapshot::unknown(origin, format!("bridge {shown}: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:63762/snapshots",
            "http://localhost/x",
            "http://[::1]:8/",
            "http://127.8.9.1/",
            "https://example.com/s",
        ] {
            assert!(parse_bridge_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/s",
            "http://10.0.0.1/",
            "http://192.168.1.2/",
            "ftp://127.0.0.1/",
            "file:///etc/passwd",
            "nonsense",
        ] {
            assert!(parse_bridge_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redact_url_text_hides_secrets_in_bad_urls() {
        assert_eq!(
            redact_url_text("ftp://u:pw@x.example/s?token=SECRET#f"),
            "ftp://x.example/s"
        );
        assert_eq!(
            redact_url_text("u:pw@host:99999/p?token=SECRET"),
            "<redacted>@host:99999/p"
        );
        assert_eq!(
            redact_url_text("http://h:bad port/?t=S"),
            "http://h:bad port/"
        );
    }

    #[test]
    fn display_url_drops_credentials() {
        let url = Url::parse("https://user:secret@example.com/s?token=abc#x").unwrap();
        assert_eq!(display_url(&url), "https://example.com/s");
    }
}
