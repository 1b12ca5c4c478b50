//! Category `databases`: each store checks its own file (see
//! [`overstory_core::doctor::database_findings`]); `merge-queue.db` is
//! checked by the `merge` category.

use overstory_core::doctor::Finding;

use super::Probe;

pub(super) fn findings(p: &Probe<'_>) -> Vec<Finding> {
    let mut out = overstory_mail::doctor::findings(p.layout);
    out.extend(overstory_sessions::doctor::findings(p.layout));
    out.extend(overstory_core::doctor::events_findings(p.layout));
    out
}
