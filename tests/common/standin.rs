//! A stand-in for Anthropic's API, for running the REAL Claude Code in tests.
//!
//! Claude Code honours `ANTHROPIC_BASE_URL`; the guard honours `CLAUDE_GUARD_OAUTH_BASE_URL`.
//! One [`StandIn`] on 127.0.0.1 answers both:
//!
//! - `POST /v1/messages`: the next [`Turn`] of a script (a server-sent-event stream for a text
//!   or a Bash `tool_use` turn, a 429 plan-limit refusal with `anthropic-ratelimit-unified-*`
//!   headers, or any error status). Once the script is used up, every request gets a plain
//!   text turn ("done."). Requests Claude Code makes besides the main loop (a `max_tokens: 1`
//!   quota probe, `count_tokens`) are answered without using up a turn.
//! - `GET /api/oauth/usage`: the usage body set with [`StandIn::set_usage`] (or switched to
//!   by a [`Limit`]'s `usage_after`), `{}` until one is set.
//! - `GET /api/oauth/profile`: a fixed profile (account and organization).
//! - anything else: 404.
//!
//! Every request is recorded with its body ([`StandIn::requests`], [`StandIn::messages`]).
//!
//! Usage:
//! ```ignore
//! let api = StandIn::start(vec![Turn::bash("echo hi"), Turn::limit(Limit::five_hour(reset))]);
//! api.set_usage(usage_body(&[("five_hour", 40.0, reset)]));
//! let home = tempfile::tempdir().unwrap();
//! fake_login(home.path());
//! let mut cmd = std::process::Command::new(real_claude());
//! for (k, v) in api.claude_env(home.path()) { cmd.env(k, v); }
//! // ... run `claude -p TASK --allowedTools Bash`, then look at api.messages()
//! ```
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The model id a turn reports when the request names none.
const DEFAULT_MODEL: &str = "claude-opus-5-5";

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method (`POST`, `GET`).
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
    /// Index of the scripted turn this request used up (`None`: not a scripted turn).
    pub turn: Option<usize>,
}

impl Request {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header_in(&self.headers, name)
    }

    /// The `model` of a `/v1/messages` body.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// Every text in the body's `messages` (user prompts, tool results, assistant texts), in
    /// order, for asserting what a conversation contains.
    pub fn texts(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(msgs) = self.body.get("messages").and_then(Value::as_array) {
            for m in msgs {
                collect_texts(m.get("content").unwrap_or(&Value::Null), &mut out);
            }
        }
        out
    }
}

fn collect_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_texts(x, out)),
        Value::Object(o) => {
            for key in ["text", "content"] {
                if let Some(x) = o.get(key) {
                    collect_texts(x, out);
                }
            }
        }
        _ => {}
    }
}

/// A plan-limit refusal: HTTP 429 with `anthropic-ratelimit-unified-status: rejected`.
#[derive(Debug, Clone)]
pub struct Limit {
    /// `anthropic-ratelimit-unified-representative-claim`: `five_hour`, `seven_day`,
    /// `seven_day_opus`, `seven_day_sonnet`, `seven_day_overage_included`, `overage`.
    pub claim: String,
    /// `anthropic-ratelimit-unified-reset`, epoch seconds.
    pub reset: i64,
    /// Per-window headers: (window code `5h`/`7d`/`7d_oi`/`overage`, utilization fraction
    /// 0-1, reset epoch seconds, status `allowed`/`rejected`).
    pub windows: Vec<(String, f64, i64, String)>,
    /// `anthropic-ratelimit-unified-overage-status` (default `rejected`).
    pub overage_status: String,
    /// `anthropic-ratelimit-unified-overage-disabled-reason` (default `out_of_credits`).
    pub overage_disabled_reason: String,
    /// When set, `/api/oauth/usage` answers this body from the moment this 429 is sent.
    pub usage_after: Option<Value>,
}

impl Limit {
    /// A limit on `claim` resetting at `reset` (epoch s), with the matching window rejected
    /// and the other of `5h`/`7d` allowed at 50 %.
    pub fn new(claim: &str, reset: i64) -> Limit {
        let window = match claim {
            "five_hour" => "5h",
            "seven_day_overage_included" => "7d_oi",
            "overage" => "overage",
            _ => "7d",
        };
        let mut windows = vec![(window.to_string(), 1.0, reset, "rejected".to_string())];
        for (w, r) in [("5h", reset + 3600), ("7d", reset + 86_400)] {
            if w != window {
                windows.push((w.to_string(), 0.5, r, "allowed".to_string()));
            }
        }
        Limit {
            claim: claim.into(),
            reset,
            windows,
            overage_status: "rejected".into(),
            overage_disabled_reason: "out_of_credits".into(),
            usage_after: None,
        }
    }

    /// The 5-hour limit, resetting at `reset`.
    pub fn five_hour(reset: i64) -> Limit {
        Limit::new("five_hour", reset)
    }

    /// Makes `/api/oauth/usage` answer `body` once this refusal was sent.
    pub fn then_usage(mut self, body: Value) -> Limit {
        self.usage_after = Some(body);
        self
    }

    fn headers(&self) -> Vec<(String, String)> {
        let p = "anthropic-ratelimit-unified";
        let mut h = vec![
            (format!("{p}-status"), "rejected".to_string()),
            (format!("{p}-reset"), self.reset.to_string()),
            (format!("{p}-representative-claim"), self.claim.clone()),
            (format!("{p}-overage-status"), self.overage_status.clone()),
            (
                format!("{p}-overage-disabled-reason"),
                self.overage_disabled_reason.clone(),
            ),
        ];
        for (w, util, reset, status) in &self.windows {
            h.push((format!("{p}-{w}-utilization"), format!("{util:.2}")));
            h.push((format!("{p}-{w}-reset"), reset.to_string()));
            h.push((format!("{p}-{w}-status"), status.clone()));
        }
        h
    }
}

/// One scripted answer to `POST /v1/messages`.
#[derive(Debug, Clone)]
pub enum Turn {
    /// An assistant text, `stop_reason: end_turn`.
    Text(String),
    /// A `tool_use` of Claude Code's `Bash` tool running `command`, `stop_reason: tool_use`
    /// (claude runs it and sends the result in the next request).
    Bash(String),
    /// A 429 plan-limit refusal.
    Limit(Limit),
    /// An error status with an Anthropic error body of this `type` and `message`
    /// (e.g. 400 `invalid_request_error`).
    Error(u16, String, String),
    /// Answers the inner turn after this long.
    Delayed(Duration, Box<Turn>),
}

impl Turn {
    /// [`Turn::Text`].
    pub fn text(t: &str) -> Turn {
        Turn::Text(t.into())
    }
    /// [`Turn::Bash`].
    pub fn bash(command: &str) -> Turn {
        Turn::Bash(command.into())
    }
    /// [`Turn::Limit`].
    pub fn limit(l: Limit) -> Turn {
        Turn::Limit(l)
    }
    /// A 400 `invalid_request_error`.
    pub fn bad_request(message: &str) -> Turn {
        Turn::Error(400, "invalid_request_error".into(), message.into())
    }
    /// This turn, answered after `d`.
    pub fn after(self, d: Duration) -> Turn {
        Turn::Delayed(d, Box::new(self))
    }
}

struct Shared {
    script: Vec<Turn>,
    next: usize,
    requests: Vec<Request>,
    usage: Value,
    /// Headers of an allowed answer (`anthropic-ratelimit-unified-*`), added to normal turns.
    allowed_headers: Vec<(String, String)>,
}

/// The stand-in server. Stops when dropped.
pub struct StandIn {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StandIn {
    /// Starts a stand-in that answers the model requests with `script`, in order.
    pub fn start(script: Vec<Turn>) -> StandIn {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = server.server_addr().to_ip().expect("ip").port();
        let shared = Arc::new(Mutex::new(Shared {
            script,
            next: 0,
            requests: Vec::new(),
            usage: json!({}),
            allowed_headers: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared2, stop2) = (Arc::clone(&shared), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(20)) else {
                    continue;
                };
                let shared = Arc::clone(&shared2);
                std::thread::spawn(move || serve(req, &shared));
            }
        });
        StandIn {
            base: format!("http://127.0.0.1:{port}"),
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// Sets the body `/api/oauth/usage` answers (see [`usage_body`]).
    pub fn set_usage(&self, body: Value) {
        self.shared.lock().unwrap().usage = body;
    }

    /// Adds `anthropic-ratelimit-unified-*` headers of an allowed answer to every normal turn:
    /// (window code, utilization fraction, reset epoch s).
    pub fn allowed_windows(&self, windows: &[(&str, f64, i64)]) {
        let p = "anthropic-ratelimit-unified";
        let mut h = vec![(format!("{p}-status"), "allowed".to_string())];
        for (w, u, r) in windows {
            h.push((format!("{p}-{w}-utilization"), format!("{u:.2}")));
            h.push((format!("{p}-{w}-reset"), r.to_string()));
            h.push((format!("{p}-{w}-status"), "allowed".to_string()));
        }
        self.shared.lock().unwrap().allowed_headers = h;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// The requests that used up a scripted turn (or the default turn after it): the model
    /// requests of claude's main loop, in order.
    pub fn messages(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.turn.is_some())
            .collect()
    }

    /// How many requests had this path (query ignored).
    pub fn count(&self, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.split('?').next() == Some(path))
            .count()
    }

    /// How many scripted turns were used up.
    pub fn turns_used(&self) -> usize {
        self.shared.lock().unwrap().next
    }

    /// The environment for a run of the real Claude Code (and of the guard) in the scratch
    /// `home`: `HOME`, `ANTHROPIC_BASE_URL` and `CLAUDE_GUARD_OAUTH_BASE_URL` pointing here,
    /// telemetry and non-essential traffic off, `HTTPS_PROXY` at a closed loopback port (so
    /// Claude Code's direct calls to api.anthropic.com fail locally), `NO_PROXY` for loopback.
    /// Set these on a command whose environment has no `CLAUDE*`/`ANTHROPIC*` variables.
    pub fn claude_env(&self, home: &Path) -> Vec<(String, String)> {
        let proxy = format!("http://127.0.0.1:{}", closed_port());
        vec![
            ("HOME".into(), home.display().to_string()),
            ("ANTHROPIC_BASE_URL".into(), self.base.clone()),
            ("CLAUDE_GUARD_OAUTH_BASE_URL".into(), self.base.clone()),
            ("DISABLE_TELEMETRY".into(), "1".into()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            ("DISABLE_AUTOUPDATER".into(), "1".into()),
            ("HTTPS_PROXY".into(), proxy.clone()),
            ("https_proxy".into(), proxy.clone()),
            ("HTTP_PROXY".into(), proxy.clone()),
            ("http_proxy".into(), proxy),
            ("NO_PROXY".into(), "127.0.0.1,localhost".into()),
            ("no_proxy".into(), "127.0.0.1,localhost".into()),
        ]
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// Epoch seconds `secs` from now.
pub fn epoch_in(secs: i64) -> i64 {
    chrono::Utc::now().timestamp() + secs
}

/// RFC 3339 UTC of epoch seconds.
pub fn rfc3339(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A `/api/oauth/usage` body with these buckets (name, utilization percent, resets_at epoch
/// s); the other classic buckets null, `extra_usage` disabled.
pub fn usage_body(buckets: &[(&str, f64, i64)]) -> Value {
    let mut body = json!({
        "five_hour": null, "seven_day": null, "seven_day_oauth_apps": null,
        "seven_day_opus": null, "seven_day_sonnet": null,
        "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null,
                        "utilization": null, "currency": null}
    });
    for (name, util, reset) in buckets {
        body[*name] = json!({"utilization": util, "resets_at": rfc3339(*reset)});
    }
    body
}

/// Writes a fake Claude Code login into `home`: `~/.claude/.credentials.json` with
/// `claudeAiOauth` (a token that only the stand-in accepts, `expiresAt` a day ahead, scopes
/// `user:inference user:profile`), and `~/.claude.json` with `oauthAccount` and onboarding done.
pub fn fake_login(home: &Path) {
    let dir = home.join(".claude");
    std::fs::create_dir_all(&dir).unwrap();
    let expires = (chrono::Utc::now().timestamp() + 86_400) * 1000;
    let creds = json!({"claudeAiOauth": {
        "accessToken": "sk-ant-oat01-STANDIN-NOT-A-REAL-TOKEN",
        "refreshToken": "sk-ant-ort01-STANDIN-NEVER-USED",
        "expiresAt": expires,
        "scopes": ["user:inference", "user:profile"],
        "subscriptionType": "max", "rateLimitTier": "default_claude_max_5x"}});
    std::fs::write(dir.join(".credentials.json"), creds.to_string()).unwrap();
    let config = json!({
        "hasCompletedOnboarding": true,
        "oauthAccount": {
            "accountUuid": "00000000-0000-4000-8000-000000000001",
            "emailAddress": "standin@example.invalid",
            "organizationUuid": "00000000-0000-4000-8000-000000000002"
        }
    });
    std::fs::write(home.join(".claude.json"), config.to_string()).unwrap();
}

/// The transcripts Claude Code wrote under `home` (`.claude/projects/*/*.jsonl`), each as
/// (session id, entries).
pub fn transcripts(home: &Path) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    let Ok(projects) = std::fs::read_dir(home.join(".claude/projects")) else {
        return out;
    };
    for p in projects.flatten() {
        let Ok(files) = std::fs::read_dir(p.path()) else {
            continue;
        };
        for f in files.flatten() {
            let path = f.path();
            if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
                continue;
            }
            let id = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let entries = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            out.push((id, entries));
        }
    }
    out
}

fn serve(mut req: tiny_http::Request, shared: &Mutex<Shared>) {
    let mut raw = Vec::new();
    let _ = req.as_reader().take(16 << 20).read_to_end(&mut raw);
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let method = req.method().as_str().to_owned();
    let path = req.url().to_owned();
    let headers = req
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let bare = path.split('?').next().unwrap_or("").to_owned();
    let is_main_turn = method == "POST"
        && bare == "/v1/messages"
        && body.get("max_tokens").and_then(Value::as_u64) != Some(1);
    let (turn, index, usage, allowed) = {
        let mut s = shared.lock().unwrap();
        let (turn, index) = if is_main_turn {
            let i = s.next;
            s.next += 1;
            (s.script.get(i).cloned(), Some(i))
        } else {
            (None, None)
        };
        if let Some(Turn::Limit(l)) = inner(&turn)
            && let Some(u) = &l.usage_after
        {
            s.usage = u.clone();
        }
        s.requests.push(Request {
            method: method.clone(),
            path: path.clone(),
            headers,
            body: body.clone(),
            turn: index,
        });
        (turn, index, s.usage.clone(), s.allowed_headers.clone())
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_MODEL)
        .to_owned();
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let (status, headers, data) = match bare.as_str() {
        "/v1/messages" if method == "POST" => {
            let mut turn = turn.unwrap_or_else(|| Turn::text("done."));
            if index.is_none() {
                turn = Turn::text("ok");
            }
            while let Turn::Delayed(d, t) = turn {
                std::thread::sleep(d);
                turn = *t;
            }
            answer_turn(&turn, &model, stream, index.unwrap_or(999), &allowed)
        }
        "/v1/messages/count_tokens" => (
            200,
            vec![json_type()],
            json!({"input_tokens": 10}).to_string(),
        ),
        "/api/oauth/usage" => (200, vec![json_type()], usage.to_string()),
        "/api/oauth/profile" => (
            200,
            vec![json_type()],
            json!({
                "account": {"uuid": "00000000-0000-4000-8000-000000000001",
                            "email": "standin@example.invalid", "display_name": "Stand-in"},
                "organization": {"uuid": "00000000-0000-4000-8000-000000000002",
                                 "organization_type": "claude_max",
                                 "rate_limit_tier": "default_claude_max_5x"}
            })
            .to_string(),
        ),
        _ => (
            404,
            vec![json_type()],
            json!({"type": "error", "error": {"type": "not_found_error", "message": "stand-in: no such path"}}).to_string(),
        ),
    };
    let mut resp = tiny_http::Response::from_data(data.into_bytes()).with_status_code(status);
    for (k, v) in headers {
        resp.add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
    }
    let _ = req.respond(resp);
}

fn inner(t: &Option<Turn>) -> Option<&Turn> {
    let mut t = t.as_ref()?;
    while let Turn::Delayed(_, x) = t {
        t = x;
    }
    Some(t)
}

fn json_type() -> (String, String) {
    ("Content-Type".into(), "application/json".into())
}

fn answer_turn(
    turn: &Turn,
    model: &str,
    stream: bool,
    index: usize,
    allowed: &[(String, String)],
) -> (u16, Vec<(String, String)>, String) {
    let id = format!("msg_standin_{index:04}");
    let (content, stop_reason) = match turn {
        Turn::Text(t) => (json!({"type": "text", "text": t}), "end_turn"),
        Turn::Bash(cmd) => (
            json!({"type": "tool_use", "id": format!("toolu_standin_{index:04}"),
                   "name": "Bash", "input": {"command": cmd, "description": "stand-in step"}}),
            "tool_use",
        ),
        Turn::Limit(l) => {
            let mut h = l.headers();
            h.push(json_type());
            h.push(("request-id".into(), format!("req_standin_{index:04}")));
            let body = json!({"type": "error", "error": {"type": "rate_limit_error",
                "message": "This request would exceed your account's rate limit. Please try again later."}});
            return (429, h, body.to_string());
        }
        Turn::Error(status, kind, message) => {
            let body = json!({"type": "error", "error": {"type": kind, "message": message}});
            return (*status, vec![json_type()], body.to_string());
        }
        Turn::Delayed(_, t) => return answer_turn(t, model, stream, index, allowed),
    };
    let usage = json!({"input_tokens": 10, "output_tokens": 5,
                       "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
    let mut headers = allowed.to_vec();
    headers.push(("request-id".into(), format!("req_standin_{index:04}")));
    if !stream {
        headers.push(json_type());
        let body = json!({"id": id, "type": "message", "role": "assistant", "model": model,
            "content": [content], "stop_reason": stop_reason, "stop_sequence": null,
            "usage": usage});
        return (200, headers, body.to_string());
    }
    headers.push(("Content-Type".into(), "text/event-stream".into()));
    headers.push(("Cache-Control".into(), "no-cache".into()));
    let mut events = vec![json!({"type": "message_start", "message": {
        "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 1,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}})];
    match turn {
        Turn::Text(t) => {
            events.push(json!({"type": "content_block_start", "index": 0,
                               "content_block": {"type": "text", "text": ""}}));
            events.push(json!({"type": "content_block_delta", "index": 0,
                               "delta": {"type": "text_delta", "text": t}}));
        }
        _ => {
            let mut start = content.clone();
            start["input"] = json!({});
            events.push(json!({"type": "content_block_start", "index": 0,
                               "content_block": start}));
            events.push(json!({"type": "content_block_delta", "index": 0,
                               "delta": {"type": "input_json_delta",
                                         "partial_json": content["input"].to_string()}}));
        }
    }
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events.push(json!({"type": "message_delta",
                       "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                       "usage": {"output_tokens": 5}}));
    events.push(json!({"type": "message_stop"}));
    let mut sse = String::new();
    for e in events {
        sse.push_str(&format!(
            "event: {}\ndata: {}\n\n",
            e["type"].as_str().unwrap(),
            e
        ));
    }
    (200, headers, sse)
}
