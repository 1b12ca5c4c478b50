//! The agents' scripts: JSON for the scripted runtime, plus the shell
//! merge steps of the lead and the coordinator.

use super::*;

impl Demo {
    pub(super) fn script_path(&self, agent: &str) -> PathBuf {
        self.layout.scripts_dir().join(format!("{agent}.json"))
    }

    pub(super) fn write_scripts(&self) -> Result<(), DemoError> {
        let ov = shell_quote(&self.opts.ov_program.to_string_lossy());
        let dir = self.layout.scripts_dir();
        std::fs::create_dir_all(&dir).map_err(|e| FsError::new("create directory", &dir, e))?;

        // Builders: write, edit, commit only their file, report to the lead.
        for b in BUILDERS {
            let branch = format!("overstory/{}/{}", b.name, b.task);
            let commit = format!(
                "git add {} && git commit -q -m {} && git log --oneline -1",
                shell_quote(b.file),
                shell_quote(&format!("{}: add {}", b.name, b.file))
            );
            let mut steps =
                vec![json!({"say": format!("Task {}: I will add {}.", b.task, b.file)})];
            if self.opts.stall_builders {
                steps.push(json!({"stall": null}));
            }
            steps.extend([
                json!({"write": {"path": b.file, "content": format!("{} (draft)\n", b.name)}}),
                json!({"edit": {"path": b.file, "old": format!("{} (draft)", b.name), "new": b.line}}),
                json!({"run": commit}),
                json!({"mail": {
                    "to": LEAD,
                    "subject": format!("{} done", b.task),
                    "body": format!("{} is committed on {branch}.", b.file),
                    "type": "worker_done",
                    "payload": {"taskId": b.task, "branch": branch, "exitCode": 0, "filesModified": [b.file]},
                }}),
            ]);
            let script = json!({"turns": [{
                "steps": steps,
                "result": format!("{} committed; worker_done sent", b.file),
            }]});
            write(&self.script_path(b.name), &pretty(&script))?;
        }

        // The lead's merge step, a shell script so it can wait: it merges
        // only once both builders reported, and only once.
        let lead_branch = format!("overstory/{LEAD}/{LEAD_TASK}");
        let files: Vec<&str> = BUILDERS.iter().map(|b| b.file).collect();
        let mut merge = format!(
            "#!/bin/sh\n# {LEAD}'s merge step (written by ov demo, run by its scripted turns).\n# Mail batching may wake the lead once per builder: merge only when both\n# builders have reported worker_done, and only once.\nov={ov}\ndone=$(\"$ov\" mail list --to {LEAD} --type worker_done --count) || exit 1\nif ! [ \"$done\" -ge {n} ] 2>/dev/null; then\n  echo \"waiting: $done of {n} builders reported worker_done\"\n  exit 0\nfi\nif [ \"$(\"$ov\" mail list --from {LEAD} --type merge_ready --count)\" != 0 ]; then\n  echo \"merge_ready already sent\"\n  exit 0\nfi\nset -e\n",
            n = BUILDERS.len()
        );
        for b in BUILDERS {
            let branch = format!("overstory/{}/{}", b.name, b.task);
            merge.push_str(&format!(
                "git merge -q --no-ff --no-edit -m {} {}\n",
                shell_quote(&format!("{LEAD}: merge {branch}")),
                shell_quote(&branch)
            ));
        }
        let ready = json!({"branch": lead_branch, "taskId": LEAD_TASK, "agentName": LEAD, "filesModified": files});
        let done = json!({"taskId": LEAD_TASK, "branch": lead_branch, "exitCode": 0, "filesModified": files});
        merge.push_str(&format!(
            "\"$ov\" -q mail send --agent {LEAD} --to {COORDINATOR} --type merge_ready --subject {} --body {} --payload {} 2>/dev/null\n",
            shell_quote(&format!("Merge ready: {lead_branch}")),
            shell_quote(&format!("Both builder branches are merged into {lead_branch}.")),
            shell_quote(&ready.to_string()),
        ));
        merge.push_str(&format!(
            "\"$ov\" -q mail send --agent {LEAD} --to {COORDINATOR} --type worker_done --subject {} --body {} --payload {}\n",
            shell_quote(&format!("{LEAD_TASK} done")),
            shell_quote("Task done; merge_ready sent."),
            shell_quote(&done.to_string()),
        ));
        merge.push_str(&format!(
            "echo \"merged {} builder branches into {lead_branch}; merge_ready sent\"\n",
            BUILDERS.len()
        ));
        let merge_path = self
            .layout
            .scripts_dir()
            .join(format!("{LEAD}{MERGE_STEP_SUFFIX}"));
        write(&merge_path, &merge)?;

        // The lead: first turn slings both builders; every later turn runs
        // the merge step (a scripted agent repeats its last turn).
        let mut first = vec![
            json!({"say": format!("Task {LEAD_TASK}: splitting it between {} builders.", BUILDERS.len())}),
        ];
        for b in BUILDERS {
            first.push(json!({"run": format!(
                "{ov} sling {} --capability builder --name {} --parent {LEAD} --runtime scripted --script {} --no-scout-check --json",
                b.task, b.name, shell_quote(&self.script_path(b.name).to_string_lossy())
            )}));
        }
        let lead = json!({"turns": [
            {"steps": first, "result": "builders dispatched; waiting for worker_done"},
            {"steps": [
                {"say": "Checking my builders' reports."},
                {"run": format!("sh {}", shell_quote(&merge_path.to_string_lossy()))},
            ], "result": "merge step done"},
        ]});
        write(&self.script_path(LEAD), &pretty(&lead))?;

        // The coordinator's merge step: once the lead's merge_ready is in,
        // land its branch through the merge queue (`ov merge`: a temporary
        // worktree, the tiers, the project's gates, then `main` moves and
        // `merged` mail goes back to the lead). Idempotent: a branch already
        // merged is reported as such.
        let coord_merge = format!(
            "#!/bin/sh\n# The coordinator's merge step (written by ov demo, run by its scripted turns).\nov={ov}\nready=$(\"$ov\" mail list --to {COORDINATOR} --from {LEAD} --type merge_ready --count) || exit 1\nif ! [ \"$ready\" -ge 1 ] 2>/dev/null; then\n  echo \"waiting for merge_ready from {LEAD}\"\n  exit 0\nfi\nexec \"$ov\" merge --branch {b}\n",
            b = shell_quote(&lead_branch),
        );
        let coord_merge_path = self
            .layout
            .scripts_dir()
            .join(format!("{COORDINATOR}{MERGE_STEP_SUFFIX}"));
        write(&coord_merge_path, &coord_merge)?;

        // The coordinator, one long-lived process: its first turn dispatches
        // the lead; every later turn (one per batch of mail) runs its merge
        // step.
        let coordinator = json!({"turns": [
            {"steps": [
                {"say": format!("Dispatching a lead for {LEAD_TASK}.")},
                {"run": format!(
                    "{ov} sling {LEAD_TASK} --capability lead --name {LEAD} --parent {COORDINATOR} --runtime scripted --script {} --json",
                    shell_quote(&self.script_path(LEAD).to_string_lossy())
                )},
            ], "result": "lead dispatched; waiting for merge_ready"},
            {"steps": [
                {"say": "Reading my mail."},
                {"run": format!("sh {}", shell_quote(&coord_merge_path.to_string_lossy()))},
            ], "result": "merge step done"},
        ]});
        write(&self.script_path(COORDINATOR), &pretty(&coordinator))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_script_parses_and_names_the_ov_program() {
        let d = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let opts = DemoOptions::new("/opt/o v/bin/ov".into());
        let demo = Demo::new(&opts, d.path(), Instant::now());
        demo.write_scripts().unwrap_or_else(|e| panic!("{e}"));
        for agent in [COORDINATOR, LEAD, BUILDERS[0].name, BUILDERS[1].name] {
            let path = demo.script_path(agent);
            let script =
                overstory_runtime::scripted::Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!script.turn(0).steps.is_empty(), "{agent}");
        }
        let lead = std::fs::read_to_string(demo.script_path(LEAD)).unwrap_or_default();
        assert!(
            lead.contains("'/opt/o v/bin/ov' sling demo-1-hello"),
            "{lead}"
        );
        let merge = std::fs::read_to_string(demo.layout.scripts_dir().join("lead-1-merge.sh"))
            .unwrap_or_default();
        assert!(merge.contains("--type worker_done --count"), "{merge}");
        assert!(merge.contains("git merge -q --no-ff"), "{merge}");
        let coord = std::fs::read_to_string(demo.layout.scripts_dir().join("coordinator-merge.sh"))
            .unwrap_or_default();
        assert!(
            coord.contains("exec \"$ov\" merge --branch 'overstory/lead-1/demo-1'")
                && !coord.contains("git merge"),
            "{coord}"
        );
    }
}
