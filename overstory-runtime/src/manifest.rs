//! `.overstory/agent-manifest.json`: which agent definition, model and tools
//! each capability gets.
//!
//! Loading validates every agent and reports all problems at once, one line
//! each. The capability index is rebuilt from the agents (the stored one is
//! ignored).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::RuntimeError;

/// One agent entry of the manifest: how a capability's agents are defined.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentDef {
    /// Definition file, relative to the agent-defs directory.
    pub file: String,
    /// Model (alias or provider ref).
    pub model: String,
    /// Tools the definition says the agent uses; advisory, nothing enforces
    /// them.
    pub tools: Vec<String>,
    /// Tags this agent answers to in the manifest's tag index.
    pub capabilities: Vec<String>,
    /// Whether the agent may sling children (widens its capability's own
    /// rule, never narrows it).
    pub can_spawn: bool,
    /// Constraints the definition lists (`read-only`, …); advisory, the
    /// guard enforces the capability's rules instead.
    pub constraints: Vec<String>,
}

/// A loaded, validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The manifest's `version` string, as written.
    pub version: String,
    /// Agents keyed by capability name.
    pub agents: BTreeMap<String, AgentDef>,
    /// Tag ⇒ agent names, rebuilt on load.
    pub capability_index: BTreeMap<String, Vec<String>>,
}

impl Manifest {
    /// The project's agent-definition directory (`agents.baseDir`).
    pub fn base_dir(root: &Path, config: &overstory_core::Config) -> PathBuf {
        root.join(&config.agents.base_dir)
    }

    /// Loads the project's manifest (`agents.manifestPath`), with its
    /// definitions under [`Manifest::base_dir`].
    ///
    /// # Errors
    /// As [`Manifest::load`].
    pub fn for_project(root: &Path, config: &overstory_core::Config) -> Result<Self, RuntimeError> {
        Self::load(
            &root.join(&config.agents.manifest_path),
            &Self::base_dir(root, config),
        )
    }

    /// Loads and validates the manifest at `path`; definition files must
    /// exist under `base_dir`.
    ///
    /// # Errors
    /// [`RuntimeError::Manifest`] listing every problem.
    pub fn load(path: &Path, base_dir: &Path) -> Result<Self, RuntimeError> {
        let fail = |problems: Vec<String>| RuntimeError::Manifest {
            path: path.to_path_buf(),
            problems,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(vec![format!("cannot read the file: {e}")]))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| fail(vec![format!("invalid JSON: {e}")]))?;
        Self::from_value(&v, Some(base_dir)).map_err(fail)
    }

    /// Validates a parsed manifest; `base_dir` (when given) must hold every
    /// definition file.
    ///
    /// # Errors
    /// Every problem found, one line each.
    pub fn from_value(v: &Value, base_dir: Option<&Path>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let version = match v.get("version").and_then(Value::as_str) {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => {
                problems.push("\"version\" must be a non-empty string".to_owned());
                String::new()
            }
        };
        let Some(agents_v) = v.get("agents").and_then(Value::as_object) else {
            problems.push("\"agents\" must be an object".to_owned());
            return Err(problems);
        };
        let mut agents = BTreeMap::new();
        for (name, a) in agents_v {
            let p = |msg: &str| format!("Agent \"{name}\": {msg}");
            let Some(obj) = a.as_object() else {
                problems.push(p("must be an object"));
                continue;
            };
            let string = |key: &str, problems: &mut Vec<String>| match obj
                .get(key)
                .and_then(Value::as_str)
            {
                Some(s) if !s.is_empty() => s.to_owned(),
                _ => {
                    problems.push(p(&format!("\"{key}\" must be a non-empty string")));
                    String::new()
                }
            };
            let list = |key: &str, problems: &mut Vec<String>| match obj
                .get(key)
                .and_then(Value::as_array)
            {
                Some(a) if a.iter().all(Value::is_string) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect(),
                _ => {
                    problems.push(p(&format!("\"{key}\" must be an array of strings")));
                    Vec::new()
                }
            };
            let file = string("file", &mut problems);
            let model = string("model", &mut problems);
            let tools = list("tools", &mut problems);
            let capabilities = list("capabilities", &mut problems);
            let constraints = list("constraints", &mut problems);
            let can_spawn = match obj.get("canSpawn").and_then(Value::as_bool) {
                Some(b) => b,
                None => {
                    problems.push(p("\"canSpawn\" must be a boolean"));
                    false
                }
            };
            if let Some(dir) = base_dir
                && !file.is_empty()
                && !dir.join(&file).is_file()
            {
                problems.push(p(&format!(
                    "definition file \"{file}\" not found in {}",
                    dir.display()
                )));
            }
            agents.insert(
                name.clone(),
                AgentDef {
                    file,
                    model,
                    tools,
                    capabilities,
                    can_spawn,
                    constraints,
                },
            );
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut capability_index: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, a) in &agents {
            for tag in &a.capabilities {
                capability_index
                    .entry(tag.clone())
                    .or_default()
                    .push(name.clone());
            }
        }
        Ok(Self {
            version,
            agents,
            capability_index,
        })
    }

    /// Returns the agent for a capability name.
    pub fn agent(&self, capability: &str) -> Option<&AgentDef> {
        self.agents.get(capability)
    }

    /// Returns the agents tagged with `tag`.
    pub fn find_by_capability(&self, tag: &str) -> &[String] {
        self.capability_index.get(tag).map_or(&[], Vec::as_slice)
    }

    /// Returns the path of an agent's definition file.
    pub fn definition_path(&self, base_dir: &Path, capability: &str) -> Option<PathBuf> {
        self.agent(capability).map(|a| base_dir.join(&a.file))
    }

    /// Returns the error for an unknown capability:
    /// `Unknown capability "<c>". Available: …`.
    pub fn unknown_capability(&self, capability: &str) -> String {
        let names: Vec<&str> = self.agents.keys().map(String::as_str).collect();
        format!(
            "Unknown capability \"{capability}\". Available: {}",
            names.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "version": "1.0",
            "agents": {
                "scout": {"file": "scout.md", "model": "haiku", "tools": ["Read"], "capabilities": ["explore", "research"], "canSpawn": false, "constraints": ["read-only"]},
                "lead": {"file": "lead.md", "model": "gw/x/y", "tools": [], "capabilities": ["coordinate", "research"], "canSpawn": true, "constraints": []}
            },
            "capabilityIndex": {"stale": ["nobody"]}
        })
    }

    #[test]
    fn loads_and_rebuilds_the_capability_index() {
        let m = Manifest::from_value(&good(), None).unwrap();
        assert_eq!(m.agent("scout").unwrap().model, "haiku");
        assert_eq!(m.agent("lead").unwrap().model, "gw/x/y");
        assert_eq!(m.find_by_capability("research"), ["lead", "scout"]);
        assert!(m.find_by_capability("stale").is_empty());
        assert!(
            m.unknown_capability("wizard")
                .starts_with("Unknown capability \"wizard\". Available: lead, scout")
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let bad = json!({
            "version": "",
            "agents": {
                "a": {"file": "", "model": 3, "tools": "x", "capabilities": [1], "canSpawn": "no", "constraints": []},
                "b": "nope"
            }
        });
        let errs = Manifest::from_value(&bad, None).unwrap_err();
        assert!(errs.len() >= 7, "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("Agent \"b\"")));
        assert!(
            errs.iter()
                .any(|e| e.contains("\"canSpawn\" must be a boolean"))
        );
        let errs = Manifest::from_value(&json!({"version": "1", "agents": []}), None).unwrap_err();
        assert!(errs[0].contains("\"agents\" must be an object"));
    }

    #[test]
    fn load_checks_definition_files_and_reports_the_path() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("agent-manifest.json");
        std::fs::write(&path, good().to_string()).unwrap();
        std::fs::write(d.path().join("scout.md"), "x").unwrap();
        let err = Manifest::load(&path, d.path()).unwrap_err();
        assert_eq!(err.code(), "AGENT_ERROR");
        assert!(err.to_string().contains("lead.md"), "{err}");
        std::fs::write(d.path().join("lead.md"), "x").unwrap();
        assert!(Manifest::load(&path, d.path()).is_ok());
        std::fs::write(&path, "{").unwrap();
        assert!(
            Manifest::load(&path, d.path())
                .unwrap_err()
                .to_string()
                .contains("invalid JSON")
        );
        assert!(Manifest::load(&d.path().join("missing.json"), d.path()).is_err());
    }
}
