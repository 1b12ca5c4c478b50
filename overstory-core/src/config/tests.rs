//! Loading real files from a temp project: defaults, merging, every
//! validation rule, warnings, and the file the original's `ov init` writes.

use std::path::Path;

use super::*;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("cfg-").tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".overstory")).unwrap();
        Self { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, file: &str, text: &str) -> &Self {
        std::fs::write(self.root().join(".overstory").join(file), text).unwrap();
        self
    }

    fn load(&self) -> Result<LoadedConfig, ConfigError> {
        Config::load(self.root())
    }
}

#[test]
fn missing_files_give_defaults_named_after_the_root() {
    let p = Project::new();
    let loaded = p.load().unwrap();
    let name = p.root().file_name().unwrap().to_str().unwrap();
    assert_eq!(loaded.config.project.name, name);
    assert_eq!(loaded.config.project.root, p.root());
    assert_eq!(loaded.config, Config::defaults_for(p.root()));
    assert!(loaded.warnings.is_empty());
}

#[test]
fn defaults_match_the_spec() {
    let c = Config::defaults_for("/x/proj");
    assert_eq!(c.project.canonical_branch, "main");
    // Improvement over the original (its defaults are bun commands): no
    // gates unless the project names some.
    assert!(c.project.quality_gates.is_empty());
    assert_eq!(c.agents.max_concurrent, 25);
    assert_eq!(c.agents.stagger_delay_ms, 2000);
    assert_eq!(c.agents.max_depth, 2);
    assert_eq!(c.agents.max_agents_per_lead, 5);
    assert_eq!(c.watchdog.tier0_interval_ms, 30_000);
    assert_eq!(c.watchdog.zombie_threshold_ms, 600_000);
    assert_eq!(c.providers["anthropic"].kind, "native");
    assert_eq!(c.runtime.default, "claude");
    assert!(!c.claude_headless_by_default());
    assert_eq!(
        c.runtime.pi.model_map["haiku"],
        "anthropic/claude-haiku-4-5"
    );
}

#[test]
fn project_root_is_forced_to_the_resolved_root() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "project:\n  root: /somewhere/else\n  name: demo\n",
    );
    let c = p.load().unwrap().config;
    assert_eq!(c.project.root, p.root());
    assert_eq!(c.project.name, "demo");
}

#[test]
fn local_file_deep_merges_over_the_project_file() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "agents:\n  maxConcurrent: 10\n  maxDepth: 3\nmulch:\n  domains:\n    - api\n    - db\nproviders:\n  gw:\n    type: gateway\n    baseUrl: http://localhost:1\n    authTokenEnv: GW_TOKEN\n",
    );
    p.write(
        "config.local.yaml",
        "agents:\n  maxConcurrent: 4\nmulch:\n  domains: [ui]\nproviders:\n  other:\n    type: native\nruntime:\n  printCommand: null\n",
    );
    let c = p.load().unwrap().config;
    assert_eq!(c.agents.max_concurrent, 4, "local wins");
    assert_eq!(c.agents.max_depth, 3, "sibling keys survive the merge");
    assert_eq!(c.mulch.domains, ["ui"], "lists replace");
    assert_eq!(
        c.providers.keys().collect::<Vec<_>>(),
        ["anthropic", "gw", "other"],
        "providers merge"
    );
    assert_eq!(c.runtime.print_command, None);
}

#[test]
fn local_file_is_validated_and_named_in_the_error() {
    let p = Project::new();
    p.write("config.yaml", "agents:\n  maxDepth: 1\n");
    p.write("config.local.yaml", "# local\nagents:\n  maxDepth: -1\n");
    let err = p.load().unwrap_err();
    let ConfigError::Invalid {
        key, path, line, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(key, "agents.maxDepth");
    assert!(path.as_ref().unwrap().ends_with("config.local.yaml"));
    assert_eq!(*line, Some(3));
}

#[test]
fn explicit_null_replaces_and_empty_value_keeps_defaults() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "project:\n  defaultProfile: null\nmodels:\nruntime:\n  capabilities:\n",
    );
    let c = p.load().unwrap().config;
    assert_eq!(c.project.default_profile, None);
    assert!(c.models.is_empty());
    p.write("config.yaml", "agents:\n  maxConcurrent: null\n");
    let err = p.load().unwrap_err();
    assert!(
        err.to_string().contains("\"agents.maxConcurrent\""),
        "{err}"
    );
}

/// Each case: file text, the dotted key the error must name, its line.
const INVALID: &[(&str, &str, usize)] = &[
    ("project: 3\n", "project", 1),
    ("project:\n  name: \"\"\n", "project.name", 2),
    ("project:\n  name: 12\n", "project.name", 2),
    (
        "project:\n  canonicalBranch: \"  \"\n",
        "project.canonicalBranch",
        2,
    ),
    (
        "project:\n  canonicalBranch: true\n",
        "project.canonicalBranch",
        2,
    ),
    (
        "project:\n  qualityGates: nope\n",
        "project.qualityGates",
        2,
    ),
    (
        "project:\n  qualityGates:\n    - just text\n",
        "project.qualityGates[0]",
        3,
    ),
    (
        "project:\n  qualityGates:\n    - name: T\n      command: x\n",
        "project.qualityGates[0].description",
        3,
    ),
    (
        "project:\n  qualityGates:\n    - name: T\n      command: \"\"\n      description: d\n",
        "project.qualityGates[0].command",
        4,
    ),
    (
        "project:\n  defaultProfile: [a]\n",
        "project.defaultProfile",
        2,
    ),
    ("agents:\n  manifestPath: 5\n", "agents.manifestPath", 2),
    ("agents:\n  baseDir: \"\"\n", "agents.baseDir", 2),
    ("agents:\n  maxConcurrent: 0\n", "agents.maxConcurrent", 2),
    (
        "agents:\n  maxConcurrent: lots\n",
        "agents.maxConcurrent",
        2,
    ),
    ("agents:\n  maxConcurrent: 2.5\n", "agents.maxConcurrent", 2),
    (
        "agents:\n  staggerDelayMs: abc\n",
        "agents.staggerDelayMs",
        2,
    ),
    (
        "agents:\n  staggerDelayMs: -1\n",
        "agents.staggerDelayMs",
        2,
    ),
    ("agents:\n  maxDepth: -1\n", "agents.maxDepth", 2),
    ("agents:\n  maxDepth: \"2\"\n", "agents.maxDepth", 2),
    (
        "agents:\n  maxSessionsPerRun: -3\n",
        "agents.maxSessionsPerRun",
        2,
    ),
    (
        "agents:\n  maxAgentsPerLead: x\n",
        "agents.maxAgentsPerLead",
        2,
    ),
    ("worktrees:\n  baseDir: []\n", "worktrees.baseDir", 2),
    ("taskTracker:\n  backend: jira\n", "taskTracker.backend", 2),
    ("taskTracker:\n  enabled: yes\n", "taskTracker.enabled", 2),
    ("mulch:\n  enabled: 1\n", "mulch.enabled", 2),
    ("mulch:\n  domains: api\n", "mulch.domains", 2),
    ("mulch:\n  domains:\n    - 5\n", "mulch.domains[0]", 3),
    ("mulch:\n  primeFormat: html\n", "mulch.primeFormat", 2),
    (
        "merge:\n  aiResolveEnabled: on\n",
        "merge.aiResolveEnabled",
        2,
    ),
    (
        "merge:\n  reimagineEnabled: null\n",
        "merge.reimagineEnabled",
        2,
    ),
    ("providers:\n  x: native\n", "providers.x", 2),
    ("providers:\n  x:\n    type: magic\n", "providers.x.type", 3),
    (
        "providers:\n  x:\n    baseUrl: http://h\n",
        "providers.x.type",
        2,
    ),
    (
        "providers:\n  gw:\n    type: gateway\n    authTokenEnv: T\n",
        "providers.gw.baseUrl",
        2,
    ),
    (
        "providers:\n  gw:\n    type: gateway\n    baseUrl: http://h\n",
        "providers.gw.authTokenEnv",
        2,
    ),
    (
        "providers:\n  gw:\n    type: gateway\n    baseUrl: 5\n",
        "providers.gw.baseUrl",
        4,
    ),
    (
        "watchdog:\n  tier0Enabled: maybe\n",
        "watchdog.tier0Enabled",
        2,
    ),
    (
        "watchdog:\n  tier0IntervalMs: 0\n",
        "watchdog.tier0IntervalMs",
        2,
    ),
    (
        "watchdog:\n  tier0IntervalMs: soon\n",
        "watchdog.tier0IntervalMs",
        2,
    ),
    (
        "watchdog:\n  tier1Enabled: 0\n  tier0Enabled: true\n",
        "watchdog.tier1Enabled",
        2,
    ),
    (
        "watchdog:\n  tier0Enabled: true\n  tier2Enabled: \"true\"\n",
        "watchdog.tier2Enabled",
        3,
    ),
    (
        "watchdog:\n  staleThresholdMs: 0\n",
        "watchdog.staleThresholdMs",
        2,
    ),
    (
        "watchdog:\n  zombieThresholdMs: 300000\n",
        "watchdog.zombieThresholdMs",
        2,
    ),
    (
        "watchdog:\n  zombieThresholdMs: x\n",
        "watchdog.zombieThresholdMs",
        2,
    ),
    (
        "watchdog:\n  nudgeIntervalMs: 0\n",
        "watchdog.nudgeIntervalMs",
        2,
    ),
    (
        "watchdog:\n  rpcTimeoutMs: 999\n",
        "watchdog.rpcTimeoutMs",
        2,
    ),
    (
        "watchdog:\n  rpcTimeoutMs: 30001\n",
        "watchdog.rpcTimeoutMs",
        2,
    ),
    (
        "watchdog:\n  triageTimeoutMs: 4999\n",
        "watchdog.triageTimeoutMs",
        2,
    ),
    (
        "watchdog:\n  triageTimeoutMs: 120001\n",
        "watchdog.triageTimeoutMs",
        2,
    ),
    (
        "watchdog:\n  tier0Enabled: true\n  tier1Enabled: true\n  triageTimeoutMs: 40000\n",
        "watchdog.triageTimeoutMs",
        4,
    ),
    (
        "watchdog:\n  maxEscalationLevel: 0\n",
        "watchdog.maxEscalationLevel",
        2,
    ),
    (
        "watchdog:\n  maxEscalationLevel: 6\n",
        "watchdog.maxEscalationLevel",
        2,
    ),
    (
        "watchdog:\n  notifyParentOnDeath: no\n",
        "watchdog.notifyParentOnDeath",
        2,
    ),
    (
        "coordinator:\n  exitTriggers: true\n",
        "coordinator.exitTriggers",
        2,
    ),
    (
        "coordinator:\n  exitTriggers:\n    allAgentsDone: 1\n",
        "coordinator.exitTriggers.allAgentsDone",
        3,
    ),
    (
        "coordinator:\n  exitTriggers:\n    taskTrackerEmpty: x\n",
        "coordinator.exitTriggers.taskTrackerEmpty",
        3,
    ),
    (
        "coordinator:\n  exitTriggers:\n    onShutdownSignal: off\n",
        "coordinator.exitTriggers.onShutdownSignal",
        3,
    ),
    ("models:\n  builder: gpt-5\n", "models.builder", 2),
    ("models:\n  builder: openrouter/x\n", "models.builder", 2),
    ("models:\n  builder: 5\n", "models.builder", 2),
    ("logging:\n  verbose: loud\n", "logging.verbose", 2),
    ("logging:\n  redactSecrets: 0\n", "logging.redactSecrets", 2),
    (
        "runtime:\n  capabilities:\n    builder: \"\"\n",
        "runtime.capabilities.builder",
        3,
    ),
    ("runtime:\n  printCommand: 5\n", "runtime.printCommand", 2),
    (
        "runtime:\n  pi:\n    provider: \"\"\n",
        "runtime.pi.provider",
        3,
    ),
    (
        "runtime:\n  pi:\n    modelMap:\n      opus: 3\n",
        "runtime.pi.modelMap.opus",
        4,
    ),
    ("runtime:\n  pi: x\n", "runtime.pi", 2),
];

#[test]
fn every_invalid_value_names_key_file_and_line() {
    let p = Project::new();
    for (text, want_key, want_line) in INVALID {
        p.write("config.yaml", text);
        let err = match p.load() {
            Ok(l) => panic!("accepted {text:?}: {:?}", l.config),
            Err(e) => e,
        };
        let ConfigError::Invalid {
            key, path, line, ..
        } = &err
        else {
            panic!("{text:?}: not Invalid: {err:?}")
        };
        assert_eq!(key, want_key, "{text:?}: {err}");
        assert_eq!(*line, Some(*want_line), "{text:?}: {err}");
        assert!(path.as_ref().unwrap().ends_with(".overstory/config.yaml"));
        let msg = err.to_string();
        assert!(msg.contains(&format!("\"{want_key}\"")), "{msg}");
        assert!(msg.contains(&format!("line {want_line}")), "{msg}");
        assert_eq!(err.code(), "VALIDATION_ERROR");
    }
}

#[test]
fn valid_edge_values_are_accepted() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "agents:\n  maxConcurrent: 1\n  maxDepth: 0\n  staggerDelayMs: 2_000\nwatchdog:\n  tier0Enabled: false\n  tier0IntervalMs: 0\n  rpcTimeoutMs: 30000\n  triageTimeoutMs: 5000\n  maxEscalationLevel: 5\nmodels:\n  builder: anthropic/claude-sonnet-4-6\n  lead: opus\n",
    );
    let l = p.load().unwrap();
    assert_eq!(l.config.agents.stagger_delay_ms, 2000);
    assert_eq!(l.config.models["lead"], "opus");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn unknown_keys_are_warnings_with_line() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "project:\n  name: x\n  colour: blue\nsparkles: true\nmodels:\n  wizard: opus\n",
    );
    let l = p.load().unwrap();
    let keys: Vec<_> = l.warnings.iter().map(|w| w.key.clone().unwrap()).collect();
    assert_eq!(keys, ["sparkles", "project.colour", "models.wizard"]);
    assert!(l.warnings.iter().all(|w| w.kind == WarningKind::UnknownKey));
    assert_eq!(l.warnings[1].line, Some(3));
    let shown = l.warnings[0].to_string();
    assert!(shown.starts_with("[overstory] WARNING: unknown config key \"sparkles\""));
    assert!(shown.ends_with("line 4)"), "{shown}");
}

#[test]
fn runtime_knobs_warn_instead_of_failing() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "runtime:\n  default: 5\n  shellInitDelayMs: -5\n  claudeHeadlessByDefault: sometimes\n",
    );
    let l = p.load().unwrap();
    assert_eq!(l.config.runtime.default, "claude");
    assert_eq!(l.config.runtime.shell_init_delay_ms, 0);
    assert_eq!(l.config.runtime.claude_headless_by_default, None);
    assert_eq!(l.warnings.len(), 3);
    assert!(l.warnings.iter().all(|w| w.kind == WarningKind::Value));
    p.write("config.yaml", "runtime:\n  shellInitDelayMs: 45000\n");
    let l = p.load().unwrap();
    assert_eq!(l.config.runtime.shell_init_delay_ms, 45_000);
    assert_eq!(l.warnings.len(), 1);
}

#[test]
fn model_rules_follow_providers_and_runtime() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "providers:\n  openrouter:\n    type: gateway\n    baseUrl: https://gw.invalid\n    authTokenEnv: OR_TOKEN\nmodels:\n  builder: openrouter/some/model\n  lead: openrouter/big\n",
    );
    let l = p.load().unwrap();
    assert_eq!(l.config.models["builder"], "openrouter/some/model");
    assert_eq!(l.warnings.len(), 1, "only builder/scout warn");
    assert_eq!(l.warnings[0].key.as_deref(), Some("models.builder"));

    p.write(
        "config.yaml",
        "runtime:\n  default: codex\nmodels:\n  builder: gpt-5\n",
    );
    let l = p.load().unwrap();
    assert_eq!(l.config.models["builder"], "gpt-5");
    assert_eq!(l.warnings.len(), 1);
}

#[test]
fn bad_yaml_is_a_parse_error_with_the_line() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "project:\n  name: demo\nagents:\n  maxDepth: [1, 2\n",
    );
    let err = p.load().unwrap_err();
    let ConfigError::Parse { line, path, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(*line >= 4, "{err}");
    assert!(path.ends_with("config.yaml"));
    assert!(err.to_string().contains(&format!("at line {line}")));
    assert_eq!(err.code(), "CONFIG_ERROR");
}

#[test]
fn yaml_quirks_of_the_original_hold() {
    let p = Project::new();
    p.write(
        "config.yaml",
        "project:\n  name: \"my # project\" # trailing comment\n  canonicalBranch: yes\nwatchdog:\n  tier0IntervalMs: 45_000\n  notifyParentOnDeath: FALSE\nlogging:\n  verbose: True\n",
    );
    let c = p.load().unwrap().config;
    assert_eq!(c.project.name, "my # project");
    assert_eq!(c.project.canonical_branch, "yes");
    assert_eq!(c.watchdog.tier0_interval_ms, 45_000);
    assert!(!c.watchdog.notify_parent_on_death);
    assert!(c.logging.verbose);
}

#[test]
fn unreadable_config_is_a_read_error() {
    let p = Project::new();
    std::fs::create_dir(p.root().join(".overstory/config.yaml")).unwrap();
    let err = p.load().unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
}

#[test]
fn the_original_init_config_loads_cleanly() {
    let p = Project::new();
    p.write("config.yaml", include_str!("fixtures/original-init.yaml"));
    let l = p.load().unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = l.config;
    assert_eq!(c.project.name, "overstory-demo");
    assert_eq!(c.project.root, p.root());
    assert!(c.claude_headless_by_default());
    let mut expected = Config::defaults_for(p.root());
    expected.project.name = "overstory-demo".into();
    expected.runtime.claude_headless_by_default = Some(true);
    // The original's file names its three bun gates; they are read as given.
    expected.project.quality_gates = vec![
        QualityGate::new("Tests", "bun test", "all tests must pass"),
        QualityGate::new("Lint", "bun run lint", "zero errors"),
        QualityGate::new("Typecheck", "bun run typecheck", "no TypeScript errors"),
    ];
    assert_eq!(c, expected);
}

#[test]
fn written_config_round_trips_through_the_loader() {
    let p = Project::new();
    let mut c = Config::defaults_for(p.root());
    c.project.name = "2048".into();
    c.project.canonical_branch = "release/x".into();
    c.models.insert("builder".into(), "opus".into());
    c.runtime.claude_headless_by_default = Some(true);
    p.write("config.yaml", &c.to_yaml());
    let l = p.load().unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(l.config, c);
}

#[test]
fn budget_limits_load_and_stay_out_of_a_written_file_while_unlimited() {
    let p = Project::new();
    assert!(p.load().unwrap().config.budget.is_unlimited());
    let text = Config::defaults_for(p.root()).to_yaml();
    assert!(!text.contains("budget"), "{text}");

    p.write(
        "config.yaml",
        "budget:\n  maxTokensPerRun: 50000\n  maxTokensPerAgent: 20000\n  maxCostUsdPerRun: 1.5\n",
    );
    let b = p.load().unwrap().config.budget;
    assert_eq!(b.max_tokens_per_run, 50_000);
    assert_eq!(b.max_tokens_per_agent, 20_000);
    assert!((b.max_cost_usd_per_run - 1.5).abs() < f64::EPSILON);
    assert!(!b.is_unlimited());

    for bad in [
        "maxTokensPerRun: -1",
        "maxCostUsdPerRun: lots",
        "maxTokensPerAgent: 1.5",
    ] {
        p.write("config.yaml", &format!("budget:\n  {bad}\n"));
        let err = p.load().unwrap_err().to_string();
        assert!(err.contains("budget."), "{bad}: {err}");
    }
}
