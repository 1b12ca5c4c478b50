//! `ov agents discover`.

use overstory_core::Capability;
use overstory_sessions::AgentState;
use overstory_sessions::discover::discover;

use crate::support::{Project, booting, with_state};

#[test]
fn active_only_by_default_all_includes_completed_and_capability_filters() {
    let p = Project::new();
    let store = p.sessions();
    let wt = p.dir.path().join("wt-b1");
    std::fs::create_dir_all(wt.join(".claude")).unwrap();
    std::fs::write(
        wt.join(".claude/CLAUDE.md"),
        "# Overlay\n## File Scope (exclusive ownership)\n- `src/lib.rs`\n- `tests/`\n## Expertise\n- `x`\n",
    )
    .unwrap();
    let mut b1 = with_state(
        booting("b1", "2026-01-01T00:00:00.000Z"),
        AgentState::Working,
    );
    b1.worktree_path = wt.display().to_string();
    store.upsert(&b1).unwrap();
    let mut s1 = booting("s1", "2026-01-01T00:00:01.000Z");
    s1.capability = "scout".parse().unwrap();
    store.upsert(&s1).unwrap();
    store
        .upsert(&with_state(
            booting("done", "2026-01-01T00:00:02.000Z"),
            AgentState::Completed,
        ))
        .unwrap();
    let names = |v: Vec<overstory_sessions::discover::DiscoveredAgent>| {
        v.into_iter().map(|a| a.agent_name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(discover(&p.layout, None, false).unwrap()),
        ["b1", "s1"]
    );
    assert_eq!(
        names(discover(&p.layout, None, true).unwrap()),
        ["b1", "s1", "done"]
    );
    assert_eq!(
        names(discover(&p.layout, Some(Capability::Scout), false).unwrap()),
        ["s1"]
    );
    let b = discover(&p.layout, Some(Capability::Builder), false).unwrap();
    assert_eq!(b[0].file_scope, ["src/lib.rs", "tests/"]);
    let v = serde_json::to_value(&b[0]).unwrap();
    for key in [
        "agentName",
        "capability",
        "state",
        "taskId",
        "branchName",
        "parentAgent",
        "depth",
        "fileScope",
        "startedAt",
        "lastActivity",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
}
