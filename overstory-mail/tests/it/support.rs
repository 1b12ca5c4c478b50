//! Shared helpers: a temp project with `.overstory/`, names, messages.

use overstory_core::{AgentName, Layout};
use overstory_mail::{Address, MailClient, MailStore, NewMessage, SendRequest};

pub struct Project {
    pub _dir: tempfile::TempDir,
    pub layout: Layout,
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".overstory")).unwrap();
        let layout = Layout::new(dir.path());
        Self { _dir: dir, layout }
    }

    pub fn dir_path(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn store(&self) -> MailStore {
        MailStore::open(self.layout.mail_db()).unwrap()
    }

    pub fn client(&self) -> MailClient {
        MailClient::open(&self.layout).unwrap()
    }
}

pub fn name(s: &str) -> AgentName {
    AgentName::new(s).unwrap()
}

pub fn msg(from: &str, to: &str, subject: &str) -> NewMessage {
    NewMessage {
        from: from.into(),
        to: to.into(),
        subject: subject.into(),
        body: format!("body of {subject}"),
        ..NewMessage::default()
    }
}

pub fn req(from: &str, to: &str, subject: &str) -> SendRequest {
    SendRequest::new(
        name(from),
        Address::parse(to).unwrap(),
        subject,
        format!("body of {subject}"),
    )
}

/// Waits until the wall clock has moved past the last stored millisecond, so
/// `created_at` strictly increases between two inserts.
pub fn next_millisecond() {
    let start = overstory_core::clock::now_millis();
    while overstory_core::clock::now_millis() == start {
        std::hint::spin_loop();
    }
}
