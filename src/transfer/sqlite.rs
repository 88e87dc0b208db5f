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
    time::{SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, OpenFlags, types::ValueRef};

use super::Incoming;
use crate::{
    AssociatedUser, Error, OnlineAccessInfo, Result, Session, session::dates::from_epoch_millis,
};

/// The tables looked for when none is named: the SQLite adapter's and Prisma's.
const DEFAULT_TABLES: [&str; 2] = ["shopify_sessions", "Session"];

/// The name the query gives the rowid, lower case as every column name is looked up.
const ROWID: &str = "__import_rowid";

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
    let failed = |context: String| {
        move |source| Error::Sqlite {
            context,
            source: Some(source),
        }
    };
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed(format!(
        "cannot open {} as a SQLite database",
        path.display()
    )))?;
    let table = find_table(&connection, path, table)?;
    let quoted = format!("\"{}\"", table.replace('"', "\"\""));
    let reading = format!("cannot read the table {table:?} of {}", path.display());
    // The rowid names a row for people (a table made WITHOUT ROWID has none: its position does).
    let (mut statement, has_rowid) = match connection.prepare(&format!(
        "SELECT *, rowid AS \"{ROWID}\" FROM {quoted} ORDER BY rowid"
    )) {
        Ok(statement) => (statement, true),
        Err(_) => (
            connection
                .prepare(&format!("SELECT * FROM {quoted}"))
                .map_err(failed(reading.clone()))?,
            false,
        ),
    };
    let columns: HashMap<String, usize> = statement
        .column_names()
        .iter()
        .enumerate()
        .map(|(index, name)| (name.to_ascii_lowercase(), index))
        .collect();
    let layout = layout_of(&connection, &quoted, &table);
    let mut rows = statement.query([]).map_err(failed(reading.clone()))?;
    let mut records = Vec::new();
    let mut number: i64 = 0;
    while let Some(row) = rows.next().map_err(failed(reading.clone()))? {
        number += 1;
        let label = if has_rowid {
            row.get::<_, i64>(columns[ROWID]).unwrap_or(number)
        } else {
            number
        };
        let fields = Row {
            values: row,
            columns: &columns,
            layout,
        };
        let session = fields.session();
        let origin = match fields.text("id") {
            Ok(Some(id)) => format!("row {label} (id {id})"),
            _ => format!("row {label}"),
        };
        records.push(Incoming::new(origin, session));
    }
    Ok(SqliteSessions {
        table,
        layout,
        records,
    })
}

/// The table to read: the one named (in any case, as SQLite matches names), else the only one
/// of [`DEFAULT_TABLES`] in the file.
fn find_table(connection: &Connection, path: &Path, table: Option<&str>) -> Result<String> {
    let named = |name: &str| -> Result<Option<String>> {
        connection
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                [name],
                |row| row.get::<_, String>(0),
            )
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })
            .map_err(|source| Error::Sqlite {
                context: format!("cannot read the tables of {}", path.display()),
                source: Some(source),
            })
    };
    let no_table = |context: String| Error::Sqlite {
        context,
        source: None,
    };
    if let Some(table) = table {
        return named(table)?
            .ok_or_else(|| no_table(format!("{} has no table {table:?}", path.display())));
    }
    let mut found = Vec::new();
    for candidate in DEFAULT_TABLES {
        found.extend(named(candidate)?);
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(no_table(format!(
            "{} has neither a shopify_sessions nor a Session table (name one with --table)",
            path.display()
        ))),
        _ => Err(no_table(format!(
            "{} has both a shopify_sessions and a Session table: name the one the app uses \
             with --table",
            path.display()
        ))),
    }
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
        // As Node reads a row: the user's columns count on an online session only.
        if is_online {
            let mut user = AssociatedUser {
                id: self.user_id()?,
                ..AssociatedUser::default()
            };
            user.first_name = self.text("firstName")?;
            user.last_name = self.text("lastName")?;
            user.email = self.text("email")?;
            user.locale = self.text("locale")?;
            user.account_owner = self.flag("accountOwner")?;
            user.collaborator = self.flag("collaborator")?;
            user.email_verified = self.flag("emailVerified")?;
            if user != AssociatedUser::default() {
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
                ValueRef::Text(text) => std::str::from_utf8(text).ok().and_then(|text| {
                    let text = text.trim();
                    // `'123.0'`: an id node-sqlite3 bound as a float (see the module docs).
                    let digits = text.strip_suffix(".0").unwrap_or(text);
                    digits.parse::<u64>().ok()
                }),
                ValueRef::Blob(_) => None,
            };
            return id
                .map(Some)
                .ok_or_else(|| format!("`{column}` is not a user id"));
        }
        Ok(None)
    }

    /// A date in the table's unit. 0 is no date, as Node reads it (`if (row.expires)`,
    /// `value ? new Date(...) : undefined`); dates outside the years 0 to 9999 do not read.
    fn date(&self, column: &str) -> std::result::Result<Option<SystemTime>, String> {
        let unreadable = || format!("unreadable date in `{column}`");
        let millis_per_unit: f64 = match self.layout {
            SqliteLayout::ShopifyAdapter => 1_000.0,
            SqliteLayout::Prisma => 1.0,
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let from_number = |number: f64| -> std::result::Result<Option<SystemTime>, String> {
            if number == 0.0 {
                return Ok(None);
            }
            // Cut towards zero, as Node's `new Date(n)` does.
            let millis = (number * millis_per_unit).trunc();
            if !millis.is_finite() || millis.abs() >= 9.0e15 {
                return Err(unreadable());
            }
            from_epoch_millis(millis as i64)
                .map(Some)
                .map_err(|_| unreadable())
        };
        #[allow(clippy::cast_precision_loss)]
        match self.value(column) {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(number) => from_number(number as f64),
            ValueRef::Real(number) => from_number(number),
            ValueRef::Text(text) => {
                let text = std::str::from_utf8(text).map_err(|_| unreadable())?.trim();
                if let Ok(number) = text.parse::<f64>() {
                    from_number(number)
                } else {
                    let at = text_date(text).ok_or_else(unreadable)?;
                    Ok((at != UNIX_EPOCH).then_some(at))
                }
            }
            ValueRef::Blob(_) => Err(unreadable()),
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

/// RFC 3339 (`2026-12-04T17:00:00.123+00:00`, as Prisma's driver adapters write), or
/// `YYYY-MM-DD HH:MM:SS[.fff]` in UTC (as older adapters and SQLite's own functions write), to
/// the millisecond, within the years 0 to 9999.
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
    let millis = at
        .unix_timestamp()
        .checked_mul(1_000)?
        .checked_add(i64::from(at.millisecond()))?;
    from_epoch_millis(millis).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
