//! The fleet embedded in an async program: `sling` called from inside a
//! tokio runtime, as an embedder's `#[tokio::main]` would.

use overstory_core::init::{InitOptions, init};
use overstory_core::{Config, Layout};
use overstory_fleet::{SlingRequest, sling};
use overstory_sessions::SessionStore;
use overstory_testkit::TempRepo;

#[tokio::test]
async fn sling_works_from_inside_a_tokio_runtime() {
    let repo = TempRepo::new();
    let root = repo.path().canonicalize().unwrap();
    init(&root, &InitOptions::default()).unwrap();
    let layout = Layout::new(&root);
    let config = Config::load(&root).unwrap().config;
    // `true` stands in for `ov`: the detached dispatcher it starts exits at
    // once, so no turn runs; sling itself is what this test is about.
    let mut req = SlingRequest::new(
        layout.clone(),
        config,
        "task-embed".parse().unwrap(),
        "/bin/true".into(),
    );
    req.name = Some("builder-embed".parse().unwrap());
    req.runtime = Some("scripted".into());
    req.force_hierarchy = true;

    let report = sling(&req).unwrap();

    assert_eq!(report.agent_name, "builder-embed");
    assert!(report.headless);
    let session = SessionStore::open(&layout.sessions_db())
        .unwrap()
        .get("builder-embed")
        .unwrap()
        .expect("the agent has a session row");
    assert_eq!(session.task_str(), "task-embed");
    let worktree = std::path::Path::new(&report.worktree);
    assert!(
        worktree.join(".claude/settings.local.json").is_file(),
        "the scripted runtime's config was deployed"
    );
}
