//! What `ov doctor` checks of the mail bus: `mail.db` is readable, intact,
//! in WAL mode and holds the `messages` table with every column.

use overstory_core::Layout;
use overstory_core::doctor::{Finding, database_findings};

/// The `databases` findings for `mail.db`.
pub fn findings(layout: &Layout) -> Vec<Finding> {
    database_findings(
        "databases",
        "mail.db",
        &layout.mail_db(),
        crate::store::MIGRATIONS,
    )
}
