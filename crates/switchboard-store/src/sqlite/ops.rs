//! The store's operations as synchronous functions over one SQLite connection.
//!
//! Write operations run inside the `BEGIN IMMEDIATE` transaction the caller opened (see
//! `SqliteStore::write`), so each is atomic against every other connection and process. Each
//! reads and writes only rows named by its arguments — the shape a Redis Lua script needs.
//! `now` is the store clock in Unix milliseconds, read after the write lock was taken.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use time::OffsetDateTime;

use super::failure::sql_error;
use crate::clock::from_unix_ms;
use crate::error::StoreError;
use crate::model::{
    decode_call_doc, decode_member, AgentProfile, AgentRecord, AgentStatus, ArchivedCall,
    CasOutcome, PresenceSnapshot, Reservation, ReservationState, ReservationToken, SweepReport,
    TeamsUserId, Versioned,
};

type Result<T> = std::result::Result<T, StoreError>;

/// Converts a stored instant, reporting an out-of-range value as corruption.
fn ts(op: &'static str, ms: i64) -> Result<OffsetDateTime> {
    from_unix_ms(ms).ok_or_else(|| StoreError::corrupt(op, format!("instant {ms} out of range")))
}

fn opt_ts(op: &'static str, ms: Option<i64>) -> Result<Option<OffsetDateTime>> {
    ms.map(|ms| ts(op, ms)).transpose()
}

/// Converts a stored count or version (never negative when written by this code).
fn unsigned<T: TryFrom<i64>>(op: &'static str, what: &str, v: i64) -> Result<T> {
    T::try_from(v).map_err(|_| StoreError::corrupt(op, format!("{what} {v} out of range")))
}

/// Next value of the store-wide sequence: reservation tokens and call-state versions. One
/// sequence for both means neither is ever reused, even across deletes and expiry.
fn next_seq(conn: &Connection, op: &'static str) -> Result<i64> {
    conn.prepare_cached(
        "UPDATE store_meta SET value = value + 1 WHERE name = 'seq' RETURNING value",
    )
    .and_then(|mut st| st.query_row([], |row| row.get(0)))
    .map_err(sql_error(op))
}

// ------------------------------------------------------------------------------------ roster

pub fn upsert_agent(conn: &Connection, now: i64, agent: &AgentProfile) -> Result<()> {
    let op = "upsert_agent";
    conn.prepare_cached(
        "INSERT INTO store_agents (agent_id, display_name, capacity, status, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (agent_id) DO UPDATE SET
             display_name = excluded.display_name,
             capacity = excluded.capacity,
             updated_at = excluded.updated_at",
    )
    .and_then(|mut st| {
        st.execute(params![
            agent.id.as_str(),
            agent.display_name,
            agent.capacity,
            AgentStatus::Available.as_str(),
            now
        ])
    })
    .map_err(sql_error(op))?;
    Ok(())
}

pub fn set_agent_status(
    conn: &Connection,
    now: i64,
    agent: &str,
    status: AgentStatus,
) -> Result<bool> {
    let n = conn
        .prepare_cached("UPDATE store_agents SET status = ?2, updated_at = ?3 WHERE agent_id = ?1")
        .and_then(|mut st| st.execute(params![agent, status.as_str(), now]))
        .map_err(sql_error("set_agent_status"))?;
    Ok(n > 0)
}

pub fn set_agent_presence(
    conn: &Connection,
    now: i64,
    agent: &str,
    presence: Option<&str>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE store_agents SET presence = ?2, updated_at = ?3 WHERE agent_id = ?1",
        )
        .and_then(|mut st| st.execute(params![agent, presence, now]))
        .map_err(sql_error("set_agent_presence"))?;
    Ok(n > 0)
}

pub fn remove_agent(conn: &Connection, agent: &str) -> Result<bool> {
    let op = "remove_agent";
    conn.prepare_cached("DELETE FROM store_reservations WHERE agent_id = ?1")
        .and_then(|mut st| st.execute([agent]))
        .map_err(sql_error(op))?;
    let n = conn
        .prepare_cached("DELETE FROM store_agents WHERE agent_id = ?1")
        .and_then(|mut st| st.execute([agent]))
        .map_err(sql_error(op))?;
    Ok(n > 0)
}

const AGENT_SELECT: &str = "
SELECT a.agent_id, a.display_name, a.capacity, a.status, a.last_reserved_at,
       a.last_released_at, a.wrap_up_until, a.presence,
       (SELECT COUNT(*) FROM store_reservations r
         WHERE r.agent_id = a.agent_id AND r.expires_at > ?1 AND r.state = 'reserved'),
       (SELECT COUNT(*) FROM store_reservations r
         WHERE r.agent_id = a.agent_id AND r.expires_at > ?1 AND r.state = 'on_call')
FROM store_agents a";

struct AgentRow {
    id: String,
    display_name: Option<String>,
    capacity: i64,
    status: String,
    last_reserved_at: Option<i64>,
    last_released_at: Option<i64>,
    wrap_up_until: Option<i64>,
    presence: Option<String>,
    reserved: i64,
    on_call: i64,
}

fn agent_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRow> {
    Ok(AgentRow {
        id: row.get(0)?,
        display_name: row.get(1)?,
        capacity: row.get(2)?,
        status: row.get(3)?,
        last_reserved_at: row.get(4)?,
        last_released_at: row.get(5)?,
        wrap_up_until: row.get(6)?,
        presence: row.get(7)?,
        reserved: row.get(8)?,
        on_call: row.get(9)?,
    })
}

fn agent_record(op: &'static str, now: i64, r: AgentRow) -> Result<AgentRecord> {
    let status = AgentStatus::parse(&r.status).ok_or_else(|| {
        StoreError::corrupt(
            op,
            format!("agent {} has unknown status {:?}", r.id, r.status),
        )
    })?;
    let presence = r
        .presence
        .map(|p| serde_json::from_str::<PresenceSnapshot>(&p))
        .transpose()
        .map_err(|e| StoreError::corrupt(op, format!("agent {} presence: {e}", r.id)))?;
    Ok(AgentRecord {
        capacity: unsigned(op, "capacity", r.capacity)?,
        status,
        reserved: unsigned(op, "reservation count", r.reserved)?,
        on_call: unsigned(op, "on-call count", r.on_call)?,
        last_reserved_at: opt_ts(op, r.last_reserved_at)?,
        last_released_at: opt_ts(op, r.last_released_at)?,
        wrap_up_until: opt_ts(op, r.wrap_up_until)?,
        presence,
        as_of: ts(op, now)?,
        id: TeamsUserId::new(r.id),
        display_name: r.display_name,
    })
}

pub fn get_agent(conn: &Connection, now: i64, agent: &str) -> Result<Option<AgentRecord>> {
    let op = "get_agent";
    let row = conn
        .prepare_cached(&format!("{AGENT_SELECT} WHERE a.agent_id = ?2"))
        .and_then(|mut st| st.query_row(params![now, agent], agent_row).optional())
        .map_err(sql_error(op))?;
    row.map(|r| agent_record(op, now, r)).transpose()
}

/// Like `AGENT_SELECT` for every agent, counting reservations in one pass instead of two
/// correlated subqueries per agent.
const AGENT_LIST: &str = "
SELECT a.agent_id, a.display_name, a.capacity, a.status, a.last_reserved_at,
       a.last_released_at, a.wrap_up_until, a.presence,
       COALESCE(c.reserved, 0), COALESCE(c.on_call, 0)
FROM store_agents a
LEFT JOIN (SELECT agent_id,
                  SUM(state = 'reserved') AS reserved,
                  SUM(state = 'on_call') AS on_call
           FROM store_reservations WHERE expires_at > ?1 GROUP BY agent_id) c
       ON c.agent_id = a.agent_id
ORDER BY a.agent_id";

pub fn list_agents(conn: &Connection, now: i64) -> Result<Vec<AgentRecord>> {
    agents_of(conn, "list_agents", AGENT_LIST, now)
}

/// The agent records `sql` (an `agent_row` select taking `now` as `?1`) selects.
fn agents_of(conn: &Connection, op: &'static str, sql: &str, now: i64) -> Result<Vec<AgentRecord>> {
    let rows = conn
        .prepare_cached(sql)
        .and_then(|mut st| {
            st.query_map([now], agent_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_error(op))?;
    rows.into_iter().map(|r| agent_record(op, now, r)).collect()
}

/// The agents reservable at `now` (the rule of `first_free`), counting reservations per
/// candidate with the `(agent_id, call_key)` index: the rows of busy agents are never decoded.
pub(super) const RESERVABLE_AGENT_LIST: &str = "
SELECT a.agent_id, a.display_name, a.capacity, a.status, a.last_reserved_at,
       a.last_released_at, a.wrap_up_until, a.presence,
       (SELECT COUNT(*) FROM store_reservations r
         WHERE r.agent_id = a.agent_id AND r.expires_at > ?1 AND r.state = 'reserved'),
       (SELECT COUNT(*) FROM store_reservations r
         WHERE r.agent_id = a.agent_id AND r.expires_at > ?1 AND r.state = 'on_call')
FROM store_agents a
WHERE a.status = 'available'
  AND (a.wrap_up_until IS NULL OR a.wrap_up_until <= ?1)
  AND (SELECT COUNT(*) FROM store_reservations r
        WHERE r.agent_id = a.agent_id AND r.expires_at > ?1) < a.capacity
ORDER BY a.agent_id";

pub fn list_reservable_agents(conn: &Connection, now: i64) -> Result<Vec<AgentRecord>> {
    let mut agents = agents_of(conn, "list_reservable_agents", RESERVABLE_AGENT_LIST, now)?;
    // The model's rule has the last word (the SQL above only saves reading the rest).
    agents.retain(AgentRecord::is_reservable);
    Ok(agents)
}

// ------------------------------------------------------------------------------ reservations

const RES_COLUMNS: &str = "token, agent_id, call_key, state, created_at, expires_at";

struct ResRow {
    token: i64,
    agent: String,
    call_key: String,
    state: String,
    created_at: i64,
    expires_at: i64,
}

fn res_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ResRow> {
    Ok(ResRow {
        token: row.get(0)?,
        agent: row.get(1)?,
        call_key: row.get(2)?,
        state: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
    })
}

fn reservation(op: &'static str, r: ResRow) -> Result<Reservation> {
    let state = ReservationState::parse(&r.state).ok_or_else(|| {
        StoreError::corrupt(
            op,
            format!("reservation {} has unknown state {:?}", r.token, r.state),
        )
    })?;
    Ok(Reservation {
        token: ReservationToken::new(r.token.to_string()),
        agent: TeamsUserId::new(r.agent),
        call_key: r.call_key,
        state,
        created_at: ts(op, r.created_at)?,
        expires_at: ts(op, r.expires_at)?,
    })
}

/// Sets a held reservation's expiry (and optionally state) and returns it as stored.
fn update_reservation(
    conn: &Connection,
    op: &'static str,
    mut row: ResRow,
    expires_at: i64,
    state: Option<ReservationState>,
) -> Result<Reservation> {
    if let Some(state) = state {
        row.state = state.as_str().to_owned();
    }
    if expires_at != row.expires_at || state.is_some() {
        conn.prepare_cached(
            "UPDATE store_reservations SET expires_at = ?2, state = ?3 WHERE token = ?1",
        )
        .and_then(|mut st| st.execute(params![row.token, expires_at, row.state]))
        .map_err(sql_error(op))?;
        row.expires_at = expires_at;
    }
    reservation(op, row)
}

/// The call's unexpired reservation on the first of `candidates` it holds one on.
fn existing_for_call(
    conn: &Connection,
    op: &'static str,
    now: i64,
    candidates: &[&str],
    call_key: &str,
) -> Result<Option<ResRow>> {
    let mut held = conn
        .prepare_cached(&format!(
            "SELECT {RES_COLUMNS} FROM store_reservations WHERE call_key = ?1 AND expires_at > ?2"
        ))
        .and_then(|mut st| {
            st.query_map(params![call_key, now], res_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_error(op))?;
    for candidate in candidates {
        if let Some(i) = held.iter().position(|r| r.agent == *candidate) {
            return Ok(Some(held.swap_remove(i)));
        }
    }
    Ok(None)
}

/// The first of `candidates` (a JSON array, best first) that can take a new call at `now`:
/// known, status available, not in wrap-up, fewer unexpired reservations than capacity. One
/// statement for the whole ranking, so a long ranking of busy agents stays cheap.
fn first_free(
    conn: &Connection,
    op: &'static str,
    now: i64,
    candidates_json: &str,
) -> Result<Option<String>> {
    conn.prepare_cached(
        "SELECT a.agent_id FROM json_each(?1) AS c
         JOIN store_agents AS a ON a.agent_id = c.value
         WHERE a.status = 'available'
           AND (a.wrap_up_until IS NULL OR a.wrap_up_until <= ?2)
           AND (SELECT COUNT(*) FROM store_reservations AS r
                 WHERE r.agent_id = a.agent_id AND r.expires_at > ?2) < a.capacity
         ORDER BY c.key
         LIMIT 1",
    )
    .and_then(|mut st| {
        st.query_row(params![candidates_json, now], |r| r.get(0))
            .optional()
    })
    .map_err(sql_error(op))
}

/// Takes a new slot on `agent`, which `first_free` just found free in this transaction.
fn take(
    conn: &Connection,
    op: &'static str,
    now: i64,
    agent: &str,
    call_key: &str,
    ttl_ms: i64,
) -> Result<Reservation> {
    // Lazy reclaim: a holder that died must not block the agent past its TTL. This also
    // removes an expired reservation of this same call, which the UNIQUE key would trip on.
    conn.prepare_cached("DELETE FROM store_reservations WHERE agent_id = ?1 AND expires_at <= ?2")
        .and_then(|mut st| st.execute(params![agent, now]))
        .map_err(sql_error(op))?;
    let token = next_seq(conn, op)?;
    let expires_at = now.saturating_add(ttl_ms);
    conn.prepare_cached(
        "INSERT INTO store_reservations (token, agent_id, call_key, state, created_at, expires_at)
         VALUES (?1, ?2, ?3, 'reserved', ?4, ?5)",
    )
    .and_then(|mut st| st.execute(params![token, agent, call_key, now, expires_at]))
    .map_err(sql_error(op))?;
    conn.prepare_cached("UPDATE store_agents SET last_reserved_at = ?2 WHERE agent_id = ?1")
        .and_then(|mut st| st.execute(params![agent, now]))
        .map_err(sql_error(op))?;
    reservation(
        op,
        ResRow {
            token,
            agent: agent.to_owned(),
            call_key: call_key.to_owned(),
            state: ReservationState::Reserved.as_str().to_owned(),
            created_at: now,
            expires_at,
        },
    )
}

/// Candidates examined per `first_free` statement.
const FIRST_FREE_CHUNK: usize = 32;

/// `reserve` and `reserve_first_of`: existing reservation of the call first, then the first
/// candidate with a free slot.
pub fn reserve_first_of(
    conn: &Connection,
    op: &'static str,
    now: i64,
    candidates: &[&str],
    call_key: &str,
    ttl_ms: i64,
) -> Result<Option<Reservation>> {
    if let Some(row) = existing_for_call(conn, op, now, candidates, call_key)? {
        let expires_at = row.expires_at.max(now.saturating_add(ttl_ms));
        return update_reservation(conn, op, row, expires_at, None).map(Some);
    }
    // `first_free` evaluates its whole batch before ordering, so look at the ranking in
    // chunks: the usual case (a free agent near the top) costs one small chunk, while a
    // ranking of mostly busy agents still costs one statement per chunk, not per agent.
    for chunk in candidates.chunks(FIRST_FREE_CHUNK) {
        let chunk_json = serde_json::to_string(chunk)
            .map_err(|e| StoreError::invalid(op, format!("candidates do not serialize: {e}")))?;
        if let Some(agent) = first_free(conn, op, now, &chunk_json)? {
            return take(conn, op, now, &agent, call_key, ttl_ms).map(Some);
        }
    }
    Ok(None)
}

/// The stored row for a reservation handle, if it is still held at `now`. An expired row is
/// deleted on the way (it would be reclaimed by the next reserve anyway).
fn held(conn: &Connection, op: &'static str, now: i64, r: &Reservation) -> Result<Option<ResRow>> {
    // Tokens from another backend (not integers) simply are not held here.
    let Ok(token) = r.token.as_str().parse::<i64>() else {
        return Ok(None);
    };
    let row = conn
        .prepare_cached(&format!(
            "SELECT {RES_COLUMNS} FROM store_reservations
             WHERE token = ?1 AND agent_id = ?2 AND call_key = ?3"
        ))
        .and_then(|mut st| {
            st.query_row(params![token, r.agent.as_str(), r.call_key], res_row)
                .optional()
        })
        .map_err(sql_error(op))?;
    match row {
        Some(row) if row.expires_at > now => Ok(Some(row)),
        Some(row) => {
            conn.prepare_cached("DELETE FROM store_reservations WHERE token = ?1")
                .and_then(|mut st| st.execute([row.token]))
                .map_err(sql_error(op))?;
            Ok(None)
        }
        None => Ok(None),
    }
}

pub fn renew(
    conn: &Connection,
    now: i64,
    r: &Reservation,
    ttl_ms: i64,
    confirm: bool,
) -> Result<Option<Reservation>> {
    let op = if confirm { "confirm" } else { "renew" };
    let Some(row) = held(conn, op, now, r)? else {
        return Ok(None);
    };
    let expires_at = row.expires_at.max(now.saturating_add(ttl_ms));
    let state = confirm.then_some(ReservationState::OnCall);
    update_reservation(conn, op, row, expires_at, state).map(Some)
}

pub fn release(conn: &Connection, now: i64, r: &Reservation, wrap_up_ms: i64) -> Result<bool> {
    let op = "release";
    let Some(row) = held(conn, op, now, r)? else {
        return Ok(false);
    };
    conn.prepare_cached("DELETE FROM store_reservations WHERE token = ?1")
        .and_then(|mut st| st.execute([row.token]))
        .map_err(sql_error(op))?;
    conn.prepare_cached(
        "UPDATE store_agents SET
             last_released_at = ?2,
             wrap_up_until = CASE WHEN ?3 > 0 THEN MAX(COALESCE(wrap_up_until, 0), ?2 + ?3)
                                  ELSE wrap_up_until END
         WHERE agent_id = ?1",
    )
    .and_then(|mut st| st.execute(params![row.agent, now, wrap_up_ms]))
    .map_err(sql_error(op))?;
    Ok(true)
}

fn list_reservations(
    conn: &Connection,
    op: &'static str,
    now: i64,
    column: &str,
    value: &str,
) -> Result<Vec<Reservation>> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {RES_COLUMNS} FROM store_reservations
             WHERE {column} = ?1 AND expires_at > ?2 ORDER BY token"
        ))
        .and_then(|mut st| {
            st.query_map(params![value, now], res_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_error(op))?;
    rows.into_iter().map(|r| reservation(op, r)).collect()
}

pub fn reservations_for_call(conn: &Connection, now: i64, call: &str) -> Result<Vec<Reservation>> {
    list_reservations(conn, "reservations_for_call", now, "call_key", call)
}

pub fn reservations_for_agent(
    conn: &Connection,
    now: i64,
    agent: &str,
) -> Result<Vec<Reservation>> {
    list_reservations(conn, "reservations_for_agent", now, "agent_id", agent)
}

pub fn sweep_expired(conn: &Connection, now: i64) -> Result<SweepReport> {
    let op = "sweep_expired";
    let delete = |table: &str| -> Result<u64> {
        let n = conn
            .prepare_cached(&format!("DELETE FROM {table} WHERE expires_at <= ?1"))
            .and_then(|mut st| st.execute([now]))
            .map_err(sql_error(op))?;
        Ok(n as u64)
    };
    Ok(SweepReport {
        reservations: delete("store_reservations")?,
        calls: delete("store_calls")?,
        archived_calls: delete("store_call_archive")?,
        marks: delete("store_marks")?,
        members: delete("store_members")?,
    })
}

// -------------------------------------------------------------------------------- call state

pub fn get_call(conn: &Connection, now: i64, key: &str) -> Result<Option<Versioned<Value>>> {
    get_call_text(conn, now, key)?
        .map(|v| v.try_map(|text| decode_call_doc(key, &text)))
        .transpose()
}

/// The stored text of a call's document, not parsed (its reader decodes it into its type).
pub fn get_call_text(conn: &Connection, now: i64, key: &str) -> Result<Option<Versioned<String>>> {
    let op = "get_call";
    let row: Option<(i64, String, i64, i64)> = conn
        .prepare_cached(
            "SELECT version, doc, updated_at, expires_at FROM store_calls
             WHERE call_key = ?1 AND expires_at > ?2",
        )
        .and_then(|mut st| {
            st.query_row(params![key, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
        })
        .map_err(sql_error(op))?;
    let Some((version, doc, updated_at, expires_at)) = row else {
        return Ok(None);
    };
    Ok(Some(Versioned {
        version: unsigned(op, "version", version)?,
        value: doc,
        updated_at: ts(op, updated_at)?,
        expires_at: ts(op, expires_at)?,
    }))
}

pub fn put_call_if(
    conn: &Connection,
    now: i64,
    key: &str,
    expected: Option<u64>,
    doc: &str,
    ttl_ms: i64,
) -> Result<CasOutcome> {
    let op = "put_call_if";
    let current: Option<i64> = conn
        .prepare_cached("SELECT version FROM store_calls WHERE call_key = ?1 AND expires_at > ?2")
        .and_then(|mut st| st.query_row(params![key, now], |r| r.get(0)).optional())
        .map_err(sql_error(op))?;
    let current = current
        .map(|v| unsigned::<u64>(op, "version", v))
        .transpose()?;
    if current != expected {
        return Ok(CasOutcome::Conflict { current });
    }
    let version = next_seq(conn, op)?;
    conn.prepare_cached(
        "INSERT INTO store_calls (call_key, version, doc, updated_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (call_key) DO UPDATE SET
             version = excluded.version, doc = excluded.doc,
             updated_at = excluded.updated_at, expires_at = excluded.expires_at",
    )
    .and_then(|mut st| st.execute(params![key, version, doc, now, now.saturating_add(ttl_ms)]))
    .map_err(sql_error(op))?;
    Ok(CasOutcome::Written {
        version: unsigned(op, "version", version)?,
    })
}

pub fn delete_call(conn: &Connection, now: i64, key: &str) -> Result<bool> {
    let expires: Option<i64> = conn
        .prepare_cached("DELETE FROM store_calls WHERE call_key = ?1 RETURNING expires_at")
        .and_then(|mut st| st.query_row([key], |r| r.get(0)).optional())
        .map_err(sql_error("delete_call"))?;
    Ok(expires.is_some_and(|e| e > now))
}

pub fn archive_call(conn: &Connection, now: i64, key: &str, doc: &str, ttl_ms: i64) -> Result<()> {
    let op = "archive_call";
    conn.prepare_cached("DELETE FROM store_calls WHERE call_key = ?1")
        .and_then(|mut st| st.execute([key]))
        .map_err(sql_error(op))?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO store_call_archive (call_key, doc, archived_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut st| st.execute(params![key, doc, now, now.saturating_add(ttl_ms)]))
    .map_err(sql_error(op))?;
    Ok(())
}

fn archived(op: &'static str, row: (String, String, i64, i64)) -> Result<ArchivedCall> {
    let (call_key, doc, archived_at, expires_at) = row;
    let doc = serde_json::from_str(&doc).map_err(|e| {
        StoreError::corrupt(op, format!("archived call {call_key:?} is not JSON: {e}"))
    })?;
    Ok(ArchivedCall {
        call_key,
        doc,
        archived_at: ts(op, archived_at)?,
        expires_at: ts(op, expires_at)?,
    })
}

fn archive_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

pub fn get_archived_call(conn: &Connection, now: i64, key: &str) -> Result<Option<ArchivedCall>> {
    let op = "get_archived_call";
    let row = conn
        .prepare_cached(
            "SELECT call_key, doc, archived_at, expires_at FROM store_call_archive
             WHERE call_key = ?1 AND expires_at > ?2",
        )
        .and_then(|mut st| st.query_row(params![key, now], archive_row).optional())
        .map_err(sql_error(op))?;
    row.map(|r| archived(op, r)).transpose()
}

pub fn list_archived_calls(conn: &Connection, now: i64, limit: usize) -> Result<Vec<ArchivedCall>> {
    let op = "list_archived_calls";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn
        .prepare_cached(
            "SELECT call_key, doc, archived_at, expires_at FROM store_call_archive
             WHERE expires_at > ?1 ORDER BY archived_at DESC, call_key LIMIT ?2",
        )
        .and_then(|mut st| {
            st.query_map(params![now, limit], archive_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_error(op))?;
    rows.into_iter().map(|r| archived(op, r)).collect()
}

pub fn list_archived_since(
    conn: &Connection,
    now: i64,
    since: i64,
    limit: usize,
) -> Result<Vec<ArchivedCall>> {
    let op = "list_archived_since";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn
        .prepare_cached(
            "SELECT call_key, doc, archived_at, expires_at FROM store_call_archive
             WHERE expires_at > ?1 AND archived_at >= ?2
             ORDER BY archived_at DESC, call_key LIMIT ?3",
        )
        .and_then(|mut st| {
            st.query_map(params![now, since, limit], archive_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_error(op))?;
    rows.into_iter().map(|r| archived(op, r)).collect()
}

pub fn list_calls(
    conn: &Connection,
    now: i64,
    limit: usize,
) -> Result<Vec<(String, Versioned<Value>)>> {
    let op = "list_calls";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn
        .prepare_cached(
            "SELECT call_key, version, doc, updated_at, expires_at FROM store_calls
             WHERE expires_at > ?1 ORDER BY call_key LIMIT ?2",
        )
        .and_then(|mut st| {
            st.query_map(params![now, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_error(op))?;
    rows.into_iter()
        .map(|(key, version, doc, updated_at, expires_at)| {
            let value = serde_json::from_str(&doc).map_err(|e| {
                StoreError::corrupt(op, format!("call state for {key:?} is not JSON: {e}"))
            })?;
            let v = Versioned {
                version: unsigned(op, "version", version)?,
                value,
                updated_at: ts(op, updated_at)?,
                expires_at: ts(op, expires_at)?,
            };
            Ok((key, v))
        })
        .collect()
}

// ------------------------------------------------------------------------------- idempotency

pub fn mark_once(conn: &Connection, now: i64, key: &str, ttl_ms: i64) -> Result<bool> {
    // Inserts, or replaces a marker that has expired; a live marker makes it a no-op.
    let n = conn
        .prepare_cached(
            "INSERT INTO store_marks (key, expires_at) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
             WHERE store_marks.expires_at <= ?3",
        )
        .and_then(|mut st| st.execute(params![key, now.saturating_add(ttl_ms), now]))
        .map_err(sql_error("mark_once"))?;
    Ok(n > 0)
}

pub fn check_mark(conn: &Connection, now: i64, key: &str) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM store_marks WHERE key = ?1 AND expires_at > ?2")
        .and_then(|mut st| st.exists(params![key, now]))
        .map_err(sql_error("check_mark"))
}

pub fn clear_mark(conn: &Connection, now: i64, key: &str) -> Result<bool> {
    let expires: Option<i64> = conn
        .prepare_cached("DELETE FROM store_marks WHERE key = ?1 RETURNING expires_at")
        .and_then(|mut st| st.query_row([key], |r| r.get(0)).optional())
        .map_err(sql_error("clear_mark"))?;
    Ok(expires.is_some_and(|e| e > now))
}

// ------------------------------------------------------------------------------- member sets

pub fn put_member(
    conn: &Connection,
    now: i64,
    set: &str,
    member: &str,
    value: &str,
    ttl_ms: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO store_members (set_key, member, value, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (set_key, member) DO UPDATE
         SET value = excluded.value, expires_at = excluded.expires_at",
    )
    .and_then(|mut st| st.execute(params![set, member, value, now.saturating_add(ttl_ms)]))
    .map_err(sql_error("put_member"))?;
    Ok(())
}

pub fn remove_member(conn: &Connection, now: i64, set: &str, member: &str) -> Result<bool> {
    let expires: Option<i64> = conn
        .prepare_cached(
            "DELETE FROM store_members WHERE set_key = ?1 AND member = ?2 RETURNING expires_at",
        )
        .and_then(|mut st| st.query_row([set, member], |r| r.get(0)).optional())
        .map_err(sql_error("remove_member"))?;
    Ok(expires.is_some_and(|e| e > now))
}

pub fn list_members(conn: &Connection, now: i64, set: &str) -> Result<Vec<(String, Value)>> {
    let op = "list_members";
    let rows: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT member, value FROM store_members WHERE set_key = ?1 AND expires_at > ?2",
        )
        .and_then(|mut st| {
            st.query_map(params![set, now], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_error(op))?;
    rows.into_iter()
        .map(|(member, json)| decode_member(op, set, member, &json))
        .collect()
}
