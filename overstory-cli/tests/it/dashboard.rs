//! `ov dashboard` in a real terminal: tmux on a private socket drives the
//! binary, `capture-pane` reads what it drew, `send-keys` types.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use overstory_mail::{MailStore, NewMessage};
use overstory_sessions::{AgentState, Session};

use crate::sessions_support::{Project, stderr, stdout};

/// How long a test waits for the dashboard to show something.
const WAIT: Duration = Duration::from_secs(30);

/// A tmux server on a socket of its own, killed when dropped so no server
/// or dashboard outlives the test.
struct Tmux {
    socket: String,
    /// The socket file, which `kill-server` leaves behind.
    socket_path: Option<std::path::PathBuf>,
}

impl Tmux {
    /// Starts a 120×40 session running `script` in `dir`; `None` (after a
    /// notice) when tmux is not installed.
    fn start(test: &str, dir: &Path, script: &Path) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            overstory_testkit::skip_notice(&format!("SKIPPED {test}: tmux is not installed"));
            return None;
        }
        let mut t = Self {
            socket: format!("ov-dash-{}-{test}", std::process::id()),
            socket_path: None,
        };
        let dir = dir.to_str().unwrap();
        let script = script.to_str().unwrap();
        let o = t.run(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            dir,
            "sh",
            script,
        ]);
        assert!(o.status.success(), "tmux new-session: {}", stderr(&o));
        t.socket_path = Some(t.pane("#{socket_path}").into());
        Some(t)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        stdout(&self.run(&["capture-pane", "-p"]))
    }

    /// Returns a pane format value (`#{alternate_on}`, `#{cursor_flag}`).
    fn pane(&self, format: &str) -> String {
        stdout(&self.run(&["display-message", "-p", format]))
            .trim()
            .to_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        let o = self.run(&args);
        assert!(o.status.success(), "tmux send-keys: {}", stderr(&o));
    }

    #[track_caller]
    fn wait_for(&self, text: &str) {
        let mut last = String::new();
        let seen = overstory_testkit::holds_within(WAIT, || {
            last = self.screen();
            last.contains(text)
        });
        assert!(seen, "{text:?} never appeared; the pane shows:\n{last}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A project with two active agents, one finished agent and one unread
/// message, and a script that runs the dashboard (its pid in `ov.pid`),
/// prints how it exited and leaves a shell.
fn project() -> (Project, std::path::PathBuf) {
    let p = Project::new();
    let mut lead = Session::new("lead-7".parse().unwrap(), "lead".parse().unwrap());
    lead.state = AgentState::Working;
    lead.task_id = Some("task-77".parse().unwrap());
    p.add(&lead);
    let mut builder = Session::new("builder-7".parse().unwrap(), "builder".parse().unwrap());
    builder.parent_agent = Some("lead-7".parse().unwrap());
    p.add(&builder);
    let mut done = Session::new("scout-done".parse().unwrap(), "scout".parse().unwrap());
    done.state = AgentState::Completed;
    p.add(&done);
    MailStore::open(p.layout.mail_db())
        .unwrap()
        .insert(&NewMessage {
            from: "lead-7".into(),
            to: "builder-7".into(),
            subject: "first task".into(),
            body: "b".into(),
            ..Default::default()
        })
        .unwrap();
    let script = p.path().join("run-dashboard.sh");
    std::fs::write(
        &script,
        format!(
            "unset OVERSTORY_PROJECT_ROOT OVERSTORY_AGENT_NAME\n\
             export NO_COLOR=1 PS1='shell$ '\n\
             sh -c 'echo $$ > ov.pid; exec \"$@\"' sh '{}' dashboard --interval 200\n\
             echo \"ov exited $?\"\n\
             exec sh\n",
            crate::ov_bin().display()
        ),
    )
    .unwrap();
    (p, script)
}

#[track_caller]
fn assert_restored(t: &Tmux) {
    t.wait_for("ov exited 0");
    assert_eq!(
        t.pane("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(t.pane("#{cursor_flag}"), "1", "the cursor is still hidden");
    // Raw mode is off: the shell's line discipline echoes and reads lines.
    t.keys(&["echo typed-after", "Enter"]);
    t.wait_for("\ntyped-after");
}

#[test]
fn dashboard_shows_agents_follows_mail_and_quits_on_q() {
    let (p, script) = project();
    let Some(t) = Tmux::start("q", p.path(), &script) else {
        return;
    };
    t.wait_for("builder-7");
    let screen = t.screen();
    for want in ["lead-7", "task-77", "Mail (1 unread)", "first task"] {
        assert!(screen.contains(want), "missing {want:?}:\n{screen}");
    }
    assert!(
        !screen.contains("scout-done"),
        "finished agent shown:\n{screen}"
    );
    assert_eq!(t.pane("#{alternate_on}"), "1");

    let sent = p.ov(&[
        "mail",
        "send",
        "--to",
        "builder-7",
        "--subject",
        "second task",
        "--body",
        "go",
    ]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    t.wait_for("Mail (2 unread)");
    t.wait_for("second task");

    // Down to builder-7, Enter: its detail; Esc: back to the panes.
    t.keys(&["Down", "Enter"]);
    t.wait_for("Agent builder-7");
    t.keys(&["Escape"]);
    t.wait_for("Agents (2), 1 finished hidden");

    t.keys(&["q"]);
    assert_restored(&t);
}

#[test]
fn all_flag_lists_finished_agents_and_ctrl_c_quits() {
    let (p, script) = project();
    let text = std::fs::read_to_string(&script).unwrap();
    std::fs::write(
        &script,
        text.replace("--interval 200", "--interval 200 --all"),
    )
    .unwrap();
    let Some(t) = Tmux::start("all", p.path(), &script) else {
        return;
    };
    t.wait_for("scout-done");
    t.keys(&["C-c"]);
    assert_restored(&t);
}

#[test]
fn sigterm_restores_the_terminal() {
    let (p, script) = project();
    let Some(t) = Tmux::start("term", p.path(), &script) else {
        return;
    };
    t.wait_for("builder-7");
    let pid = std::fs::read_to_string(p.path().join("ov.pid")).unwrap();
    let o = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .output()
        .unwrap();
    assert!(o.status.success(), "kill: {}", stderr(&o));
    assert_restored(&t);
}

#[test]
fn interval_below_100_is_rejected() {
    let p = Project::new();
    let o = p.ov(&["dashboard", "--interval", "50"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--interval must be at least 100 (got 50)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn without_a_terminal_it_says_what_to_use_instead() {
    let p = Project::new();
    let o = p.ov(&["dashboard"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("ov dashboard needs a terminal"), "{err}");
    assert!(err.contains("ov status"), "{err}");
    assert!(!p.layout.events_db().exists());
}
