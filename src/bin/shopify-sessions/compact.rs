//! `compact`: a fresh copy of a sled database's live sessions, optionally swapped into place.

use std::{path::PathBuf, process::ExitCode};

use clap::Args;
use indicatif::HumanBytes;
use serde_json::json;
use shopify_session_storage::{CompactReport, FlushPolicy, ReplaceStep, SledSessionStorage};

use crate::{Outcome, output::Output, target::Target};

/// Copy every live session into a fresh database and report sizes before and after (sled
/// only). With --replace, swap the copy into place: a crash at any moment leaves one whole
/// database at the path.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("how").required(true).multiple(true).args(["into", "replace"]))]
pub struct CompactArgs {
    /// Where to write the copy (a path that does not exist yet). With --replace, where the copy
    /// is staged (default PATH.compact-TIME, beside PATH: one file system).
    #[arg(long, value_name = "NEW_PATH")]
    into: Option<PathBuf>,
    /// Swap the copy into place. The old database is kept as PATH.bak-TIME until the new one
    /// has verified in place, then removed.
    #[arg(long)]
    replace: bool,
    /// With --replace, keep PATH.bak-TIME afterwards.
    #[arg(long, requires = "replace")]
    keep_backup: bool,
}

/// With feature `fault-injection` (this crate's tests only): names the step of `--replace`
/// after which the process stops for good, for tests/cli.rs to kill it there.
#[cfg(feature = "fault-injection")]
const PAUSE_AFTER: &str = "SHOPIFY_SESSIONS_TEST_PAUSE_AFTER";

/// `compact`: `--into` makes the copy; `--replace` swaps it into place.
pub async fn run(args: CompactArgs, target: &Target, output: &Output) -> Outcome {
    let path = target.sled_path("compact").clone();
    let progress = output.progress("copying");
    let mut tick = || progress.inc(1);
    let (report, backup, verified_in_place) = if args.replace {
        #[cfg(feature = "fault-injection")]
        let pause_after = std::env::var(PAUSE_AFTER).ok();
        let mut on_step = |step: ReplaceStep| {
            let name = step_name(step);
            progress.println(format!("compact: {name}"));
            #[cfg(feature = "fault-injection")]
            if pause_after.as_deref() == Some(name) {
                eprintln!("paused after {name}");
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3_600));
                }
            }
        };
        let replaced = SledSessionStorage::compact_in_place(
            &path,
            args.into.clone(),
            args.keep_backup,
            target.keys()?,
            &mut tick,
            &mut on_step,
        )
        .await;
        progress.finish_and_clear();
        let replaced = replaced?;
        (
            replaced.compact,
            replaced.backup,
            replaced.verified_in_place,
        )
    } else {
        let into = args
            .into
            .clone()
            .unwrap_or_else(|| unreachable!("clap requires --into or --replace"));
        let builder = target.sled_builder(path.clone())?;
        let opened = tokio::task::spawn_blocking({
            move || {
                builder
                    .create_if_missing(false)
                    .flush_policy(FlushPolicy::EveryWrite)
                    .open()
            }
        })
        .await??;
        let copied = opened.compact_into(&into, &mut tick).await;
        progress.finish_and_clear();
        let closed = opened.close().await;
        let copied = copied?;
        closed?;
        (copied, None, true)
    };
    for (id, reason) in &report.left_out {
        output.warn(&format!("record {id:?} was not copied: {reason}"));
    }
    if !verified_in_place {
        output.warn("the app opened the new database before it could be verified in place (it was verified before the swap); the old one is kept");
    }
    if output.json() {
        output.document(&json!({
            "copied": report.copied,
            "expired_dropped": report.expired_dropped,
            "left_out": report.left_out.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            "bytes_before": report.bytes_before,
            "bytes_after": report.bytes_after,
            "replaced": args.replace,
            "into": if args.replace { None } else { args.into.as_ref().map(|p| p.display().to_string()) },
            "backup": backup.as_ref().map(|p| p.display().to_string()),
        }));
    } else {
        print_summary(&report);
        if args.replace {
            println!("replaced {}", path.display());
        }
        if let Some(backup) = backup {
            println!("the old database is kept at {}", backup.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(report: &CompactReport) {
    println!(
        "copied {} sessions (left out: {} past their deadline, {} unreadable or too large); {} before, {} after",
        report.copied,
        report.expired_dropped,
        report.left_out.len(),
        HumanBytes(report.bytes_before),
        HumanBytes(report.bytes_after)
    );
}

fn step_name(step: ReplaceStep) -> &'static str {
    match step {
        ReplaceStep::Copied => "copied",
        ReplaceStep::Exchanged => "exchanged",
        ReplaceStep::BackupNamed => "backup-named",
        ReplaceStep::Verified => "verified",
        _ => "other",
    }
}
