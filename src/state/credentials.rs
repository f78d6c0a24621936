//! Claude Code's own OAuth login, read only (research/claude-code-facts.md §1). The guard
//! never refreshes, writes or prints a token: [`Token`] prints `<redacted>` and only
//! [`Token::expose`] (used to build one request header) gives the value out.
//!
//! Lookup order:
//! 1. `CLAUDE_CODE_OAUTH_TOKEN` (scopes from `CLAUDE_CODE_OAUTH_SCOPES`, else `user:inference`
//!    only, as Claude Code assumes: such a token is never sent to the usage endpoint);
//! 2. `<dir>/.credentials.json` → `claudeAiOauth`, where `<dir>` is
//!    `$CLAUDE_SECURESTORAGE_CONFIG_DIR` (empty: `~/.claude`), else `$CLAUDE_CONFIG_DIR`, else
//!    `~/.claude`;
//! 3. on macOS, the keychain item `Claude Code-credentials[-<sha256(dir)[..8]>]` (§1b), read
//!    with `security find-generic-password`. It is also tried when the file's token has expired.

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// The scope `/api/oauth/usage` needs.
pub const PROFILE_SCOPE: &str = "user:profile";

/// A token is treated as expired this long before its `expiresAt` (Claude Code does the same).
const EXPIRY_MARGIN_MS: i64 = 5 * 60 * 1000;

/// Largest credentials file read.
const MAX_CREDENTIALS_BYTES: u64 = 1 << 20;

/// A secret: an OAuth access token or a claude.ai session cookie value. `Debug` and `Display`
/// print `<redacted>`, so it cannot leak through logs, errors or `--explain`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }

    /// The secret itself, for building the one request header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A non-reversible fingerprint (first 16 hex digits of SHA-256 over a domain tag and the
    /// value), used as a cache key and to remember a rejected token without storing it.
    pub fn fingerprint(&self, domain: &str) -> String {
        sha256_hex(&[domain.as_bytes(), b"\0", self.0.as_bytes()])[..16].to_owned()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Lower-case hex SHA-256 over the concatenated parts.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A usable-looking OAuth login.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The access token.
    pub token: Token,
    /// `expiresAt` (epoch ms in the file); `None` when the source gives none (env token).
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted scopes, when known.
    pub scopes: Option<Vec<String>>,
    /// `accountUuid`, when the file carries it (newer Claude Code versions).
    pub account_uuid: Option<String>,
    /// Where it came from, for messages: `CLAUDE_CODE_OAUTH_TOKEN`, a file path, or the
    /// keychain item's name. Never the token.
    pub from: String,
}

/// The outcome of looking for a login.
#[derive(Debug)]
pub enum Lookup {
    /// A token was found.
    Found(Credentials),
    /// No login is configured; the string says where the guard looked.
    NotConfigured(String),
    /// A login exists but cannot be used (unreadable file, ended login); the string says why.
    Unusable(String),
}

impl Credentials {
    /// Why this token must not be sent at `now`: expired (or about to), or known to lack the
    /// `user:profile` scope. `None` when it may be sent.
    pub fn unusable_because(&self, now: DateTime<Utc>) -> Option<String> {
        if let Some(exp) = self.expires_at
            && now.timestamp_millis() + EXPIRY_MARGIN_MS >= exp.timestamp_millis()
        {
            return Some(format!(
                "the OAuth token from {} expired at {} (or expires within 5 minutes); run `claude` once to refresh it (claude-guard never refreshes tokens)",
                self.from,
                exp.format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
        if let Some(scopes) = &self.scopes
            && !scopes.iter().any(|s| s == PROFILE_SCOPE)
        {
            return Some(missing_scope_message(&self.from));
        }
        None
    }
}

/// The message for a token without `user:profile` (known from its scopes, or from a 403). For
/// `CLAUDE_CODE_OAUTH_TOKEN` it also says how to declare a full-login token's scopes.
pub fn missing_scope_message(from: &str) -> String {
    let mut msg = format!(
        "the OAuth token from {from} lacks the user:profile scope, so it cannot read usage (a `claude setup-token` token is inference-only): log in fully with `claude`, or use --snapshot or a bridge"
    );
    if from == "CLAUDE_CODE_OAUTH_TOKEN" {
        msg.push_str(
            "; Claude Code takes an environment token's scopes to be `user:inference` unless CLAUDE_CODE_OAUTH_SCOPES says otherwise: if it is a full-login token (e.g. in CI), set CLAUDE_CODE_OAUTH_SCOPES=\"user:inference user:profile\" beside it",
        );
    }
    msg
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The directory of `.credentials.json` (facts §1a).
pub fn secure_storage_dir() -> Option<PathBuf> {
    match std::env::var_os("CLAUDE_SECURESTORAGE_CONFIG_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        Some(_) => crate::state::claude_files::home().map(|h| h.join(".claude")),
        None => crate::state::claude_files::config_dir(),
    }
}

/// Finds Claude Code's login. Reads files (and on macOS runs `security`); no network.
pub fn find() -> Lookup {
    if let Some(token) = env_nonempty("CLAUDE_CODE_OAUTH_TOKEN") {
        // As Claude Code: `user:inference` only, unless CLAUDE_CODE_OAUTH_SCOPES lists more. The
        // usage endpoint is never called with a token not known to carry `user:profile` (a 403
        // there has been reported to trip an hour-long 429 for the whole host).
        let scopes = Some(
            env_nonempty("CLAUDE_CODE_OAUTH_SCOPES")
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_else(|| vec!["user:inference".to_owned()]),
        );
        return Lookup::Found(Credentials {
            token: Token::new(token),
            expires_at: None,
            scopes,
            account_uuid: None,
            from: "CLAUDE_CODE_OAUTH_TOKEN".into(),
        });
    }
    let Some(dir) = secure_storage_dir() else {
        return Lookup::NotConfigured("no Claude Code login (HOME is not set)".into());
    };
    let path = dir.join(".credentials.json");
    let from_file = read_file(&path);
    #[cfg(target_os = "macos")]
    {
        let file_ok =
            matches!(&from_file, Lookup::Found(c) if c.unusable_because(Utc::now()).is_none());
        if !file_ok && let Some(found) = keychain::read() {
            return found;
        }
    }
    from_file
}

fn read_file(path: &std::path::Path) -> Lookup {
    let shown = path.display().to_string();
    let bytes = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Lookup::NotConfigured(format!(
                "no Claude Code login: {shown} does not exist and CLAUDE_CODE_OAUTH_TOKEN is not set"
            ));
        }
        Err(e) => return Lookup::Unusable(format!("could not read {shown}: {e}")),
        Ok(m) if !m.is_file() || m.len() > MAX_CREDENTIALS_BYTES => {
            return Lookup::Unusable(format!("{shown} is not a credentials file"));
        }
        Ok(_) => match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return Lookup::Unusable(format!("could not read {shown}: {e}")),
        },
    };
    parse_blob(&bytes, shown)
}

/// Parses a `{"claudeAiOauth": {...}}` blob (file or keychain). Never echoes its content.
pub fn parse_blob(bytes: &[u8], from: String) -> Lookup {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Lookup::Unusable(format!("{from} is not valid JSON"));
    };
    let Some(oauth) = value.get("claudeAiOauth").and_then(Value::as_object) else {
        return Lookup::NotConfigured(format!("no claude.ai login (claudeAiOauth) in {from}"));
    };
    let token = oauth
        .get("accessToken")
        .and_then(Value::as_str)
        .unwrap_or("");
    if token.is_empty() {
        return Lookup::Unusable(format!(
            "Claude Code's login in {from} has ended (no access token); run `claude` and log in again"
        ));
    }
    let expires_at = oauth
        .get("expiresAt")
        .and_then(Value::as_i64)
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    let scopes = oauth.get("scopes").and_then(|s| match s {
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
        _ => None,
    });
    Lookup::Found(Credentials {
        token: Token::new(token),
        expires_at,
        scopes,
        account_uuid: oauth
            .get("accountUuid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        from,
    })
}

/// The keychain service name Claude Code uses (facts §1b), from its environment:
/// `Claude Code-credentials`, plus `-<first 8 hex of sha256(dir)>` when
/// `CLAUDE_SECURESTORAGE_CONFIG_DIR` is non-empty (dir = it) or, when that is unset,
/// `CLAUDE_CONFIG_DIR` is non-empty (dir = it). Paths are used as given (Claude Code
/// NFC-normalizes them first; ASCII paths are already NFC).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub fn keychain_service(secure_dir: Option<&str>, config_dir: Option<&str>) -> String {
    let dir = match secure_dir {
        Some("") => None,
        Some(d) => Some(d),
        None => config_dir.filter(|d| !d.is_empty()),
    };
    match dir {
        None => "Claude Code-credentials".into(),
        Some(d) => format!(
            "Claude Code-credentials-{}",
            &sha256_hex(&[d.as_bytes()])[..8]
        ),
    }
}

/// The keychain account: `$USER` when it matches `[a-zA-Z0-9._-]+`, else `claude-code-user`.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub fn keychain_account(user: Option<&str>) -> String {
    match user {
        Some(u)
            if !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) =>
        {
            u.to_owned()
        }
        _ => "claude-code-user".into(),
    }
}

#[cfg(target_os = "macos")]
mod keychain {
    //! `security find-generic-password -a <user> -w -s <service>`, bounded to 2 s.

    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::{Lookup, keychain_account, keychain_service, parse_blob};

    const TIMEOUT: Duration = Duration::from_secs(2);

    /// The login from the keychain; `None` when there is no such item.
    pub fn read() -> Option<Lookup> {
        let secure = std::env::var("CLAUDE_SECURESTORAGE_CONFIG_DIR").ok();
        let config = std::env::var("CLAUDE_CONFIG_DIR").ok();
        let service = keychain_service(secure.as_deref(), config.as_deref());
        let account = keychain_account(std::env::var("USER").ok().as_deref());
        let mut child = Command::new("/usr/bin/security")
            .args([
                "find-generic-password",
                "-a",
                &account,
                "-w",
                "-s",
                &service,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if started.elapsed() < TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Some(Lookup::Unusable(format!(
                        "reading the macOS keychain item {service:?} took longer than 2 s"
                    )));
                }
            }
        };
        if !status.success() {
            return None;
        }
        let mut out = Vec::new();
        child.stdout.take()?.read_to_end(&mut out).ok()?;
        let text = String::from_utf8_lossy(&out).trim().to_owned();
        let bytes = if text.starts_with('{') {
            text.into_bytes()
        } else {
            decode_hex(&text)?
        };
        Some(parse_blob(
            &bytes,
            format!("the macOS keychain item {service:?}"),
        ))
    }

    fn decode_hex(s: &str) -> Option<Vec<u8>> {
        if !s.len().is_multiple_of(2) {
            return None;
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_prints() {
        let t = Token::new("sk-ant-oat01-SECRET");
        assert_eq!(format!("{t}"), "<redacted>");
        assert_eq!(format!("{t:?}"), "<redacted>");
        let c = Credentials {
            token: t.clone(),
            expires_at: None,
            scopes: None,
            account_uuid: None,
            from: "x".into(),
        };
        assert!(!format!("{c:?}").contains("SECRET"));
        assert_eq!(t.fingerprint("a").len(), 16);
        assert_ne!(t.fingerprint("a"), t.fingerprint("b"));
    }

    #[test]
    fn keychain_service_name_rule() {
        assert_eq!(keychain_service(None, None), "Claude Code-credentials");
        assert_eq!(keychain_service(None, Some("")), "Claude Code-credentials");
        assert_eq!(
            keychain_service(Some(""), Some("/x")),
            "Claude Code-credentials"
        );
        let sha = sha256_hex(&[b"/tmp/cc"]);
        assert_eq!(
            keychain_service(None, Some("/tmp/cc")),
            format!("Claude Code-credentials-{}", &sha[..8])
        );
        assert_eq!(
            keychain_service(Some("/tmp/cc"), Some("/other")),
            format!("Claude Code-credentials-{}", &sha[..8])
        );
        // sha256("abc") is a published test vector.
        assert_eq!(
            sha256_hex(&[b"a", b"bc"]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(keychain_account(Some("alice")), "alice");
        assert_eq!(keychain_account(Some("a b")), "claude-code-user");
        assert_eq!(keychain_account(None), "claude-code-user");
    }

    #[test]
    fn parses_the_real_credentials_shape() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/payloads/credentials__claudeAiOauth_max5x_three_scopes.json"
        ))
        .unwrap();
        let Lookup::Found(c) = parse_blob(&bytes, "f".into()) else {
            panic!()
        };
        assert_eq!(c.expires_at.unwrap().timestamp_millis(), 1768384301294);
        assert!(
            c.scopes
                .as_ref()
                .unwrap()
                .iter()
                .any(|s| s == PROFILE_SCOPE)
        );
        let before = Utc
            .timestamp_millis_opt(1768384301294 - 6 * 60_000)
            .unwrap();
        assert!(c.unusable_because(before).is_none());
        let within_margin = Utc
            .timestamp_millis_opt(1768384301294 - 4 * 60_000)
            .unwrap();
        assert!(
            c.unusable_because(within_margin)
                .unwrap()
                .contains("run `claude`")
        );
    }

    #[test]
    fn ended_login_and_missing_scope() {
        let ended = br#"{"claudeAiOauth":{"accessToken":"","refreshToken":"","expiresAt":0}}"#;
        assert!(matches!(parse_blob(ended, "f".into()), Lookup::Unusable(_)));
        let inference_only =
            br#"{"claudeAiOauth":{"accessToken":"t","expiresAt":null,"scopes":["user:inference"]}}"#;
        let Lookup::Found(c) = parse_blob(inference_only, "f".into()) else {
            panic!()
        };
        assert!(
            c.unusable_because(Utc::now())
                .unwrap()
                .contains("user:profile")
        );
        assert!(matches!(
            parse_blob(br#"{"mcpOAuth":{}}"#, "f".into()),
            Lookup::NotConfigured(_)
        ));
    }
}
