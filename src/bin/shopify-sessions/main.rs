//! `shopify-sessions`: the operator's command line for a session store (feature `cli`).
//!
//! It parses, calls the library and prints; the work is in
//! [`shopify_session_storage::admin`] and the storages. The README's "Operating a store"
//! section lists the common tasks.
#![forbid(unsafe_code)]

mod compact;
mod delete;
mod inspect;
mod keys;
mod maintain;
mod output;
mod target;
mod transfer;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::{output::Output, target::Target};

/// Look inside a Shopify app's session store, clean it up, repair it and compact it.
///
/// The store is a sled database (--db PATH) or, in a build with the `redis` feature, the
/// layout of Shopify's Node Redis adapter (--redis URL). Every command works on both, except
/// `compact`, which rewrites a sled database. Stop the app before changing a sled database: it
/// is open in one process at a time.
///
/// Tokens are never printed unless `get --show-tokens` asks for them. Exit status: 0 on
/// success, 1 on failure (or problems found by `verify`), 2 on a usage error.
#[derive(Debug, Parser)]
#[command(name = "shopify-sessions", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    target: Target,

    /// Machine-readable output: one JSON document, or JSON lines for `list`.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Stats(inspect::StatsArgs),
    List(inspect::ListArgs),
    Get(inspect::GetArgs),
    Delete(delete::DeleteArgs),
    Sweep(maintain::SweepArgs),
    Verify(maintain::VerifyArgs),
    Compact(compact::CompactArgs),
    Export(transfer::ExportArgs),
    Import(transfer::ImportArgs),
    RotateKeys(keys::RotateArgs),
    Decrypt(keys::DecryptArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    cli.target.settle(&matches);
    let output = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output.fail(&error);
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, &cli.target, &output)) {
        Ok(code) => code,
        Err(error) => {
            output.fail(error.as_ref());
            ExitCode::FAILURE
        }
    }
}

/// What a command returns: its exit status, or the error to print.
type Outcome = Result<ExitCode, Box<dyn std::error::Error>>;

async fn run(command: Command, target: &Target, output: &Output) -> Outcome {
    // Compaction opens (and closes) the database itself; an import reads its source first.
    let command = match command {
        Command::Compact(args) => return compact::run(args, target, output).await,
        Command::Import(args) => return transfer::import_sessions(args, target, output).await,
        other => other,
    };
    if matches!(command, Command::RotateKeys(_) | Command::Decrypt(_)) {
        let name = if matches!(command, Command::Decrypt(_)) {
            "decrypt"
        } else {
            "rotate-keys"
        };
        target.sled_path(name);
        if target.key_env.is_empty() {
            target::usage(format!("`{name}` needs the database's keys: --key-env VAR"));
        }
    }
    let store = target.open(false).await?;
    let outcome = match command {
        Command::Stats(args) => inspect::stats(args, &store, output).await,
        Command::List(args) => inspect::list(args, &store, output).await,
        Command::Get(args) => inspect::get(args, &store, output).await,
        Command::Delete(args) => delete::run(args, &store, output).await,
        Command::Sweep(args) => maintain::sweep(args, &store, output).await,
        Command::Verify(args) => maintain::verify(args, &store, output).await,
        Command::Export(args) => transfer::export_sessions(args, &store, output).await,
        Command::RotateKeys(args) => keys::rotate(args, &store, output).await,
        Command::Decrypt(args) => keys::decrypt(args, &store, output).await,
        Command::Compact(_) | Command::Import(_) => unreachable!("handled above"),
    };
    // Closed cleanly even after a failed command, so the next open needs no repair.
    let closed = store.close().await;
    let code = outcome?;
    closed?;
    Ok(code)
}
