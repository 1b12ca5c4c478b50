//! Group addresses (24–28) and `deliver`: broadcast, the terminal-recipient
//! guard (49) and markers per recipient (47).

use overstory_mail::{
    Delivery, EmptyGroupReason, ListFilter, MailError, MessageType, Priority, Roster, RosterEntry,
    is_group_address, resolve_group,
};

use crate::support::{Project, req};

fn sessions() -> Roster {
    Roster::new(vec![
        RosterEntry::new("orchestrator", "orchestrator", "working"),
        RosterEntry::new("builder-1", "builder", "working"),
        RosterEntry::new("scout-1", "scout", "booting"),
        RosterEntry::new("builder-2", "builder", "stalled"),
        RosterEntry::new("builder-old", "builder", "completed"),
        RosterEntry::new("reviewer-z", "reviewer", "zombie"),
    ])
}

#[test]
fn at_prefixed_addresses_in_any_case_are_groups() {
    for g in ["@all", "@ALL", "@Builders", "@x"] {
        assert!(is_group_address(g));
    }
    for n in ["all", "builder-1", ""] {
        assert!(!is_group_address(n));
    }
}

#[test]
fn all_is_every_active_session_but_the_sender_in_session_order_case_insensitive() {
    let r = sessions();
    assert_eq!(
        resolve_group("@all", "orchestrator", &r).unwrap(),
        ["builder-1", "scout-1", "builder-2"]
    );
    assert_eq!(
        resolve_group("@ALL", "builder-1", &r).unwrap(),
        ["orchestrator", "scout-1", "builder-2"]
    );
}

#[test]
fn zero_recipients_is_an_error_for_sender_only_empty_roster_and_capability_case_mismatch() {
    let only = Roster::new(vec![RosterEntry::new("me", "builder", "working")]);
    let e = resolve_group("@all", "me", &only).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Group address \"@all\" resolved to zero recipients (sender excluded)"
    );
    assert!(matches!(
        e,
        MailError::EmptyGroup {
            reason: EmptyGroupReason::SenderExcluded,
            ..
        }
    ));
    assert!(
        resolve_group("@all", "x", &Roster::default())
            .unwrap_err()
            .to_string()
            .contains("resolved to zero recipients")
    );
    let odd = Roster::new(vec![RosterEntry::new("b", "Builder", "working")]);
    let e = resolve_group("@builders", "x", &odd).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Group address \"@builders\" resolved to zero recipients (no active builder agents)"
    );
    assert_eq!(e.code(), "GROUP_ERROR");
}

#[test]
fn singular_and_plural_aliases_resolve_identically_for_all_eight_capabilities() {
    let caps = [
        "builder",
        "scout",
        "reviewer",
        "lead",
        "merger",
        "supervisor",
        "coordinator",
        "monitor",
    ];
    let roster = Roster::new(
        caps.iter()
            .flat_map(|c| {
                [
                    RosterEntry::new(format!("{c}-a"), *c, "working"),
                    RosterEntry::new(format!("{c}-b"), *c, "working"),
                ]
            })
            .collect(),
    );
    for c in caps {
        let one = resolve_group(&format!("@{c}"), &format!("{c}-a"), &roster).unwrap();
        let many = resolve_group(&format!("@{c}s"), &format!("{c}-a"), &roster).unwrap();
        assert_eq!(one, many);
        assert_eq!(one, [format!("{c}-b")], "sender excluded for {c}");
        let lonely = Roster::new(vec![RosterEntry::new("x", "other", "working")]);
        assert!(resolve_group(&format!("@{c}s"), "y", &lonely).is_err());
    }
}

#[test]
fn unknown_group_lists_the_valid_groups() {
    let e = resolve_group("@wizards", "x", &sessions()).unwrap_err();
    let s = e.to_string();
    assert!(
        s.starts_with("Unknown group address: \"@wizards\". Valid groups: @all, "),
        "{s}"
    );
    assert!(s.contains("@monitors"));
    assert!(resolve_group("@orchestrators", "x", &sessions()).is_err());
}

#[test]
fn broadcast_stores_one_row_per_recipient_with_a_marker_each_when_urgent() {
    let p = Project::new();
    let mut c = p.client();
    let d: Delivery = c
        .deliver(
            &req("orchestrator", "@builders", "Heads up").priority(Priority::Urgent),
            &sessions(),
        )
        .unwrap();
    assert!(d.broadcast);
    let to: Vec<_> = d.sent.iter().map(|s| s.message.to.as_str()).collect();
    assert_eq!(to, ["builder-1", "builder-2"]);
    assert!(d.sent.iter().all(|s| {
        s.nudge
            .as_ref()
            .is_some_and(|n| n.reason == "urgent priority")
    }));
    for agent in ["builder-1", "builder-2"] {
        assert!(
            p.layout
                .pending_nudge(&crate::support::name(agent))
                .is_file()
        );
    }
    assert_eq!(c.list(&ListFilter::default()).unwrap().len(), 2);
    let e = c
        .deliver(
            &req("orchestrator", "@all", "typed error").kind(MessageType::Error),
            &sessions(),
        )
        .unwrap();
    assert!(
        e.sent
            .iter()
            .all(|s| s.nudge.as_ref().is_some_and(|n| n.reason == "error"))
    );
}

#[test]
fn sending_to_a_completed_or_zombie_agent_is_refused_and_stores_nothing() {
    let p = Project::new();
    let mut c = p.client();
    for (who, state) in [("builder-old", "completed"), ("reviewer-z", "zombie")] {
        let e = c.deliver(&req("lead", who, "s"), &sessions()).unwrap_err();
        assert_eq!(e.code(), "MAIL_ERROR");
        let s = e.to_string();
        assert!(
            s.contains(who) && s.contains(state) && s.contains("could never be delivered"),
            "{s}"
        );
    }
    assert!(c.list(&ListFilter::default()).unwrap().is_empty());
    // No session row, or a working one, is fine.
    c.deliver(&req("lead", "orchestrator", "s"), &Roster::default())
        .unwrap();
    c.deliver(&req("lead", "builder-1", "s"), &sessions())
        .unwrap();
    assert_eq!(c.list(&ListFilter::default()).unwrap().len(), 2);
}

#[test]
fn unknown_direct_recipient_is_flagged_but_role_names_are_not() {
    let p = Project::new();
    let mut c = p.client();
    assert!(
        c.deliver(&req("lead", "buidler-1", "typo"), &sessions())
            .unwrap()
            .unknown_recipient
    );
    assert!(
        !c.deliver(&req("lead", "operator", "s"), &sessions())
            .unwrap()
            .unknown_recipient
    );
    assert!(
        !c.deliver(&req("lead", "builder-1", "s"), &sessions())
            .unwrap()
            .unknown_recipient
    );
}

#[test]
fn merge_ready_reports_the_senders_review_coverage() {
    let p = Project::new();
    let mut c = p.client();
    let roster = Roster::new(vec![
        RosterEntry::new("b1", "builder", "completed").with_parent("lead-1"),
        RosterEntry::new("b2", "builder", "working").with_parent("lead-1"),
        RosterEntry::new("r1", "reviewer", "completed").with_parent("lead-1"),
        RosterEntry::new("b9", "builder", "working").with_parent("lead-2"),
    ]);
    let payload = r#"{"branch":"b","taskId":"t","agentName":"lead-1","filesModified":[]}"#;
    let d = c
        .deliver(
            &req("lead-1", "merger", "ready")
                .kind(MessageType::MergeReady)
                .payload(payload),
            &roster,
        )
        .unwrap();
    let cov = d.review_coverage.unwrap();
    assert_eq!((cov.builders, cov.reviewers), (2, 1));
    assert!(cov.is_partial() && !cov.is_unreviewed());
    let d = c
        .deliver(&req("lead-1", "merger", "plain"), &roster)
        .unwrap();
    assert!(d.review_coverage.is_none());
}
