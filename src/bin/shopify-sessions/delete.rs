//! `delete`: sessions by id, or every session of a shop.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use shopify_session_storage::{Error, admin::Walked};

use crate::{
    Outcome,
    output::{Output, confirm, interactive},
    target::Store,
};

/// Delete sessions by id, or every session of a shop (what an app does on `app/uninstalled`).
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["ids", "shop"]))]
pub struct DeleteArgs {
    /// The ids of the sessions to delete.
    #[arg(value_name = "ID")]
    ids: Vec<String>,
    /// Delete every session of this shop, expired ones included.
    #[arg(long, conflicts_with = "ids")]
    shop: Option<String>,
    /// Do not ask for confirmation (asked only when stdin and stderr are a terminal).
    #[arg(long)]
    yes: bool,
}

/// `delete`: by ids (reporting those not there), or a whole shop.
pub async fn run(args: DeleteArgs, store: &Store, output: &Output) -> Outcome {
    let storage = store.admin();
    if let Some(shop) = args.shop {
        if !args.yes && interactive() {
            let mut count = 0;
            storage
                .walk(Some(&shop), &mut |walked| {
                    if matches!(walked, Walked::Session(_)) {
                        count += 1;
                    }
                })
                .await?;
            if count == 0 {
                output.note(&format!("{shop} has no sessions"));
            } else if !confirm(&format!("Delete {count} sessions of {shop}?"))? {
                output.note("nothing deleted");
                return Ok(ExitCode::FAILURE);
            }
        }
        let deleted = storage.delete_shop(&shop).await?;
        if output.json() {
            output.document(&json!({ "shop": shop, "deleted": deleted }));
        } else {
            println!("deleted {} sessions of {shop}", deleted.len());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut found = Vec::new();
    let mut absent = Vec::new();
    for id in args.ids {
        match storage.load_stored(&id).await {
            // A record that does not decode is deleted too: it is there.
            Ok(Some(_)) | Err(Error::Corrupt { .. }) => found.push(id),
            Ok(None) => absent.push(id),
            Err(error) => return Err(error.into()),
        }
    }
    storage.delete_sessions(&found).await?;
    if output.json() {
        output.document(&json!({ "deleted": found, "not_found": absent }));
    } else {
        println!("deleted {} sessions", found.len());
        for id in &absent {
            output.warn(&format!("no session with id {id:?}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
