//! Identifiers: random ids for mail and sessions, time-based ids for runs.

use crate::clock;

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Returns `n` characters from `[a-z0-9]`, each chosen from a
/// cryptographically random byte.
pub fn random_alnum(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS random source is unavailable: fall back to time and a counter,
        // which is still unique within this process.
        let seed = clock::now_millis().unsigned_abs() ^ u64::from(std::process::id()) << 32;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 * 7) as u8).wrapping_add(i as u8);
        }
    }
    bytes
        .into_iter()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

/// Returns a new mail id: `msg-` followed by 12 characters from `[a-z0-9]`.
pub fn message_id() -> String {
    format!("msg-{}", random_alnum(12))
}

/// Returns a run id for a time in milliseconds: `run-` and the RFC 3339 time
/// with `:` and `.` replaced by `-` (`run-2026-03-05T14-52-26-089Z`).
pub fn run_id_at(ms: i64) -> String {
    let ts = clock::format_millis(ms).replace([':', '.'], "-");
    format!("run-{ts}")
}

/// Returns a run id for the current time.
pub fn run_id() -> String {
    run_id_at(clock::now_millis())
}

/// Returns a random (version 4) UUID in its usual hyphenated lower-case form
/// (`8-4-4-4-12` hex digits), e.g. for correlation ids.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        for (i, c) in random_alnum(16).bytes().enumerate() {
            b[i] = c;
        }
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Returns a new session id: `session-<ms>-<8 random>`.
pub fn session_id(agent: &str) -> String {
    format!(
        "session-{}-{agent}-{}",
        clock::now_millis(),
        random_alnum(6)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_the_version_4_shape() {
        let u = uuid_v4();
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(u.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_ne!(u, uuid_v4());
    }

    #[test]
    fn message_ids_have_the_original_shape() {
        let id = message_id();
        assert_eq!(id.len(), 16);
        assert!(id.starts_with("msg-"));
        assert!(
            id[4..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_ne!(message_id(), message_id());
    }

    #[test]
    fn run_ids_replace_colons_and_dots() {
        assert_eq!(run_id_at(1_772_722_346_089), "run-2026-03-05T14-52-26-089Z");
    }
}
