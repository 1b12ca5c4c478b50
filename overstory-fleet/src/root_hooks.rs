//! `ov hooks install|uninstall|status`: the operator's own session hooks
//! from `.overstory/hooks.json`, merged into `<root>/.claude/settings.local.json`.
//!
//! Install keeps every non-hook key; without `force` it refuses to touch an
//! existing `hooks` key; with `force` it merges per event type, appending
//! only entries not already present (same matcher and same ordered commands).
//! Uninstall removes only overstory's entries — those equal to an entry of
//! `hooks.json` or tagged as managed — and keeps the user's own hooks.

use std::path::{Path, PathBuf};

use overstory_core::{FsError, Layout};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::FleetError;
use overstory_core::json::to_tab_string;
use overstory_runtime::claude_settings::is_managed_command;

/// Returns `<root>/.claude/settings.local.json`.
pub fn target_path(root: &Path) -> PathBuf {
    overstory_runtime::claude_settings::settings_path(root)
}

/// What [`install_hooks`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallOutcome {
    /// Hooks were written.
    Installed,
    /// A `hooks` key exists and `force` was not given: nothing written.
    AlreadyPresent,
}

/// What [`uninstall_hooks`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UninstallOutcome {
    /// No settings file.
    NoFile,
    /// The file has no `hooks`.
    NoHooks,
    /// Overstory's entries were removed; the file remains.
    Removed,
    /// Nothing but overstory's hooks were in the file: it was deleted.
    FileDeleted,
}

/// `hooks status` data.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HooksStatus {
    /// Whether `.overstory/hooks.json` exists.
    pub source_exists: bool,
    /// Whether the settings file has a `hooks` key.
    pub installed: bool,
}

fn read_json(path: &Path) -> Result<Option<Map<String, Value>>, FleetError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(serde_json::from_str::<Value>(&t)
            .ok()
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .or_else(|| Some(Map::new()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FsError::new("read", path, e).into()),
    }
}

fn write_json(path: &Path, value: &Value) -> Result<(), FleetError> {
    overstory_core::fsio::write_atomic(path, to_tab_string(value))?;
    Ok(())
}

fn source_hooks(layout: &Layout) -> Result<Map<String, Value>, FleetError> {
    let src = layout.hooks();
    let Some(root) = read_json(&src)? else {
        return Err(FleetError::invalid(
            "hooks",
            format!(
                "Hooks source not found: {}. Run 'ov init' first",
                src.display()
            ),
        ));
    };
    Ok(match root.get("hooks") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    })
}

/// The identity of a hook entry: its matcher and ordered (type, command) list.
fn entry_key(entry: &Value) -> (String, Vec<(String, String)>) {
    let matcher = entry
        .get("matcher")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let cmds = entry
        .get("hooks")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|h| {
                    (
                        h.get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        h.get("command")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (matcher, cmds)
}

/// Installs the hooks of `.overstory/hooks.json`.
///
/// # Errors
/// [`FleetError::Validation`] when `hooks.json` is missing; file errors.
pub fn install_hooks(layout: &Layout, force: bool) -> Result<InstallOutcome, FleetError> {
    let incoming = source_hooks(layout)?;
    let target = target_path(layout.root());
    let mut root = read_json(&target)?.unwrap_or_default();
    if root.contains_key("hooks") && !force {
        return Ok(InstallOutcome::AlreadyPresent);
    }
    let mut hooks = match root.remove("hooks") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (event, entries) in incoming {
        let list = hooks
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        if let (Value::Array(have), Value::Array(new)) = (list, entries) {
            for e in new {
                let key = entry_key(&e);
                if !have.iter().any(|h| entry_key(h) == key) {
                    have.push(e);
                }
            }
        }
    }
    root.insert("hooks".into(), Value::Object(hooks));
    write_json(&target, &Value::Object(root))?;
    Ok(InstallOutcome::Installed)
}

/// Removes overstory's hooks, keeping the user's.
///
/// # Errors
/// File errors.
pub fn uninstall_hooks(layout: &Layout) -> Result<UninstallOutcome, FleetError> {
    let target = target_path(layout.root());
    let Some(mut root) = read_json(&target)? else {
        return Ok(UninstallOutcome::NoFile);
    };
    let Some(hooks) = root.remove("hooks") else {
        return Ok(UninstallOutcome::NoHooks);
    };
    let ours: Vec<_> = source_hooks(layout)
        .unwrap_or_default()
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .map(entry_key)
        .collect();
    let owned = |e: &Value| {
        let key = entry_key(e);
        ours.contains(&key) || key.1.iter().any(|(_, c)| is_managed_command(c))
    };
    let mut kept = Map::new();
    if let Value::Object(map) = hooks {
        for (event, entries) in map {
            let rest: Vec<Value> = entries
                .as_array()
                .map(|a| a.iter().filter(|e| !owned(e)).cloned().collect())
                .unwrap_or_default();
            if !rest.is_empty() {
                kept.insert(event, Value::Array(rest));
            }
        }
    }
    if !kept.is_empty() {
        root.insert("hooks".into(), Value::Object(kept));
    }
    if root.is_empty() {
        std::fs::remove_file(&target).map_err(|e| FsError::new("delete", &target, e))?;
        return Ok(UninstallOutcome::FileDeleted);
    }
    write_json(&target, &Value::Object(root))?;
    Ok(UninstallOutcome::Removed)
}

/// Reports whether the source exists and hooks are installed.
pub fn hooks_status(layout: &Layout) -> HooksStatus {
    let installed = read_json(&target_path(layout.root()))
        .ok()
        .flatten()
        .is_some_and(|m| m.contains_key("hooks"));
    HooksStatus {
        source_exists: layout.hooks().is_file(),
        installed,
    }
}
