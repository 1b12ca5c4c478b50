//! Embeds the overstory mail bus: a lead dispatches work, two builders
//! report back with typed protocol payloads, and the lead drains its inbox.
//!
//! Run with `cargo run -p overstory-examples --bin mail_bus`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use overstory_core::{AgentName, Layout};
use overstory_mail::protocol::WorkerDone;
use overstory_mail::{Address, MailClient, Priority, Roster, RosterEntry, SendRequest, framing};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join(".overstory"))?;
    let layout = Layout::new(dir.path());
    let mut bus = MailClient::open(&layout)?;

    let lead = AgentName::new("lead-1")?;
    let builders = [AgentName::new("builder-1")?, AgentName::new("builder-2")?];
    // Who is active, as a session store would report it.
    let roster = Roster::new(
        builders
            .iter()
            .map(|b| RosterEntry::new(b.as_str(), "builder", "working").with_parent("lead-1"))
            .collect(),
    );

    // One broadcast reaches every active builder.
    let request = SendRequest::new(
        lead.clone(),
        Address::parse("@builders")?,
        "Kick-off",
        "Split the parser work between you.",
    );
    let delivery = bus.deliver(&request, &roster)?;
    println!("broadcast reached {} builders", delivery.sent.len());

    for b in &builders {
        // Each builder reads its inbox as a headless turn prompt...
        let inbox = bus.check(b)?;
        println!(
            "{b} received:\n{}\n",
            framing::format_batch(&inbox.messages)
        );
        // ...and reports completion with a typed payload.
        let done = WorkerDone {
            task_id: "parser-1".into(),
            branch: format!("overstory/{b}/parser-1"),
            exit_code: 0,
            files_modified: vec![format!("src/{b}.rs")],
        };
        let report = SendRequest::new(b.clone(), Address::Agent(lead.clone()), "Done", "")
            .priority(Priority::High);
        bus.send_protocol(report, &done)?;
    }

    // The lead's hook injection: both reports, payloads included.
    print!("{}", bus.check_inject(&lead)?);
    let leftover = bus.check(&lead)?;
    if !leftover.is_empty() {
        return Err("a message was delivered twice".into());
    }
    Ok(())
}
