//! Landing 20 clean branches in one `merge_pending` run (what `ov merge
//! --all` does after reading its mail): one worktree, 20 merges, one target
//! move.
#![allow(clippy::unwrap_used, clippy::disallowed_methods, reason = "bench")]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use overstory_core::Layout;
use overstory_merge::{Engine, EnqueueRequest, MergeOptions, MergeQueue};
use overstory_testkit::TempRepo;

const BRANCHES: usize = 20;

fn setup() -> (TempRepo, Layout) {
    let repo = TempRepo::new();
    for i in 0..BRANCHES {
        let b = format!("overstory/builder-{i}/task-{i}");
        repo.git(&["checkout", "-q", "-b", &b, "main"]);
        let f = format!("file-{i}.txt");
        std::fs::write(repo.path().join(&f), format!("work {i}\n")).unwrap();
        repo.git(&["add", &f]);
        repo.git(&["commit", "-q", "-m", &b]);
    }
    repo.git(&["checkout", "-q", "main"]);
    let layout = Layout::new(repo.path());
    std::fs::create_dir_all(layout.dir()).unwrap();
    std::fs::write(layout.dir().join(".gitignore"), "*\n").unwrap();
    let mut q = MergeQueue::open_in(&layout).unwrap();
    for i in 0..BRANCHES {
        q.enqueue(&EnqueueRequest {
            branch_name: format!("overstory/builder-{i}/task-{i}"),
            task_id: format!("task-{i}"),
            agent_name: format!("builder-{i}"),
            files_modified: vec![format!("file-{i}.txt")],
        })
        .unwrap();
    }
    (repo, layout)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("merge");
    g.sample_size(10);
    g.bench_function("merge_pending_20_clean_branches", |b| {
        b.iter_batched(
            setup,
            |(repo, layout)| {
                let q = MergeQueue::open_in(&layout).unwrap();
                let reports = Engine::new(&layout, MergeOptions::new("main"))
                    .merge_pending(&q)
                    .unwrap();
                assert_eq!(reports.iter().filter(|r| r.success).count(), BRANCHES);
                drop(repo);
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
