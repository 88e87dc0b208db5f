//! The storage's own maintenance: `sweep` and `verify [--repair]`.

use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};
use shopify_session_storage::{RepairReport, VerifyProblem, VerifyReport};

use crate::{Outcome, output::Output, target::Store};

/// Remove sessions past their deadline now (the app's sweeper does it too, when it runs one).
#[derive(Debug, Args)]
pub struct SweepArgs {}

/// Check that every record decodes and the indexes agree with the records (exit 1 when a
/// session is not served correctly).
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Rebuild missing index entries and remove stale ones, then check again.
    #[arg(long)]
    repair: bool,
}

/// `sweep`: the store's own sweep, and its report.
pub async fn sweep(_: SweepArgs, store: &Store, output: &Output) -> Outcome {
    let progress = output.progress("sweeping");
    let report = store.admin().sweep_expired().await;
    progress.finish_and_clear();
    let report = report?;
    if output.json() {
        output.document(&json!({
            "removed": report.removed,
            "examined": report.examined,
            "corrupt_skipped": report.corrupt_skipped,
            "stale_entries_removed": report.stale_entries_removed,
            "elapsed_ms": report.elapsed.as_millis(),
        }));
    } else {
        println!(
            "removed {} expired sessions in {:.1?} ({} examined, {} stale index entries removed, {} unreadable records skipped)",
            report.removed,
            report.elapsed,
            report.examined,
            report.stale_entries_removed,
            report.corrupt_skipped
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `verify [--repair]`: exit 1 unless every session is served correctly (after the repair).
pub async fn verify(args: VerifyArgs, store: &Store, output: &Output) -> Outcome {
    let storage = store.admin();
    let first = checked(store, output).await?;
    let mut repair = None;
    let mut last = None;
    if args.repair && !first.is_clean() {
        let progress = output.progress("repairing");
        let repaired = storage.repair().await;
        progress.finish_and_clear();
        repair = Some(repaired?);
        last = Some(checked(store, output).await?);
    }
    let sound = last.as_ref().unwrap_or(&first).is_sound();
    if output.json() {
        let mut document = json!({
            "records": first.records,
            "sound": first.is_sound(),
            "problems": problems_json(&first),
        });
        if let (Some(repair), Some(last)) = (&repair, &last) {
            document["repair"] = repair_json(repair);
            document["after_repair"] = json!({
                "records": last.records,
                "sound": last.is_sound(),
                "problems": problems_json(last),
            });
        }
        output.document(&document);
    } else {
        print_report("", &first);
        if let (Some(repair), Some(last)) = (&repair, &last) {
            println!(
                "repaired in {:.1?}: {} index entries rebuilt, {} stale entries removed ({} records read, {} unreadable)",
                repair.elapsed,
                repair.missing_rebuilt,
                repair.stale_removed,
                repair.records,
                repair.corrupt
            );
            print_report("after repair: ", last);
        } else if !first.is_clean() && !args.repair {
            println!("`verify --repair` fixes index problems; unreadable records stay");
        }
    }
    Ok(if sound {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn checked(
    store: &Store,
    output: &Output,
) -> Result<VerifyReport, shopify_session_storage::Error> {
    let progress = output.progress("verifying");
    let report = store.admin().verify().await;
    progress.finish_and_clear();
    report
}

fn print_report(prefix: &str, report: &VerifyReport) {
    let verdict = if report.is_clean() {
        "clean"
    } else if report.is_sound() {
        "sound (only harmless stale index entries)"
    } else {
        "NOT sound"
    };
    println!(
        "{prefix}{} records, {} problems: {verdict}",
        report.records,
        report.problems.len()
    );
    for problem in &report.problems {
        println!("  - {problem}");
    }
}

fn problems_json(report: &VerifyReport) -> Value {
    report
        .problems
        .iter()
        .map(|problem| json!({ "kind": kind(problem), "detail": problem.to_string() }))
        .collect()
}

fn kind(problem: &VerifyProblem) -> &'static str {
    match problem {
        VerifyProblem::Corrupt { .. } => "corrupt",
        VerifyProblem::MissingShopEntry { .. } => "missing_shop_entry",
        VerifyProblem::MissingExpiryEntry { .. } => "missing_expiry_entry",
        VerifyProblem::StaleShopEntry { .. } => "stale_shop_entry",
        VerifyProblem::StaleExpiryEntry { .. } => "stale_expiry_entry",
        VerifyProblem::MalformedIndexKey { .. } => "malformed_index_key",
        _ => "other",
    }
}

fn repair_json(report: &RepairReport) -> Value {
    json!({
        "records": report.records,
        "corrupt": report.corrupt,
        "missing_rebuilt": report.missing_rebuilt,
        "stale_removed": report.stale_removed,
        "elapsed_ms": report.elapsed.as_millis(),
    })
}
