//! `ov mail`: send, check, list, read, reply to and purge agent mail.
//!
//! Each subcommand parses its flags into `overstory_mail` types, makes one
//! call on a [`MailClient`], and renders the result. The shared parsing
//! (sender identity, `--type`, `--priority`) and the human message block
//! live here.

use clap::Subcommand;
use overstory_core::{AgentName, env};
use overstory_mail::{MailClient, MailMessage, MessageType, Priority, Undecodable};
use overstory_turn::dispatch::WakeOutcome;
use overstory_turn::wake::{Waker, Wakeup};

use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output, Style};

mod check;
mod list;
mod purge;
mod read;
mod reply;
mod send;

/// Send and receive mail between agents
#[derive(Debug, clap::Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct MailArgs {
    #[command(subcommand)]
    command: MailCommand,
}

/// The `ov mail` subcommands.
#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Send a message to an agent or a group (@all, @builders, …)
    Send(send::SendArgs),
    /// Read and mark unread messages for an agent
    Check(check::CheckArgs),
    /// List messages (never marks them read)
    List(list::ListArgs),
    /// Mark a message as read
    Read(read::ReadArgs),
    /// Reply to a message in its thread
    Reply(reply::ReplyArgs),
    /// Delete old or all messages
    Purge(purge::PurgeArgs),
}

/// Runs one `ov mail` subcommand.
pub fn run(ctx: &Context, args: MailArgs) -> Result<Output, CliError> {
    match args.command {
        MailCommand::Send(a) => send::run(ctx, a),
        MailCommand::Check(a) => check::run(ctx, a),
        MailCommand::List(a) => list::run(ctx, a),
        MailCommand::Read(a) => read::run(ctx, a),
        MailCommand::Reply(a) => reply::run(ctx, a),
        MailCommand::Purge(a) => purge::run(ctx, a),
    }
}

/// Opens the project's mail bus.
fn open(ctx: &Context) -> Result<MailClient, CliError> {
    Ok(MailClient::open(&ctx.layout()?)?)
}

/// The fallback sender and inbox when neither a flag nor
/// `OVERSTORY_AGENT_NAME` names one.
const DEFAULT_AGENT: &str = "orchestrator";

/// Resolves who is acting: `--agent` wins over `--from`; then
/// `OVERSTORY_AGENT_NAME` (so an agent that forgets `--agent` does not speak
/// as the orchestrator); then `orchestrator`.
fn identity(agent: Option<String>, from: Option<String>) -> Result<AgentName, CliError> {
    let name = agent
        .or(from)
        .or_else(|| env::var(env::AGENT_NAME))
        .unwrap_or_else(|| DEFAULT_AGENT.to_owned());
    Ok(AgentName::new(&name)?)
}

/// Parses `--type`, with the original's message.
fn parse_type(value: &str) -> Result<MessageType, CliError> {
    value.parse().map_err(|_| {
        CliError::validation(format!(
            "Invalid --type \"{value}\". Must be one of: {}",
            MessageType::list()
        ))
    })
}

/// Parses `--priority`, with the original's message.
fn parse_priority(value: &str) -> Result<Priority, CliError> {
    value.parse().map_err(|_| {
        CliError::validation(format!(
            "Invalid --priority \"{value}\". Must be one of: {}",
            Priority::list()
        ))
    })
}

/// Parses a leading base-10 integer as JavaScript's `parseInt` does
/// (`"10ms"` is 10); `None` when there are no digits.
fn parse_int_prefix(value: &str) -> Option<i64> {
    let s = value.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    digits[..end]
        .parse::<i64>()
        .ok()
        .map(|n| n * sign)
        .or(Some(i64::MAX * sign))
}

/// Renders one message as the human block the original prints, ending with a
/// blank line.
fn message_block(style: Style, m: &MailMessage, unread: bool) -> String {
    let marker = if unread { '*' } else { ' ' };
    let prio = if m.priority == Priority::Normal {
        String::new()
    } else {
        format!(" [{}]", m.priority.as_str().to_uppercase())
    };
    let mut s = format!(
        "{marker} {}  From: {} → To: {}{prio}\n  Subject: {}  ({})\n  {}\n",
        style.bold(&m.id),
        style.bold(&m.from),
        style.bold(&m.to),
        m.subject,
        m.kind,
        m.body
    );
    if let Some(p) = &m.payload {
        s.push_str(&format!("  Payload: {p}\n"));
    }
    s.push_str(&format!("  {}\n", m.created_at));
    s
}

/// Warns on stderr about stored rows that cannot be read, one line each,
/// naming the row and saying how to take it out of the inbox. Not hidden
/// by `--quiet` or `--json`: it is mail that was not delivered.
/// `fate` says what happened to it (`was left unread`, `is not listed`).
fn warn_undecodable(style: Style, rows: &[Undecodable], fate: &str) {
    for u in rows {
        let way_out = match &u.id {
            Some(id) => format!("mark it read with 'ov mail read {id}' to stop this warning"),
            None => "its id is unreadable too; delete it from .overstory/mail.db with sqlite3"
                .to_owned(),
        };
        output::eprint_line(&format!(
            "{} Message {} cannot be read and {fate}: {} — {way_out}",
            style.yellow("!"),
            u.label(),
            u.problem
        ));
    }
}

/// `N message` or `N messages`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The waker for this project: dispatchers run as this `ov`. It reads the
/// configuration only when a recipient needs waking. Without a known `ov`
/// the mail is still stored; only waking is reported as failed.
fn waker(ctx: &Context) -> Result<Waker, CliError> {
    let layout = ctx.layout()?;
    Ok(match ctx.ov_exe() {
        Ok(ov) => Waker::new(layout, ov),
        Err(e) => Waker::without_ov(layout, e.message),
    })
}

/// Notes on the human output the turns that mail started, and the
/// recipients that could not be woken.
fn render_wakeups(mut out: Output, wakeups: &[Wakeup]) -> Output {
    for w in wakeups {
        let Some(note) = w.note() else { continue };
        out = match w.outcome {
            WakeOutcome::Failed { .. } => {
                out.warning(note, Some("run 'ov dispatch --sweep' to deliver it".into()))
            }
            _ => out.hint(note),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_prefix_parses_like_parse_int() {
        assert_eq!(parse_int_prefix("500"), Some(500));
        assert_eq!(parse_int_prefix("10ms"), Some(10));
        assert_eq!(parse_int_prefix("-100"), Some(-100));
        assert_eq!(parse_int_prefix(" 7"), Some(7));
        assert_eq!(parse_int_prefix("invalid"), None);
        assert_eq!(parse_int_prefix(""), None);
        assert_eq!(parse_int_prefix("-"), None);
    }

    #[test]
    fn message_block_matches_the_original_layout() {
        let m = MailMessage {
            id: "msg-1".into(),
            from: "lead".into(),
            to: "b1".into(),
            subject: "Hi".into(),
            body: "Body".into(),
            kind: MessageType::WorkerDone,
            priority: Priority::Urgent,
            thread_id: None,
            payload: Some("{}".into()),
            read: false,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        assert_eq!(
            message_block(Style { color: false }, &m, true),
            "* msg-1  From: lead → To: b1 [URGENT]\n  Subject: Hi  (worker_done)\n  Body\n  Payload: {}\n  2026-01-01T00:00:00.000Z\n"
        );
    }
}
