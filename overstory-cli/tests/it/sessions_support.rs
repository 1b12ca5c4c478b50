//! A temp project for the sessions/events command tests.

use std::path::Path;
use std::process::{Command, Output};

use overstory_core::Layout;
use overstory_sessions::{Session, SessionStore};
use overstory_testkit::TempRepo;

pub struct Project {
    pub repo: TempRepo,
    pub layout: Layout,
}

impl Project {
    pub fn new() -> Self {
        let repo = TempRepo::new();
        let layout = Layout::new(repo.path());
        std::fs::create_dir_all(layout.dir()).unwrap();
        std::fs::write(layout.config(), "project:\n  name: test\n").unwrap();
        Self { repo, layout }
    }

    pub fn path(&self) -> &Path {
        self.repo.path()
    }

    pub fn cmd(&self) -> Command {
        overstory_testkit::ov(Path::new(env!("CARGO_BIN_EXE_ov")), self.path())
    }

    pub fn ov(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    pub fn sessions(&self) -> SessionStore {
        SessionStore::open(&self.layout.sessions_db()).unwrap()
    }

    pub fn add(&self, s: &Session) {
        self.sessions().upsert(s).unwrap();
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}
