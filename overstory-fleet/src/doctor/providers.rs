//! Category `providers`: every configured provider is usable (a gateway
//! has a URL that answers and its token variable is set), and every model
//! reference names a configured provider.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use overstory_core::doctor::{Check, Finding};

use super::Probe;

const CATEGORY: &str = "providers";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let config = &p.config;
    let mut out = Vec::new();
    if config.providers.is_empty() {
        out.push(Check::warn(
            CATEGORY,
            "providers",
            "No providers configured: add providers.anthropic (type: native) to config.yaml",
        ));
    }
    for (name, provider) in &config.providers {
        let check_name = format!("provider {name}");
        out.push(match provider.kind.as_str() {
            "native" => Check::pass(CATEGORY, &check_name, format!("{name}: native")),
            "gateway" => gateway(&check_name, name, provider),
            other => Check::warn(
                CATEGORY,
                &check_name,
                format!("{name}: unknown type \"{other}\"; use native or gateway"),
            ),
        });
    }
    let unknown: Vec<String> = config
        .models
        .iter()
        .filter_map(|(cap, model)| {
            let (provider, _) = model.split_once('/')?;
            (!config.providers.contains_key(provider)).then(|| format!("models.{cap} = {model}"))
        })
        .collect();
    out.push(if unknown.is_empty() {
        Check::pass(CATEGORY, "model references", "Every model reference names a configured provider")
    } else {
        Check::warn(
            CATEGORY,
            "model references",
            format!(
                "Models naming a provider that is not configured: {}; add the provider or fix the model",
                unknown.join(", ")
            ),
        )
    });
    out.into_iter().map(Finding::of).collect()
}

fn gateway(
    check_name: &str,
    name: &str,
    provider: &overstory_core::config::ProviderConfig,
) -> Check {
    let Some(url) = provider
        .base_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    else {
        return Check::fail(
            CATEGORY,
            check_name,
            format!("{name}: a gateway needs providers.{name}.baseUrl"),
        );
    };
    if let Some(var) = &provider.auth_token_env
        && !overstory_core::env::is_set(var)
    {
        return Check::warn(
            CATEGORY,
            check_name,
            format!(
                "{name}: ${var} (authTokenEnv) is not set in this environment; export it before starting agents"
            ),
        );
    }
    match host_port(url) {
        Some(addr) if reachable(&addr) => Check::pass(
            CATEGORY,
            check_name,
            format!("{name}: gateway {url} answers"),
        ),
        Some(_) => Check::warn(
            CATEGORY,
            check_name,
            format!("{name}: gateway {url} does not accept connections; check that it runs"),
        ),
        None => Check::fail(
            CATEGORY,
            check_name,
            format!("{name}: baseUrl \"{url}\" is not an http(s) URL"),
        ),
    }
}

/// `host:port` of an `http(s)://` URL (default ports 80 and 443).
fn host_port(url: &str) -> Option<String> {
    let (rest, default_port) = if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else {
        (url.strip_prefix("http://")?, 80)
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = if authority.starts_with('[') {
        authority.contains("]:")
    } else {
        authority.contains(':')
    };
    Some(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    })
}

fn reachable(addr: &str) -> bool {
    addr.to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|a| TcpStream::connect_timeout(&a, CONNECT_TIMEOUT).is_ok())
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_and_port_come_from_the_url() {
        assert_eq!(
            host_port("http://localhost:4000/v1").as_deref(),
            Some("localhost:4000")
        );
        assert_eq!(
            host_port("https://gw.example.com").as_deref(),
            Some("gw.example.com:443")
        );
        assert_eq!(host_port("http://u:p@h:81/x").as_deref(), Some("h:81"));
        assert_eq!(host_port("ftp://h"), None);
        assert_eq!(host_port("http://"), None);
    }
}
