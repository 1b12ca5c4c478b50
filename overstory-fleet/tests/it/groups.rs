//! Groups: name resolution, auto-close, reopening and concurrent writers.

use std::collections::HashMap;

use overstory_core::Layout;
use overstory_fleet::FleetError;
use overstory_fleet::groups::{Group, Groups, IssueLookup, NoValidation};
use overstory_mail::{ListFilter, MailStore};

struct Statuses(HashMap<&'static str, &'static str>);

impl IssueLookup for Statuses {
    fn status(&self, id: &str) -> Option<String> {
        self.0.get(id).map(|s| (*s).to_owned())
    }
}

fn project() -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    std::fs::create_dir_all(layout.dir()).unwrap();
    (dir, layout)
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn write_groups(layout: &Layout, groups: &[Group]) {
    std::fs::write(layout.groups(), serde_json::to_string(groups).unwrap()).unwrap();
}

fn group(id: &str, name: &str, status: &str) -> Group {
    Group {
        id: id.into(),
        name: name.into(),
        member_issue_ids: ids(&["a"]),
        status: status.into(),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        completed_at: None,
    }
}

#[test]
fn lookup_prefers_id_then_unique_name_then_single_active() {
    let (_d, layout) = project();
    write_groups(
        &layout,
        &[
            group("group-00000001", "wave", "completed"),
            group("group-00000002", "wave", "active"),
            group("group-00000003", "solo", "completed"),
            group("group-00000004", "twin", "active"),
            group("group-00000005", "twin", "active"),
            group("group-00000006", "group-00000004", "active"),
        ],
    );
    let g = Groups::new(&layout);
    assert_eq!(g.resolve("group-00000001").unwrap().id, "group-00000001");
    assert_eq!(g.resolve("solo").unwrap().id, "group-00000003");
    assert_eq!(g.resolve("wave").unwrap().id, "group-00000002");
    // An id beats a group named like that id.
    assert_eq!(g.resolve("group-00000004").unwrap().id, "group-00000004");
    let err = g.resolve("twin").unwrap_err();
    assert_eq!(err.code(), "GROUP_ERROR");
    let msg = err.to_string();
    assert!(
        msg.contains("ambiguous")
            && msg.contains("group-00000004")
            && msg.contains("group-00000005"),
        "{msg}"
    );
    assert!(msg.contains("Use the group ID"));
    assert!(matches!(g.resolve("none"), Err(FleetError::Group { .. })));
}

#[test]
fn malformed_file_reads_as_empty() {
    let (_d, layout) = project();
    std::fs::write(layout.groups(), "{not json").unwrap();
    let g = Groups::new(&layout);
    assert!(g.list().is_empty());
    g.create("w", &ids(&["a"]), &NoValidation).unwrap();
    assert_eq!(g.list().len(), 1);
}

#[test]
fn status_auto_closes_when_all_members_are_closed_and_mails_the_coordinator() {
    let (_d, layout) = project();
    overstory_mail::MailClient::open(&layout).unwrap();
    let g = Groups::new(&layout);
    let created = g.create("wave", &ids(&["a", "b"]), &NoValidation).unwrap();
    let half = Statuses(HashMap::from([("a", "closed"), ("b", "in_progress")]));
    let st = g.status("wave", &half).unwrap();
    assert_eq!((st.completed, st.in_progress, st.open), (1, 1, 0));
    assert!(!st.auto_closed);
    assert_eq!(st.group.status, "active");

    let all = Statuses(HashMap::from([("a", "closed"), ("b", "closed")]));
    let st = g.status(&created.id, &all).unwrap();
    assert!(st.auto_closed);
    assert_eq!(st.group.status, "completed");
    assert!(st.group.completed_at.is_some());
    let mail = MailStore::open(layout.mail_db()).unwrap();
    let msgs = mail
        .list(&ListFilter {
            to: Some("coordinator".into()),
            ..ListFilter::default()
        })
        .unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].subject, "Group auto-closed: wave");
    assert_eq!(msgs[0].from, "system");

    // Adding reopens it.
    let g2 = g.add("wave", &ids(&["c"]), &NoValidation).unwrap();
    assert_eq!(g2.status, "active");
    assert_eq!(g2.completed_at, None);
}

#[test]
fn tracker_validation_happens_before_duplicate_checks() {
    let (_d, layout) = project();
    let g = Groups::new(&layout);
    let known = Statuses(HashMap::from([("a", "open")]));
    let err = g.create("w", &ids(&["a", "zz"]), &known).unwrap_err();
    assert!(
        err.to_string()
            .contains("Issue \"zz\" not found in tracker")
    );
    let err = g.create("w", &ids(&["a", "a"]), &known).unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
}

#[test]
fn concurrent_creates_never_lose_a_group() {
    let (_d, layout) = project();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let layout = layout.clone();
            std::thread::spawn(move || {
                Groups::new(&layout)
                    .create(&format!("g{i}"), &[format!("t-{i}")], &NoValidation)
                    .unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(Groups::new(&layout).list().len(), 8);
}
