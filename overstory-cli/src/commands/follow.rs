//! The `--follow` loop shared by `ov feed` and `ov coordinator output`:
//! poll on a fixed interval until SIGINT or SIGTERM, or until the output
//! closes.

use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::error::CliError;

/// A follow loop whose signal handlers are already installed, so an
/// interrupt that arrives while the first screenful prints still ends it
/// cleanly.
pub(crate) struct FollowLoop {
    rt: Runtime,
    sigint: Signal,
    sigterm: Signal,
}

impl FollowLoop {
    /// Builds the loop's runtime and installs its SIGINT/SIGTERM handlers.
    pub(crate) fn install() -> Result<Self, CliError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::new("Failed to start the follow loop").caused_by(e))?;
        let (sigint, sigterm) = {
            let _guard = rt.enter();
            let install = |kind| {
                signal(kind)
                    .map_err(|e| CliError::new("Failed to install a signal handler").caused_by(e))
            };
            (
                install(SignalKind::interrupt())?,
                install(SignalKind::terminate())?,
            )
        };
        Ok(Self {
            rt,
            sigint,
            sigterm,
        })
    }

    /// Calls `tick` every `every` (the first call right away) until a
    /// signal arrives, `tick` returns `Ok(false)` (its output closed), or it
    /// fails.
    pub(crate) fn run<E>(
        mut self,
        every: Duration,
        mut tick: impl FnMut() -> Result<bool, E>,
    ) -> Result<(), E> {
        self.rt.block_on(async {
            let mut ticker = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = self.sigint.recv() => return Ok(()),
                    _ = self.sigterm.recv() => return Ok(()),
                    _ = ticker.tick() => {}
                }
                if !tick()? {
                    return Ok(());
                }
            }
        })
    }
}
