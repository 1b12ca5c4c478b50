//! Rendering of stored events for `trace`, `feed`, `errors` and `replay`.

use overstory_core::clock;
use overstory_core::events::StoredEvent;
use serde_json::Value;

use crate::output::Style;

/// Cuts `s` to `max` characters plus `…`.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// The detail of an event: `tool=… args=… dur=Nms data=…`, each value cut at `max`.
pub fn detail(e: &StoredEvent, max: usize) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &e.tool_name {
        parts.push(format!("tool={t}"));
    }
    if let Some(a) = e.tool_args.as_deref().filter(|a| *a != "{}") {
        parts.push(format!("args={}", cut(a, max)));
    }
    if let Some(d) = e.tool_duration_ms {
        parts.push(format!("dur={d}ms"));
    }
    if let Some(d) = &e.data {
        let shown = match serde_json::from_str::<Value>(d) {
            Ok(Value::Object(m)) if m.len() == 1 && m.contains_key("summary") => {
                m["summary"].as_str().unwrap_or_default().to_owned()
            }
            _ => d.clone(),
        };
        parts.push(format!("data={}", cut(&shown, max)));
    }
    parts.join(" ")
}

/// `HH:MM:SS` (UTC) of an event.
pub fn clock_time(ts: &str) -> String {
    ts.get(11..19).unwrap_or(ts).to_owned()
}

/// `YYYY-MM-DD` of an event.
pub fn date(ts: &str) -> String {
    ts.get(..10).unwrap_or(ts).to_owned()
}

/// `12s ago`, `3m ago`, `2h ago`, `4d ago`.
pub fn relative(ts: &str, now_ms: i64) -> String {
    let Some(t) = clock::parse_rfc3339(ts) else {
        return ts.to_owned();
    };
    let s = ((now_ms - t) / 1000).max(0);
    if s < 60 {
        format!("{s}s ago")
    } else if s < 3600 {
        format!("{}m ago", s / 60)
    } else if s < 86_400 {
        format!("{}h ago", s / 3600)
    } else {
        format!("{}d ago", s / 86_400)
    }
}

/// Colours agent names, stable by first appearance.
#[derive(Debug, Default)]
pub struct AgentColors {
    seen: Vec<String>,
}

impl AgentColors {
    /// Returns `name` padded to `width` and coloured for its agent.
    pub fn paint(&mut self, style: Style, name: &str, width: usize) -> String {
        let idx = match self.seen.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.seen.push(name.to_owned());
                self.seen.len() - 1
            }
        };
        let padded = format!("{name:<width$}");
        match idx % 4 {
            0 => style.green(&padded),
            1 => style.yellow(&padded),
            2 => style.bold(&padded),
            _ => style.dim(&padded),
        }
    }
}

/// Renders events as the trace/replay timeline: date separators, relative
/// times (absolute with `absolute`), the full label and the detail.
pub fn render_timeline(
    events: &[StoredEvent],
    absolute: bool,
    with_agent: bool,
    style: Style,
) -> String {
    let now = clock::now_millis();
    let mut colors = AgentColors::default();
    let mut out = String::new();
    let mut day = String::new();
    for e in events {
        let d = date(&e.created_at);
        if d != day {
            out.push_str(&style.dim(&format!("--- {d} ---")));
            out.push('\n');
            day = d;
        }
        let when = if absolute {
            clock_time(&e.created_at)
        } else {
            relative(&e.created_at, now)
        };
        let agent = if with_agent {
            format!("[{}] ", colors.paint(style, &e.agent_name, 0))
        } else {
            String::new()
        };
        let label = if e.level == "error" {
            style.red(e.full_label())
        } else {
            e.full_label().to_owned()
        };
        out.push_str(&format!("{when:>9} {agent}{label} {}\n", detail(e, 80)));
    }
    out
}

/// The text shown when `events.db` does not exist.
pub const NO_EVENTS: &str = "No events data yet.";

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> StoredEvent {
        StoredEvent {
            id: 1,
            run_id: None,
            agent_name: "a".into(),
            session_id: None,
            event_type: "tool_start".into(),
            tool_name: Some("Bash".into()),
            tool_args: Some("{}".into()),
            tool_duration_ms: Some(12),
            level: "info".into(),
            data: Some(data.into()),
            created_at: "2026-03-05T14:52:26.089Z".into(),
        }
    }

    #[test]
    fn long_data_is_cut_with_an_ellipsis() {
        let long = format!("{{\"summary\":\"{}\"}}", "x".repeat(200));
        let d = detail(&event(&long), 80);
        assert_eq!(d, format!("tool=Bash dur=12ms data={}…", "x".repeat(80)));
        assert_eq!(cut("abc", 3), "abc");
    }

    #[test]
    fn relative_times() {
        let t = clock::parse_rfc3339("2026-03-05T14:52:26.089Z").unwrap();
        let ts = "2026-03-05T14:52:26.089Z";
        assert_eq!(relative(ts, t + 12_000), "12s ago");
        assert_eq!(relative(ts, t + 180_000), "3m ago");
        assert_eq!(relative(ts, t + 7_200_000), "2h ago");
        assert_eq!(relative(ts, t + 3 * 86_400_000), "3d ago");
        assert_eq!(clock_time(ts), "14:52:26");
        assert_eq!(date(ts), "2026-03-05");
    }
}
