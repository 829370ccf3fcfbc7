//! Opaque keyset cursors: `(timestamp, id)` of the last row of a page, base64url-encoded.

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sea_query::IntoColumnRef;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

pub fn encode(ts: DateTime<Utc>, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{id}", ts.timestamp_micros()))
}

pub fn decode(cursor: &str) -> AppResult<(DateTime<Utc>, Uuid)> {
    let bad = || AppError::field("cursor", "is not a cursor returned by this API");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (ts, id) = s.split_once(':').ok_or_else(bad)?;
    let micros: i64 = ts.parse().map_err(|_| bad())?;
    let ts = Utc.timestamp_micros(micros).single().ok_or_else(bad)?;
    Ok((ts, id.parse().map_err(|_| bad())?))
}

/// The keyset condition for a page after the row `(ts, id)` in `(ts_col DESC, id_col DESC)` order:
/// one row-value comparison `(ts_col, id_col) < (ts, id)`. Both backends turn it into a range on
/// an index `(…, ts_col, id_col)` (PostgreSQL `Index Cond: ROW(…) < ROW(…)`, SQLite
/// `SEARCH … (… AND (ts,id)<(?,?))`), so a page costs the same at any depth; the equivalent
/// `ts < ? OR (ts = ? AND id < ?)` made PostgreSQL filter every row above the cursor.
pub fn before(
    ts_col: impl IntoColumnRef,
    id_col: impl IntoColumnRef,
    ts: DateTime<Utc>,
    id: Uuid,
) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{Expr, ExprTrait};
    Expr::tuple([Expr::col(ts_col), Expr::col(id_col)]).lt(Expr::tuple([Expr::val(ts), Expr::val(id)]))
}

/// Page size: 1 to `max`, `default` when absent.
pub fn limit(requested: Option<u64>, default: u64, max: u64) -> u64 {
    requested.unwrap_or(default).clamp(1, max)
}

/// Rows to skip: 0 when absent, at most `i64::MAX` (what SQL's OFFSET takes; a larger value
/// used to panic converting it).
pub fn offset(requested: Option<u64>) -> Result<u64, String> {
    match requested {
        None => Ok(0),
        Some(n) if i64::try_from(n).is_ok() => Ok(n),
        Some(_) => Err(format!("must be between 0 and {}", i64::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_range_checked() {
        assert_eq!(offset(None), Ok(0));
        assert_eq!(offset(Some(i64::MAX as u64)), Ok(i64::MAX as u64));
        assert!(offset(Some(i64::MAX as u64 + 1)).is_err());
    }

    #[test]
    fn round_trip_and_garbage() {
        let ts = crate::db::now();
        let id = Uuid::now_v7();
        assert_eq!(decode(&encode(ts, id)).unwrap(), (ts, id));
        for bad in ["", "!!!", "bm9wZQ", "MTIzOm5vdC1hLXV1aWQ"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
