//! `ov spec write`: task specifications under `.overstory/specs/`.

use std::path::PathBuf;

use overstory_core::{AgentName, Layout, TaskId};

use crate::error::FleetError;

/// Writes `.overstory/specs/<task>.md`, replacing any previous spec. The
/// first line is `<!-- written-by: <agent> -->` when an agent is given; a
/// trailing newline is added only when the body lacks one. The task id is
/// validated, so the file can never land outside `specs/`.
///
/// # Errors
/// [`FleetError::Validation`] for an invalid task id or agent name or a blank
/// body; [`FleetError::Fs`] when the file cannot be written.
pub fn write_spec(
    layout: &Layout,
    task_id: &str,
    body: &str,
    agent: Option<&str>,
) -> Result<PathBuf, FleetError> {
    let task = TaskId::new(task_id.trim())?;
    if body.trim().is_empty() {
        return Err(FleetError::invalid(
            "body",
            "Spec body is empty. Pass --body <text> or pipe the spec on stdin",
        ));
    }
    let mut content = String::new();
    if let Some(agent) = agent.map(str::trim).filter(|a| !a.is_empty()) {
        let agent = AgentName::new(agent)?;
        content.push_str(&format!("<!-- written-by: {agent} -->\n"));
    }
    content.push_str(body);
    if !content.ends_with('\n') {
        content.push('\n');
    }
    let path = layout.task_spec(&task);
    overstory_core::fsio::write_atomic(&path, content)?;
    Ok(path)
}
