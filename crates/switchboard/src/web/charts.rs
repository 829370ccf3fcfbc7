//! Charts drawn on the server as inline SVG: no script, readable by screen readers (`role="img"`,
//! a label and a `<title>`; every page that shows a chart also shows its numbers in a table), and
//! styled by the page's CSS (`.series-in`, `.series-out`, … in admin.css, so they follow the theme).

use std::fmt::Write;

use chrono::NaiveDate;

/// Escapes text for SVG/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One series of a daily chart: `key` names it in the markup (`data-series`, CSS class
/// `series-{key}`), `label` in the tooltips.
pub struct Series<'a> {
    pub key: &'a str,
    pub label: &'a str,
    pub values: Vec<i64>,
}

/// A round upper bound for the axis (1, 2, 5 × 10ⁿ), at least 1.
pub fn nice_max(v: i64) -> i64 {
    if v <= 1 {
        return 1;
    }
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= v {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Grouped daily bars: one group per day, one bar per series. Each bar carries `data-date`,
/// `data-series` and `data-value` (tests and scripts read them) and a `<title>` tooltip.
pub fn daily_bars(test_id: &str, label: &str, days: &[NaiveDate], series: &[Series]) -> String {
    let n = days.len().max(1);
    let max = nice_max(series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let group = plot_w / n as f64;
    let gap = (group * 0.2).min(6.0);
    let bar = ((group - gap) / series.len().max(1) as f64).max(1.0);
    let y = |v: i64| TOP + plot_h - (v as f64 / max as f64) * plot_h;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" data-testid="{id}" role="img" aria-label="{label}" viewBox="0 0 {W} {H}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg"><title>{label}</title>"#,
        id = esc(test_id),
        label = esc(label),
    );
    // Grid lines and the value axis: 0, half, max.
    let mut ticks = vec![0, max];
    if max >= 2 && max % 2 == 0 {
        ticks.insert(1, max / 2);
    }
    for v in ticks {
        let yy = y(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}"/><text class="axis" x="{tx}" y="{ty:.1}" text-anchor="end">{v}</text>"#,
            x2 = W - RIGHT,
            tx = LEFT - 6.0,
            ty = yy + 4.0,
        );
    }
    for (i, day) in days.iter().enumerate() {
        let gx = LEFT + group * i as f64 + gap / 2.0;
        let _ = write!(s, r#"<g class="day" data-date="{day}">"#);
        for (k, ser) in series.iter().enumerate() {
            let v = ser.values.get(i).copied().unwrap_or(0);
            let top = y(v);
            let h = (TOP + plot_h - top).max(if v > 0 { 1.0 } else { 0.0 });
            let _ = write!(
                s,
                r#"<rect class="bar series-{key}" data-date="{day}" data-series="{key}" data-value="{v}" x="{x:.1}" y="{yy:.1}" width="{bw:.1}" height="{h:.1}"><title>{d}: {v} {lab}</title></rect>"#,
                key = esc(ser.key),
                x = gx + bar * k as f64,
                yy = TOP + plot_h - h,
                bw = (bar - 0.5).max(0.5),
                d = day.format("%b %-d"),
                lab = esc(ser.label),
            );
        }
        s.push_str("</g>");
        // A date label every week, counted back from the last day (always labelled).
        if (days.len() - 1 - i).is_multiple_of(7) {
            let _ = write!(
                s,
                r#"<text class="axis" x="{x:.1}" y="{yy}" text-anchor="middle">{d}</text>"#,
                x = LEFT + group * (i as f64 + 0.5),
                yy = H - 8.0,
                d = day.format("%b %-d"),
            );
        }
    }
    let _ = write!(
        s,
        r#"<line class="baseline" x1="{LEFT}" x2="{x2}" y1="{b}" y2="{b}"/>"#,
        x2 = W - RIGHT,
        b = TOP + plot_h
    );
    s.push_str("</svg>");
    s
}

/// One bar of a rate chart: a 0–1 value (or none, shown as "no data").
pub struct Rate<'a> {
    pub key: &'a str,
    pub label: &'a str,
    pub value: Option<f64>,
}

/// Horizontal bars for rates (0 to 100 %).
pub fn rate_bars(test_id: &str, label: &str, rates: &[Rate]) -> String {
    let row = 34.0;
    let h = row * rates.len() as f64 + 8.0;
    let (lx, bx, bw) = (0.0, 170.0, 430.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart rates" data-testid="{id}" role="img" aria-label="{label}" viewBox="0 0 {W} {h}" xmlns="http://www.w3.org/2000/svg"><title>{label}</title>"#,
        id = esc(test_id),
        label = esc(label),
    );
    for (i, r) in rates.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let text = match r.value {
            Some(v) => format!("{:.1}%", v * 100.0),
            None => "no data".into(),
        };
        let w = r.value.map(|v| v.clamp(0.0, 1.0) * bw).unwrap_or(0.0);
        let _ = write!(
            s,
            r#"<text class="label" x="{lx}" y="{ty:.1}">{lab}</text><rect class="track" x="{bx}" y="{y:.1}" width="{bw}" height="22" rx="4"/><rect class="bar series-{key}" data-series="{key}" data-value="{val}" x="{bx}" y="{y:.1}" width="{w:.1}" height="22" rx="4"><title>{lab}: {text}</title></rect><text class="value" x="{vx}" y="{ty:.1}">{text}</text>"#,
            ty = y + 16.0,
            lab = esc(r.label),
            key = esc(r.key),
            val = r.value.map(|v| format!("{v:.4}")).unwrap_or_default(),
            vx = bx + bw + 10.0,
        );
    }
    s.push_str("</svg>");
    s
}

/// A usage meter (used of limit) as a small SVG bar; turns `warn` from 80 % and `danger` from 100 %.
pub fn meter(test_id: &str, label: &str, used: i64, limit: i64) -> String {
    let pct = if limit > 0 { used as f64 / limit as f64 } else { 0.0 };
    let class = if pct >= 1.0 {
        "danger"
    } else if pct >= 0.8 {
        "warn"
    } else {
        "ok"
    };
    let w = pct.clamp(0.0, 1.0) * 400.0;
    format!(
        r#"<svg class="meter {class}" data-testid="{id}" role="img" aria-label="{label}: {used} of {limit} ({p:.1}%)" viewBox="0 0 400 16" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg"><title>{label}: {used} of {limit}</title><rect class="track" x="0" y="0" width="400" height="16" rx="8"/><rect class="fill" data-value="{used}" x="0" y="0" width="{w:.1}" height="16" rx="8"/></svg>"#,
        id = esc(test_id),
        label = esc(label),
        p = pct * 100.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(200), 200);
        assert_eq!(nice_max(201), 500);
    }

    #[test]
    fn bars_carry_their_values() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let svg = daily_bars(
            "chart-x",
            "Messages <per> day",
            &[d],
            &[
                Series { key: "in", label: "received", values: vec![3] },
                Series { key: "out", label: "sent", values: vec![0] },
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains(r#"data-testid="chart-x" role="img" aria-label="Messages &lt;per&gt; day""#));
        assert!(svg.contains(r#"data-date="2026-11-25" data-series="in" data-value="3""#));
        assert!(svg.contains(r#"data-series="out" data-value="0""#));
        assert!(svg.contains("<title>Nov 25: 3 received</title>"));
        let r = rate_bars("r", "Rates", &[Rate { key: "delivered", label: "Delivered", value: Some(0.5) }]);
        assert!(r.contains("50.0%"));
        assert!(meter("m", "Messages", 90, 100).contains("meter warn"));
    }
}
