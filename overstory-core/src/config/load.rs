//! Reading the config files, migrating deprecated keys and merging them.

use std::path::{Path, PathBuf};

use super::yaml::{self, Entry, Node, Value};
use super::{Config, ConfigWarning, LoadedConfig, WarningKind};
use crate::error::ConfigError;

/// Loads each existing file of `paths` in order (later files win).
pub(super) fn load_files(root: &Path, paths: &[PathBuf]) -> Result<LoadedConfig, ConfigError> {
    let mut texts = Vec::new();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => texts.push((path.clone(), text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    load_texts(root, &texts)
}

/// Parses, migrates and merges `texts` (file path, contents) over the
/// defaults for `root`, then validates the result.
pub(super) fn load_texts(
    root: &Path,
    texts: &[(PathBuf, String)],
) -> Result<LoadedConfig, ConfigError> {
    let mut warnings = Vec::new();
    let mut merged = Node::new(Value::Map(Vec::new()));
    for (path, text) in texts {
        let mut tree = yaml::parse(text, path, &mut warnings)?;
        migrate(&mut tree, path, &mut warnings);
        merge(&mut merged, tree);
    }
    let mut config = Config::defaults_for(root);
    super::validate::apply(&mut config, &merged, &mut warnings)?;
    config.project.root = root.to_path_buf();
    Ok(LoadedConfig { config, warnings })
}

/// Merges `over` into `base`: maps key by key (recursively), anything else
/// replaces. An empty value (`key:` alone) is an empty map and changes nothing.
pub(super) fn merge(base: &mut Node, over: Node) {
    match over.value {
        Value::Map(entries) => {
            if !matches!(base.value, Value::Map(_)) {
                base.value = Value::Map(Vec::new());
                base.origin = over.origin;
            }
            if let Value::Map(base_entries) = &mut base.value {
                for entry in entries {
                    match base_entries.iter_mut().find(|b| b.key == entry.key) {
                        Some(b) => {
                            b.origin = entry.origin;
                            merge(&mut b.node, entry.node);
                        }
                        None => base_entries.push(entry),
                    }
                }
            }
        }
        Value::Empty if matches!(base.value, Value::Map(_)) => {}
        value => {
            base.value = value;
            base.origin = over.origin;
        }
    }
}

/// Rewrites deprecated keys of one file to their current names.
fn migrate(root: &mut Node, path: &Path, warnings: &mut Vec<ConfigWarning>) {
    let Value::Map(top) = &mut root.value else {
        return;
    };
    migrate_watchdog(top, path, warnings);
    migrate_tracker(top, path, warnings);
}

/// Old watchdogs named the mechanical tier 1 and the AI tier 2; now they are
/// tiers 0 and 1. A `watchdog` map with `tier1Enabled` but no `tier0Enabled`
/// is old-style.
fn migrate_watchdog(top: &mut [Entry], path: &Path, warnings: &mut Vec<ConfigWarning>) {
    let Some(watchdog) = top.iter_mut().find(|e| e.key == "watchdog") else {
        return;
    };
    let Value::Map(entries) = &mut watchdog.node.value else {
        return;
    };
    let has = |k: &str| entries.iter().any(|e| e.key == k);
    if !has("tier1Enabled") || has("tier0Enabled") {
        return;
    }
    const RENAMES: [(&str, &str); 3] = [
        ("tier1Enabled", "tier0Enabled"),
        ("tier1IntervalMs", "tier0IntervalMs"),
        ("tier2Enabled", "tier1Enabled"),
    ];
    for entry in entries.iter_mut() {
        let Some((old, new)) = RENAMES.iter().find(|(old, _)| entry.key == *old) else {
            continue;
        };
        warnings.push(ConfigWarning {
            kind: WarningKind::Deprecated,
            key: Some(format!("watchdog.{old}")),
            path: Some(path.to_path_buf()),
            line: entry.origin.as_ref().map(|o| o.line),
            message: format!("watchdog.{old} is now watchdog.{new}; rename it in the file"),
        });
        entry.key = (*new).to_owned();
    }
}

/// A top-level `beads:` or `seeds:` map (beads checked first) became
/// `taskTracker: {backend, enabled}`. When `taskTracker` is present the legacy
/// keys are ignored.
fn migrate_tracker(top: &mut Vec<Entry>, path: &Path, warnings: &mut Vec<ConfigWarning>) {
    let has_tracker = top.iter().any(|e| e.key == "taskTracker");
    let mut migrated: Option<Entry> = None;
    // beads is checked first, whatever the order in the file.
    for key in ["beads", "seeds"] {
        let Some(i) = top
            .iter()
            .position(|e| e.key == key && e.node.entries().is_some())
        else {
            continue;
        };
        let key = key.to_owned();
        let legacy = top.remove(i);
        let line = legacy.origin.as_ref().map(|o| o.line);
        if has_tracker || migrated.is_some() {
            warnings.push(ConfigWarning {
                kind: WarningKind::Deprecated,
                key: Some(key.clone()),
                path: Some(path.to_path_buf()),
                line,
                message: format!(
                    "the top-level \"{key}:\" section is ignored because taskTracker is set; remove it"
                ),
            });
            continue;
        }
        warnings.push(ConfigWarning {
            kind: WarningKind::Deprecated,
            key: Some(key.clone()),
            path: Some(path.to_path_buf()),
            line,
            message: format!(
                "the top-level \"{key}:\" section is now \"taskTracker: {{backend: {key}}}\"; rename it in the file"
            ),
        });
        let enabled = legacy.node.get("enabled").map_or_else(
            || Entry {
                key: "enabled".into(),
                origin: legacy.origin.clone(),
                node: Node {
                    value: Value::Bool(true),
                    origin: legacy.origin.clone(),
                },
            },
            Clone::clone,
        );
        let backend = Entry {
            key: "backend".into(),
            origin: legacy.origin.clone(),
            node: Node {
                value: Value::Str(key.clone()),
                origin: legacy.origin.clone(),
            },
        };
        migrated = Some(Entry {
            key: "taskTracker".into(),
            origin: legacy.origin.clone(),
            node: Node {
                value: Value::Map(vec![backend, enabled]),
                origin: legacy.origin,
            },
        });
    }
    if let Some(entry) = migrated {
        top.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> LoadedConfig {
        load_texts(
            Path::new("/p"),
            &[(PathBuf::from("/p/.overstory/config.yaml"), text.into())],
        )
        .unwrap()
    }

    #[test]
    fn old_watchdog_tiers_are_renamed_with_warnings() {
        let l = load(
            "watchdog:\n  tier1Enabled: false\n  tier1IntervalMs: 45000\n  tier2Enabled: true\n",
        );
        assert!(!l.config.watchdog.tier0_enabled);
        assert_eq!(l.config.watchdog.tier0_interval_ms, 45_000);
        assert!(l.config.watchdog.tier1_enabled);
        assert_eq!(l.warnings.len(), 3);
        assert!(l.warnings.iter().all(|w| w.kind == WarningKind::Deprecated));
        assert!(
            l.warnings[0].to_string().starts_with(
                "[overstory] DEPRECATED: watchdog.tier1Enabled is now watchdog.tier0Enabled"
            ),
            "{}",
            l.warnings[0]
        );
        assert_eq!(l.warnings[0].line, Some(2));
    }

    #[test]
    fn new_style_watchdog_is_left_alone() {
        let l = load(
            "watchdog:\n  tier0Enabled: true\n  tier1Enabled: true\n  triageTimeoutMs: 10000\n",
        );
        assert!(l.config.watchdog.tier0_enabled && l.config.watchdog.tier1_enabled);
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn legacy_tracker_sections_migrate_and_beads_wins() {
        let l = load("seeds:\n  enabled: false\n");
        assert_eq!(l.config.task_tracker.backend, "seeds");
        assert!(!l.config.task_tracker.enabled);
        assert_eq!(l.warnings[0].kind, WarningKind::Deprecated);

        let l = load("beads:\n  x: 1\nseeds:\n  enabled: false\n");
        assert_eq!(l.config.task_tracker.backend, "beads");
        assert!(l.config.task_tracker.enabled);
        assert_eq!(l.warnings.len(), 2);

        let l = load("taskTracker:\n  backend: seeds\nbeads:\n  enabled: false\n");
        assert_eq!(l.config.task_tracker.backend, "seeds");
        assert!(l.config.task_tracker.enabled);
        assert!(
            l.warnings[0]
                .message
                .contains("ignored because taskTracker is set")
        );
    }

    #[test]
    fn merge_replaces_lists_and_scalars_and_merges_maps() {
        let mut w = Vec::new();
        let p = Path::new("/p/c.yaml");
        let mut base = yaml::parse("a:\n  x: 1\n  l: [1, 2]\nb: 1\n", p, &mut w).unwrap();
        let over = yaml::parse("a:\n  y: 2\n  l:\n    - 3\nb: null\nc:\n", p, &mut w).unwrap();
        merge(&mut base, over);
        let a = &base.get("a").unwrap().node;
        assert_eq!(a.get("x").unwrap().node.value, Value::Int(1));
        assert_eq!(a.get("y").unwrap().node.value, Value::Int(2));
        let Value::List(l) = &a.get("l").unwrap().node.value else {
            panic!()
        };
        assert_eq!(l.len(), 1);
        assert_eq!(base.get("b").unwrap().node.value, Value::Null);
    }
}
