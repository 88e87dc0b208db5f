//! `rotate-keys` and `decrypt`: every record of a sled database sealed with the active key, or
//! written in plain text.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use shopify_session_storage::ResealReport;

use crate::{Outcome, output::Output, target::Store};

/// Seal every record with the active key (the first --key-env): records written before
/// encryption was turned on, and records sealed with an old key (sled only). Safe to run again
/// after an interruption: it rewrites only what is left. Then `compact` removes the old
/// ciphertext and plain text from the files (README, "Security").
#[derive(Debug, Args)]
pub struct RotateArgs {}

/// Turn encryption off: write every record in plain text and mark the database unencrypted
/// (sled only; needs the keys the records are sealed with). Safe to run again after an
/// interruption.
#[derive(Debug, Args)]
pub struct DecryptArgs {}

/// `rotate-keys`.
pub async fn rotate(_: RotateArgs, store: &Store, output: &Output) -> Outcome {
    let Store::Sled(storage) = store else {
        unreachable!("main checks for a sled database");
    };
    let progress = output.progress("re-sealing");
    let mut tick = || progress.inc(1);
    let report = storage.rotate_keys(&mut tick).await;
    progress.finish_and_clear();
    print(&report?, "sealed with the active key", output)
}

/// `decrypt`.
pub async fn decrypt(_: DecryptArgs, store: &Store, output: &Output) -> Outcome {
    let Store::Sled(storage) = store else {
        unreachable!("main checks for a sled database");
    };
    let progress = output.progress("decrypting");
    let mut tick = || progress.inc(1);
    let report = storage.decrypt_all(&mut tick).await;
    progress.finish_and_clear();
    print(&report?, "written in plain text", output)
}

fn print(report: &ResealReport, done: &str, output: &Output) -> Outcome {
    for (id, reason) in &report.left_out {
        output.warn(&format!("record {id:?} was left as it is: {reason}"));
    }
    if output.json() {
        output.document(&json!({
            "rewritten": report.rewritten,
            "already_done": report.already_done,
            "left_out": report.left_out.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            "elapsed_ms": report.elapsed.as_millis(),
        }));
    } else {
        println!(
            "{} records {done} in {:.1?} ({} already were, {} left out)",
            report.rewritten,
            report.elapsed,
            report.already_done,
            report.left_out.len()
        );
    }
    Ok(if report.left_out.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
