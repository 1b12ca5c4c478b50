//! Model resolution: which model an agent runs on and how it is routed.
//!
//! `config.models[capability]` beats the manifest's model, which beats the
//! capability's default from [`Capability::props`]. Aliases may be pinned to
//! concrete ids by `ANTHROPIC_DEFAULT_<ALIAS>_MODEL` in the orchestrator's
//! environment; `provider/model` refs to a gateway provider become the
//! `sonnet` alias plus gateway variables.

use std::collections::BTreeMap;

use overstory_core::{Capability, Config, env};

use crate::runtime::ResolvedModel;

/// The gateway base URL variable.
pub const ANTHROPIC_BASE_URL: &str = "ANTHROPIC_BASE_URL";
/// The gateway token variable.
pub const ANTHROPIC_AUTH_TOKEN: &str = "ANTHROPIC_AUTH_TOKEN";
/// The API key variable (forced empty for gateways).
pub const ANTHROPIC_API_KEY: &str = "ANTHROPIC_API_KEY";
/// The variable that maps the `sonnet` alias to a concrete id.
pub const ANTHROPIC_DEFAULT_SONNET_MODEL: &str = "ANTHROPIC_DEFAULT_SONNET_MODEL";

const ALIASES: [&str; 3] = ["sonnet", "opus", "haiku"];

/// Resolves the model for `capability`.
///
/// `manifest_model` is the manifest's `agents[capability].model` when a
/// manifest was loaded; without one the capability's default model is used.
/// `lookup` reads orchestrator variables (alias pins, gateway tokens); pass
/// [`process_env`] in production.
pub fn resolve_model(
    config: &Config,
    manifest_model: Option<&str>,
    capability: Capability,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> ResolvedModel {
    let explicit = config.models.get(capability.as_str());
    let raw = explicit
        .map(String::as_str)
        .or(manifest_model)
        .unwrap_or(capability.props().default_model);
    let mut resolved = resolve_raw(config, raw, lookup);
    resolved.is_explicit_override = explicit.is_some();
    resolved
}

/// The context window of Claude models, in tokens, unless the model asks
/// for the long one.
pub const CLAUDE_CONTEXT_WINDOW: u64 = 200_000;

/// The context window of a Claude model run with the `[1m]` suffix
/// (`sonnet[1m]`, `claude-sonnet-4-5[1m]`).
pub const CLAUDE_LONG_CONTEXT_WINDOW: u64 = 1_000_000;

/// Returns the context window, in tokens, of `model` as a runtime reports
/// or accepts it: a Claude alias (`sonnet`, `opus`, `haiku`) or id
/// (`claude-…`) has [`CLAUDE_CONTEXT_WINDOW`], or
/// [`CLAUDE_LONG_CONTEXT_WINDOW`] with the `[1m]` suffix; any other model is
/// unknown (`None`). This is the one home of that fact.
pub fn context_window(model: &str) -> Option<u64> {
    let m = model.trim().to_ascii_lowercase();
    let (base, long) = match m.strip_suffix("[1m]") {
        Some(b) => (b, true),
        None => (m.as_str(), false),
    };
    let claude = ALIASES.contains(&base) || base.starts_with("claude-");
    claude.then_some(if long {
        CLAUDE_LONG_CONTEXT_WINDOW
    } else {
        CLAUDE_CONTEXT_WINDOW
    })
}

/// Reads a variable from the process environment (trimmed, blank ⇒ `None`).
pub fn process_env(name: &str) -> Option<String> {
    env::var(name)
}

fn resolve_raw(
    config: &Config,
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> ResolvedModel {
    if ALIASES.contains(&raw) {
        let var = format!("ANTHROPIC_DEFAULT_{}_MODEL", raw.to_ascii_uppercase());
        let model = lookup(&var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| raw.to_owned());
        return ResolvedModel {
            model,
            ..ResolvedModel::default()
        };
    }
    if let Some((provider, model_id)) = raw.split_once('/')
        && !provider.is_empty()
        && let Some(p) = config.providers.get(provider)
        && p.kind == "gateway"
        && let Some(base_url) = &p.base_url
    {
        let mut env = BTreeMap::new();
        env.insert(ANTHROPIC_BASE_URL.to_owned(), base_url.clone());
        env.insert(ANTHROPIC_API_KEY.to_owned(), String::new());
        env.insert(
            ANTHROPIC_DEFAULT_SONNET_MODEL.to_owned(),
            model_id.to_owned(),
        );
        if let Some(token) = p
            .auth_token_env
            .as_deref()
            .and_then(lookup)
            .filter(|t| !t.is_empty())
        {
            env.insert(ANTHROPIC_AUTH_TOKEN.to_owned(), token);
        }
        return ResolvedModel {
            model: "sonnet".to_owned(),
            env,
            is_explicit_override: false,
        };
    }
    ResolvedModel {
        model: raw.to_owned(),
        ..ResolvedModel::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overstory_core::config::ProviderConfig;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn claude_models_have_a_context_window_and_others_none() {
        for m in [
            "sonnet",
            "opus",
            "haiku",
            "claude-sonnet-4-5",
            "Claude-Opus-4-1 ",
        ] {
            assert_eq!(context_window(m), Some(CLAUDE_CONTEXT_WINDOW), "{m}");
        }
        assert_eq!(
            context_window("claude-sonnet-4-5[1m]"),
            Some(CLAUDE_LONG_CONTEXT_WINDOW)
        );
        assert_eq!(
            context_window("sonnet[1m]"),
            Some(CLAUDE_LONG_CONTEXT_WINDOW)
        );
        for m in ["gpt-5", "", "gw/some-model", "[1m]"] {
            assert_eq!(context_window(m), None, "{m}");
        }
    }

    fn gateway_config() -> Config {
        let mut c = Config::defaults_for("/p");
        let p: ProviderConfig = serde_json::from_value(serde_json::json!({
            "type": "gateway", "baseUrl": "https://gw.example/v1", "authTokenEnv": "GW_TOKEN"
        }))
        .unwrap();
        c.providers.insert("gw".into(), p);
        c
    }

    #[test]
    fn config_beats_manifest_beats_capability_default() {
        let mut c = Config::defaults_for("/p");
        let m = resolve_model(&c, None, Capability::Scout, &no_env);
        assert_eq!(m.model, "haiku");
        assert!(!m.is_explicit_override);
        let m = resolve_model(&c, Some("opus"), Capability::Scout, &no_env);
        assert_eq!(m.model, "opus");
        assert!(!m.is_explicit_override);
        c.models.insert("scout".into(), "sonnet".into());
        let m = resolve_model(&c, Some("opus"), Capability::Scout, &no_env);
        assert_eq!(m.model, "sonnet");
        assert!(m.is_explicit_override);
    }

    #[test]
    fn manifest_default_model_is_forwarded_in_headless_mode() {
        // The original dropped non-explicit models headless; we always pass one.
        let c = Config::defaults_for("/p");
        let m = resolve_model(&c, None, Capability::Scout, &no_env);
        assert_eq!(m.spawn_model(), Some("haiku"));
    }

    #[test]
    fn alias_env_expansion_trims_and_ignores_blank_values() {
        let c = Config::defaults_for("/p");
        let pinned =
            |k: &str| (k == "ANTHROPIC_DEFAULT_OPUS_MODEL").then(|| "  claude-opus-9  ".to_owned());
        let m = resolve_model(&c, Some("opus"), Capability::Lead, &pinned);
        assert_eq!(m.model, "claude-opus-9");
        assert!(m.env.is_empty());
        let blank = |_: &str| Some("   ".to_owned());
        let m = resolve_model(&c, Some("opus"), Capability::Lead, &blank);
        assert_eq!(m.model, "opus");
    }

    #[test]
    fn gateway_provider_routes_through_sonnet_alias_with_empty_api_key() {
        let c = gateway_config();
        let tok = |k: &str| (k == "GW_TOKEN").then(|| "secret".to_owned());
        let m = resolve_model(&c, Some("gw/vendor/model-x"), Capability::Builder, &tok);
        assert_eq!(m.model, "sonnet");
        assert_eq!(m.env[ANTHROPIC_BASE_URL], "https://gw.example/v1");
        assert_eq!(m.env[ANTHROPIC_API_KEY], "");
        assert_eq!(m.env[ANTHROPIC_DEFAULT_SONNET_MODEL], "vendor/model-x");
        assert_eq!(m.env[ANTHROPIC_AUTH_TOKEN], "secret");
        let m = resolve_model(&c, Some("gw/m"), Capability::Builder, &no_env);
        assert!(!m.env.contains_key(ANTHROPIC_AUTH_TOKEN));
    }

    #[test]
    fn unknown_or_native_provider_and_bare_ids_pass_through() {
        let c = gateway_config();
        for raw in ["anthropic/claude-x", "nope/x", "claude-3-bare", "/leading"] {
            let m = resolve_model(&c, Some(raw), Capability::Builder, &no_env);
            assert_eq!(m.model, raw);
            assert!(m.env.is_empty());
        }
    }
}
