//! Where things are printed: results on stdout (text or JSON), progress and warnings on
//! stderr, errors as one line of text with their causes (never Rust's `Debug`).

use std::{
    io::{IsTerminal, Write},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use serde_json::Value;
use shopify_session_storage::Error;

/// How results are printed.
pub struct Output {
    json: bool,
}

impl Output {
    /// JSON output when `json`, text otherwise.
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// Whether results are JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Prints one JSON document (or one line of a stream) on stdout.
    pub fn document(&self, value: &Value) {
        println!("{value}");
    }

    /// A warning on stderr.
    pub fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }

    /// A note on stderr (what is happening; never a result).
    pub fn note(&self, message: &str) {
        eprintln!("{message}");
    }

    /// Prints an error and its causes on stderr, as text.
    pub fn fail(&self, error: &(dyn std::error::Error + 'static)) {
        let mut line = match error.downcast_ref::<Error>() {
            // sled's own error says only that a lock could not be taken.
            Some(Error::Locked { path, .. }) => {
                eprintln!(
                    "error: {} is open in another process; stop the app first",
                    path.display()
                );
                return;
            }
            _ => error.to_string(),
        };
        let mut source = error.source();
        while let Some(cause) = source {
            line.push_str(": ");
            line.push_str(&cause.to_string());
            source = cause.source();
        }
        eprintln!("error: {line}");
    }

    /// A progress counter on stderr for work that reads the whole store, drawn only when
    /// stderr is a terminal. (No bar: neither store knows its size without a walk of its own.)
    pub fn progress(&self, what: &'static str) -> ProgressBar {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        // Cleared however it ends, an error's early return included.
        let bar = ProgressBar::with_draw_target(None, target)
            .with_finish(ProgressFinish::AndClear)
            .with_style(
                ProgressStyle::with_template("{spinner} {msg}: {human_pos} records ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
        bar.set_message(what);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }
}

/// Asks a yes/no question on the terminal; `false` unless the answer is yes.
pub fn confirm(question: &str) -> std::io::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

/// Whether a person is at the keyboard (stdin and stderr are terminals).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// A moment as RFC 3339 UTC to the second, for people and JSON alike.
pub fn date(at: SystemTime) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    });
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{seconds}"))
}

/// An optional moment as JSON: the date, or null.
pub fn json_date(at: Option<SystemTime>) -> Value {
    at.map_or(Value::Null, |at| Value::String(date(at)))
}
