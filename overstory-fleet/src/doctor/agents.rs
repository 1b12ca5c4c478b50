//! Category `agents`: the manifest loads, every definition it names
//! exists, and agent identities are valid and known to the manifest.

use overstory_core::AgentName;
use overstory_core::doctor::{Check, Finding};
use overstory_runtime::manifest::Manifest;

use super::Probe;
use crate::profile::load_identity;

const CATEGORY: &str = "agents";

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let root = p.layout.root();
    let mut out = Vec::new();
    let manifest = match Manifest::for_project(root, &p.config) {
        Ok(m) => {
            out.push(Check::pass(
                CATEGORY,
                "manifest",
                format!("agent-manifest.json defines {} agents", m.agents.len()),
            ));
            Some(m)
        }
        Err(e) => {
            out.push(Check::fail(
                CATEGORY,
                "manifest",
                format!(
                    "{}; fix it, or run ov init --force to restore the default",
                    overstory_core::error::chain_text(&e)
                ),
            ));
            None
        }
    };
    if let Some(m) = &manifest {
        let base = Manifest::base_dir(root, &p.config);
        let missing: Vec<String> = m
            .agents
            .iter()
            .filter(|(_, def)| !base.join(&def.file).is_file())
            .map(|(name, def)| format!("{name} ({})", def.file))
            .collect();
        out.push(if missing.is_empty() {
            Check::pass(
                CATEGORY,
                "definitions",
                "Every agent's definition file exists",
            )
        } else {
            Check::warn(
                CATEGORY,
                "definitions",
                format!(
                    "Definition files missing from {}: {}; run ov init --force to restore them",
                    base.display(),
                    missing.join(", ")
                ),
            )
        });
    }
    out.push(identities(p, manifest.as_ref()));
    out.into_iter().map(Finding::of).collect()
}

/// `agents/<name>/identity.yaml`: a valid name that matches its directory,
/// and a capability the manifest knows.
fn identities(p: &Probe<'_>, manifest: Option<&Manifest>) -> Check {
    let mut bad = Vec::new();
    let mut stale = Vec::new();
    let mut count = 0;
    for dir in std::fs::read_dir(p.layout.agents_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = dir.path().join("identity.yaml");
        let Some(id) = load_identity(&path) else {
            continue;
        };
        count += 1;
        let dir_name = dir.file_name().to_string_lossy().into_owned();
        if AgentName::new(&id.name).is_err() || id.name != dir_name {
            bad.push(format!("{dir_name} (name \"{}\")", id.name));
        } else if let Some(m) = manifest
            && !id.capability.is_empty()
            && m.agent(&id.capability).is_none()
        {
            stale.push(format!("{dir_name} (capability \"{}\")", id.capability));
        }
    }
    if !bad.is_empty() {
        return Check::warn(
            CATEGORY,
            "identities",
            format!(
                "Identities with an invalid or mismatched name: {}; fix or delete their identity.yaml",
                bad.join(", ")
            ),
        );
    }
    if !stale.is_empty() {
        return Check::warn(
            CATEGORY,
            "identities",
            format!(
                "Identities whose capability the manifest no longer has: {}; delete them if unused",
                stale.join(", ")
            ),
        );
    }
    if count == 0 {
        return Check::pass(
            CATEGORY,
            "identities",
            "No agent identities yet (made at first start)",
        );
    }
    Check::pass(
        CATEGORY,
        "identities",
        format!("{count} agent identities are valid"),
    )
}
