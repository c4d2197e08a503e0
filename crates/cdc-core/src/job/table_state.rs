//! Each table's life apart from the job's (docs/table-lifecycle.md): a
//! failed, waiting or resyncing table stands alone while the others load.
//! The warehouse stays the authority for what was applied (a rebuild's
//! marker row); this records requests, states and the statement of a
//! rebuild in flight, which the next execution polls if this one ends first.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::StatementId;

/// What a table is doing, as `cdc status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableLife {
    /// Loading its changes as they come.
    Active,
    /// A resync was requested and has not started.
    ResyncRequired,
    /// A rebuild (a resync, or a DMS reload) is running.
    Resyncing,
    /// A DMS reload is still being written; the table loads nothing until it
    /// is rebuilt from the whole reload.
    Waiting,
    /// Its last load failed; the reason says why.
    Failed,
}

impl TableLife {
    pub fn as_str(self) -> &'static str {
        match self {
            TableLife::Active => "Active",
            TableLife::ResyncRequired => "ResyncRequired",
            TableLife::Resyncing => "Resyncing",
            TableLife::Waiting => "Waiting",
            TableLife::Failed => "Failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::ResyncRequired, Self::Resyncing, Self::Waiting, Self::Failed]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// A table's stored state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    pub life: TableLife,
    pub reason: Option<String>,
    /// The rebuild in flight.
    pub statement_id: Option<StatementId>,
    /// A resync requested and not yet done (the newest request).
    pub resync_requested: Option<DateTime<Utc>>,
    pub updated: DateTime<Utc>,
    /// The last change to the table's columns a load made, described
    /// (`column email varchar added (first in …)`), and when.
    #[serde(default)]
    pub schema_change: Option<String>,
    #[serde(default)]
    pub schema_changed: Option<DateTime<Utc>>,
    /// The execution that made those changes: a further change by the same
    /// execution is added to the description, so a run that widens a
    /// column and then adds one names both.
    #[serde(default)]
    pub schema_changed_by: Option<String>,
}

impl TableState {
    /// The state as shown: a pending request or a rebuild in flight says
    /// more than the last recorded life.
    pub fn shown(&self) -> TableLife {
        match (self.life, &self.statement_id, self.resync_requested) {
            (TableLife::Resyncing, Some(_), _) => TableLife::Resyncing,
            (_, _, Some(_)) => TableLife::ResyncRequired,
            (life, ..) => life,
        }
    }
}

/// One change to a table's state; every store applies it as [`apply`] does.
#[derive(Debug, Clone, PartialEq)]
pub enum TableUpdate {
    /// A person (or an execution's `Resync` input) asks for a resync.
    RequestResync { at: DateTime<Utc> },
    /// A load step records what the table is doing; the request stays.
    Set { life: TableLife, reason: Option<String>, statement_id: Option<StatementId>, at: DateTime<Utc> },
    /// A rebuild submitted at `submitted_at` committed: the table is
    /// active (its reason still says why it was rebuilt), and a request
    /// made before that submit is done (one made since stays).
    Rebuilt { submitted_at: DateTime<Utc>, at: DateTime<Utc> },
    /// A committed load (of execution `by`) changed the table's columns;
    /// its life is unchanged.
    SchemaChanged { what: String, at: DateTime<Utc>, by: String },
}

/// The description after a change `what` by execution `by`: added to the
/// stored one when the same execution made that, else in its place.
pub fn schema_changes_of(s: &TableState, what: &str, by: &str) -> String {
    match (&s.schema_change, &s.schema_changed_by) {
        (Some(before), Some(prior)) if prior == by && !before.split("; ").any(|w| w == what) => {
            format!("{before}; {what}")
        }
        (Some(before), Some(prior)) if prior == by => before.clone(),
        _ => what.to_string(),
    }
}

/// The state after `update`.
pub fn apply(before: Option<TableState>, update: &TableUpdate) -> TableState {
    let mut s = before.unwrap_or(TableState {
        life: TableLife::Active,
        reason: None,
        statement_id: None,
        resync_requested: None,
        updated: DateTime::UNIX_EPOCH,
        schema_change: None,
        schema_changed: None,
        schema_changed_by: None,
    });
    match update {
        TableUpdate::RequestResync { at } => {
            s.resync_requested = Some(*at);
            s.updated = *at;
        }
        TableUpdate::Set { life, reason, statement_id, at } => {
            s.life = *life;
            s.reason = reason.clone();
            s.statement_id = statement_id.clone();
            s.updated = *at;
        }
        TableUpdate::Rebuilt { submitted_at, at } => {
            // The reason stays: why the table was rebuilt, for the run record.
            s.life = TableLife::Active;
            s.statement_id = None;
            s.resync_requested = s.resync_requested.filter(|r| r > submitted_at);
            s.updated = *at;
        }
        TableUpdate::SchemaChanged { what, at, by } => {
            s.schema_change = Some(schema_changes_of(&s, what, by));
            s.schema_changed = Some(*at);
            s.schema_changed_by = Some(by.clone());
            s.updated = *at;
        }
    }
    s
}
