//! `ov serve`: the fleet, the mail and each agent's timeline in a browser.

use std::path::PathBuf;

use overstory_serve::{BindOptions, Server};
use serde_json::json;

use crate::context::Context;
use crate::error::CliError;
use crate::output::{self, Output};

/// Serve the fleet, mail and agent timelines to a browser, live
///
/// Listens on 127.0.0.1:7321 by default and writes .overstory/serve.json
/// (mode 0600) with the URL to open: it carries a per-start token that
/// every /api and /ws request needs. One server per project; Ctrl-C stops
/// it and removes serve.json. Agents never depend on it: mail sent from
/// the page wakes its recipient exactly as 'ov mail send' does.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value = "7321", value_name = "n")]
    port: String,
    /// Address to listen on; a non-loopback address needs --allow-remote
    #[arg(long, default_value = "127.0.0.1", value_name = "addr")]
    host: String,
    /// Allow listening on a non-loopback address (anyone who can reach it
    /// still needs the token)
    #[arg(long)]
    allow_remote: bool,
    /// Open the UI in the default browser
    #[arg(long)]
    open: bool,
    /// Serve the UI from this directory instead of the embedded one
    #[arg(long, value_name = "path")]
    ui_dir: Option<PathBuf>,
}

/// Parses `--port` as the original does: the leading digits count.
fn parse_port(raw: &str) -> Result<u16, CliError> {
    let digits: String = raw
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse::<u16>()
        .map_err(|_| CliError::validation(format!("Invalid port: {raw}")))
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(ctx: &Context, args: ServeArgs) -> Result<Output, CliError> {
    let port = parse_port(&args.port)?;
    let layout = ctx.layout()?;
    if let Some(dir) = &args.ui_dir
        && !dir.is_dir()
    {
        return Err(CliError::validation(format!(
            "--ui-dir \"{}\" is not a directory",
            dir.display()
        ))
        .hint("Point --ui-dir at a built UI (a directory with index.html)"));
    }
    let mut opts = BindOptions::new(layout);
    opts.host = args.host;
    opts.port = port;
    opts.allow_remote = args.allow_remote;
    opts.ui_dir = args.ui_dir;
    opts.ov = ctx.ov_exe().ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::new("Failed to start the async runtime").caused_by(e))?;
    let (json, quiet, style) = (ctx.json, ctx.quiet, ctx.style);
    runtime.block_on(async move {
        let server = Server::bind(opts).await?;
        let info = server.info().clone();
        if json {
            output::print_raw(&output::envelope_line(
                "serve",
                &json!({
                    "status": "started",
                    "port": info.port,
                    "hostname": info.host,
                    "url": info.base_url(),
                    "openUrl": info.url,
                    "pid": info.pid,
                }),
            ));
        } else if !quiet {
            output::print_raw(&format!(
                "{} ov serve listening on {}\n  open {}\n",
                style.green("✓"),
                info.base_url(),
                info.url
            ));
        }
        if args.open {
            open_browser(&info.url);
        }
        let signals = shutdown_signal();
        let stopping = async move {
            signals.await;
            if !json && !quiet {
                output::print_raw("\nShutting down...\n");
            }
        };
        server.run(stopping).await?;
        Ok::<(), CliError>(())
    })?;
    Ok(Output::silent("serve"))
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without handlers the default action (exit) applies.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// Opens `url` with the desktop's opener; failures are reported, not fatal.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match overstory_core::process::command(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
        Err(e) => output::eprint_line(&format!(
            "! Could not open a browser ({opener}: {e}); open the URL in .overstory/serve.json"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_like_the_original() {
        assert_eq!(parse_port("7321").unwrap(), 7321);
        assert_eq!(parse_port("12abc").unwrap(), 12);
        assert_eq!(parse_port("0").unwrap(), 0);
        for bad in ["abc", "70000", ""] {
            assert_eq!(
                parse_port(bad).unwrap_err().message,
                format!("Invalid port: {bad}")
            );
        }
    }
}

/// A server on its own thread and runtime, for commands that serve while
/// they do something else (`ov demo --serve`). Dropping it stops the
/// server and waits for it (serve.json is removed).
#[derive(Debug)]
pub(crate) struct Background {
    /// What the server published.
    pub info: overstory_serve::ServeInfo,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts serving `layout` on a free loopback port.
    pub(crate) fn start(
        layout: overstory_core::Layout,
        ov: Option<PathBuf>,
    ) -> Result<Self, CliError> {
        let mut opts = BindOptions::new(layout);
        opts.port = 0;
        opts.ov = ov;
        let (info_tx, info_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ov-serve".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = info_tx
                            .send(Err(
                                CliError::new("Failed to start the async runtime").caused_by(e)
                            ));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Server::bind(opts).await {
                        Ok(server) => {
                            let _ = info_tx.send(Ok(server.info().clone()));
                            let _ = server
                                .run(async move {
                                    let _ = stop_rx.await;
                                })
                                .await;
                        }
                        Err(e) => {
                            let _ = info_tx.send(Err(e.into()));
                        }
                    }
                });
            })
            .map_err(|e| CliError::new("Failed to start the server thread").caused_by(e))?;
        let info = info_rx
            .recv()
            .map_err(|_| CliError::new("The server thread ended before it started").internal())??;
        Ok(Self {
            info,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
