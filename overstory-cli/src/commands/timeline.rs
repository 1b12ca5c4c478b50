//! Rendering of stored events for `trace`, `feed`, `errors` and `replay`.

use overstory_core::clock;
use overstory_core::events::StoredEvent;
use overstory_sessions::observe::text;

use crate::output::Style;

/// Width of an event's description in the timelines.
pub const DESCRIPTION_WIDTH: usize = text::DEFAULT_WIDTH;

/// The readable descriptions of `events` (see
/// [`overstory_sessions::observe::text`]), one per event.
pub fn describe_all(events: &[StoredEvent], width: usize) -> Vec<String> {
    text::describe_all(events, width)
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
    let described = describe_all(events, DESCRIPTION_WIDTH);
    for (e, what) in events.iter().zip(described) {
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
        out.push_str(&format!("{when:>9} {agent}{label} {what}\n"));
    }
    out
}

/// The text shown when `events.db` does not exist.
pub const NO_EVENTS: &str = "No events data yet.";

#[cfg(test)]
mod tests {
    use super::*;

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
