//! `ov config`: show the merged configuration and where it came from.
//!
//! Not a command of the original; it makes the loader's result visible, which
//! helps when `config.local.yaml` overrides something unexpectedly.

use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Show the merged configuration (config.yaml + config.local.yaml)
///
/// Prints the resolved project root and every setting after defaults and
/// both files are merged. Warnings about unknown or deprecated keys go to
/// stderr.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {}

/// Loads the configuration and renders it.
pub fn run(ctx: &Context, _args: ConfigArgs) -> Result<Output, CliError> {
    let config = ctx.config()?;
    let value = serde_json::to_value(&config)
        .map_err(|e| CliError::new("Failed to render the configuration").caused_by(e))?;
    let root = config.project.root.display().to_string();
    Ok(Output::new("config")
        .field("root", root.clone())
        .field("config", value)
        .raw(format!("# project root: {root}"))
        .raw(config.to_yaml()))
}
