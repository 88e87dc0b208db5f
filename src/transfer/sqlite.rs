//! Reading the sessions of Shopify's SQLite session stores (feature `sqlite`):
//!
//! - `@shopify/shopify-app-session-storage-sqlite`, table `shopify_sessions`: dates are whole
//!   epoch **seconds**; up to version 5 the user is only an id, in `onlineAccessInfo` (text, as
//!   `'123'`, or `'123.0'` for an id over 2³¹ that node-sqlite3 bound as a float); from 6.0 it
//!   is `userId` and the user's fields, with `refreshToken` and `refreshTokenExpires`;
//! - Prisma's `Session` model (the Shopify app template's store), table `Session`: `DateTime`
//!   columns hold epoch **milliseconds** (Prisma's classic engine) or ISO 8601 text (driver
//!   adapters, the default of Prisma 7), so each value is read by its own type; the user's
//!   fields came in version 5 of the adapter and the refresh token in 8, and older template
//!   apps lack them.
//!
//! Columns are read by name, in any case, and any of them may be missing: a column that is not
//! there, or NULL, is an absent value. Which of the two a table is comes from its `expires`
//! column's declared type (`DATETIME` for Prisma, `integer` for the adapter). As Node reads
//! them, the user's columns count only on an online session.

use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, OpenFlags, types::ValueRef};

use super::Incoming;
use crate::{AssociatedUser, Error, OnlineAccessInfo, Result, Session};

/// The tables looked for when none is named: the SQLite adapter's, then Prisma's.
const DEFAULT_TABLES: [&str; 2] = ["shopify_sessions", "Session"];

/// Which store wrote a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqliteLayout {
    /// `@shopify/shopify-app-session-storage-sqlite`: dates in epoch seconds.
    ShopifyAdapter,
    /// Prisma's `Session` model: dates in epoch milliseconds or ISO 8601 text.
    Prisma,
}

/// The sessions read from one table.
#[derive(Debug)]
#[non_exhaustive]
pub struct SqliteSessions {
    /// The table read.
    pub table: String,
    /// Which store wrote it.
    pub layout: SqliteLayout,
    /// One record per row, in rowid order.
    pub records: Vec<Incoming>,
}

/// Reads every row of `table` (default: `shopify_sessions`, else `Session`) of the SQLite
/// database at `path`, opened read-only.
///
/// # Errors
/// [`Error::Sqlite`] when the file does not open as a SQLite database, the table is not there,
/// or reading it fails. A row that does not make a session is not an error: its record says
/// why.
pub fn read(path: &Path, table: Option<&str>) -> Result<SqliteSessions> {
    let failed = |context: String| move |source| Error::Sqlite { context, source };
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed(format!(
        "cannot open {} as a SQLite database",
        path.display()
    )))?;
    let exists = |name: &str| -> Result<bool> {
        connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |row| row.get::<_, i64>(0),
            )
            .map(|count| count > 0)
            .map_err(failed(format!(
                "cannot read the tables of {}",
                path.display()
            )))
    };
    let table = match table {
        Some(table) if exists(table)? => table.to_owned(),
        Some(table) => {
            return Err(Error::Sqlite {
                context: format!("{} has no table {table:?}", path.display()),
                source: rusqlite::Error::QueryReturnedNoRows,
            });
        }
        None => {
            let mut found = None;
            for candidate in DEFAULT_TABLES {
                if exists(candidate)? {
                    found = Some(candidate.to_owned());
                    break;
                }
            }
            found.ok_or_else(|| Error::Sqlite {
                context: format!(
                    "{} has neither a shopify_sessions nor a Session table (name one with --table)",
                    path.display()
                ),
                source: rusqlite::Error::QueryReturnedNoRows,
            })?
        }
    };
    let quoted = format!("\"{}\"", table.replace('"', "\"\""));
    let reading = format!("cannot read the table {table:?} of {}", path.display());
    let mut statement = connection
        .prepare(&format!("SELECT * FROM {quoted} ORDER BY rowid"))
        .or_else(|_| connection.prepare(&format!("SELECT * FROM {quoted}")))
        .map_err(failed(reading.clone()))?;
    let columns: HashMap<String, usize> = statement
        .column_names()
        .iter()
        .enumerate()
        .map(|(index, name)| (name.to_ascii_lowercase(), index))
        .collect();
    let layout = layout_of(&connection, &quoted, &table);
    let mut rows = statement.query([]).map_err(failed(reading.clone()))?;
    let mut records = Vec::new();
    let mut number = 0;
    while let Some(row) = rows.next().map_err(failed(reading.clone()))? {
        number += 1;
        let fields = Row {
            values: row,
            columns: &columns,
            layout,
        };
        let session = fields.session();
        let origin = match fields.text("id") {
            Ok(Some(id)) => format!("row {number} (id {id})"),
            _ => format!("row {number}"),
        };
        records.push(Incoming::new(origin, session));
    }
    Ok(SqliteSessions {
        table,
        layout,
        records,
    })
}

/// Prisma declares `DateTime` columns `DATETIME`; the SQLite adapter declares `expires integer`.
fn layout_of(connection: &Connection, quoted: &str, table: &str) -> SqliteLayout {
    let declared: Option<String> = connection
        .prepare(&format!("PRAGMA table_info({quoted})"))
        .and_then(|mut statement| {
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let name: String = row.get(1)?;
                if name.eq_ignore_ascii_case("expires") {
                    return row.get(2);
                }
            }
            Ok(None)
        })
        .ok()
        .flatten();
    let prisma = match declared {
        Some(kind) => kind.to_ascii_uppercase().contains("DATE"),
        None => table == "Session",
    };
    if prisma {
        SqliteLayout::Prisma
    } else {
        SqliteLayout::ShopifyAdapter
    }
}

/// One row, its columns looked up by lower-case name.
struct Row<'r> {
    values: &'r rusqlite::Row<'r>,
    columns: &'r HashMap<String, usize>,
    layout: SqliteLayout,
}

impl Row<'_> {
    fn value(&self, column: &str) -> ValueRef<'_> {
        self.columns
            .get(&column.to_ascii_lowercase())
            .and_then(|&index| self.values.get_ref(index).ok())
            .unwrap_or(ValueRef::Null)
    }

    fn session(&self) -> std::result::Result<Session, String> {
        let id = self.text("id")?.ok_or("missing id")?;
        let shop = self.text("shop")?.ok_or("missing shop")?;
        let state = self.text("state")?.unwrap_or_default();
        let is_online = self.flag("isOnline")?.unwrap_or(false);
        let mut session = Session::new(id, shop, state, is_online);
        session.scope = self.text("scope")?.filter(|scope| !scope.is_empty());
        session.expires = self.date("expires")?;
        session.access_token = self.text("accessToken")?.filter(|token| !token.is_empty());
        session.refresh_token = self.text("refreshToken")?.filter(|token| !token.is_empty());
        session.refresh_token_expires = self.date("refreshTokenExpires")?;
        if is_online {
            if let Some(id) = self.user_id()? {
                let mut user = AssociatedUser::new(id);
                user.first_name = self.text("firstName")?;
                user.last_name = self.text("lastName")?;
                user.email = self.text("email")?;
                user.locale = self.text("locale")?;
                user.account_owner = self.flag("accountOwner")?;
                user.collaborator = self.flag("collaborator")?;
                user.email_verified = self.flag("emailVerified")?;
                session.online_access_info = Some(OnlineAccessInfo::new(user));
            }
        }
        Ok(session)
    }

    fn text(&self, column: &str) -> std::result::Result<Option<String>, String> {
        match self.value(column) {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(number) => Ok(Some(number.to_string())),
            ValueRef::Real(number) => Ok(Some(number.to_string())),
            ValueRef::Text(text) => String::from_utf8(text.to_vec())
                .map(Some)
                .map_err(|_| format!("`{column}` is not UTF-8 text")),
            ValueRef::Blob(_) => Err(format!("`{column}` holds a blob, not text")),
        }
    }

    fn flag(&self, column: &str) -> std::result::Result<Option<bool>, String> {
        match self.value(column) {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(number) => Ok(Some(number != 0)),
            ValueRef::Real(number) => Ok(Some(number != 0.0)),
            ValueRef::Text(b"true" | b"1") => Ok(Some(true)),
            ValueRef::Text(b"false" | b"0") => Ok(Some(false)),
            _ => Err(format!("`{column}` is not a boolean")),
        }
    }

    /// `userId` (6.0 and Prisma), else the adapter's older `onlineAccessInfo`.
    fn user_id(&self) -> std::result::Result<Option<u64>, String> {
        for column in ["userId", "onlineAccessInfo"] {
            let id = match self.value(column) {
                ValueRef::Null => continue,
                ValueRef::Integer(number) => u64::try_from(number).ok(),
                ValueRef::Real(number) => whole(number),
                ValueRef::Text(text) => std::str::from_utf8(text)
                    .ok()
                    .and_then(|text| text.trim().parse::<f64>().ok())
                    .and_then(whole),
                ValueRef::Blob(_) => None,
            };
            return id
                .map(Some)
                .ok_or_else(|| format!("`{column}` is not a user id"));
        }
        Ok(None)
    }

    fn date(&self, column: &str) -> std::result::Result<Option<SystemTime>, String> {
        let unreadable = || format!("unreadable date in `{column}`");
        let millis_per_unit = match self.layout {
            SqliteLayout::ShopifyAdapter => 1_000,
            SqliteLayout::Prisma => 1,
        };
        let from_number = |number: i64| {
            number
                .checked_mul(millis_per_unit)
                .and_then(epoch_millis)
                .ok_or_else(unreadable)
        };
        match self.value(column) {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(number) => from_number(number).map(Some),
            #[allow(clippy::cast_possible_truncation)]
            ValueRef::Real(number) if number.is_finite() => from_number(number as i64).map(Some),
            ValueRef::Text(text) => {
                let text = std::str::from_utf8(text).map_err(|_| unreadable())?.trim();
                match text.parse::<i64>() {
                    Ok(number) => from_number(number).map(Some),
                    Err(_) => text_date(text).map(Some).ok_or_else(unreadable),
                }
            }
            _ => Err(unreadable()),
        }
    }
}

/// A float that is a whole, non-negative number below 2⁶⁴ (an id node-sqlite3 bound as a
/// float holds one exactly).
fn whole(number: f64) -> Option<u64> {
    // 2⁶⁴ as a float: a cast of anything at or above it would saturate.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    ((0.0..LIMIT).contains(&number) && number.fract() == 0.0).then_some(number as u64)
}

fn epoch_millis(millis: i64) -> Option<SystemTime> {
    let offset = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}

/// RFC 3339 (`2026-12-04T17:00:00.123+00:00`, as Prisma's driver adapters write), or
/// `YYYY-MM-DD HH:MM:SS[.fff]` in UTC (as older adapters and SQLite's own functions write).
fn text_date(text: &str) -> Option<SystemTime> {
    use time::{OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339};
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| {
            PrimitiveDateTime::parse(
                text,
                time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
                ),
            )
            .map(PrimitiveDateTime::assume_utc)
        })
        .ok()?;
    let nanos = at.unix_timestamp_nanos();
    let offset = Duration::from_nanos(u64::try_from(nanos.unsigned_abs()).ok()?);
    if nanos >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_dates_in_the_shapes_prisma_writes() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(text_date("2023-11-14T22:13:20.123+00:00"), Some(at));
        assert_eq!(text_date("2023-11-14T22:13:20.123Z"), Some(at));
        assert_eq!(text_date("2023-11-14 22:13:20.123"), Some(at));
        assert_eq!(
            text_date("2023-11-14 22:13:20"),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(text_date("yesterday"), None);
        assert_eq!(whole(12_345_678_901.0), Some(12_345_678_901));
        assert_eq!(whole(1.5), None);
    }
}
