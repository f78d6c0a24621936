//! The OAuth source: `GET {base}/api/oauth/usage` with Claude Code's own token
//! (research/claude-code-facts.md §3), and `GET {base}/api/oauth/profile` for the
//! organization and email the token belongs to (cached for a day per token fingerprint; not
//! requested when Claude Code's `oauthAccount` names the token's account). The two requests
//! go out together on one client.
//!
//! `base` is `https://api.anthropic.com`, or `CLAUDE_GUARD_OAUTH_BASE_URL` (a proxy, or a
//! local server in tests). Headers: `Authorization: Bearer <token>`,
//! `anthropic-beta: oauth-2025-04-20`, `User-Agent: claude-guard/<version>` (or
//! `CLAUDE_GUARD_USER_AGENT`). The token is never refreshed, written or shown.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::core::snapshot::{self, Origin, ParseContext};
use crate::state::cache::Entry;
use crate::state::credentials::{Credentials, Token, missing_scope_message, sha256_hex};
use crate::state::http::{self, Answer, Deadline};

/// Default base URL of the OAuth endpoints.
pub const DEFAULT_BASE: &str = "https://api.anthropic.com";
/// Environment variable overriding the base URL.
pub const BASE_ENV: &str = "CLAUDE_GUARD_OAUTH_BASE_URL";
/// The `anthropic-beta` value the OAuth endpoints need.
pub const BETA: &str = "oauth-2025-04-20";
/// A 429 without a usable `Retry-After` (absent or 0) backs off this long.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(300);
/// The longest back-off a `Retry-After` can impose.
pub const MAX_RETRY: Duration = Duration::from_secs(3600);
/// How long a fetched profile is reused.
const PROFILE_TTL: chrono::Duration = chrono::Duration::days(1);
/// How long a failed profile fetch is not retried.
const PROFILE_RETRY: chrono::Duration = chrono::Duration::hours(1);
/// The profile is optional: its request gets at most this long.
const PROFILE_TIMEOUT: Duration = Duration::from_secs(2);
/// The profile is only fetched when at least this much of the time budget is left.
const PROFILE_MIN_TIME: Duration = Duration::from_millis(1500);

/// What one live fetch gave (OAuth or claude.ai).
#[derive(Debug)]
pub enum Fetch {
    /// A good snapshot, as ClaudeMeter JSON (an object, or an array per organization).
    Good(Value),
    /// The server asks to wait (429, or a non-auth 403): no request for `wait`.
    Backoff {
        /// How long no request may be sent.
        wait: Duration,
        /// Why, in words.
        why: String,
    },
    /// The token or cookie was refused (401, missing scope): not sent again.
    Rejected(String),
    /// Unreachable, timed out, an error status, or a body that does not parse.
    Failed(String),
}

/// The back-off for a 429 with this `Retry-After`: its value (at most 1 h), or 5 minutes
/// when absent or 0.
pub fn retry_wait(retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(d) if !d.is_zero() => d.min(MAX_RETRY),
        _ => DEFAULT_RETRY,
    }
}

/// The cache key (file name stem) for this login: per account when the credentials name
/// it, else per token. A SHA-256 prefix: neither the account id nor the token is stored.
pub fn cache_name(creds: &Credentials) -> String {
    match &creds.account_uuid {
        Some(acct) => format!(
            "oauth-{}",
            &sha256_hex(&[b"claude-guard oauth account\0", acct.as_bytes()])[..16]
        ),
        None => format!(
            "oauth-{}",
            creds.token.fingerprint("claude-guard oauth token")
        ),
    }
}

/// The OAuth base URL (validated: https, or http to loopback).
pub fn base_url() -> Result<Url, String> {
    http::base_url(BASE_ENV, DEFAULT_BASE)
}

/// The request headers; `Err` says which value cannot be sent (the token, or
/// `CLAUDE_GUARD_USER_AGENT`), never showing it.
fn headers(token: &Token, beta: bool) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        http::secret_header(&format!("Bearer {}", token.expose()))
            .ok_or("the token is not a valid HTTP header value")?,
    );
    if beta {
        h.insert("anthropic-beta", HeaderValue::from_static(BETA));
    }
    h.insert(USER_AGENT, http::user_agent_header()?);
    h.insert(ACCEPT, HeaderValue::from_static("application/json"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(h)
}

/// Fetches usage (and, when not cached, the profile) and returns a ClaudeMeter object
/// `{org_uuid, account_email, fetched_at, usage, overage: null, subscription: null, errors}`.
pub fn fetch(creds: &Credentials, base: &Url, deadline: &Deadline) -> Fetch {
    let url = http::endpoint(base, "/api/oauth/usage");
    let Some(timeout) = deadline.request_timeout() else {
        return Fetch::Failed("no time left in the ~6 s budget for a request".into());
    };
    let client = match crate::state::source::http_client(&url) {
        Ok(c) => c,
        Err(e) => return Fetch::Failed(crate::state::source::describe_http_error(&e)),
    };
    let h = match headers(&creds.token, true) {
        Ok(h) => h,
        Err(why) => return Fetch::Failed(why),
    };
    // The profile, when neither cached nor known from Claude Code's oauthAccount, is fetched
    // alongside the usage on the same client: a cold start waits for one round trip, not two.
    let known = known_profile(creds);
    let (answer, profile) = std::thread::scope(|s| {
        let fetching = known
            .is_none()
            .then(|| s.spawn(|| fetch_and_record_profile(creds, base, &client, deadline)));
        let answer = http::get(&client, &url, h, timeout);
        let profile = match (known, fetching) {
            (Some(p), _) => p,
            (None, Some(t)) => t
                .join()
                .unwrap_or_else(|_| Err("the profile request failed".into())),
            (None, None) => Err("not fetched".into()),
        };
        (answer, profile)
    });
    let answer = match answer {
        Ok(a) => a,
        Err(why) => return Fetch::Failed(why),
    };
    let now = Utc::now();
    let body = match classify_usage(answer, &creds.from) {
        Ok(body) => body,
        Err(f) => return f,
    };
    let mut errors = Vec::new();
    if let Err(why) = &profile {
        errors.push(Value::String(format!("profile: {why}")));
    }
    let profile = profile.ok();
    Fetch::Good(json!({
        "org_uuid": profile.as_ref().and_then(|p| p.org_uuid.clone()),
        "account_email": profile.as_ref().and_then(|p| p.email.clone()),
        "fetched_at": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "usage": body,
        "overage": null,
        "subscription": null,
        "errors": errors,
    }))
}

/// Maps a usage answer to its body (a usage object) or what to do instead.
fn classify_usage(a: Answer, from: &str) -> Result<Value, Fetch> {
    let message = http::error_message(&a.body);
    let detail = message
        .as_deref()
        .map_or(String::new(), |m| format!(": {m}"));
    match a.status {
        200 => {}
        401 => {
            return Err(Fetch::Rejected(format!(
                "the OAuth token from {from} was rejected (HTTP 401{detail}); run `claude` once to refresh it"
            )));
        }
        403 if String::from_utf8_lossy(&a.body).contains("user:profile") => {
            return Err(Fetch::Rejected(format!(
                "HTTP 403: {}",
                missing_scope_message(from)
            )));
        }
        403 if a.html => {
            return Err(Fetch::Failed(
                "HTTP 403 with an HTML page (blocked by a web front or proxy), not JSON".into(),
            ));
        }
        403 if message.is_some() => {
            return Err(Fetch::Rejected(format!(
                "the OAuth token from {from} is not allowed to read usage (HTTP 403{detail})"
            )));
        }
        403 => {
            return Err(Fetch::Backoff {
                wait: retry_wait(a.retry_after),
                why: "forbidden (HTTP 403)".into(),
            });
        }
        429 => {
            return Err(Fetch::Backoff {
                wait: retry_wait(a.retry_after),
                why: format!("rate limited (HTTP 429{detail})"),
            });
        }
        s => {
            return Err(Fetch::Failed(if a.html {
                format!("answered HTTP {s} with an HTML page, not JSON")
            } else {
                format!("answered HTTP {s}{detail}")
            }));
        }
    }
    if a.html {
        return Err(Fetch::Failed(
            "answered with an HTML page, not JSON (a proxy or web front in the way?)".into(),
        ));
    }
    let value: Value = crate::core::snapshot::decode(&a.body)
        .map_err(|why| Fetch::Failed(format!("the body {why}")))?;
    match &value {
        Value::Object(m) if m.is_empty() => {
            return Err(Fetch::Rejected(format!(
                "the usage body is empty ({{}}): {}",
                missing_scope_message(from)
            )));
        }
        Value::Object(m)
            if m.get("error")
                .and_then(|e| e.get("type"))
                .and_then(Value::as_str)
                == Some("rate_limit_error") =>
        {
            return Err(Fetch::Backoff {
                wait: DEFAULT_RETRY,
                why: "rate limited (rate_limit_error in a 200 body)".into(),
            });
        }
        _ => {}
    }
    let origin = Origin {
        kind: "oauth".into(),
        location: String::new(),
    };
    let parsed = snapshot::parse_value(&value, origin, &ParseContext::default());
    if parsed.usage.is_none() {
        return Err(Fetch::Failed(parsed.problems.join("; ")));
    }
    Ok(value)
}

/// Who a token belongs to (from `/api/oauth/profile`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    /// When it was fetched (or when the fetch failed).
    pub fetched_at: Option<DateTime<Utc>>,
    /// `organization.uuid`.
    pub org_uuid: Option<String>,
    /// `account.email`.
    pub email: Option<String>,
    /// Set when the fetch failed: why (the fetch is not retried for an hour).
    pub failed: Option<String>,
}

fn profile_entry(creds: &Credentials) -> Option<Entry> {
    Entry::new(&format!(
        "profile-{}",
        creds.token.fingerprint("claude-guard profile")
    ))
}

/// The token's profile when it is known without a request: cached and younger than a day
/// (a failure cached within the hour gives its reason), or Claude Code's `oauthAccount` in
/// the global config when its `accountUuid` is the token's account. `None`: fetch it.
fn known_profile(creds: &Credentials) -> Option<Result<Profile, String>> {
    let now = Utc::now();
    if let Some(p) = profile_entry(creds).and_then(|e| e.read_json::<Profile>()) {
        let age = p.fetched_at.map(|t| now - t);
        match &p.failed {
            None if age.is_some_and(|a| a < PROFILE_TTL) => return Some(Ok(p)),
            Some(why) if age.is_some_and(|a| a < PROFILE_RETRY) => return Some(Err(why.clone())),
            _ => {}
        }
    }
    let account = creds.account_uuid.as_deref()?;
    let (_, config) = crate::state::claude_files::global_config_parts().ok()?;
    let oauth_account = config.oauth_account.as_ref()?;
    let text = |k: &str| {
        oauth_account
            .get(k)
            .and_then(Value::as_str)
            .map(snapshot::sanitize)
    };
    if text("accountUuid").as_deref() != Some(account) {
        return None;
    }
    let org_uuid = text("organizationUuid")?;
    Some(Ok(Profile {
        fetched_at: Some(now),
        org_uuid: Some(org_uuid),
        email: text("emailAddress"),
        failed: None,
    }))
}

/// Fetches the token's profile (when enough of the time budget is left) and caches the
/// result, a failure included (not retried for an hour). `Err` says why there is none.
fn fetch_and_record_profile(
    creds: &Credentials,
    base: &Url,
    client: &reqwest::blocking::Client,
    deadline: &Deadline,
) -> Result<Profile, String> {
    if deadline.remaining() < PROFILE_MIN_TIME {
        return Err("not fetched (too little of the time budget left)".into());
    }
    let now = Utc::now();
    let fetched = fetch_profile(creds, base, client, deadline);
    let record = match &fetched {
        Ok(p) => p.clone(),
        Err(why) => Profile {
            fetched_at: Some(now),
            failed: Some(why.clone()),
            ..Profile::default()
        },
    };
    if let Some(e) = profile_entry(creds) {
        e.write_json(&record);
    }
    fetched
}

fn fetch_profile(
    creds: &Credentials,
    base: &Url,
    client: &reqwest::blocking::Client,
    deadline: &Deadline,
) -> Result<Profile, String> {
    let url = http::endpoint(base, "/api/oauth/profile");
    let timeout = deadline
        .request_timeout()
        .ok_or("no time left for a request")?
        .min(PROFILE_TIMEOUT);
    let mut h = headers(&creds.token, false)?;
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let a = http::get(client, &url, h, timeout)?;
    if a.status != 200 || a.html {
        return Err(format!(
            "{} answered HTTP {}",
            crate::state::source::display_url(&url),
            a.status
        ));
    }
    let v: Value =
        serde_json::from_slice(&a.body).map_err(|_| "the profile is not valid JSON".to_owned())?;
    let text = |p: &[&str]| {
        p.iter()
            .try_fold(&v, |v, k| v.get(*k))
            .and_then(Value::as_str)
            .map(snapshot::sanitize)
    };
    Ok(Profile {
        fetched_at: Some(Utc::now()),
        org_uuid: text(&["organization", "uuid"]),
        email: text(&["account", "email"]),
        failed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, retry: Option<u64>) -> Answer {
        Answer {
            status,
            retry_after: retry.map(Duration::from_secs),
            html: body.trim_start().starts_with('<'),
            body: body.as_bytes().to_vec(),
        }
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/payloads/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn statuses_map_to_actions() {
        let r = classify_usage(
            answer(
                401,
                &fixture("oauth_usage_error__401_token_expired_error_code.json"),
                None,
            ),
            "f",
        );
        assert!(matches!(r, Err(Fetch::Rejected(ref m)) if m.contains("run `claude`")));
        let r = classify_usage(
            answer(
                403,
                &fixture("oauth_usage_error__403_scope_user_profile.json"),
                None,
            ),
            "f",
        );
        assert!(
            matches!(r, Err(Fetch::Rejected(ref m)) if m.contains("user:profile") && m.contains("setup-token"))
        );
        let r = classify_usage(
            answer(
                429,
                &fixture("oauth_usage_error__429_no_envelope_type_first.json"),
                Some(6),
            ),
            "f",
        );
        assert!(matches!(r, Err(Fetch::Backoff { wait, .. }) if wait == Duration::from_secs(6)));
        let r = classify_usage(answer(429, "", Some(0)), "f");
        assert!(matches!(r, Err(Fetch::Backoff { wait, .. }) if wait == DEFAULT_RETRY));
        let r = classify_usage(answer(200, "{}", None), "f");
        assert!(matches!(r, Err(Fetch::Rejected(ref m)) if m.contains("user:profile")));
        let r = classify_usage(answer(200, "<html>cf</html>", None), "f");
        assert!(matches!(r, Err(Fetch::Failed(ref m)) if m.contains("HTML")));
        let r = classify_usage(answer(200, "not json", None), "f");
        assert!(matches!(r, Err(Fetch::Failed(ref m)) if m.contains("not valid JSON")));
        let r = classify_usage(answer(502, "", None), "f");
        assert!(matches!(r, Err(Fetch::Failed(ref m)) if m.contains("502")));
        let r = classify_usage(
            answer(
                200,
                &fixture("oauth_usage__2026-04_issue202_opus_null_sonnet_extra_disabled.json"),
                None,
            ),
            "f",
        );
        assert!(r.is_ok());
    }

    #[test]
    fn retry_wait_rules() {
        assert_eq!(retry_wait(None), DEFAULT_RETRY);
        assert_eq!(retry_wait(Some(Duration::ZERO)), DEFAULT_RETRY);
        assert_eq!(
            retry_wait(Some(Duration::from_secs(90))),
            Duration::from_secs(90)
        );
        assert_eq!(retry_wait(Some(Duration::from_secs(99999))), MAX_RETRY);
    }
}
