//! Model pricing (USD per million tokens) and cost estimates.

use super::TokenUsage;

/// Prices of one model tier, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pricing {
    /// The tier name (`opus`).
    pub tier: &'static str,
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
    /// USD per million tokens read from the prompt cache.
    pub cache_read: f64,
    /// USD per million tokens written to the prompt cache.
    pub cache_creation: f64,
}

const fn p(
    tier: &'static str,
    input: f64,
    output: f64,
    cache_read: f64,
    cache_creation: f64,
) -> Pricing {
    Pricing {
        tier,
        input,
        output,
        cache_read,
        cache_creation,
    }
}

/// The table, in lookup order: the first rule whose needles all occur in the
/// lower-cased model name wins (`gpt-4o-mini` before `gpt-4o`, `o3` before `o1`).
const RULES: &[(&[&str], Pricing)] = &[
    (&["opus"], p("opus", 15.0, 75.0, 1.5, 3.75)),
    (&["sonnet"], p("sonnet", 3.0, 15.0, 0.3, 0.75)),
    (&["haiku"], p("haiku", 0.8, 4.0, 0.08, 0.2)),
    (&["gpt-4o-mini"], p("gpt-4o-mini", 0.15, 0.6, 0.075, 0.15)),
    (&["gpt-4o"], p("gpt-4o", 2.5, 10.0, 1.25, 2.5)),
    (&["gpt-5"], p("gpt-5", 10.0, 40.0, 5.0, 10.0)),
    (&["o3"], p("o3", 10.0, 40.0, 5.0, 10.0)),
    (&["o1"], p("o1", 15.0, 60.0, 7.5, 15.0)),
    (&["flash"], p("gemini-flash", 0.1, 0.4, 0.025, 0.1)),
    (&["gemini", "pro"], p("gemini-pro", 1.25, 5.0, 0.3125, 1.25)),
];

/// Returns the pricing of `model`, or `None` for an unknown or empty name.
pub fn pricing_for(model: &str) -> Option<Pricing> {
    let m = model.to_ascii_lowercase();
    if m.is_empty() {
        return None;
    }
    RULES
        .iter()
        .find(|(needles, _)| needles.iter().all(|n| m.contains(n)))
        .map(|(_, p)| *p)
}

/// Returns the estimated cost of `usage` in USD: `None` when the model is
/// unknown or absent, `Some(0.0)` for zero tokens of a known model.
pub fn estimate_cost(usage: &TokenUsage) -> Option<f64> {
    let p = pricing_for(usage.model_used.as_deref()?)?;
    let m = |tokens: i64, rate: f64| tokens as f64 / 1_000_000.0 * rate;
    Some(
        m(usage.input_tokens, p.input)
            + m(usage.output_tokens, p.output)
            + m(usage.cache_read_tokens, p.cache_read)
            + m(usage.cache_creation_tokens, p.cache_creation),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_order_and_case() {
        let t = |m: &str| pricing_for(m).map(|p| p.tier);
        assert_eq!(t("claude-OPUS-4"), Some("opus"));
        assert_eq!(t("gpt-4o-mini-2024"), Some("gpt-4o-mini"));
        assert_eq!(t("gpt-4o"), Some("gpt-4o"));
        assert_eq!(t("o3-mini"), Some("o3"));
        assert_eq!(t("o1-preview"), Some("o1"));
        assert_eq!(t("gemini-2.0-flash"), Some("gemini-flash"));
        assert_eq!(t("gemini-1.5-pro"), Some("gemini-pro"));
        assert_eq!(t("llama"), None);
        assert_eq!(t(""), None);
    }

    #[test]
    fn opus_example_costs_24_dollars() {
        let u = TokenUsage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 500_000,
            cache_creation_tokens: 200_000,
            model_used: Some("claude-opus-4".into()),
        };
        let c = estimate_cost(&u).unwrap();
        assert!((c - 24.0).abs() < 1e-9, "{c}");
    }

    #[test]
    fn zero_tokens_cost_zero_and_no_model_costs_nothing() {
        let mut u = TokenUsage {
            model_used: Some("sonnet".into()),
            ..TokenUsage::default()
        };
        assert_eq!(estimate_cost(&u), Some(0.0));
        u.model_used = None;
        assert_eq!(estimate_cost(&u), None);
    }

    #[test]
    fn claude_cache_prices_are_10_and_25_percent_of_input() {
        for m in ["opus", "sonnet", "haiku"] {
            let p = pricing_for(m).unwrap();
            assert!((p.cache_read - p.input * 0.1).abs() < 1e-9);
            assert!((p.cache_creation - p.input * 0.25).abs() < 1e-9);
        }
    }
}
