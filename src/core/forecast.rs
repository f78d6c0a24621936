//! Forecast math (DESIGN.md "Forecast: pace and 'will this job fit'"): windows, pace, the
//! projected limit time, and the 24-hour sparkline, from a bucket's recorded readings.
//!
//! Pure: no I/O, no clock. Every function takes the evaluation time `now` (`--now` or the
//! clock, chosen by the caller); readings come from the history store
//! (`state::history`) plus the snapshot being decided on.
//!
//! - **Windows**: readings of a bucket belong to one window while its `resets_at` stays within
//!   [`SAME_WINDOW`] (10 min) of the previous reading's and its utilization does not drop;
//!   otherwise a new window starts. Within one window utilization never falls: a lower reading
//!   is kept (in the history) but does not lower the bucket. How the two clauses fit together
//!   (see [`windows`]): a reading lower than its window's highest, with a `resets_at` within
//!   10 min and fetched *before* that reset, is a late or stale copy (a statusline capture of
//!   an older response, a slower source) and stays in the window without lowering it; a lower
//!   reading fetched *at or after* the window's reset is the first reading of the next window,
//!   even when it still carries the old `resets_at` (the "post-reset reading paired with the
//!   old reset time" some sources give).
//! - **Pace**, percent per hour: *recent* — the least-squares slope of the current window's
//!   readings in the last [`RECENT_SPAN`] (60 min) before `now`, given at least
//!   [`RECENT_MIN_READINGS`] (3) readings spanning at least [`RECENT_MIN_SPAN`] (10 min); else
//!   *window* — utilization divided by the elapsed part of the window (start = `resets_at` −
//!   [`window_length`]), once at least [`WINDOW_MIN_ELAPSED`] (10 %) of it has elapsed; else
//!   none.
//! - **Projected limit time** = `now` + (limit − utilization) / pace, with limit 100 % or
//!   `--max-utilization`.

use chrono::{DateTime, Duration, Utc};

use crate::core::snapshot::BucketKind;

/// Two readings whose `resets_at` differ by more than this belong to different windows.
pub const SAME_WINDOW: Duration = Duration::minutes(10);
/// How far back from `now` the *recent* pace looks.
pub const RECENT_SPAN: Duration = Duration::minutes(60);
/// The fewest readings a *recent* pace is fitted on.
pub const RECENT_MIN_READINGS: usize = 3;
/// The shortest span (first to last reading) a *recent* pace is fitted on.
pub const RECENT_MIN_SPAN: Duration = Duration::minutes(10);
/// The part of its window that must have elapsed before a *window* pace is given (0–1).
pub const WINDOW_MIN_ELAPSED: f64 = 0.10;
/// How far back the sparkline reaches.
pub const SPARKLINE_SPAN: Duration = Duration::hours(24);
/// How many slots (characters) the sparkline has: one per hour of [`SPARKLINE_SPAN`].
pub const SPARKLINE_SLOTS: usize = 24;
/// A projection further out than this is no projection (pace too small to matter).
const HORIZON: Duration = Duration::days(400);

/// One recorded reading of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// When the data was fetched (UTC) — the snapshot's `fetched_at`, or the capture time.
    pub fetched_at: DateTime<Utc>,
    /// Percent used, 0–100 (may exceed 100).
    pub utilization: f64,
    /// The bucket's `resets_at` in that reading (UTC); `None` when not given.
    pub resets_at: Option<DateTime<Utc>>,
}

/// The length of a bucket's window: 5 h for `five_hour`, 7 days for every weekly bucket
/// (`seven_day*`, `weekly_scoped`) and anything else.
pub fn window_length(kind: &BucketKind) -> Duration {
    match kind {
        BucketKind::FiveHour => Duration::hours(5),
        _ => Duration::days(7),
    }
}

/// One window of a bucket: consecutive readings (oldest first) under one reset.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The readings as recorded, oldest first (lower, late copies included).
    pub readings: Vec<Reading>,
    /// For each reading, the utilization the window had reached by then (running maximum),
    /// percent: what the bucket was at that time.
    pub levels: Vec<f64>,
    /// The newest `resets_at` given in the window that had not passed when it was read
    /// (UTC); `None` when no reading named one.
    pub resets_at: Option<DateTime<Utc>>,
}

impl Window {
    /// The highest utilization of the window (percent): the bucket's level at its last reading.
    pub fn utilization(&self) -> f64 {
        self.levels.last().copied().unwrap_or(0.0)
    }
}

/// A reading's `resets_at`, unless it had already passed when the reading was fetched (a
/// source that pairs a post-reset reading with the old reset time).
fn live_reset(r: &Reading) -> Option<DateTime<Utc>> {
    r.resets_at.filter(|t| *t > r.fetched_at)
}

/// Sorts readings by `fetched_at` and keeps one per instant (the highest).
fn sorted(readings: &[Reading]) -> Vec<Reading> {
    let mut v: Vec<Reading> = readings
        .iter()
        .copied()
        .filter(|r| r.utilization.is_finite())
        .collect();
    v.sort_by(|a, b| {
        a.fetched_at
            .cmp(&b.fetched_at)
            .then(b.utilization.total_cmp(&a.utilization))
    });
    v.dedup_by(|later, earlier| later.fetched_at == earlier.fetched_at);
    v
}

/// Splits a bucket's readings (any order; one per `fetched_at` is kept, the highest) into
/// windows, oldest first. A reading starts a new window when:
/// - its `resets_at` and the previous reading's are both known (and not yet passed when read)
///   and differ by more than [`SAME_WINDOW`]; or
/// - its utilization is below the window's highest so far, unless it is a late copy: its own
///   `resets_at` is known and within [`SAME_WINDOW`] of the window's, and it was fetched
///   before the window's reset. A late copy stays in the window and does not lower it.
pub fn windows(readings: &[Reading]) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for r in sorted(readings) {
        let reset = live_reset(&r);
        let joins = out.last().is_some_and(|w| {
            let prev = w.readings.last().and_then(live_reset);
            let far = matches!((reset, prev), (Some(a), Some(b)) if (a - b).abs() > SAME_WINDOW);
            if far {
                return false;
            }
            if r.utilization >= w.utilization() {
                return true;
            }
            // Lower: a late copy of this window, or the first reading after its reset.
            match (reset, w.resets_at) {
                (Some(a), Some(b)) => (a - b).abs() <= SAME_WINDOW && r.fetched_at < b,
                _ => false,
            }
        });
        if joins {
            let w = out.last_mut().expect("joins implies a window");
            let level = w.utilization().max(r.utilization);
            w.readings.push(r);
            w.levels.push(level);
            if reset.is_some() {
                w.resets_at = reset;
            }
        } else {
            out.push(Window {
                readings: vec![r],
                levels: vec![r.utilization],
                resets_at: reset,
            });
        }
    }
    out
}

/// How a pace was obtained (`basis` in JSON: `recent`, `window` or `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Least-squares slope of the current window's readings in the last 60 minutes.
    Recent,
    /// Utilization over the elapsed part of the window.
    Window,
    /// Not enough to say: no forecast, and `--needs` does not refuse on this bucket.
    None,
}

impl Basis {
    /// The JSON word: `recent`, `window` or `none`.
    pub fn key(self) -> &'static str {
        match self {
            Basis::Recent => "recent",
            Basis::Window => "window",
            Basis::None => "none",
        }
    }
}

/// The forecast of one bucket at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketForecast {
    /// The bucket's name (`five_hour`, `weekly_scoped:Fable`, ...).
    pub bucket: String,
    /// The bucket's level at `now`, percent: the highest reading of its current window; 0
    /// when that window has reset by `now` or there is no reading.
    pub utilization: f64,
    /// The current window's reset (UTC), when known and still ahead of `now`.
    pub resets_at: Option<DateTime<Utc>>,
    /// Percent per hour (≥ 0); `None` when `basis` is [`Basis::None`].
    pub pace_per_hour: Option<f64>,
    /// How the pace was obtained.
    pub basis: Basis,
    /// The limit projected against, percent (100, or `--max-utilization`).
    pub limit: f64,
    /// When the bucket reaches `limit` at this pace (UTC): `now` when already there; `None`
    /// without a pace, at a pace of 0, or beyond 400 days.
    pub reaches_limit_at: Option<DateTime<Utc>>,
    /// Whether `reaches_limit_at` comes before the window's reset (`true` when the reset is
    /// unknown; `false` without a projection).
    pub before_reset: bool,
    /// The last 24 hours, one level (percent) per hour, oldest first; `None` for an hour
    /// without a reading ([`sparkline_levels`]; render with [`sparkline`]).
    pub last_24h: Vec<Option<f64>>,
}

impl BucketForecast {
    /// Whether the bucket is projected to reach its limit before `until` and before its
    /// reset (what `--needs` refuses on, with `until` = now + DUR).
    pub fn reaches_limit_before(&self, until: DateTime<Utc>) -> bool {
        self.before_reset && self.reaches_limit_at.is_some_and(|t| t < until)
    }
}

/// The least-squares slope of `(t, y)` points, y per unit of t; `None` for fewer than two
/// distinct `t`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (mt, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (t, y)| (a + t / n, b + y / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (t, y)| {
        (num + (t - mt) * (y - my), den + (t - mt) * (t - mt))
    });
    (den > 0.0).then(|| num / den)
}

fn hours(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 3_600_000.0
}

/// The *recent* pace of a window at `now` (percent per hour), when its readings in the last
/// [`RECENT_SPAN`] are enough (see the module docs). Fitted on the window's levels (running
/// maximum), so a late lower copy does not bend the slope down; never negative.
pub fn recent_pace(window: &Window, now: DateTime<Utc>) -> Option<f64> {
    let from = now - RECENT_SPAN;
    let points: Vec<(DateTime<Utc>, f64)> = window
        .readings
        .iter()
        .zip(&window.levels)
        .filter(|(r, _)| r.fetched_at >= from && r.fetched_at <= now)
        .map(|(r, l)| (r.fetched_at, *l))
        .collect();
    let (first, last) = (points.first()?.0, points.last()?.0);
    if points.len() < RECENT_MIN_READINGS || last - first < RECENT_MIN_SPAN {
        return None;
    }
    let xy: Vec<(f64, f64)> = points
        .iter()
        .map(|(t, l)| (hours(*t - first), *l))
        .collect();
    slope(&xy).map(|s| s.max(0.0))
}

/// The *window* pace at `now` (percent per hour): `utilization` over the elapsed part of the
/// window that resets at `resets_at` and lasts `length`; `None` before
/// [`WINDOW_MIN_ELAPSED`] of it has elapsed, or once it has reset.
pub fn window_pace(
    utilization: f64,
    resets_at: DateTime<Utc>,
    length: Duration,
    now: DateTime<Utc>,
) -> Option<f64> {
    let start = resets_at - length;
    let elapsed = now - start;
    if now >= resets_at || hours(elapsed) < WINDOW_MIN_ELAPSED * hours(length) {
        return None;
    }
    Some(utilization.max(0.0) / hours(elapsed))
}

/// Readings at or before `now`, plus `current` (the snapshot being decided on; one fetched
/// after `now` counts as read at `now`, as for its age).
fn as_of(history: &[Reading], current: Option<Reading>, now: DateTime<Utc>) -> Vec<Reading> {
    let mut v: Vec<Reading> = history
        .iter()
        .copied()
        .filter(|r| r.fetched_at <= now)
        .collect();
    if let Some(mut c) = current {
        c.fetched_at = c.fetched_at.min(now);
        v.push(c);
    }
    v
}

/// The forecast of one bucket at `now`.
///
/// - `bucket`: its name; `length`: its window length ([`window_length`]);
/// - `history`: its recorded readings (any order; those fetched after `now` are ignored);
/// - `current`: its reading in the snapshot being decided on, when not already in `history`
///   (a duplicate is harmless);
/// - `limit`: the level to project to, percent (100, or `--max-utilization`).
pub fn forecast(
    bucket: &str,
    length: Duration,
    history: &[Reading],
    current: Option<Reading>,
    now: DateTime<Utc>,
    limit: f64,
) -> BucketForecast {
    let readings = as_of(history, current, now);
    let all = windows(&readings);
    let mut f = BucketForecast {
        bucket: bucket.to_owned(),
        utilization: 0.0,
        resets_at: None,
        pace_per_hour: None,
        basis: Basis::None,
        limit,
        reaches_limit_at: None,
        before_reset: false,
        last_24h: sparkline_levels(&readings, now, SPARKLINE_SPAN, SPARKLINE_SLOTS),
    };
    let Some(w) = all.last() else {
        return f;
    };
    if w.resets_at.is_some_and(|r| r <= now) {
        return f; // the window has reset: 0 %, and a new one has no readings yet
    }
    f.utilization = w.utilization();
    f.resets_at = w.resets_at;
    let (pace, basis) = match recent_pace(w, now) {
        Some(p) => (Some(p), Basis::Recent),
        None => match w
            .resets_at
            .and_then(|r| window_pace(f.utilization, r, length, now))
        {
            Some(p) => (Some(p), Basis::Window),
            None => (None, Basis::None),
        },
    };
    f.pace_per_hour = pace;
    f.basis = basis;
    f.reaches_limit_at = pace.and_then(|p| projected(f.utilization, p, limit, now));
    f.before_reset = match (f.reaches_limit_at, f.resets_at) {
        (Some(t), Some(r)) => t < r,
        (Some(_), None) => true,
        (None, _) => false,
    };
    f
}

/// When a bucket at `utilization` reaches `limit` at `pace` percent per hour, from `now`:
/// `now` when already there; `None` at a pace of 0 or beyond 400 days.
pub fn projected(
    utilization: f64,
    pace: f64,
    limit: f64,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if utilization >= limit {
        return Some(now);
    }
    if pace.is_nan() || pace <= 0.0 {
        return None;
    }
    let secs = (limit - utilization) / pace * 3600.0;
    if !secs.is_finite() || secs > HORIZON.num_seconds() as f64 {
        return None;
    }
    Some(now + Duration::milliseconds((secs * 1000.0).round() as i64))
}

/// Of `forecasts`, the one `--needs` refuses on: projected to reach its limit before `until`
/// (now + the job's duration) and before its reset; the earliest when several are. Buckets
/// with basis `none` never are. The caller leaves out buckets that do not apply to the run or
/// that are pinned and absorbed by extra usage.
pub fn first_reaching<'a>(
    forecasts: impl IntoIterator<Item = &'a BucketForecast>,
    until: DateTime<Utc>,
) -> Option<&'a BucketForecast> {
    forecasts
        .into_iter()
        .filter(|f| f.basis != Basis::None && f.reaches_limit_before(until))
        .min_by_key(|f| f.reaches_limit_at)
}

/// For a running job (the supervisor): the bucket whose *recent* pace says it reaches its
/// limit before `job_end` and before its reset, the earliest when several do. A window pace
/// (an average over days) is not enough to warn mid-flight.
pub fn recent_warning<'a>(
    forecasts: impl IntoIterator<Item = &'a BucketForecast>,
    job_end: DateTime<Utc>,
) -> Option<&'a BucketForecast> {
    first_reaching(
        forecasts.into_iter().filter(|f| f.basis == Basis::Recent),
        job_end,
    )
}

/// The sparkline's data: for each of `slots` equal slots of the `span` before `now` (oldest
/// first), the bucket's level (percent) at the last reading in that slot, `None` when it has
/// none. Levels are per window (a late lower copy reads as the window's level).
pub fn sparkline_levels(
    history: &[Reading],
    now: DateTime<Utc>,
    span: Duration,
    slots: usize,
) -> Vec<Option<f64>> {
    let mut out = vec![None; slots];
    if slots == 0 || span <= Duration::zero() {
        return out;
    }
    let start = now - span;
    let slot_ms = span.num_milliseconds() as f64 / slots as f64;
    for w in windows(&as_of(history, None, now)) {
        for (r, level) in w.readings.iter().zip(&w.levels) {
            if r.fetched_at < start {
                continue;
            }
            let i = ((r.fetched_at - start).num_milliseconds() as f64 / slot_ms) as usize;
            out[i.min(slots - 1)] = Some(*level);
        }
    }
    out
}

/// Renders sparkline levels as Unicode blocks, one character a slot: `▁` (under 12.5 %) to
/// `█` (87.5 % and up), `·` for a slot without a reading. Percent is absolute (0–100), not
/// scaled to the data, so a full block always means near the limit.
pub fn sparkline(levels: &[Option<f64>]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    levels
        .iter()
        .map(|l| match l {
            None => '·',
            Some(u) => {
                let i = (u.max(0.0) / 12.5).floor() as usize;
                BLOCKS[i.min(BLOCKS.len() - 1)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap()
    }
    fn min(m: i64) -> Duration {
        Duration::minutes(m)
    }
    fn at(m: i64, u: f64, reset: Option<DateTime<Utc>>) -> Reading {
        Reading {
            fetched_at: t0() + min(m),
            utilization: u,
            resets_at: reset,
        }
    }
    const FIVE: Duration = Duration::hours(5);
    const WEEK: Duration = Duration::days(7);

    fn approx(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn steady_series_gives_its_recent_slope() {
        let reset = Some(t0() + Duration::hours(3));
        // 6 %/h = 0.1 %/min, one reading every 5 minutes for an hour.
        let h: Vec<Reading> = (0..=12)
            .map(|i| at(i * 5, 20.0 + 0.5 * i as f64, reset))
            .collect();
        let now = t0() + min(60);
        let f = forecast("five_hour", FIVE, &h, None, now, 100.0);
        assert_eq!(f.basis, Basis::Recent);
        assert!(approx(f.pace_per_hour.unwrap(), 6.0, 1e-9), "{f:?}");
        assert_eq!(f.utilization, 26.0);
        // (100 - 26) / 6 h = 12h 20m: after the reset in 2 h.
        assert_eq!(
            f.reaches_limit_at,
            Some(now + Duration::hours(12) + min(20))
        );
        assert!(!f.before_reset);
        assert!(!f.reaches_limit_before(now + Duration::days(1)));
    }

    #[test]
    fn fast_pace_reaches_limit_before_reset() {
        let reset = Some(t0() + Duration::hours(4));
        // 30 %/h: 0.5 %/min.
        let h: Vec<Reading> = (0..=6)
            .map(|i| at(i * 5, 50.0 + 2.5 * i as f64, reset))
            .collect();
        let now = t0() + min(30);
        let f = forecast("five_hour", FIVE, &h, None, now, 100.0);
        assert_eq!(f.basis, Basis::Recent);
        assert!(approx(f.pace_per_hour.unwrap(), 30.0, 1e-9));
        // 35 % left at 30 %/h = 70 min.
        assert_eq!(f.reaches_limit_at, Some(now + min(70)));
        assert!(f.before_reset);
        assert!(f.reaches_limit_before(now + Duration::hours(2)));
        assert!(!f.reaches_limit_before(now + min(60)));
        // Against --max-utilization 80: 15 % left = 30 min.
        let g = forecast("five_hour", FIVE, &h, None, now, 80.0);
        assert_eq!(g.reaches_limit_at, Some(now + min(30)));
        assert_eq!(g.limit, 80.0);
    }

    #[test]
    fn integer_percent_steps_fit_the_underlying_pace() {
        // True pace 3 %/h, reported as whole percents once a minute for an hour.
        let reset = Some(t0() + Duration::days(3));
        let h: Vec<Reading> = (0..=60)
            .map(|i| at(i, (40.0 + 0.05 * i as f64).floor(), reset))
            .collect();
        let now = t0() + min(60);
        let f = forecast("seven_day", WEEK, &h, None, now, 100.0);
        assert_eq!(f.basis, Basis::Recent);
        let p = f.pace_per_hour.unwrap();
        assert!(approx(p, 3.0, 0.6), "pace {p}");
        // A flat stretch on one integer (slower than 1 %/h) is a pace near 0, not a jump.
        let flat: Vec<Reading> = (0..=60).map(|i| at(i, 40.0, reset)).collect();
        let f = forecast("seven_day", WEEK, &flat, None, now, 100.0);
        assert_eq!(f.pace_per_hour, Some(0.0));
        assert_eq!(f.reaches_limit_at, None);
        assert!(!f.before_reset);
        // One step at the very end of three sparse readings is bounded by the data: at most
        // 1 % over the span, i.e. ≤ 6 %/h over 10 min.
        let step = [at(0, 40.0, reset), at(5, 40.0, reset), at(10, 41.0, reset)];
        let f = forecast("seven_day", WEEK, &step, None, t0() + min(10), 100.0);
        let p = f.pace_per_hour.unwrap();
        assert!(p > 0.0 && p <= 6.0 + 1e-9, "pace {p}");
    }

    #[test]
    fn noise_and_late_lower_copies_do_not_bend_the_pace_down() {
        let reset = Some(t0() + Duration::hours(4));
        let mut h: Vec<Reading> = (0..=12)
            .map(|i| at(i * 5, 10.0 + i as f64, reset))
            .collect();
        // A statusline capture of an older response: lower, same reset, fetched later.
        h.push(at(61, 12.0, reset));
        let now = t0() + min(62);
        let ws = windows(&h);
        assert_eq!(ws.len(), 1, "a late lower copy is the same window");
        assert_eq!(ws[0].utilization(), 22.0);
        let f = forecast("five_hour", FIVE, &h, None, now, 100.0);
        assert_eq!(
            f.utilization, 22.0,
            "a lower reading does not lower the bucket"
        );
        assert_eq!(f.basis, Basis::Recent);
        assert!(f.pace_per_hour.unwrap() > 10.0, "{f:?}");
    }

    #[test]
    fn reset_inside_the_span_starts_a_new_window() {
        let old = t0() + min(30);
        let new = t0() + min(30) + FIVE;
        let h = [
            at(0, 70.0, Some(old)),
            at(10, 80.0, Some(old)),
            at(20, 90.0, Some(old)),
            // After the reset, paired with the old reset time (already past when read).
            at(35, 2.0, Some(old)),
            at(45, 4.0, Some(new)),
            at(55, 6.0, Some(new)),
        ];
        let ws = windows(&h);
        assert_eq!(ws.len(), 2, "{ws:?}");
        assert_eq!(ws[0].utilization(), 90.0);
        assert_eq!(ws[1].readings.len(), 3);
        assert_eq!(ws[1].resets_at, Some(new));
        let now = t0() + min(56);
        let f = forecast("five_hour", FIVE, &h, None, now, 100.0);
        // Only the new window's readings: 2 → 6 over 20 min = 12 %/h, not a negative slope.
        assert_eq!(f.basis, Basis::Recent);
        assert!(approx(f.pace_per_hour.unwrap(), 12.0, 1e-9), "{f:?}");
        assert_eq!(f.utilization, 6.0);
        assert_eq!(f.resets_at, Some(new));
        // A drop with a new reset time is a new window too.
        let h2 = [at(0, 50.0, Some(old)), at(40, 1.0, Some(new))];
        assert_eq!(windows(&h2).len(), 2);
        // A reset time that moves by more than 10 min without a drop: new window.
        let h3 = [at(0, 5.0, Some(old)), at(5, 6.0, Some(old + min(11)))];
        assert_eq!(windows(&h3).len(), 2);
        // Jitter within 10 min (seconds rounding) is the same window.
        let h4 = [
            at(0, 5.0, Some(old)),
            at(5, 6.0, Some(old + Duration::seconds(1))),
        ];
        assert_eq!(windows(&h4).len(), 1);
    }

    #[test]
    fn window_that_reset_by_now_has_no_forecast() {
        let reset = t0() + min(30);
        let h: Vec<Reading> = (0..=5)
            .map(|i| at(i * 5, 90.0 + i as f64, Some(reset)))
            .collect();
        let f = forecast("five_hour", FIVE, &h, None, t0() + min(31), 100.0);
        assert_eq!(f.basis, Basis::None);
        assert_eq!(f.utilization, 0.0);
        assert_eq!(f.reaches_limit_at, None);
        assert!(!f.before_reset);
    }

    #[test]
    fn idle_hours_fall_back_to_the_window_pace() {
        // Weekly window that resets in 4 days: 3 days elapsed.
        let now = t0() + Duration::hours(10);
        let reset = Some(now + Duration::days(4));
        // Busy 9–10 hours ago, idle since.
        let h: Vec<Reading> = (0..=6)
            .map(|i| at(i * 10, 30.0 + i as f64, reset))
            .collect();
        let f = forecast("seven_day", WEEK, &h, None, now, 100.0);
        assert_eq!(f.basis, Basis::Window);
        // 36 % over 72 h = 0.5 %/h.
        assert!(approx(f.pace_per_hour.unwrap(), 0.5, 1e-9), "{f:?}");
        // 64 % left at 0.5 %/h = 128 h, after the reset in 96 h.
        assert_eq!(f.reaches_limit_at, Some(now + Duration::hours(128)));
        assert!(!f.before_reset);
        // Idle in the last hour with readings: recent pace 0 beats the window average.
        let mut quiet = h.clone();
        for m in [560, 575, 590, 600] {
            quiet.push(at(m, 36.0, reset));
        }
        let f = forecast("seven_day", WEEK, &quiet, None, now, 100.0);
        assert_eq!(f.basis, Basis::Recent);
        assert_eq!(f.pace_per_hour, Some(0.0));
    }

    #[test]
    fn recent_needs_three_readings_over_ten_minutes() {
        let reset = Some(t0() + Duration::hours(2)); // 5 h window: 3 h elapsed at t0
        let now = t0() + min(10);
        let two = [at(0, 30.0, reset), at(10, 35.0, reset)];
        assert_eq!(
            forecast("five_hour", FIVE, &two, None, now, 100.0).basis,
            Basis::Window
        );
        let short = [at(1, 30.0, reset), at(5, 31.0, reset), at(10, 35.0, reset)];
        assert_eq!(
            forecast("five_hour", FIVE, &short, None, now, 100.0).basis,
            Basis::Window,
            "9 minutes is too short"
        );
        let ok = [at(0, 30.0, reset), at(5, 31.0, reset), at(10, 35.0, reset)];
        assert_eq!(
            forecast("five_hour", FIVE, &ok, None, now, 100.0).basis,
            Basis::Recent
        );
        // Readings older than 60 min do not count towards the recent fit.
        let old = [
            at(-80, 20.0, reset),
            at(-70, 25.0, reset),
            at(0, 30.0, reset),
        ];
        assert_eq!(
            forecast("five_hour", FIVE, &old, None, now, 100.0).basis,
            Basis::Window
        );
    }

    #[test]
    fn barely_started_window_has_no_forecast() {
        // five_hour window started 20 minutes ago (10 % is 30 min), one reading.
        let now = t0();
        let reset = Some(now + FIVE - min(20));
        let h = [at(-1, 15.0, reset)];
        let f = forecast("five_hour", FIVE, &h, None, now, 100.0);
        assert_eq!(f.basis, Basis::None);
        assert_eq!(f.pace_per_hour, None);
        assert_eq!(f.utilization, 15.0);
        assert!(first_reaching([&f], now + Duration::days(30)).is_none());
        // At 31 minutes it has a window pace: 15 % / (31/60 h).
        let f = forecast("five_hour", FIVE, &h, None, now + min(11), 100.0);
        assert_eq!(f.basis, Basis::Window);
        assert!(approx(f.pace_per_hour.unwrap(), 15.0 / (31.0 / 60.0), 1e-9));
        // Weekly: 10 % is 16.8 h.
        let wreset = Some(now + WEEK - Duration::hours(16));
        let w = forecast("seven_day", WEEK, &[at(0, 5.0, wreset)], None, now, 100.0);
        assert_eq!(w.basis, Basis::None);
        let w = forecast(
            "seven_day",
            WEEK,
            &[at(0, 5.0, wreset)],
            None,
            now + Duration::hours(1),
            100.0,
        );
        assert_eq!(w.basis, Basis::Window);
    }

    #[test]
    fn bucket_null_for_a_while_keeps_or_splits_by_reset() {
        let reset = Some(t0() + Duration::days(2));
        // Readings, then two hours with the bucket null (nothing recorded), then back.
        let h = [
            at(0, 10.0, reset),
            at(10, 11.0, reset),
            at(130, 12.0, reset),
            at(140, 13.0, reset),
        ];
        assert_eq!(windows(&h).len(), 1);
        // Back with a far later reset: a new window; the old readings do not count.
        let later = Some(t0() + Duration::days(9));
        let h2 = [
            at(0, 10.0, reset),
            at(10, 11.0, reset),
            at(130, 12.0, later),
            at(140, 13.0, later),
            at(150, 14.0, later),
        ];
        let ws = windows(&h2);
        assert_eq!(ws.len(), 2);
        let f = forecast("seven_day", WEEK, &h2, None, t0() + min(150), 100.0);
        assert_eq!(f.basis, Basis::Recent);
        assert!(approx(f.pace_per_hour.unwrap(), 6.0, 1e-9));
        // Unknown reset (five_hour before a session) then a session starting: one window.
        let h3 = [
            at(0, 0.0, None),
            at(5, 0.0, None),
            at(10, 3.0, Some(t0() + FIVE)),
        ];
        assert_eq!(windows(&h3).len(), 1);
    }

    #[test]
    fn current_reading_counts_and_future_readings_do_not() {
        let reset = Some(t0() + Duration::hours(3));
        let now = t0() + min(20);
        let h = [at(0, 10.0, reset), at(10, 12.0, reset), at(90, 99.0, reset)];
        // The reading after --now is ignored; the current snapshot's reading (fetched after
        // --now) counts as read at now.
        let f = forecast("five_hour", FIVE, &h, Some(at(25, 14.0, reset)), now, 100.0);
        assert_eq!(f.utilization, 14.0);
        assert_eq!(f.basis, Basis::Recent);
        assert!(approx(f.pace_per_hour.unwrap(), 12.0, 1e-9), "{f:?}");
        // No history at all: the current reading alone gives a window pace (2 h elapsed).
        let f = forecast(
            "five_hour",
            FIVE,
            &[],
            Some(at(0, 20.0, reset)),
            t0(),
            100.0,
        );
        assert_eq!(f.basis, Basis::Window);
        assert!(approx(f.pace_per_hour.unwrap(), 10.0, 1e-9));
        // Duplicates (same fetched_at) count once.
        let dup = [at(0, 10.0, reset), at(0, 10.0, reset), at(5, 11.0, reset)];
        assert_eq!(windows(&dup)[0].readings.len(), 2);
        // Nothing at all.
        let f = forecast("five_hour", FIVE, &[], None, now, 100.0);
        assert_eq!(f.basis, Basis::None);
        assert_eq!(f.utilization, 0.0);
    }

    #[test]
    fn already_at_the_limit_reaches_it_now() {
        let reset = Some(t0() + Duration::hours(2));
        let h: Vec<Reading> = (0..=3).map(|i| at(i * 5, 97.0 + i as f64, reset)).collect();
        let now = t0() + min(15);
        let f = forecast("five_hour", FIVE, &h, None, now, 100.0);
        assert_eq!(f.reaches_limit_at, Some(now));
        assert!(f.before_reset);
        assert_eq!(projected(50.0, 0.0, 100.0, now), None);
        assert_eq!(projected(50.0, 1e-9, 100.0, now), None, "beyond 400 days");
        assert_eq!(projected(50.0, f64::NAN, 100.0, now), None);
    }

    #[test]
    fn first_reaching_and_recent_warning_pick_the_earliest() {
        let now = t0();
        let mk = |name: &str, basis: Basis, inm: Option<i64>, before: bool| BucketForecast {
            bucket: name.into(),
            utilization: 50.0,
            resets_at: None,
            pace_per_hour: Some(1.0),
            basis,
            limit: 100.0,
            reaches_limit_at: inm.map(|m| now + min(m)),
            before_reset: before,
            last_24h: vec![],
        };
        let fs = [
            mk("five_hour", Basis::Window, Some(90), true),
            mk("seven_day", Basis::Recent, Some(120), true),
            mk("seven_day_opus", Basis::Recent, Some(30), false),
            mk("seven_day_oauth_apps", Basis::None, Some(10), true),
        ];
        let until = now + Duration::hours(3);
        assert_eq!(first_reaching(&fs, until).unwrap().bucket, "five_hour");
        assert_eq!(recent_warning(&fs, until).unwrap().bucket, "seven_day");
        assert!(first_reaching(&fs, now + min(60)).is_none());
        assert!(recent_warning(&fs, now + min(100)).is_none());
    }

    #[test]
    fn sparkline_covers_24_hours_with_blocks_and_gaps() {
        let now = t0() + Duration::hours(24);
        let reset = Some(now + Duration::days(1));
        // One reading every 2 hours, rising 4 % each; one older than 24 h.
        let mut h: Vec<Reading> = (0..12)
            .map(|i| at(i * 120 + 30, 4.0 * (i + 1) as f64, reset))
            .collect();
        h.push(at(-600, 1.0, reset));
        let levels = sparkline_levels(&h, now, SPARKLINE_SPAN, SPARKLINE_SLOTS);
        assert_eq!(levels.len(), 24);
        assert_eq!(levels[0], Some(4.0));
        assert_eq!(levels[1], None);
        assert_eq!(levels[22], Some(48.0));
        assert_eq!(levels[23], None);
        let s = sparkline(&levels);
        assert_eq!(s.chars().count(), 24);
        assert!(s.starts_with("▁·▁·"), "{s}");
        assert_eq!(
            sparkline(&[Some(0.0), Some(12.5), Some(99.0), Some(150.0), None]),
            "▁▂██·"
        );
        // A reading exactly at now lands in the last slot.
        let l = sparkline_levels(&[at(24 * 60, 60.0, reset)], now, SPARKLINE_SPAN, 24);
        assert_eq!(l[23], Some(60.0));
        assert!(sparkline_levels(&h, now, SPARKLINE_SPAN, 0).is_empty());
    }

    #[test]
    fn window_length_by_kind() {
        assert_eq!(window_length(&BucketKind::FiveHour), Duration::hours(5));
        assert_eq!(window_length(&BucketKind::SevenDayOpus), Duration::days(7));
        assert_eq!(
            window_length(&BucketKind::WeeklyScoped("Fable".into())),
            Duration::days(7)
        );
    }
}
