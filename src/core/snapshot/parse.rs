//! The snapshot parsers: every accepted JSON shape (ClaudeMeter object or array, bare usage
//! body, Claude Code's `cachedUsageUtilization`) into a [`Snapshot`]. Never fails: bad input
//! gives an unknown snapshot whose `problems` say why.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::*;

/// Whether `utilization` values are percents (0–100, every real endpoint) or fractions (0–1,
/// some foreign snapshot files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum UtilizationScale {
    /// 0–100, as both usage endpoints send.
    #[default]
    Percent,
    /// 0–1; multiplied by 100 on read.
    Fraction,
}

/// What the parser needs besides the JSON.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    /// Scale of `utilization` values.
    pub scale: UtilizationScale,
    /// `--org`: an organization UUID or account email, to pick from an array.
    pub org: Option<String>,
    /// The organization Claude Code is logged into (`oauthAccount.organizationUuid`), used to
    /// pick from an array when `--org` is not given. Looked up lazily by the caller.
    pub logged_in_org: Option<String>,
    /// `fetched_at` for a bare usage body: the file's mtime, or now for stdin/HTTP.
    pub default_fetched_at: Option<DateTime<Utc>>,
}

/// Parses snapshot bytes from `origin`. Never fails: bad input gives an unknown snapshot.
pub fn parse(bytes: &[u8], origin: Origin, ctx: &ParseContext) -> Snapshot {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Snapshot::unknown(origin, "the snapshot is empty");
    }
    match decode(bytes) {
        Ok(value) => parse_value(&value, origin, ctx),
        Err(why) => Snapshot::unknown(origin, format!("the snapshot {why}")),
    }
}

/// Decodes snapshot or usage-body JSON, refusing an object with the same key twice:
/// `{"five_hour":{…100…},"five_hour":null}` is ambiguous (serde_json keeps the last value, other
/// readers the first), so it must not decide a run (fail closed: the caller reports unknown).
/// `Err` completes "the snapshot …" / "the body …": `is not valid JSON (…)` or
/// `has the key "k" twice in one object; …`.
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON ({e})"))?;
    if let Err(e) = serde_json::from_slice::<NoDuplicateKeys>(bytes) {
        return Err(format!(
            "{}; ambiguous input is not used (fix the writer)",
            sanitize(&e.to_string())
        ));
    }
    Ok(value)
}

/// Walks a JSON document and fails on the first object that repeats a key.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        // BTreeSet, not HashSet: no random seed (one getrandom call less per start).
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "has the key {key:?} twice in one object"
                )));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}

/// Whether an array needs the logged-in organization to pick an entry (so the caller only
/// reads `~/.claude.json` when it matters).
pub fn needs_logged_in_org(bytes: &[u8]) -> bool {
    let trimmed = bytes.iter().position(|b| !b.is_ascii_whitespace());
    trimmed.is_some_and(|i| bytes[i] == b'[')
}

/// Parses an already-decoded JSON value. See [`parse()`].
pub fn parse_value(value: &Value, origin: Origin, ctx: &ParseContext) -> Snapshot {
    match value {
        Value::Array(items) => parse_array(items, origin, ctx),
        Value::Object(map) if map.contains_key("cachedUsageUtilization") => {
            parse_claude_config(map, origin, ctx)
        }
        Value::Object(map) if is_claudemeter(map) => match org_mismatch(map, ctx) {
            Some(why) => Snapshot::unknown(origin, why),
            None => parse_claudemeter(map, origin, ctx),
        },
        Value::Object(map) => parse_bare(map, origin, ctx),
        other => Snapshot::unknown(
            origin,
            format!("the snapshot is a JSON {}, not an object", json_type(other)),
        ),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_claudemeter(map: &Map<String, Value>) -> bool {
    map.contains_key("usage") || (map.contains_key("org_uuid") && map.contains_key("fetched_at"))
}

/// `--org` against a single ClaudeMeter object: why it does not match, when the object names
/// its organization (`org_uuid` or `account_email`) and neither is the one asked for.
fn org_mismatch(map: &Map<String, Value>, ctx: &ParseContext) -> Option<String> {
    let want = ctx.org.as_deref()?;
    let names: Vec<&str> = ["org_uuid", "account_email"]
        .iter()
        .filter_map(|k| map.get(*k).and_then(Value::as_str))
        .collect();
    if names.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(want)) {
        return None;
    }
    let has: Vec<String> = names.iter().map(|n| sanitize(n)).collect();
    Some(format!(
        "the snapshot is for {}, not --org {want}; pass that organization's snapshot, or drop --org",
        has.join(" / ")
    ))
}

fn parse_array(items: &[Value], origin: Origin, ctx: &ParseContext) -> Snapshot {
    let entries: Vec<&Map<String, Value>> = items.iter().filter_map(Value::as_object).collect();
    if entries.is_empty() {
        return Snapshot::unknown(origin, "the snapshot array holds no organization");
    }
    let field = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(sanitize);
    let pick = if let Some(org) = &ctx.org {
        let wanted = org.to_ascii_lowercase();
        entries.iter().find(|m| {
            field(m, "org_uuid").is_some_and(|u| u.to_ascii_lowercase() == wanted)
                || field(m, "account_email").is_some_and(|e| e.to_ascii_lowercase() == wanted)
        })
    } else if let Some(org) = &ctx.logged_in_org {
        entries
            .iter()
            .find(|m| field(m, "org_uuid").as_deref() == Some(org.as_str()))
            .or(if entries.len() == 1 {
                entries.first()
            } else {
                None
            })
    } else if entries.len() == 1 {
        entries.first()
    } else {
        None
    };
    match pick {
        Some(map) => parse_claudemeter(map, origin, ctx),
        None => {
            let orgs: Vec<String> = entries
                .iter()
                .map(|m| {
                    field(m, "account_email")
                        .or_else(|| field(m, "org_uuid"))
                        .unwrap_or_else(|| "?".into())
                })
                .collect();
            let why = match &ctx.org {
                Some(org) => format!("no organization in the snapshot matches --org {org}"),
                None => "the snapshot holds several organizations and Claude Code's login does not pick one".into(),
            };
            Snapshot::unknown(
                origin,
                format!("{why} (has: {}); pass --org UUID|EMAIL", orgs.join(", ")),
            )
        }
    }
}

fn parse_claudemeter(map: &Map<String, Value>, origin: Origin, ctx: &ParseContext) -> Snapshot {
    let fetched_at = map.get("fetched_at").and_then(parse_time);
    let mut snap = match map.get("usage") {
        Some(Value::Object(usage)) => parse_bare(usage, origin, ctx),
        Some(Value::Null) | None => Snapshot::unknown(origin, "the snapshot has no usage body"),
        Some(other) => Snapshot::unknown(
            origin,
            format!(
                "the snapshot's usage is a JSON {}, not an object",
                json_type(other)
            ),
        ),
    };
    snap.fetched_at = fetched_at;
    if fetched_at.is_none() {
        snap.problems
            .push("the snapshot has no readable fetched_at, so its age is unknown".into());
    }
    snap.org_uuid = map.get("org_uuid").and_then(Value::as_str).map(sanitize);
    snap.account_email = map
        .get("account_email")
        .and_then(Value::as_str)
        .map(sanitize);
    if let Some(Value::Object(spend)) = map.get("overage") {
        snap.overage = Some(parse_spend_limit(spend));
    }
    if let Some(Value::Object(sub)) = map.get("subscription") {
        snap.subscription = parse_subscription(sub);
    }
    if let Some(Value::Array(errors)) = map.get("errors") {
        for e in errors {
            let text = match e {
                Value::String(s) => sanitize(s),
                other => sanitize(&other.to_string()),
            };
            snap.problems.push(format!("source reported: {text}"));
        }
    }
    snap
}

fn parse_claude_config(map: &Map<String, Value>, origin: Origin, ctx: &ParseContext) -> Snapshot {
    let Some(Value::Object(cache)) = map.get("cachedUsageUtilization") else {
        return Snapshot::unknown(origin, "cachedUsageUtilization is not an object");
    };
    let oauth_account = |key: &str| {
        map.get("oauthAccount")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    };
    let account = oauth_account("accountUuid");
    let cached_for = cache.get("accountUuid").and_then(Value::as_str);
    if account.is_none() || cached_for != account {
        return Snapshot::unknown(
            origin,
            "Claude Code's cached usage is not for the logged-in account (accountUuid differs)",
        );
    }
    let fetched_at = cache
        .get("fetchedAtMs")
        .and_then(Value::as_i64)
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    let mut snap = match cache.get("utilization") {
        Some(Value::Object(usage)) => parse_bare(usage, origin, ctx),
        _ => Snapshot::unknown(origin, "Claude Code's cached usage has no usage body"),
    };
    snap.fetched_at = fetched_at;
    snap.org_uuid = oauth_account("organizationUuid").map(sanitize);
    snap.account_email = oauth_account("emailAddress").map(sanitize);
    snap
}

/// Parses a bare usage body (top-level bucket keys).
fn parse_bare(map: &Map<String, Value>, origin: Origin, ctx: &ParseContext) -> Snapshot {
    let mut snap = Snapshot::unknown(origin, "");
    snap.problems.clear();
    snap.fetched_at = ctx.default_fetched_at;

    let has_known = CLASSIC_KEYS.iter().any(|k| map.contains_key(*k)) || map.contains_key("limits");
    if !has_known {
        snap.problems.push(describe_non_usage(map));
        return snap;
    }
    let scale = |u: f64| match ctx.scale {
        UtilizationScale::Percent => u,
        UtilizationScale::Fraction => u * 100.0,
    };

    let mut usage = Usage::default();
    for key in CLASSIC_KEYS {
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => usage
                .buckets
                .push(parse_bucket(key, classic_kind(key), v, &scale)),
        }
    }
    if let Some(Value::Array(limits)) = map.get("limits") {
        for entry in limits.iter().filter_map(Value::as_object) {
            if let Some(bucket) = parse_limit(entry, &usage) {
                usage.buckets.push(bucket);
            }
        }
    }
    for (key, v) in map {
        if CLASSIC_KEYS.contains(&key.as_str())
            || NON_BUCKET_KEYS.contains(&key.as_str())
            || v.is_null()
        {
            continue;
        }
        if v.get("utilization").is_some() {
            usage
                .buckets
                .push(parse_bucket(&sanitize(key), BucketKind::Other, v, &scale));
        } else {
            usage.other_keys.push(sanitize(key));
        }
    }
    // Buckets in tree order: classic, then limits[] ones (in order), then others.
    usage.buckets.sort_by_key(|b| match b.kind {
        BucketKind::Other => 2,
        BucketKind::WeeklyScoped(_) => 1,
        _ => 0,
    });
    for b in &usage.buckets {
        if b.utilization.is_none() {
            snap.problems
                .push(format!("{} has no numeric utilization", b.name));
        }
    }
    if let Some(Value::Object(extra)) = map.get("extra_usage") {
        snap.overage = Some(parse_extra_usage(extra, &scale));
    }
    snap.usage = Some(usage);
    snap
}

/// Explains an object that is not a usage body (an error envelope, `{}` from a token without
/// the `user:profile` scope, or something else).
fn describe_non_usage(map: &Map<String, Value>) -> String {
    if map.is_empty() {
        return "the usage body is empty ({}): the token lacks the user:profile scope (e.g. a `claude setup-token` token)".into();
    }
    if let Some(err) = map.get("error") {
        let kind = err.get("type").and_then(Value::as_str).unwrap_or("error");
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        return format!(
            "the snapshot is an API error, not usage: {}: {}",
            sanitize(kind),
            sanitize(message)
        );
    }
    let keys: Vec<String> = map.keys().take(6).map(|k| sanitize(k)).collect();
    format!(
        "the JSON has none of the usage keys (five_hour, seven_day, ...); its keys: {}",
        keys.join(", ")
    )
}

fn classic_kind(key: &str) -> BucketKind {
    match key {
        "five_hour" => BucketKind::FiveHour,
        "seven_day" => BucketKind::SevenDay,
        "seven_day_opus" => BucketKind::SevenDayOpus,
        "seven_day_sonnet" => BucketKind::SevenDaySonnet,
        "seven_day_oauth_apps" => BucketKind::SevenDayOauthApps,
        _ => BucketKind::Other,
    }
}

fn parse_bucket(name: &str, kind: BucketKind, v: &Value, scale: &dyn Fn(f64) -> f64) -> Bucket {
    let field_f64 = |k: &str| v.get(k).and_then(Value::as_f64);
    Bucket {
        name: name.to_owned(),
        kind,
        utilization: field_f64("utilization").map(scale),
        resets_at: v.get("resets_at").and_then(parse_time),
        via: None,
        locked_reason: v.get("locked_reason").and_then(Value::as_str).map(sanitize),
        limit_dollars: field_f64("limit_dollars"),
        used_dollars: field_f64("used_dollars"),
        fetched_at: None,
        source: None,
    }
}

/// A `limits[]` entry: `weekly_scoped` → a model bucket; `session` / `weekly_all` → fallbacks
/// for `five_hour` / `seven_day` when those are absent or null; anything else → other.
fn parse_limit(entry: &Map<String, Value>, usage: &Usage) -> Option<Bucket> {
    let kind = entry.get("kind").and_then(Value::as_str).unwrap_or("?");
    let model = entry
        .get("scope")
        .and_then(|s| s.get("model"))
        .and_then(|m| m.get("display_name"))
        .and_then(Value::as_str);
    let (name, bucket_kind, via) = match (kind, model) {
        ("weekly_scoped", Some(display)) => (
            format!("weekly_scoped:{}", sanitize(display)),
            BucketKind::WeeklyScoped(sanitize(display)),
            None,
        ),
        ("session", _) if usage.bucket("five_hour").is_none() => (
            "five_hour".into(),
            BucketKind::FiveHour,
            Some("limits[] session"),
        ),
        ("weekly_all", _) if usage.bucket("seven_day").is_none() => (
            "seven_day".into(),
            BucketKind::SevenDay,
            Some("limits[] weekly_all"),
        ),
        ("session" | "weekly_all", _) => return None,
        (other, _) => (
            format!("limits:{}", sanitize(other)),
            BucketKind::Other,
            None,
        ),
    };
    Some(Bucket {
        name,
        kind: bucket_kind,
        utilization: entry.get("percent").and_then(Value::as_f64),
        resets_at: entry.get("resets_at").and_then(parse_time),
        via,
        locked_reason: entry
            .get("locked_reason")
            .and_then(Value::as_str)
            .map(sanitize),
        limit_dollars: None,
        used_dollars: None,
        fetched_at: None,
        source: None,
    })
}

fn parse_extra_usage(extra: &Map<String, Value>, scale: &dyn Fn(f64) -> f64) -> Overage {
    Overage {
        origin: OverageOrigin::ExtraUsage,
        is_enabled: extra
            .get("is_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        monthly_limit: extra.get("monthly_limit").and_then(Value::as_f64),
        used_credits: extra.get("used_credits").and_then(Value::as_f64),
        utilization: extra.get("utilization").and_then(Value::as_f64).map(scale),
        out_of_credits: None,
        disabled_reason: extra
            .get("disabled_reason")
            .and_then(Value::as_str)
            .map(sanitize),
        disabled_until: None,
        currency: extra.get("currency").and_then(Value::as_str).map(sanitize),
    }
}

/// Parses an `overage_spend_limit` body.
pub fn parse_spend_limit(spend: &Map<String, Value>) -> Overage {
    Overage {
        origin: OverageOrigin::SpendLimit,
        is_enabled: spend
            .get("is_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        monthly_limit: spend.get("monthly_credit_limit").and_then(Value::as_f64),
        used_credits: spend.get("used_credits").and_then(Value::as_f64),
        utilization: None,
        out_of_credits: spend.get("out_of_credits").and_then(Value::as_bool),
        disabled_reason: spend
            .get("disabled_reason")
            .and_then(Value::as_str)
            .map(sanitize),
        disabled_until: spend.get("disabled_until").and_then(parse_time),
        currency: spend.get("currency").and_then(Value::as_str).map(sanitize),
    }
}

/// Parses a `subscription_details` body; `None` when it has no `status` string.
pub fn parse_subscription(sub: &Map<String, Value>) -> Option<Subscription> {
    Some(Subscription {
        status: sanitize(sub.get("status")?.as_str()?),
        billing_interval: sub
            .get("billing_interval")
            .and_then(Value::as_str)
            .map(sanitize),
        next_charge_date: sub
            .get("next_charge_date")
            .and_then(Value::as_str)
            .map(sanitize),
    })
}

/// Parses an RFC 3339 timestamp (0 or 6 fractional digits, `Z` or `+00:00`) to UTC.
pub fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The one place that makes a string from outside (a snapshot, bridge or server: object keys,
/// `errors[]`, `account_email`, `org_uuid`, a `weekly_scoped` `display_name`, error messages)
/// safe for every output. Applied when the string enters the model (the parsers here and
/// `error_message` in the state layer's `http` module), so text, `status`, `--explain`,
/// GitHub annotations and outputs all print the same clean value; JSON output escapes it as
/// JSON on top.
///
/// - control characters (newlines, ESC, DEL, C1) and Unicode bidi/format controls are dropped:
///   no second line, no terminal escape, no text reordered on screen;
/// - `::` becomes `: :`, so no part of it can start a GitHub workflow command
///   (`::add-mask::`, `::error::`) wherever it lands on a line;
/// - at most 200 characters are kept.
pub fn sanitize(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| !c.is_control() && !is_format_control(*c))
        .take(200)
        .collect();
    let mut out = kept.replace("::", ": :");
    while out.contains("::") {
        out = out.replace("::", ": :");
    }
    out
}

/// Unicode format characters that reorder or hide text on a terminal (bidi embeddings,
/// overrides and isolates, zero-width joiners and marks, the BOM).
fn is_format_control(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
    )
}
