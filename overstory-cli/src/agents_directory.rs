//! The agents known to the project, as the mail bus needs them.

use overstory_core::Layout;
use overstory_mail::Roster;

use crate::error::CliError;

/// Reads every session of the project as a mail roster.
pub fn roster(layout: &Layout) -> Result<Roster, CliError> {
    Ok(overstory_turn::mailroom::roster(layout)?)
}
