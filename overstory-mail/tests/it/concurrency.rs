//! Concurrent checkers on separate connections never share a message.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use overstory_mail::{ListFilter, NewMessage};

use crate::support::{Project, msg, name};

#[test]
fn concurrent_checks_never_deliver_a_message_twice() {
    let p = Project::new();
    let writers = 4;
    let per_writer = 250;
    let checkers = 4;
    let barrier = Arc::new(Barrier::new(writers + checkers));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let path = p.layout.mail_db();
    let mut handles = Vec::new();
    for w in 0..writers {
        let (barrier, path, done) = (barrier.clone(), path.clone(), done.clone());
        handles.push(std::thread::spawn(move || {
            let s = overstory_mail::MailStore::open(&path).unwrap();
            barrier.wait();
            for i in 0..per_writer {
                s.insert(&NewMessage {
                    body: format!("{w}-{i}"),
                    ..msg("w", "inbox", "s")
                })
                .unwrap();
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Vec::new()
        }));
    }
    for _ in 0..checkers {
        let (barrier, layout, done) = (barrier.clone(), p.layout.clone(), done.clone());
        handles.push(std::thread::spawn(move || {
            let c = overstory_mail::MailClient::open(&layout).unwrap();
            barrier.wait();
            let mut got = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst) == writers;
                got.extend(
                    c.check(&name("inbox"))
                        .unwrap()
                        .messages
                        .into_iter()
                        .map(|m| m.id),
                );
                if finished {
                    return got;
                }
            }
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a message was delivered twice");
    let s = p.store();
    assert_eq!(
        s.list(&ListFilter::default()).unwrap().len(),
        writers * per_writer
    );
    assert_eq!(
        all.len(),
        writers * per_writer,
        "every message was delivered exactly once"
    );
}
