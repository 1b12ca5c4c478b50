//! Applying the merged tree to the typed defaults, checking every value.
//!
//! Each known key is read with a typed accessor that names the dotted key,
//! the file and the line when the value has the wrong type or is out of range.
//! Keys the program does not know become warnings. Rules that relate two keys
//! (`zombieThresholdMs > staleThresholdMs`, models naming providers) run after
//! every key is read.

use std::collections::HashMap;

use super::yaml::{Entry, Node, Origin, Value};
use super::{Config, ConfigWarning, ProviderConfig, QualityGate, WarningKind};
use crate::capability::Capability;
use crate::error::ConfigError;

const MODEL_ALIASES: [&str; 3] = ["sonnet", "opus", "haiku"];

/// Applies `tree` (the merged files) to `config` (the defaults).
pub(super) fn apply(
    config: &mut Config,
    tree: &Node,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let mut v = Validator {
        warnings,
        origins: HashMap::new(),
    };
    let top = tree.entries().unwrap_or(&[]);
    v.unknown_keys(
        "",
        top,
        &[
            "project",
            "agents",
            "worktrees",
            "taskTracker",
            "mulch",
            "merge",
            "providers",
            "watchdog",
            "coordinator",
            "models",
            "logging",
            "runtime",
            "budget",
        ],
    );
    for entry in top {
        match entry.key.as_str() {
            "project" => v.project(config, entry)?,
            "agents" => v.agents(config, entry)?,
            "worktrees" => v.worktrees(config, entry)?,
            "taskTracker" => v.task_tracker(config, entry)?,
            "mulch" => v.mulch(config, entry)?,
            "merge" => v.merge(config, entry)?,
            "providers" => v.providers(config, entry)?,
            "watchdog" => v.watchdog(config, entry)?,
            "coordinator" => v.coordinator(config, entry)?,
            "models" => v.models(config, entry)?,
            "logging" => v.logging(config, entry)?,
            "runtime" => v.runtime(config, entry)?,
            "budget" => v.budget(config, entry)?,
            _ => {}
        }
    }
    v.cross_checks(config)
}

struct Validator<'w> {
    warnings: &'w mut Vec<ConfigWarning>,
    /// Where each dotted key that a file set was written.
    origins: HashMap<String, Option<Origin>>,
}

fn invalid(key: &str, origin: Option<&Origin>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        path: origin.map(|o| o.path.to_path_buf()),
        line: origin.map(|o| o.line),
        message: message.into(),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
        _ => None,
    }
}

impl Validator<'_> {
    fn warn(&mut self, kind: WarningKind, key: &str, origin: Option<&Origin>, message: String) {
        self.warnings.push(ConfigWarning {
            kind,
            key: Some(key.to_owned()),
            path: origin.map(|o| o.path.to_path_buf()),
            line: origin.map(|o| o.line),
            message,
        });
    }

    /// Warns about every key of `entries` not in `known`.
    fn unknown_keys(&mut self, prefix: &str, entries: &[Entry], known: &[&str]) {
        for e in entries {
            if !known.contains(&e.key.as_str()) {
                let key = join(prefix, &e.key);
                self.warn(
                    WarningKind::UnknownKey,
                    &key,
                    e.origin.as_ref(),
                    format!("unknown config key \"{key}\" is ignored"),
                );
            }
        }
    }

    /// Returns the entries of a section that must be a map.
    fn section<'e>(
        &mut self,
        key: &str,
        entry: &'e Entry,
        known: &[&str],
    ) -> Result<&'e [Entry], ConfigError> {
        let entries = entry.node.entries().ok_or_else(|| {
            invalid(
                key,
                entry.origin.as_ref(),
                format!(
                    "expected a map of settings, found {}",
                    entry.node.value.describe()
                ),
            )
        })?;
        if !known.is_empty() {
            self.unknown_keys(key, entries, known);
        }
        Ok(entries)
    }

    fn record(&mut self, key: &str, e: &Entry) {
        self.origins.insert(key.to_owned(), e.origin.clone());
    }

    fn boolean(&mut self, key: &str, e: &Entry) -> Result<bool, ConfigError> {
        self.record(key, e);
        match e.node.value {
            Value::Bool(b) => Ok(b),
            ref other => Err(invalid(
                key,
                e.origin.as_ref(),
                format!("expected true or false, found {}", other.describe()),
            )),
        }
    }

    fn int(
        &mut self,
        key: &str,
        e: &Entry,
        min: i64,
        max: Option<i64>,
    ) -> Result<i64, ConfigError> {
        self.record(key, e);
        let n = as_int(&e.node.value).ok_or_else(|| {
            invalid(
                key,
                e.origin.as_ref(),
                format!("expected a whole number, found {}", e.node.value.describe()),
            )
        })?;
        let in_range = n >= min && max.is_none_or(|m| n <= m);
        if !in_range {
            let rule = match max {
                Some(m) => format!("must be between {min} and {m}"),
                None => format!("must be at least {min}"),
            };
            return Err(invalid(
                key,
                e.origin.as_ref(),
                format!("{rule}, found {n}"),
            ));
        }
        Ok(n)
    }

    fn u64(
        &mut self,
        key: &str,
        e: &Entry,
        min: i64,
        max: Option<i64>,
    ) -> Result<u64, ConfigError> {
        // `int` enforces min >= 0 for every caller, so the value fits.
        Ok(u64::try_from(self.int(key, e, min, max)?).unwrap_or(0))
    }

    fn u32(
        &mut self,
        key: &str,
        e: &Entry,
        min: i64,
        max: Option<i64>,
    ) -> Result<u32, ConfigError> {
        let n = self.int(key, e, min, max)?;
        u32::try_from(n).map_err(|_| {
            invalid(
                key,
                e.origin.as_ref(),
                format!("must be at most {}, found {n}", u32::MAX),
            )
        })
    }

    fn string(&mut self, key: &str, e: &Entry, non_empty: bool) -> Result<String, ConfigError> {
        self.record(key, e);
        match &e.node.value {
            Value::Str(s) if non_empty && s.trim().is_empty() => {
                Err(invalid(key, e.origin.as_ref(), "must not be empty"))
            }
            Value::Str(s) => Ok(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => Err(invalid(
                key,
                e.origin.as_ref(),
                format!(
                    "expected text, found {}; put it in quotes if it is meant as text",
                    e.node.value.describe()
                ),
            )),
            other => Err(invalid(
                key,
                e.origin.as_ref(),
                format!("expected text, found {}", other.describe()),
            )),
        }
    }

    /// A string that may be left unset with `null` or an empty value.
    fn opt_string(&mut self, key: &str, e: &Entry) -> Result<Option<String>, ConfigError> {
        match e.node.value {
            Value::Null | Value::Empty => {
                self.record(key, e);
                Ok(None)
            }
            _ => self.string(key, e, false).map(Some),
        }
    }

    fn one_of(&mut self, key: &str, e: &Entry, allowed: &[&str]) -> Result<String, ConfigError> {
        let s = self.string(key, e, false)?;
        if allowed.contains(&s.as_str()) {
            Ok(s)
        } else {
            Err(invalid(
                key,
                e.origin.as_ref(),
                format!("must be one of {}, found \"{s}\"", allowed.join(", ")),
            ))
        }
    }

    fn list<'e>(&mut self, key: &str, e: &'e Entry) -> Result<&'e [Node], ConfigError> {
        self.record(key, e);
        match &e.node.value {
            Value::List(items) => Ok(items),
            Value::Empty => Ok(&[]),
            other => Err(invalid(
                key,
                e.origin.as_ref(),
                format!("expected a list, found {}", other.describe()),
            )),
        }
    }

    fn project(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        let keys = [
            "name",
            "root",
            "canonicalBranch",
            "qualityGates",
            "defaultProfile",
        ];
        for e in self.section("project", entry, &keys)? {
            match e.key.as_str() {
                "name" => c.project.name = self.string("project.name", e, true)?,
                // The resolved root always wins; the file's value is ignored.
                "root" => {}
                "canonicalBranch" => {
                    c.project.canonical_branch = self.string("project.canonicalBranch", e, true)?;
                }
                "qualityGates" => c.project.quality_gates = self.quality_gates(e)?,
                "defaultProfile" => {
                    c.project.default_profile = self.opt_string("project.defaultProfile", e)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn quality_gates(&mut self, e: &Entry) -> Result<Vec<QualityGate>, ConfigError> {
        let mut gates = Vec::new();
        for (i, item) in self.list("project.qualityGates", e)?.iter().enumerate() {
            let key = format!("project.qualityGates[{i}]");
            let origin = item.origin.as_ref().or(e.origin.as_ref());
            let entries = item.entries().ok_or_else(|| {
                invalid(
                    &key,
                    origin,
                    format!(
                        "expected a gate with name, command and description, found {}",
                        item.value.describe()
                    ),
                )
            })?;
            self.unknown_keys(&key, entries, &["name", "command", "description"]);
            let mut field = |name: &str| -> Result<String, ConfigError> {
                let k = format!("{key}.{name}");
                match item.get(name) {
                    Some(f) => self.string(&k, f, true),
                    None => Err(invalid(&k, origin, "is required")),
                }
            };
            let name = field("name")?;
            let command = field("command")?;
            let description = field("description")?;
            gates.push(QualityGate {
                name,
                command,
                description,
            });
        }
        Ok(gates)
    }

    fn agents(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        let keys = [
            "manifestPath",
            "baseDir",
            "maxConcurrent",
            "staggerDelayMs",
            "maxDepth",
            "maxSessionsPerRun",
            "maxAgentsPerLead",
        ];
        let a = &mut c.agents;
        for e in self.section("agents", entry, &keys)? {
            match e.key.as_str() {
                "manifestPath" => a.manifest_path = self.string("agents.manifestPath", e, true)?,
                "baseDir" => a.base_dir = self.string("agents.baseDir", e, true)?,
                "maxConcurrent" => {
                    a.max_concurrent = self.u32("agents.maxConcurrent", e, 1, None)?
                }
                "staggerDelayMs" => {
                    a.stagger_delay_ms = self.u64("agents.staggerDelayMs", e, 0, None)?;
                }
                "maxDepth" => a.max_depth = self.u32("agents.maxDepth", e, 0, None)?,
                "maxSessionsPerRun" => {
                    a.max_sessions_per_run = self.u32("agents.maxSessionsPerRun", e, 0, None)?;
                }
                "maxAgentsPerLead" => {
                    a.max_agents_per_lead = self.u32("agents.maxAgentsPerLead", e, 0, None)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn worktrees(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        for e in self.section("worktrees", entry, &["baseDir"])? {
            if e.key == "baseDir" {
                c.worktrees.base_dir = self.string("worktrees.baseDir", e, true)?;
            }
        }
        Ok(())
    }

    fn task_tracker(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        for e in self.section("taskTracker", entry, &["backend", "enabled"])? {
            match e.key.as_str() {
                "backend" => {
                    c.task_tracker.backend =
                        self.one_of("taskTracker.backend", e, &["auto", "seeds", "beads"])?;
                }
                "enabled" => c.task_tracker.enabled = self.boolean("taskTracker.enabled", e)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn mulch(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        for e in self.section("mulch", entry, &["enabled", "domains", "primeFormat"])? {
            match e.key.as_str() {
                "enabled" => c.mulch.enabled = self.boolean("mulch.enabled", e)?,
                "domains" => {
                    let mut domains = Vec::new();
                    for (i, item) in self.list("mulch.domains", e)?.iter().enumerate() {
                        let key = format!("mulch.domains[{i}]");
                        let item_entry = Entry {
                            key: key.clone(),
                            origin: item.origin.clone().or_else(|| e.origin.clone()),
                            node: item.clone(),
                        };
                        domains.push(self.string(&key, &item_entry, true)?);
                    }
                    c.mulch.domains = domains;
                }
                "primeFormat" => {
                    c.mulch.prime_format =
                        self.one_of("mulch.primeFormat", e, &["markdown", "xml", "json"])?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn merge(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        for e in self.section("merge", entry, &["aiResolveEnabled", "reimagineEnabled"])? {
            match e.key.as_str() {
                "aiResolveEnabled" => {
                    c.merge.ai_resolve_enabled = self.boolean("merge.aiResolveEnabled", e)?;
                }
                "reimagineEnabled" => {
                    c.merge.reimagine_enabled = self.boolean("merge.reimagineEnabled", e)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn budget(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        let known = ["maxTokensPerRun", "maxTokensPerAgent", "maxCostUsdPerRun"];
        for e in self.section("budget", entry, &known)? {
            let key = format!("budget.{}", e.key);
            match e.key.as_str() {
                "maxTokensPerRun" => c.budget.max_tokens_per_run = self.u64(&key, e, 0, None)?,
                "maxTokensPerAgent" => {
                    c.budget.max_tokens_per_agent = self.u64(&key, e, 0, None)?;
                }
                "maxCostUsdPerRun" => {
                    self.record(&key, e);
                    c.budget.max_cost_usd_per_run = match &e.node.value {
                        Value::Int(n) if *n >= 0 => *n as f64,
                        Value::Float(f) if f.is_finite() && *f >= 0.0 => *f,
                        other => {
                            return Err(invalid(
                                &key,
                                e.origin.as_ref(),
                                format!(
                                    "expected a non-negative amount of US dollars (0 = unlimited), found {}",
                                    other.describe()
                                ),
                            ));
                        }
                    };
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn providers(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        for e in self.section("providers", entry, &[])? {
            let key = format!("providers.{}", e.key);
            let fields = self.section(&key, e, &["type", "baseUrl", "authTokenEnv"])?;
            let mut p = c.providers.get(&e.key).cloned().unwrap_or(ProviderConfig {
                kind: String::new(),
                base_url: None,
                auth_token_env: None,
            });
            for f in fields {
                match f.key.as_str() {
                    "type" => {
                        p.kind = self.one_of(&format!("{key}.type"), f, &["native", "gateway"])?;
                    }
                    "baseUrl" => p.base_url = self.opt_string(&format!("{key}.baseUrl"), f)?,
                    "authTokenEnv" => {
                        p.auth_token_env = self.opt_string(&format!("{key}.authTokenEnv"), f)?;
                    }
                    _ => {}
                }
            }
            if p.kind.is_empty() {
                return Err(invalid(
                    &format!("{key}.type"),
                    e.origin.as_ref(),
                    "is required (native or gateway)",
                ));
            }
            if p.kind == "gateway" {
                for (name, value) in [
                    ("baseUrl", &p.base_url),
                    ("authTokenEnv", &p.auth_token_env),
                ] {
                    if value.as_deref().is_none_or(str::is_empty) {
                        return Err(invalid(
                            &format!("{key}.{name}"),
                            e.origin.as_ref(),
                            "is required for a gateway provider",
                        ));
                    }
                }
            }
            c.providers.insert(e.key.clone(), p);
        }
        Ok(())
    }

    fn watchdog(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        let keys = [
            "tier0Enabled",
            "tier0IntervalMs",
            "tier1Enabled",
            "tier2Enabled",
            "staleThresholdMs",
            "zombieThresholdMs",
            "nudgeIntervalMs",
            "rpcTimeoutMs",
            "triageTimeoutMs",
            "maxEscalationLevel",
            "notifyParentOnDeath",
        ];
        let w = &mut c.watchdog;
        for e in self.section("watchdog", entry, &keys)? {
            let key = format!("watchdog.{}", e.key);
            match e.key.as_str() {
                "tier0Enabled" => w.tier0_enabled = self.boolean(&key, e)?,
                // `> 0 when enabled` is checked once both keys are known.
                "tier0IntervalMs" => w.tier0_interval_ms = self.u64(&key, e, 0, None)?,
                "tier1Enabled" => w.tier1_enabled = self.boolean(&key, e)?,
                "tier2Enabled" => w.tier2_enabled = self.boolean(&key, e)?,
                "staleThresholdMs" => w.stale_threshold_ms = self.u64(&key, e, 1, None)?,
                "zombieThresholdMs" => w.zombie_threshold_ms = self.u64(&key, e, 1, None)?,
                "nudgeIntervalMs" => w.nudge_interval_ms = self.u64(&key, e, 1, None)?,
                "rpcTimeoutMs" => w.rpc_timeout_ms = self.u64(&key, e, 1000, Some(30_000))?,
                "triageTimeoutMs" => {
                    w.triage_timeout_ms = self.u64(&key, e, 5000, Some(120_000))?;
                }
                "maxEscalationLevel" => w.max_escalation_level = self.u32(&key, e, 1, Some(5))?,
                "notifyParentOnDeath" => w.notify_parent_on_death = self.boolean(&key, e)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn coordinator(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        for e in self.section("coordinator", entry, &["exitTriggers"])? {
            if e.key != "exitTriggers" {
                continue;
            }
            let keys = ["allAgentsDone", "taskTrackerEmpty", "onShutdownSignal"];
            let t = &mut c.coordinator.exit_triggers;
            for f in self.section("coordinator.exitTriggers", e, &keys)? {
                let key = format!("coordinator.exitTriggers.{}", f.key);
                match f.key.as_str() {
                    "allAgentsDone" => t.all_agents_done = self.boolean(&key, f)?,
                    "taskTrackerEmpty" => t.task_tracker_empty = self.boolean(&key, f)?,
                    "onShutdownSignal" => t.on_shutdown_signal = self.boolean(&key, f)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn models(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        for e in self.section("models", entry, &[])? {
            let key = format!("models.{}", e.key);
            if e.key.parse::<Capability>().is_err() {
                self.warn(
                    WarningKind::UnknownKey,
                    &key,
                    e.origin.as_ref(),
                    format!(
                        "\"{}\" is not a capability, so \"{key}\" is never used",
                        e.key
                    ),
                );
            }
            let model = self.string(&key, e, true)?;
            c.models.insert(e.key.clone(), model);
        }
        Ok(())
    }

    fn logging(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        for e in self.section("logging", entry, &["verbose", "redactSecrets"])? {
            match e.key.as_str() {
                "verbose" => c.logging.verbose = self.boolean("logging.verbose", e)?,
                "redactSecrets" => {
                    c.logging.redact_secrets = self.boolean("logging.redactSecrets", e)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn runtime(&mut self, c: &mut Config, entry: &Entry) -> Result<(), ConfigError> {
        let keys = [
            "default",
            "capabilities",
            "printCommand",
            "shellInitDelayMs",
            "claudeHeadlessByDefault",
            "pi",
        ];
        for e in self.section("runtime", entry, &keys)? {
            let key = format!("runtime.{}", e.key);
            match e.key.as_str() {
                // The original only warns about these three; so do we.
                "default" => match &e.node.value {
                    Value::Str(s) if !s.trim().is_empty() => c.runtime.default = s.clone(),
                    other => {
                        let msg = format!(
                            "{key} should be a runtime name such as \"claude\", found {}; using \"{}\"",
                            other.describe(),
                            c.runtime.default
                        );
                        self.warn(WarningKind::Value, &key, e.origin.as_ref(), msg);
                    }
                },
                "shellInitDelayMs" => {
                    self.record(&key, e);
                    match &e.node.value {
                        Value::Int(n) if *n >= 0 => {
                            c.runtime.shell_init_delay_ms = u64::try_from(*n).unwrap_or(0);
                            if *n > 30_000 {
                                let msg = format!("{key} is {n} ms, more than 30 seconds");
                                self.warn(WarningKind::Value, &key, e.origin.as_ref(), msg);
                            }
                        }
                        Value::Float(f) if f.is_finite() && *f >= 0.0 => {
                            c.runtime.shell_init_delay_ms = f.round() as u64;
                        }
                        other => {
                            c.runtime.shell_init_delay_ms = 0;
                            let msg = format!(
                                "{key} must be a non-negative number of milliseconds, found {}; using 0",
                                other.describe()
                            );
                            self.warn(WarningKind::Value, &key, e.origin.as_ref(), msg);
                        }
                    }
                }
                "claudeHeadlessByDefault" => match e.node.value {
                    Value::Bool(b) => c.runtime.claude_headless_by_default = Some(b),
                    Value::Null => c.runtime.claude_headless_by_default = None,
                    ref other => {
                        c.runtime.claude_headless_by_default = None;
                        let msg = format!(
                            "{key} must be true or false, found {}; treating it as unset",
                            other.describe()
                        );
                        self.warn(WarningKind::Value, &key, e.origin.as_ref(), msg);
                    }
                },
                "printCommand" => c.runtime.print_command = self.opt_string(&key, e)?,
                "capabilities" => {
                    for f in self.section(&key, e, &[])? {
                        let k = format!("{key}.{}", f.key);
                        if f.key.parse::<Capability>().is_err() {
                            let msg = format!(
                                "\"{}\" is not a capability, so \"{k}\" is never used",
                                f.key
                            );
                            self.warn(WarningKind::UnknownKey, &k, f.origin.as_ref(), msg);
                        }
                        let runtime = self.string(&k, f, true)?;
                        c.runtime.capabilities.insert(f.key.clone(), runtime);
                    }
                }
                "pi" => {
                    for f in self.section(&key, e, &["provider", "modelMap"])? {
                        let k = format!("{key}.{}", f.key);
                        match f.key.as_str() {
                            "provider" => c.runtime.pi.provider = self.string(&k, f, true)?,
                            "modelMap" => {
                                for m in self.section(&k, f, &[])? {
                                    let mk = format!("{k}.{}", m.key);
                                    let model = self.string(&mk, m, true)?;
                                    c.runtime.pi.model_map.insert(m.key.clone(), model);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn origin(&self, key: &str) -> Option<Origin> {
        self.origins.get(key).cloned().flatten()
    }

    /// Rules between keys, checked on the merged result.
    fn cross_checks(&mut self, c: &Config) -> Result<(), ConfigError> {
        let w = &c.watchdog;
        if w.tier0_enabled && w.tier0_interval_ms == 0 {
            let key = "watchdog.tier0IntervalMs";
            return Err(invalid(
                key,
                self.origin(key).as_ref(),
                "must be greater than 0 while watchdog.tier0Enabled is true",
            ));
        }
        if w.zombie_threshold_ms <= w.stale_threshold_ms {
            let key = "watchdog.zombieThresholdMs";
            return Err(invalid(
                key,
                self.origin(key)
                    .or_else(|| self.origin("watchdog.staleThresholdMs"))
                    .as_ref(),
                format!(
                    "must be greater than watchdog.staleThresholdMs ({}), found {}",
                    w.stale_threshold_ms, w.zombie_threshold_ms
                ),
            ));
        }
        if w.tier1_enabled && w.triage_timeout_ms >= w.tier0_interval_ms {
            let key = "watchdog.triageTimeoutMs";
            return Err(invalid(
                key,
                self.origin(key)
                    .or_else(|| self.origin("watchdog.tier0IntervalMs"))
                    .as_ref(),
                format!(
                    "must be less than watchdog.tier0IntervalMs ({}) while watchdog.tier1Enabled is true, found {}",
                    w.tier0_interval_ms, w.triage_timeout_ms
                ),
            ));
        }
        for (role, model) in &c.models {
            let key = format!("models.{role}");
            let origin = self.origin(&key);
            if MODEL_ALIASES.contains(&model.as_str()) {
                continue;
            }
            match model.split_once('/') {
                Some((provider, rest)) if !provider.is_empty() && !rest.is_empty() => {
                    if !c.providers.contains_key(provider) {
                        let known: Vec<&str> = c.providers.keys().map(String::as_str).collect();
                        return Err(invalid(
                            &key,
                            origin.as_ref(),
                            format!(
                                "names provider \"{provider}\", which is not under providers (configured: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                    if matches!(role.as_str(), "builder" | "scout") && provider != "anthropic" {
                        let msg = format!(
                            "{key} is \"{model}\": a non-Anthropic model may not handle the tool use a {role} needs"
                        );
                        self.warn(WarningKind::Value, &key, origin.as_ref(), msg);
                    }
                }
                _ if c.runtime.default == "codex" => {
                    let msg = format!("{key} is \"{model}\": passed to codex as a bare model name");
                    self.warn(WarningKind::Value, &key, origin.as_ref(), msg);
                }
                _ => {
                    return Err(invalid(
                        &key,
                        origin.as_ref(),
                        format!(
                            "\"{model}\" is neither a model alias (sonnet, opus, haiku) nor <provider>/<model>; bare model names are allowed only when runtime.default is codex"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
