//! Named points where berth stops for a crash test: with
//! `BERTH_TEST_PAUSE_AT=<name>` in its environment, berth prints
//! `berth: paused at <name>` on stderr when it reaches that point and sleeps
//! until it is killed. Integration tests use it to SIGKILL berth in the
//! middle of an operation; without the variable it does nothing.
use std::time::Duration;

const VARIABLE: &str = "BERTH_TEST_PAUSE_AT";

pub(crate) fn reach(name: &str) {
    let Some(wanted) = std::env::var_os(VARIABLE) else {
        return;
    };
    if wanted != name {
        return;
    }
    eprintln!("berth: paused at {name}");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
