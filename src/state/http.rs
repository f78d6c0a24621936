//! The small HTTP layer the live sources share: a deadline for the whole decision, one GET
//! with a capped body, `Retry-After`, and telling an HTML page (a Cloudflare challenge) from
//! JSON. Clients come from [`crate::state::source::http_client`] (no proxy and a 300 ms connect
//! timeout on loopback, 2 s elsewhere). Nothing here is built unless a request will be sent.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::state::source::{REQUEST_TIMEOUT, describe_http_error};

/// The longest the live sources may take together (lock waits and requests), so that a
/// decision never takes much more than 6 s.
pub const BUDGET: Duration = Duration::from_millis(5900);

/// Below this much time left, no request is started.
const MIN_REQUEST_TIME: Duration = Duration::from_millis(250);

/// The end of the time budget for one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline [`BUDGET`] from now.
    pub fn start() -> Self {
        Deadline(Instant::now() + BUDGET)
    }

    /// Time left (zero when past).
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// The timeout for one request: at most 5 s and what is left; `None` when too little is left.
    pub fn request_timeout(&self) -> Option<Duration> {
        let left = self.remaining();
        (left >= MIN_REQUEST_TIME).then(|| left.min(REQUEST_TIMEOUT))
    }
}

/// `User-Agent` for the live sources: `claude-guard/<version>`, or `CLAUDE_GUARD_USER_AGENT`.
pub fn user_agent() -> String {
    std::env::var("CLAUDE_GUARD_USER_AGENT")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| concat!("claude-guard/", env!("CARGO_PKG_VERSION")).to_owned())
}

/// [`user_agent`] as a header value; `Err` says what is wrong with `CLAUDE_GUARD_USER_AGENT`.
pub fn user_agent_header() -> Result<HeaderValue, String> {
    HeaderValue::from_str(&user_agent()).map_err(|_| {
        "CLAUDE_GUARD_USER_AGENT is not a valid HTTP header value (it holds a control character \
         such as a newline, or non-ASCII text); unset it or use printable ASCII"
            .to_owned()
    })
}

/// A base URL from an environment variable (or its default): `https://` anywhere, `http://`
/// only to loopback, because a token or cookie is sent to it.
pub fn base_url(var: &str, default: &str) -> Result<Url, String> {
    let raw = std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned());
    let url = crate::state::source::parse_bridge_url(&raw).map_err(|e| format!("{var}: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{var}: a base URL takes no ?query or #fragment (paths are appended to it); give only \
             scheme, host and an optional path prefix, e.g. https://proxy.example/anthropic"
        ));
    }
    Ok(url)
}

/// `base` + `path` (`path` starts with `/`), keeping any path prefix of `base` (a proxy).
pub fn endpoint(base: &Url, path: &str) -> Url {
    let joined = format!("{}{path}", base.as_str().trim_end_matches('/'));
    Url::parse(&joined).unwrap_or_else(|_| base.clone())
}

/// An answer: status, `Retry-After`, whether it is HTML, and the (capped) body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// `Retry-After`, when given (seconds or an HTTP date).
    pub retry_after: Option<Duration>,
    /// The body looks like an HTML page (content type or first byte), not JSON.
    pub html: bool,
    /// The body, at most [`crate::state::source::MAX_SNAPSHOT_BYTES`].
    pub body: Vec<u8>,
}

/// Sends one GET with `headers`, bounded by `timeout`. `Err` is a description without URLs
/// or header values.
pub fn get(
    client: &reqwest::blocking::Client,
    url: &Url,
    headers: HeaderMap,
    timeout: Duration,
) -> Result<Answer, String> {
    let resp = client
        .get(url.clone())
        .headers(headers)
        .timeout(timeout)
        .send()
        .map_err(|e| describe_http_error(&e))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()));
    let html_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().contains("html"));
    let body = crate::state::source::read_capped(resp)?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    Ok(Answer {
        status,
        retry_after,
        html: html_type || first == Some(b'<'),
        body,
    })
}

/// Parses `Retry-After`: delta seconds, or an HTTP date (relative to `now`).
pub fn parse_retry_after(v: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Delta seconds beyond u64 are still a (very long) wait, not an absent header: saturate;
        // the caller caps the wait.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default())
}

/// A header value that reqwest/hyper treat as sensitive (never shown in debug output).
pub fn secret_header(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// A short, printable excerpt of an error body's message (`error.message` or `error.type`).
pub fn error_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error")?;
    let msg = err
        .get("message")
        .and_then(|m| m.as_str())
        .or_else(|| err.get("type").and_then(|t| t.as_str()))
        .or_else(|| err.as_str())?;
    Some(crate::core::snapshot::sanitize(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_forms() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(parse_retry_after("6", now), Some(Duration::from_secs(6)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        // beyond u64: a long wait (capped by the caller), not an absent header
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn endpoint_keeps_a_proxy_prefix() {
        let base = Url::parse("https://proxy.example/anthropic/").unwrap();
        assert_eq!(
            endpoint(&base, "/api/oauth/usage").as_str(),
            "https://proxy.example/anthropic/api/oauth/usage"
        );
        let base = Url::parse("https://api.anthropic.com").unwrap();
        assert_eq!(
            endpoint(&base, "/api/oauth/usage").as_str(),
            "https://api.anthropic.com/api/oauth/usage"
        );
    }

    #[test]
    fn error_messages_from_real_bodies() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/payloads/oauth_usage_error__403_scope_user_profile.json"
        ))
        .unwrap();
        assert!(error_message(&body).unwrap().contains("user:profile"));
    }
}
