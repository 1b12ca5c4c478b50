//! `ov group`: named sets of tracker issues.

use overstory_fleet::groups::{Group, Groups, IssueLookup, NoValidation, TrackerCli};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Create and track groups of issues
#[derive(Debug, clap::Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
}

/// The `ov group` subcommands.
#[derive(Debug, clap::Subcommand)]
enum GroupCommand {
    /// Create a group of issues
    Create {
        /// The group name
        name: String,
        /// Member issue ids
        #[arg(required = true)]
        ids: Vec<String>,
        /// Do not check that the issues exist in the tracker
        #[arg(long)]
        skip_validation: bool,
    },
    /// Show a group's progress (or every active group)
    Status {
        /// Group id or name
        group: Option<String>,
    },
    /// Add issues to a group (reopens a completed group)
    Add {
        /// Group id or name
        group: String,
        /// Issue ids to add
        #[arg(required = true)]
        ids: Vec<String>,
        /// Do not check that the issues exist in the tracker
        #[arg(long)]
        skip_validation: bool,
    },
    /// Remove issues from a group
    Remove {
        /// Group id or name
        group: String,
        /// Issue ids to remove
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// List every group
    List,
}

impl GroupArgs {
    /// The envelope name of this invocation.
    pub fn envelope_name(&self) -> &'static str {
        match self.command {
            GroupCommand::Create { .. } => "group create",
            GroupCommand::Status { .. } => "group status",
            GroupCommand::Add { .. } => "group add",
            GroupCommand::Remove { .. } => "group remove",
            GroupCommand::List => "group list",
        }
    }
}

fn line(g: &Group) -> String {
    format!(
        "{}  {}  [{}]  {} issue(s): {}",
        g.id,
        g.name,
        g.status,
        g.member_issue_ids.len(),
        g.member_issue_ids.join(", ")
    )
}

/// Runs `ov group`.
pub fn run(ctx: &Context, args: GroupArgs) -> Result<Output, CliError> {
    let name = args.envelope_name();
    let layout = ctx.layout()?;
    let groups = Groups::new(&layout);
    let tracker = |skip: bool| -> Result<Box<dyn IssueLookup>, CliError> {
        if skip {
            return Ok(Box::new(NoValidation));
        }
        let config = ctx.config()?;
        Ok(Box::new(TrackerCli::for_project(
            layout.root(),
            &config.task_tracker.backend,
        )))
    };
    let out = Output::new(name);
    match args.command {
        GroupCommand::Create {
            name: group_name,
            ids,
            skip_validation,
        } => {
            let g = groups.create(&group_name, &ids, tracker(skip_validation)?.as_ref())?;
            Ok(out
                .data_of(&g)?
                .success(format!("Created group {} ({})", g.name, g.id)))
        }
        GroupCommand::Add {
            group,
            ids,
            skip_validation,
        } => {
            let g = groups.add(&group, &ids, tracker(skip_validation)?.as_ref())?;
            Ok(out
                .data_of(&g)?
                .success(format!("Added {} issue(s) to {}", ids.len(), g.name)))
        }
        GroupCommand::Remove { group, ids } => {
            let g = groups.remove(&group, &ids)?;
            Ok(out
                .data_of(&g)?
                .success(format!("Removed {} issue(s) from {}", ids.len(), g.name)))
        }
        GroupCommand::List => {
            let all = groups.list();
            let text = if all.is_empty() {
                "No groups\n".to_owned()
            } else {
                all.iter().map(|g| line(g) + "\n").collect()
            };
            Ok(out.data(json!({ "groups": all })).raw(text))
        }
        GroupCommand::Status { group } => {
            let lookup = tracker(false)?;
            match group {
                Some(key) => {
                    let st = groups.status(&key, lookup.as_ref())?;
                    let text = format!(
                        "{}\n  {} total: {} completed, {} in progress, {} blocked, {} open\n",
                        line(&st.group),
                        st.total,
                        st.completed,
                        st.in_progress,
                        st.blocked,
                        st.open
                    );
                    let mut o = out.data_of(&st)?.raw(text);
                    if st.auto_closed {
                        o = o.success(format!("Group auto-closed: {}", st.group.name));
                    }
                    Ok(o)
                }
                None => {
                    let mut all = Vec::new();
                    let mut text = String::new();
                    for g in groups.list().into_iter().filter(|g| g.status == "active") {
                        let st = groups.status(&g.id, lookup.as_ref())?;
                        text.push_str(&format!(
                            "{}\n  {}/{} completed\n",
                            line(&st.group),
                            st.completed,
                            st.total
                        ));
                        all.push(st);
                    }
                    if all.is_empty() {
                        text.push_str("No active groups\n");
                    }
                    Ok(out.data(json!({ "groups": all })).raw(text))
                }
            }
        }
    }
}
