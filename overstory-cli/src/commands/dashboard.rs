//! `ov dashboard`: a live terminal view of the fleet — agents, mail, the
//! merge queue and recent events — redrawn every `--interval` ms.
//!
//! The data comes from [`overstory_fleet::dashboard`] (read-only, one
//! connection per store); this module only draws it with ratatui and
//! handles keys. The terminal is restored (raw mode off, alternate screen
//! left, cursor shown) on every way out: `q`, Esc, Ctrl-C, SIGTERM,
//! SIGINT, SIGHUP, an error, and a panic.

use std::io::{IsTerminal, Stdout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use overstory_core::clock;
use overstory_core::events::StoredEvent;
use overstory_fleet::dashboard::{AgentRow, Dashboard, DashboardOptions, DashboardSnapshot};
use overstory_sessions::{AgentState, observe};
use ratatui::Frame;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style as TuiStyle};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};

use crate::commands::timeline;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Show a live view of agents, mail, the merge queue and recent events
///
/// Keys: Tab / Shift-Tab / ← → move between panes, ↑ ↓ / k j move between
/// rows, Enter on an agent shows its recent events (Esc goes back), q,
/// Esc or Ctrl-C quit.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// Refresh interval in ms (at least 100)
    #[arg(long, default_value_t = 2000, allow_negative_numbers = true)]
    pub interval: i64,
    /// Show every session, finished ones and other runs' included
    #[arg(long)]
    pub all: bool,
}

/// How many of an agent's events its detail view reads.
const DETAIL_EVENTS: usize = 200;

/// The longest the loop waits before looking at the signal flag again.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Runs `ov dashboard`.
pub fn run(ctx: &Context, args: DashboardArgs) -> Result<Output, CliError> {
    let interval = observe::check_min("interval", args.interval, 100)?;
    if ctx.json {
        return Err(
            CliError::validation("ov dashboard is interactive and has no --json output")
                .hint("use 'ov status --json' for a machine-readable snapshot"),
        );
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(
            CliError::new("ov dashboard needs a terminal (stdin and stdout)")
                .hint("use 'ov status' or 'ov feed --follow' when output is redirected"),
        );
    }
    let layout = ctx.layout()?;
    let opts = DashboardOptions {
        all: args.all,
        ..DashboardOptions::default()
    };
    let mut dash = Dashboard::new(layout, opts);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| CliError::new("Failed to install a signal handler").caused_by(e))?;
    }
    let every = Duration::from_millis(u64::try_from(interval).unwrap_or(2000));
    let mut app = App::new(every, ctx.style.color);
    let guard = TerminalGuard::enter()?;
    let result = event_loop(&mut app, &mut dash, &stop, every);
    drop(guard);
    result?;
    Ok(Output::silent("dashboard"))
}

fn term_error(e: std::io::Error) -> CliError {
    CliError::new("Failed to drive the terminal").caused_by(e)
}

fn event_loop(
    app: &mut App,
    dash: &mut Dashboard,
    stop: &AtomicBool,
    every: Duration,
) -> Result<(), CliError> {
    let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(term_error)?;
    let mut next = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let now = Instant::now();
        if now >= next {
            app.refresh(dash);
            draw(&mut term, app)?;
            next = now + every;
        }
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(SIGNAL_CHECK);
        if !event::poll(wait).map_err(term_error)? {
            continue;
        }
        match event::read().map_err(term_error)? {
            Event::Key(key) if key.kind != KeyEventKind::Release => match app.handle_key(key) {
                Action::Quit => return Ok(()),
                Action::Redraw => draw(&mut term, app)?,
                Action::OpenDetail => {
                    app.refresh_detail(dash);
                    draw(&mut term, app)?;
                }
            },
            Event::Resize(..) => draw(&mut term, app)?,
            _ => {}
        }
    }
}

fn draw(term: &mut Terminal<CrosstermBackend<Stdout>>, app: &App) -> Result<(), CliError> {
    term.draw(|f| app.render(f)).map_err(term_error)?;
    Ok(())
}

/// Puts the terminal back as it was: raw mode off, the alternate screen
/// left, the cursor shown. Safe to call more than once.
fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

/// Owns the terminal's raw mode and alternate screen; dropping it (or a
/// panic anywhere) restores the terminal.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<Self, CliError> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        // From here on, any failure drops the guard and restores.
        let guard = TerminalGuard;
        terminal::enable_raw_mode().map_err(term_error)?;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
        .map_err(term_error)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The panes, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pane {
    Agents,
    Mail,
    Merge,
    Events,
}

const PANES: [Pane; 4] = [Pane::Agents, Pane::Mail, Pane::Merge, Pane::Events];

impl Pane {
    fn index(self) -> usize {
        PANES.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// What a key asks the loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Quit,
    Redraw,
    OpenDetail,
}

/// One agent's detail view.
#[derive(Debug, Clone)]
struct Detail {
    agent: AgentRow,
    events: Vec<StoredEvent>,
    error: Option<String>,
}

/// What is on screen: the latest snapshot, the focused pane, the selected
/// row of each pane and the open detail view.
#[derive(Debug)]
struct App {
    snap: DashboardSnapshot,
    focus: Pane,
    selected: [usize; 4],
    detail: Option<Detail>,
    every: Duration,
    color: bool,
}

impl App {
    fn new(every: Duration, color: bool) -> Self {
        Self {
            snap: DashboardSnapshot::default(),
            focus: Pane::Agents,
            selected: [0; 4],
            detail: None,
            every,
            color,
        }
    }

    fn refresh(&mut self, dash: &mut Dashboard) {
        self.set_snapshot(dash.snapshot());
        self.refresh_detail(dash);
    }

    fn set_snapshot(&mut self, snap: DashboardSnapshot) {
        self.snap = snap;
        for pane in PANES {
            let len = self.rows(pane);
            let sel = &mut self.selected[pane.index()];
            *sel = (*sel).min(len.saturating_sub(1));
        }
    }

    fn refresh_detail(&mut self, dash: &mut Dashboard) {
        let Some(detail) = &mut self.detail else {
            return;
        };
        // Keep the row current when the agent is still listed.
        if let Some(row) = self
            .snap
            .agents
            .iter()
            .find(|a| a.session.agent_name == detail.agent.session.agent_name)
        {
            detail.agent = row.clone();
        }
        match dash.agent_events(detail.agent.session.agent_name.as_str(), DETAIL_EVENTS) {
            Ok(events) => {
                detail.events = events;
                detail.error = None;
            }
            Err(e) => detail.error = Some(e.to_string()),
        }
    }

    fn rows(&self, pane: Pane) -> usize {
        match pane {
            Pane::Agents => self.snap.agents.len(),
            Pane::Mail => self.snap.mail.as_ref().map_or(0, |m| m.recent.len()),
            Pane::Merge => self.snap.merge.as_ref().map_or(0, |m| m.unsettled.len()),
            Pane::Events => self.snap.events.as_ref().map_or(0, Vec::len),
        }
    }

    fn move_focus(&mut self, forward: bool) {
        let i = self.focus.index();
        let n = PANES.len();
        self.focus = PANES[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
    }

    fn move_row(&mut self, down: bool) {
        let len = self.rows(self.focus);
        let sel = &mut self.selected[self.focus.index()];
        *sel = if down {
            (*sel + 1).min(len.saturating_sub(1))
        } else {
            sel.saturating_sub(1)
        };
    }

    fn handle_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => Action::Quit,
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Esc if self.detail.is_some() => {
                self.detail = None;
                Action::Redraw
            }
            KeyCode::Esc => Action::Quit,
            KeyCode::Tab | KeyCode::Right => {
                self.move_focus(true);
                Action::Redraw
            }
            KeyCode::BackTab | KeyCode::Left => {
                self.move_focus(false);
                Action::Redraw
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.move_row(true);
                Action::Redraw
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.move_row(false);
                Action::Redraw
            }
            KeyCode::Enter if self.focus == Pane::Agents => {
                match self.snap.agents.get(self.selected[0]) {
                    Some(agent) => {
                        self.detail = Some(Detail {
                            agent: agent.clone(),
                            events: Vec::new(),
                            error: None,
                        });
                        Action::OpenDetail
                    }
                    None => Action::Redraw,
                }
            }
            _ => Action::Redraw,
        }
    }

    fn fg(&self, color: Color) -> TuiStyle {
        if self.color {
            TuiStyle::default().fg(color)
        } else {
            TuiStyle::default()
        }
    }

    fn block(&self, pane: Option<Pane>, title: String) -> Block<'static> {
        let focused = pane.is_some_and(|p| p == self.focus) && self.detail.is_none();
        let style = if focused {
            self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            TuiStyle::default()
        };
        let title = if focused {
            format!("▶ {title}")
        } else {
            title
        };
        Block::default()
            .borders(Borders::ALL)
            .border_style(style)
            .title(Span::styled(title, style))
    }

    fn state_style(&self, state: AgentState) -> TuiStyle {
        match state {
            AgentState::Working => self.fg(Color::Green),
            AgentState::Booting => self.fg(Color::Cyan),
            AgentState::Stalled => self.fg(Color::Yellow),
            AgentState::Zombie => self.fg(Color::Red),
            AgentState::Completed => self.fg(Color::DarkGray),
        }
    }

    fn render(&self, f: &mut Frame<'_>) {
        let [header, body, footer] = Layout::vertical([
            Constraint::Length(1 + u16::from(!self.snap.problems.is_empty())),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(f.area());
        self.render_header(f, header);
        match &self.detail {
            Some(detail) => self.render_detail(f, body, detail),
            None => {
                let [agents, middle, events] = Layout::vertical([
                    Constraint::Percentage(40),
                    Constraint::Percentage(30),
                    Constraint::Percentage(30),
                ])
                .areas(body);
                let [mail, merge] =
                    Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                        .areas(middle);
                self.render_agents(f, agents);
                self.render_mail(f, mail);
                self.render_merge(f, merge);
                self.render_events(f, events);
            }
        }
        let keys = if self.detail.is_some() {
            "Esc back  q quit"
        } else {
            "Tab/←→ pane  ↑↓/j k row  Enter agent detail  q/Esc quit"
        };
        f.render_widget(
            Paragraph::new(Line::from(keys).style(self.fg(Color::DarkGray))),
            footer,
        );
    }

    fn render_header(&self, f: &mut Frame<'_>, area: Rect) {
        let run = self.snap.run_id.as_deref().unwrap_or("none");
        let scope = if self.detail.is_none() && self.rows(Pane::Agents) == 0 {
            " · no active agents"
        } else {
            ""
        };
        let mut lines = vec![Line::from(vec![
            Span::styled(
                "overstory dashboard",
                TuiStyle::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "  run {run}  every {} ms  {}{scope}",
                self.every.as_millis(),
                timeline::clock_time(&clock::format_millis(self.snap.taken_at_ms)),
            )),
        ])];
        if !self.snap.problems.is_empty() {
            lines.push(
                Line::from(format!("! {}", self.snap.problems.join("; ")))
                    .style(self.fg(Color::Red)),
            );
        }
        f.render_widget(Paragraph::new(lines), area);
    }

    /// Draws `table` in `pane`'s block, its selected row highlighted when
    /// the pane has the focus.
    fn table(&self, f: &mut Frame<'_>, area: Rect, pane: Pane, title: String, table: Table<'_>) {
        let mut table = table.block(self.block(Some(pane), title));
        let mut state = TableState::default();
        if pane == self.focus && self.rows(pane) > 0 {
            table = table.row_highlight_style(TuiStyle::default().add_modifier(Modifier::REVERSED));
            state.select(Some(self.selected[pane.index()]));
        }
        f.render_stateful_widget(table, area, &mut state);
    }

    fn render_agents(&self, f: &mut Frame<'_>, area: Rect) {
        let now = self.snap.taken_at_ms;
        let rows: Vec<Row<'_>> = self
            .snap
            .agents
            .iter()
            .map(|a| {
                let s = &a.session;
                Row::new(vec![
                    Span::raw(s.agent_name.to_string()),
                    Span::raw(s.capability.to_string()),
                    Span::styled(s.state.as_str(), self.state_style(s.state)),
                    Span::raw(s.task_str().to_owned()),
                    Span::raw(
                        s.parent_agent
                            .as_ref()
                            .map_or("-".into(), ToString::to_string),
                    ),
                    Span::raw(a.unread_mail.to_string()),
                    Span::raw(timeline::relative(&s.last_activity, now)),
                ])
            })
            .collect();
        let mut title = format!("Agents ({})", self.snap.agents.len());
        if self.snap.finished_hidden > 0 {
            title.push_str(&format!(
                ", {} finished hidden (--all)",
                self.snap.finished_hidden
            ));
        }
        let header = Row::new(vec![
            "Name",
            "Capability",
            "State",
            "Task",
            "Parent",
            "Unread",
            "Last activity",
        ]);
        self.table(
            f,
            area,
            Pane::Agents,
            title,
            Table::new(
                rows,
                [
                    Constraint::Fill(2),
                    Constraint::Length(12),
                    Constraint::Length(10),
                    Constraint::Fill(2),
                    Constraint::Fill(2),
                    Constraint::Length(6),
                    Constraint::Length(13),
                ],
            )
            .header(header.style(TuiStyle::default().add_modifier(Modifier::BOLD))),
        );
    }

    fn render_mail(&self, f: &mut Frame<'_>, area: Rect) {
        let (title, rows) = match &self.snap.mail {
            None => ("Mail (no mail.db yet)".to_owned(), Vec::new()),
            Some(m) => (
                format!("Mail ({} unread)", m.unread_total),
                m.recent
                    .iter()
                    .map(|msg| {
                        let mark = if msg.read { " " } else { "●" };
                        Row::new(vec![
                            Span::styled(mark, self.fg(Color::Yellow)),
                            Span::raw(format!("{} → {}", msg.from, msg.to)),
                            Span::raw(msg.subject.clone()),
                        ])
                    })
                    .collect(),
            ),
        };
        self.table(
            f,
            area,
            Pane::Mail,
            title,
            Table::new(
                rows,
                [
                    Constraint::Length(1),
                    Constraint::Fill(1),
                    Constraint::Fill(1),
                ],
            ),
        );
    }

    fn render_merge(&self, f: &mut Frame<'_>, area: Rect) {
        let (title, rows) = match &self.snap.merge {
            None => ("Merge queue (empty)".to_owned(), Vec::new()),
            Some(m) => {
                let c = &m.counts;
                let parts: Vec<String> = [
                    (c.pending, "pending"),
                    (c.merging, "merging"),
                    (c.conflict, "conflict"),
                    (c.failed, "failed"),
                    (c.merged, "merged"),
                ]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
                let counts = if parts.is_empty() {
                    "empty".to_owned()
                } else {
                    parts.join(", ")
                };
                (
                    format!("Merge queue ({counts})"),
                    m.unsettled
                        .iter()
                        .map(|e| {
                            Row::new(vec![
                                Span::raw(format!("#{}", e.id)),
                                Span::raw(e.status.as_str()),
                                Span::raw(e.branch_name.clone()),
                            ])
                        })
                        .collect(),
                )
            }
        };
        self.table(
            f,
            area,
            Pane::Merge,
            title,
            Table::new(
                rows,
                [
                    Constraint::Length(5),
                    Constraint::Length(9),
                    Constraint::Fill(1),
                ],
            ),
        );
    }

    fn event_rows(&self, events: &[StoredEvent], with_agent: bool) -> Vec<Row<'static>> {
        // Newest first, so the latest stays in view.
        events
            .iter()
            .rev()
            .map(|e| {
                let label_style = if e.level == "error" {
                    self.fg(Color::Red)
                } else {
                    TuiStyle::default()
                };
                let mut cells = vec![Span::raw(timeline::clock_time(&e.created_at))];
                if with_agent {
                    cells.push(Span::raw(e.agent_name.clone()));
                }
                cells.push(Span::styled(
                    e.full_label().trim_end().to_owned(),
                    label_style,
                ));
                cells.push(Span::raw(overstory_sessions::observe::text::describe(
                    e, 120,
                )));
                Row::new(cells)
            })
            .collect()
    }

    fn render_events(&self, f: &mut Frame<'_>, area: Rect) {
        let (title, rows) = match &self.snap.events {
            None => (format!("Events ({})", timeline::NO_EVENTS), Vec::new()),
            Some(events) => (
                format!("Events (latest {})", events.len()),
                self.event_rows(events, true),
            ),
        };
        self.table(
            f,
            area,
            Pane::Events,
            title,
            Table::new(
                rows,
                [
                    Constraint::Length(8),
                    Constraint::Length(16),
                    Constraint::Length(10),
                    Constraint::Fill(1),
                ],
            ),
        );
    }

    fn render_detail(&self, f: &mut Frame<'_>, area: Rect, d: &Detail) {
        let s = &d.agent.session;
        let [info, events] =
            Layout::vertical([Constraint::Length(6), Constraint::Min(0)]).areas(area);
        let field = |k: &str, v: String| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<14}"),
                    TuiStyle::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(v),
            ])
        };
        let lines = vec![
            field(
                "State",
                format!(
                    "{} ({}), {} unread",
                    s.state, s.capability, d.agent.unread_mail
                ),
            ),
            field("Task", s.task_str().to_owned()),
            field(
                "Parent",
                s.parent_agent
                    .as_ref()
                    .map_or("-".into(), ToString::to_string),
            ),
            field("Branch", format!("{}  {}", s.branch_name, s.worktree_path)),
        ];
        f.render_widget(
            Paragraph::new(lines).block(self.block(None, format!("Agent {}", s.agent_name))),
            info,
        );
        let title = match &d.error {
            Some(e) => format!("Recent events (! {e})"),
            None => format!("Recent events ({})", d.events.len()),
        };
        let table = Table::new(
            self.event_rows(&d.events, false),
            [
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Fill(1),
            ],
        )
        .block(self.block(None, title));
        f.render_widget(table, events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::events::EventType;
    use overstory_fleet::dashboard::{MailSummary, MergeSummary};
    use overstory_mail::MailMessage;
    use overstory_merge::{MergeEntry, MergeStatus, QueueCounts};
    use overstory_sessions::Session;
    use ratatui::backend::TestBackend;

    fn agent(name: &str, state: AgentState, unread: usize) -> AgentRow {
        let mut s = Session::new(name.parse().unwrap(), "builder".parse().unwrap());
        s.state = state;
        s.task_id = Some("task-1".parse().unwrap());
        s.parent_agent = Some("lead-1".parse().unwrap());
        s.last_activity = "2026-03-05T14:52:26.089Z".into();
        AgentRow {
            session: s,
            unread_mail: unread,
        }
    }

    fn mail(subject: &str, read: bool) -> MailMessage {
        serde_json::from_value(serde_json::json!({
            "id": "msg-1", "from": "lead-1", "to": "builder-1", "subject": subject,
            "body": "b", "type": "status", "priority": "normal", "threadId": null,
            "read": read, "createdAt": "2026-03-05T14:52:26.089Z"
        }))
        .unwrap()
    }

    fn event(agent: &str) -> StoredEvent {
        StoredEvent {
            id: 1,
            run_id: None,
            agent_name: agent.into(),
            session_id: None,
            event_type: EventType::ToolStart.as_str().into(),
            tool_name: Some("Bash".into()),
            tool_args: None,
            tool_duration_ms: Some(12),
            level: "info".into(),
            data: None,
            created_at: "2026-03-05T14:52:26.089Z".into(),
        }
    }

    fn snapshot() -> DashboardSnapshot {
        DashboardSnapshot {
            taken_at_ms: clock::parse_rfc3339("2026-03-05T14:53:00.000Z").unwrap(),
            run_id: Some("run-7".into()),
            agents: vec![
                agent("builder-1", AgentState::Working, 2),
                agent("scout-1", AgentState::Stalled, 0),
            ],
            finished_hidden: 1,
            mail: Some(MailSummary {
                unread_total: 3,
                recent: vec![mail("please review", false)],
            }),
            merge: Some(MergeSummary {
                counts: QueueCounts {
                    pending: 1,
                    merged: 2,
                    ..QueueCounts::default()
                },
                unsettled: vec![MergeEntry {
                    id: 4,
                    branch_name: "overstory/builder-1/task-1".into(),
                    task_id: "task-1".into(),
                    agent_name: "builder-1".into(),
                    files_modified: vec![],
                    enqueued_at: "2026-03-05T14:52:26.089Z".into(),
                    status: MergeStatus::Pending,
                    resolved_tier: None,
                }],
            }),
            events: Some(vec![event("builder-1")]),
            problems: vec![],
        }
    }

    fn screen(app: &App) -> String {
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        term.draw(|f| app.render(f)).unwrap();
        let buf = term.backend().buffer();
        let width = usize::from(buf.area.width);
        buf.content()
            .chunks(width)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn renders_agents_mail_merge_queue_and_events() {
        let mut app = App::new(Duration::from_millis(2000), false);
        app.set_snapshot(snapshot());
        let text = screen(&app);
        for want in [
            "overstory dashboard  run run-7  every 2000 ms",
            "▶ Agents (2), 1 finished hidden (--all)",
            "builder-1",
            "working",
            "stalled",
            "task-1",
            "lead-1",
            "33s ago",
            "Mail (3 unread)",
            "lead-1 → builder-1",
            "please review",
            "Merge queue (1 pending, 2 merged)",
            "overstory/builder-1/task-1",
            "Events (latest 1)",
            "14:52:26",
            "TOOL START",
            "q/Esc quit",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn missing_stores_and_problems_are_shown() {
        let mut app = App::new(Duration::from_millis(500), false);
        app.set_snapshot(DashboardSnapshot {
            problems: vec!["mail.db: not a database".into()],
            ..DashboardSnapshot::default()
        });
        let text = screen(&app);
        for want in [
            "! mail.db: not a database",
            "no active agents",
            "Mail (no mail.db yet)",
            "Merge queue (empty)",
            timeline::NO_EVENTS,
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn keys_move_focus_and_rows_and_quit() {
        let mut app = App::new(Duration::from_millis(2000), false);
        app.set_snapshot(snapshot());
        assert_eq!(app.handle_key(key(KeyCode::Char('j'))), Action::Redraw);
        assert_eq!(app.selected[0], 1);
        app.handle_key(key(KeyCode::Down));
        assert_eq!(app.selected[0], 1, "stays on the last row");
        app.handle_key(key(KeyCode::Char('k')));
        assert_eq!(app.selected[0], 0);
        app.handle_key(key(KeyCode::Tab));
        assert_eq!(app.focus, Pane::Mail);
        assert!(screen(&app).contains("▶ Mail (3 unread)"));
        app.handle_key(key(KeyCode::BackTab));
        app.handle_key(key(KeyCode::Left));
        assert_eq!(app.focus, Pane::Events);
        app.handle_key(key(KeyCode::Right));
        assert_eq!(app.focus, Pane::Agents);
        assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Action::Quit);
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.handle_key(ctrl_c), Action::Quit);
    }

    #[test]
    fn enter_opens_the_agent_detail_and_esc_closes_it() {
        let mut app = App::new(Duration::from_millis(2000), false);
        app.set_snapshot(snapshot());
        app.handle_key(key(KeyCode::Down));
        assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::OpenDetail);
        if let Some(d) = &mut app.detail {
            d.events = vec![event("scout-1")];
        }
        let text = screen(&app);
        for want in [
            "Agent scout-1",
            "stalled (builder), 0 unread",
            "Recent events (1)",
            "TOOL START",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::Redraw);
        assert!(app.detail.is_none());
        assert!(screen(&app).contains("▶ Agents"));
    }

    #[test]
    fn selection_is_clamped_when_rows_disappear() {
        let mut app = App::new(Duration::from_millis(2000), false);
        app.set_snapshot(snapshot());
        app.handle_key(key(KeyCode::Down));
        let mut fewer = snapshot();
        fewer.agents.truncate(1);
        app.set_snapshot(fewer);
        assert_eq!(app.selected[0], 0);
    }
}
