//! Signal names and numbers as users write them.
use crate::{OciError, Result};

/// `SIGRTMIN` as glibc reports it on Linux: the kernel's 32 and 33 are taken
/// by the threading library.
pub const SIGRTMIN: i32 = 34;
/// `SIGRTMAX` on Linux.
pub const SIGRTMAX: i32 = 64;

/// Linux signal names (without `SIG`) and numbers on x86_64, aliases included.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// Parses `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+3`, `SIGRTMAX-1`.
pub fn parse(signal: &str) -> Result<i32> {
    let invalid = || OciError::InvalidSignal {
        signal: signal.to_string(),
    };
    let trimmed = signal.trim();

    if let Ok(number) = trimmed.parse::<i32>() {
        return if (1..=SIGRTMAX).contains(&number) {
            Ok(number)
        } else {
            Err(invalid())
        };
    }

    let upper = trimmed.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);

    if let Some(number) = parse_realtime(name) {
        return number.ok_or_else(invalid);
    }
    SIGNALS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, number)| *number)
        .ok_or_else(invalid)
}

/// Parses `RTMIN`, `RTMIN+N`, `RTMAX` and `RTMAX-N`: `None` when `name` is
/// not a real-time signal name, `Some(None)` when its offset is out of range.
fn parse_realtime(name: &str) -> Option<Option<i32>> {
    let (base, rest, sign) = if let Some(rest) = name.strip_prefix("RTMIN") {
        (SIGRTMIN, rest, '+')
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        (SIGRTMAX, rest, '-')
    } else {
        return None;
    };
    if rest.is_empty() {
        return Some(Some(base));
    }

    let offset = rest
        .strip_prefix(sign)
        .and_then(|digits| digits.parse::<i32>().ok());
    let number = offset.map(|offset| {
        if sign == '+' {
            base + offset
        } else {
            base - offset
        }
    });
    Some(number.filter(|number| (SIGRTMIN..=SIGRTMAX).contains(number)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_and_without_prefix() {
        assert_eq!(parse("TERM").unwrap(), 15);
        assert_eq!(parse("SIGTERM").unwrap(), 15);
        assert_eq!(parse("sigkill").unwrap(), 9);
        assert_eq!(parse("Hup").unwrap(), 1);
        assert_eq!(parse("SIGCHLD").unwrap(), 17);
        assert_eq!(parse("cld").unwrap(), 17);
        assert_eq!(parse("WINCH").unwrap(), 28);
    }

    #[test]
    fn numbers_parse_in_range() {
        assert_eq!(parse("1").unwrap(), 1);
        assert_eq!(parse("15").unwrap(), 15);
        assert_eq!(parse("64").unwrap(), 64);
    }

    #[test]
    fn realtime_names_parse() {
        assert_eq!(parse("RTMIN").unwrap(), 34);
        assert_eq!(parse("RTMIN+3").unwrap(), 37);
        assert_eq!(parse("SIGRTMIN+30").unwrap(), 64);
        assert_eq!(parse("sigrtmax").unwrap(), 64);
        assert_eq!(parse("SIGRTMAX-1").unwrap(), 63);
        assert_eq!(parse("RTMAX-30").unwrap(), 34);
    }

    #[test]
    fn invalid_signals_rejected() {
        for bad in [
            "0", "65", "-1", "", "SIG", "FOO", "SIGFOO", "RTMIN+31", "RTMAX-31", "RTMIN-1",
            "RTMAX+1", "RTMIN+x", "TERM ME",
        ] {
            let error = parse(bad).unwrap_err();
            assert!(
                matches!(&error, OciError::InvalidSignal { signal } if signal == bad),
                "{bad:?} gave {error:?}"
            );
        }
    }

    #[test]
    fn invalid_signal_message_names_value() {
        let message = parse("FOO").unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid signal \"FOO\": use a name (TERM, SIGKILL, RTMIN+3) or a number from 1 to 64"
        );
    }
}
