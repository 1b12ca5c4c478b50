//! Running one headless Claude turn against the mock API.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use overstory_runtime::{
    AgentRuntime, ClaudeRuntime, DirectSpawnOptions, ParseOptions, RuntimeEvent, encode_user_turn,
};
use overstory_testkit::mock_api::MockApi;
use tokio::io::AsyncWriteExt as _;

/// What one turn produced.
pub struct TurnOutput {
    pub events: Vec<RuntimeEvent>,
    pub code: Option<i32>,
    pub stderr: String,
    pub argv: Vec<String>,
}

impl TurnOutput {
    pub fn kinds(&self) -> Vec<&'static str> {
        self.events.iter().map(RuntimeEvent::kind).collect()
    }

    pub fn session_ids(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| e.session_id().map(str::to_owned))
            .collect()
    }

    pub fn result(&self) -> &RuntimeEvent {
        self.events
            .iter()
            .rev()
            .find(|e| e.kind() == "result")
            .unwrap_or_else(|| {
                panic!(
                    "no result event; events: {:?}\nstderr: {}",
                    self.events, self.stderr
                )
            })
    }
}

/// Runs one headless turn of the real `claude` in `cwd`.
pub async fn claude_turn(
    claude: &Path,
    mock: &MockApi,
    home: &Path,
    cwd: &Path,
    prompt: &str,
    resume: Option<&str>,
    extra_env: &[(&str, String)],
) -> TurnOutput {
    run(
        claude,
        mock,
        home,
        cwd,
        prompt,
        resume,
        extra_env,
        Vec::new(),
    )
    .await
}

/// Runs one turn with `--disallowedTools`.
pub async fn claude_turn_with(
    claude: &Path,
    mock: &MockApi,
    home: &Path,
    cwd: &Path,
    prompt: &str,
    disallowed: Vec<String>,
) -> TurnOutput {
    run(claude, mock, home, cwd, prompt, None, &[], disallowed).await
}

#[allow(clippy::too_many_arguments)]
async fn run(
    claude: &Path,
    mock: &MockApi,
    home: &Path,
    cwd: &Path,
    prompt: &str,
    resume: Option<&str>,
    extra_env: &[(&str, String)],
    disallowed: Vec<String>,
) -> TurnOutput {
    let runtime = ClaudeRuntime::new().with_program(claude);
    let mut opts = DirectSpawnOptions::new(cwd);
    opts.disallowed_tools = disallowed;
    opts.model = Some("sonnet".into());
    opts.resume_session_id = resume.map(str::to_owned);
    for (k, v) in mock.claude_env(home) {
        opts.env.insert(k, v);
    }
    for (k, v) in extra_env {
        opts.env.insert((*k).to_owned(), v.clone());
    }
    let spec = runtime.direct_spawn(&opts).unwrap();
    let argv = spec.argv_strings();
    let mut cmd = spec.tokio_command();
    cmd.env_remove("ANTHROPIC_AUTH_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let pid = child.id().unwrap() as i32;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(encode_user_turn(prompt).as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut reader = runtime
        .event_reader(Box::new(stdout), ParseOptions::default())
        .unwrap();
    let work = async {
        let mut events = Vec::new();
        while let Some(ev) = reader.next().await.unwrap() {
            events.push(ev);
        }
        let mut err = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err)
            .await
            .ok();
        let status = child.wait().await.unwrap();
        (events, status.code(), err)
    };
    match tokio::time::timeout(Duration::from_secs(120), work).await {
        Ok((events, code, stderr)) => TurnOutput {
            events,
            code,
            stderr,
            argv,
        },
        Err(_) => {
            let _ = overstory_core::process::signal_group(pid, overstory_core::process::Sig::Kill);
            panic!(
                "claude turn timed out; unknown requests: {:?}",
                mock.unknown_requests()
            );
        }
    }
}
