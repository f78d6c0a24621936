//! The claude.ai source, with a session cookie (`CLAUDE_GUARD_SESSION_KEY`, sent as
//! `Cookie: sessionKey=<value>`). The only source of out-of-credits detail and subscription
//! status (the OAuth token cannot read them).
//!
//! `GET {web}/api/account` lists the organizations (memberships); then, per organization
//! picked: `/api/organizations/{org}/usage` (required), `/overage_spend_limit` (404 = extra
//! usage never enabled) and `/subscription_details`. `web` is `https://claude.ai` or
//! `CLAUDE_GUARD_WEB_BASE_URL`. A Cloudflare HTML challenge instead of JSON is reported as
//! "blocked by the web front; use OAuth".

use reqwest::Url;
use reqwest::header::{ACCEPT, COOKIE, HeaderMap, HeaderValue, USER_AGENT};
use serde_json::{Value, json};

use crate::core::snapshot::{self, Origin, ParseContext, sanitize};
use crate::state::credentials::Token;
use crate::state::http::{self, Answer, Deadline};
use crate::state::oauth::{Fetch, retry_wait};

/// Default base URL.
pub const DEFAULT_BASE: &str = "https://claude.ai";
/// Environment variable overriding the base URL.
pub const BASE_ENV: &str = "CLAUDE_GUARD_WEB_BASE_URL";
/// Environment variable holding the `sessionKey` cookie value.
pub const KEY_ENV: &str = "CLAUDE_GUARD_SESSION_KEY";
/// At most this many organizations are read when none can be picked up front.
const MAX_ORGS: usize = 4;

/// The session cookie value, when set.
pub fn session_key() -> Option<Token> {
    std::env::var(KEY_ENV)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(Token::new)
}

/// The claude.ai base URL (validated: https, or http to loopback).
pub fn base_url() -> Result<Url, String> {
    http::base_url(BASE_ENV, DEFAULT_BASE)
}

/// The cache key (file name stem) for this cookie.
pub fn cache_name(key: &Token) -> String {
    format!("web-{}", key.fingerprint("claude-guard web session"))
}

const BLOCKED: &str = "claude.ai answered with an HTML page (a Cloudflare challenge?) instead of JSON: blocked by the web front; use OAuth (log in with `claude`) instead of CLAUDE_GUARD_SESSION_KEY";

/// How one request ended when it is not a usable JSON body.
fn refusal(a: &Answer, what: &str) -> Option<Fetch> {
    if a.html {
        return Some(Fetch::Failed(format!(
            "{BLOCKED} (HTTP {}, {what})",
            a.status
        )));
    }
    let detail = http::error_message(&a.body).map_or(String::new(), |m| format!(": {m}"));
    match a.status {
        200..=299 => None,
        401 | 403 => Some(Fetch::Rejected(format!(
            "claude.ai rejected the session key (HTTP {}{detail}, {what}); copy a fresh sessionKey cookie from a logged-in claude.ai tab into {KEY_ENV}",
            a.status
        ))),
        429 => Some(Fetch::Backoff {
            wait: retry_wait(a.retry_after),
            why: format!("rate limited (HTTP 429{detail}, {what})"),
        }),
        s => Some(Fetch::Failed(format!("{what} answered HTTP {s}{detail}"))),
    }
}

/// The organizations of `/api/account`: `(uuid, name)`, and the account email.
fn memberships(v: &Value) -> (Vec<(String, String)>, Option<String>) {
    let orgs = v
        .get("memberships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let org = m.get("organization")?;
            let uuid = org.get("uuid")?.as_str()?;
            let safe =
                !uuid.is_empty() && uuid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            safe.then(|| {
                (
                    uuid.to_owned(),
                    org.get("name")
                        .and_then(Value::as_str)
                        .map(sanitize)
                        .unwrap_or_default(),
                )
            })
        })
        .collect();
    let email = v
        .get("email_address")
        .or_else(|| v.get("email"))
        .and_then(Value::as_str)
        .map(sanitize);
    (orgs, email)
}

/// Fetches the account and its organizations' usage, extra usage and subscription. `org` is
/// `--org`; `logged_in_org` names Claude Code's organization (looked up only when needed).
/// Returns a ClaudeMeter array, one object per organization read.
pub fn fetch(
    key: &Token,
    base: &Url,
    org: Option<&str>,
    logged_in_org: &dyn Fn() -> Option<String>,
    deadline: &Deadline,
) -> Fetch {
    let account_url = http::endpoint(base, "/api/account");
    let client = match crate::state::source::http_client(&account_url) {
        Ok(c) => c,
        Err(e) => return Fetch::Failed(crate::state::source::describe_http_error(&e)),
    };
    let Some(cookie) = http::secret_header(&format!("sessionKey={}", key.expose())) else {
        return Fetch::Failed(format!("{KEY_ENV} is not a valid cookie value"));
    };
    let mut h = HeaderMap::new();
    h.insert(COOKIE, cookie);
    h.insert(ACCEPT, HeaderValue::from_static("application/json"));
    match http::user_agent_header() {
        Ok(ua) => _ = h.insert(USER_AGENT, ua),
        Err(why) => return Fetch::Failed(why),
    }
    let get = |path: &str| -> Result<Answer, String> {
        let timeout = deadline
            .request_timeout()
            .ok_or("no time left in the ~6 s budget for a request")?;
        http::get(&client, &http::endpoint(base, path), h.clone(), timeout)
            .map_err(|e| format!("{path}: {e}"))
    };
    let account = match get("/api/account") {
        Ok(a) => a,
        Err(why) => return Fetch::Failed(why),
    };
    if let Some(f) = refusal(&account, "/api/account") {
        return f;
    }
    let Ok(account) = serde_json::from_slice::<Value>(&account.body) else {
        return Fetch::Failed("/api/account: the body is not valid JSON".into());
    };
    let (orgs, email) = memberships(&account);
    if orgs.is_empty() {
        return Fetch::Failed("/api/account lists no organization".into());
    }
    let picked: Vec<&(String, String)> = match org {
        Some(want) => {
            let by_uuid: Vec<_> = orgs
                .iter()
                .filter(|(u, _)| u.eq_ignore_ascii_case(want))
                .collect();
            if !by_uuid.is_empty() {
                by_uuid
            } else if email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(want))
            {
                orgs.iter().take(MAX_ORGS).collect()
            } else {
                let names: Vec<String> = orgs.iter().map(|(u, n)| format!("{n} ({u})")).collect();
                return Fetch::Failed(format!(
                    "--org {want} is not one of this session's organizations: {}",
                    names.join(", ")
                ));
            }
        }
        None if orgs.len() == 1 => orgs.iter().collect(),
        None => match logged_in_org() {
            Some(li) if orgs.iter().any(|(u, _)| *u == li) => {
                orgs.iter().filter(|(u, _)| *u == li).collect()
            }
            _ => orgs.iter().take(MAX_ORGS).collect(),
        },
    };
    let mut entries = Vec::new();
    let mut usage_errors = Vec::new();
    for (uuid, _name) in picked {
        let base_path = format!("/api/organizations/{uuid}");
        let now = chrono::Utc::now();
        let mut errors: Vec<Value> = Vec::new();
        let usage_path = format!("{base_path}/usage");
        let usage = match get(&usage_path) {
            Err(why) => {
                usage_errors.push(why.clone());
                errors.push(Value::String(why));
                Value::Null
            }
            Ok(a) => match refusal(&a, &usage_path) {
                Some(Fetch::Failed(why)) if !a.html => {
                    usage_errors.push(why.clone());
                    errors.push(Value::String(why));
                    Value::Null
                }
                Some(other) => return other,
                None => match usage_body(&a.body) {
                    Ok(v) => v,
                    Err(why) => {
                        let why = format!("{usage_path}: {why}");
                        usage_errors.push(why.clone());
                        errors.push(Value::String(why));
                        Value::Null
                    }
                },
            },
        };
        let overage = match get(&format!("{base_path}/overage_spend_limit")) {
            Ok(a) if a.status == 404 && !a.html => json!({"is_enabled": false}),
            Ok(a) if a.status == 200 && !a.html => match serde_json::from_slice::<Value>(&a.body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    errors.push("overage_spend_limit: not a JSON object".into());
                    Value::Null
                }
            },
            Ok(a) => {
                errors.push(format!("overage_spend_limit answered HTTP {}", a.status).into());
                Value::Null
            }
            Err(why) => {
                errors.push(why.into());
                Value::Null
            }
        };
        let subscription = match get(&format!("{base_path}/subscription_details")) {
            Ok(a) if a.status == 200 && !a.html => match serde_json::from_slice::<Value>(&a.body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    errors.push("subscription_details: not a JSON object".into());
                    Value::Null
                }
            },
            Ok(a) => {
                errors.push(format!("subscription_details answered HTTP {}", a.status).into());
                Value::Null
            }
            Err(why) => {
                errors.push(why.into());
                Value::Null
            }
        };
        entries.push(json!({
            "org_uuid": uuid,
            "account_email": email,
            "fetched_at": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "usage": usage,
            "overage": overage,
            "subscription": subscription,
            "errors": errors,
        }));
    }
    if usage_errors.len() == entries.len() {
        return Fetch::Failed(usage_errors.join("; "));
    }
    Fetch::Good(Value::Array(entries))
}

/// A usage body that parses as one (same shape as the OAuth endpoint).
fn usage_body(body: &[u8]) -> Result<Value, String> {
    let v: Value = snapshot::decode(body).map_err(|why| format!("the body {why}"))?;
    let origin = Origin {
        kind: "web".into(),
        location: String::new(),
    };
    let parsed = snapshot::parse_value(&v, origin, &ParseContext::default());
    if parsed.usage.is_none() {
        return Err(parsed.problems.join("; "));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memberships_skip_unsafe_ids() {
        let v = json!({"email_address": "a@x", "memberships": [
            {"organization": {"uuid": "0000-aa", "name": "A"}},
            {"organization": {"uuid": "../evil", "name": "B"}},
            {"organization": {"name": "C"}}
        ]});
        let (orgs, email) = memberships(&v);
        assert_eq!(orgs, vec![("0000-aa".to_owned(), "A".to_owned())]);
        assert_eq!(email.as_deref(), Some("a@x"));
    }

    #[test]
    fn html_is_blocked_not_parsed() {
        let a = Answer {
            status: 403,
            retry_after: None,
            html: true,
            body: b"<!DOCTYPE html><title>Just a moment...</title>".to_vec(),
        };
        assert!(
            matches!(refusal(&a, "/api/account"), Some(Fetch::Failed(ref m)) if m.contains("use OAuth"))
        );
    }
}
