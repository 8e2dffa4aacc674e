//! Container names: validation and generated `adjective_noun` names.
use rand::seq::SliceRandom;

use crate::{EngineError, Result};

const ADJECTIVES: &[&str] = &[
    "admiring",
    "agile",
    "amazing",
    "awesome",
    "blissful",
    "bold",
    "brave",
    "calm",
    "charming",
    "clever",
    "cool",
    "crazy",
    "dazzling",
    "determined",
    "eager",
    "ecstatic",
    "elegant",
    "epic",
    "fervent",
    "festive",
    "focused",
    "friendly",
    "gallant",
    "gifted",
    "gracious",
    "happy",
    "hopeful",
    "inspiring",
    "jolly",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "optimistic",
    "peaceful",
    "pensive",
    "practical",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "sweet",
    "tender",
    "trusting",
    "upbeat",
    "vibrant",
    "vigilant",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
];

const NOUNS: &[&str] = &[
    "agnesi",
    "albattani",
    "archimedes",
    "babbage",
    "bardeen",
    "bartik",
    "bell",
    "bohr",
    "boole",
    "borg",
    "bose",
    "cerf",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euclid",
    "euler",
    "fermat",
    "feynman",
    "galileo",
    "gauss",
    "goldberg",
    "hamilton",
    "hawking",
    "hopper",
    "hypatia",
    "jang",
    "johnson",
    "kalam",
    "kepler",
    "knuth",
    "lamport",
    "leakey",
    "liskov",
    "lovelace",
    "mccarthy",
    "meitner",
    "mirzakhani",
    "morse",
    "newton",
    "noether",
    "pascal",
    "pike",
    "poincare",
    "ritchie",
    "shannon",
    "sinoussi",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "wilson",
    "wozniak",
    "yalow",
];

/// Checks a user-given name against Podman's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(crate) fn validate(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && name.len() <= 253 {
        Ok(())
    } else {
        Err(EngineError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// A random `adjective_noun` name; the caller retries on collision.
pub(crate) fn generate() -> String {
    let mut rng = rand::thread_rng();
    let adjective = ADJECTIVES.choose(&mut rng).copied().unwrap_or("happy");
    let noun = NOUNS.choose(&mut rng).copied().unwrap_or("turing");
    format!("{adjective}_{noun}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_accepts_podman_names() {
        for name in ["web", "a", "my-app.1", "A_b", "0abc"] {
            assert!(validate(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn validate_rejects_bad_names() {
        for name in ["", "-web", "_x", "a b", "a/b", "é"] {
            assert!(validate(name).is_err(), "{name}");
        }
    }

    #[test]
    fn generated_names_are_valid() {
        for _ in 0..50 {
            let name = generate();
            assert!(validate(&name).is_ok());
            assert_eq!(name.matches('_').count(), 1);
        }
    }
}
