//! Columns DMS's files carry that the config does not, and columns they no
//! longer carry (docs/table-lifecycle.md, "Schema changes").
//!
//! The effective schema of a table is its configured columns plus the
//! columns added to it, in the order they were added. The warehouse records
//! each addition in `<table>__columns`, in the transaction of the load that
//! added it, so the record and the target's columns never disagree; the
//! config file is never rewritten. Every load and rebuild runs with the
//! effective schema.

use std::collections::BTreeSet;

use crate::config::{Column, ColumnType, SchemaChangePolicy, TableConfig};
use crate::error::PipelineError;
use crate::ident::Ident;
use crate::ports::{FileColumn, FileColumnType, FileKind, RawFile};

/// What the files did to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A column the table lacked.
    Added,
    /// A text column whose values outgrew its length.
    Widened,
    /// A column the files now write as a wider type (integer to bigint):
    /// the table is rebuilt with it, never altered in place (Redshift's
    /// `ALTER COLUMN … TYPE` changes only a VARCHAR's length).
    Retyped,
}

impl ChangeKind {
    /// As `<table>__columns.change` holds it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "add",
            ChangeKind::Widened => "widen",
            ChangeKind::Retyped => "type",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Added, Self::Widened, Self::Retyped].into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// A change the files made to a table's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnChange {
    pub name: Ident,
    /// The column's type from then on.
    pub ty: ColumnType,
    pub change: ChangeKind,
    /// The first file that carried it (in path order); for a widening, the
    /// load that found the longer value.
    pub first_file: String,
    /// A retyped column's type before (unknown when read back from the record).
    pub from: Option<ColumnType>,
}

impl ColumnChange {
    /// How the run record and the state name the change.
    pub fn describe(&self) -> String {
        match self.change {
            ChangeKind::Added => format!("column {} {} added (first in {})", self.name, self.ty, self.first_file),
            ChangeKind::Widened => format!("column {} widened to {} ({})", self.name, self.ty, self.first_file),
            ChangeKind::Retyped => match self.from {
                Some(from) => format!(
                    "column {} changed type from {from} to {} (first in {})",
                    self.name, self.ty, self.first_file
                ),
                None => format!("column {} changed type to {} (first in {})", self.name, self.ty, self.first_file),
            },
        }
    }
}

/// The table as its loads see it: the configured columns with their widened
/// types, then the added ones, in the order the changes were recorded.
pub fn effective(t: &TableConfig, changes: &[ColumnChange]) -> TableConfig {
    let mut out = t.clone();
    for a in changes {
        match out.columns.iter_mut().find(|c| c.name == a.name) {
            Some(c) if matches!(a.change, ChangeKind::Widened | ChangeKind::Retyped) => c.ty = a.ty,
            Some(_) => {}
            None => out.columns.push(Column { name: a.name.clone(), ty: a.ty }),
        }
    }
    out
}

/// The type a text column of `before` takes to hold `chars` characters:
/// `varchar(chars)`, or `varchar` at its widest beyond the longest length
/// the config allows.
pub fn widened(before: ColumnType, chars: u32) -> Option<ColumnType> {
    let n = before.max_chars()?;
    (chars > n).then(|| {
        if chars <= crate::config::MAX_VARCHAR_CHARS {
            ColumnType::Varchar(Some(chars))
        } else {
            ColumnType::Varchar(None)
        }
    })
}

/// The type a column declared `declared` takes when a file writes it as
/// `file`, if that is a widening within one family: a wider integer, `real`
/// to `double precision`, a decimal with more digits on either side. The
/// older files' values fit it, so the table can be rebuilt with it; any
/// other difference is no type change the pipeline makes.
pub fn retyped(declared: ColumnType, file: &FileColumnType) -> Option<ColumnType> {
    use ColumnType as C;
    let new = column_type_of(file)?;
    let rank = |t: C| match t {
        C::SmallInt => Some(1),
        C::Integer => Some(2),
        C::BigInt => Some(3),
        _ => None,
    };
    let wider = match (declared, new) {
        (a, b) if rank(a).is_some() && rank(b).is_some() => rank(b) > rank(a),
        (C::Real, C::Double) => true,
        (C::Numeric(p, s), C::Numeric(p2, s2)) => s2 >= s && p2 - s2 >= p - s && (p2, s2) != (p, s),
        _ => false,
    };
    wider.then_some(new)
}

/// The type changes a batch's files make: per column, the type of the
/// first file (in path order) that writes it wider. `found[i]` is
/// `files[i]`'s retyped columns with their file types. Files that widen one
/// column to two different types fail the table naming both.
pub fn retypes(
    t: &TableConfig,
    files: &[RawFile],
    found: &[Vec<(Ident, FileColumnType)>],
) -> Result<Vec<ColumnChange>, PipelineError> {
    let mut order: Vec<(&RawFile, &Vec<(Ident, FileColumnType)>)> = files.iter().zip(found).collect();
    order.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    let mut out: Vec<ColumnChange> = Vec::new();
    for (file, columns) in order {
        for (name, file_ty) in columns {
            let Some(declared) = t.columns.iter().find(|c| &c.name == name) else { continue };
            let Some(ty) = retyped(declared.ty, file_ty) else { continue };
            match out.iter().find(|c| &c.name == name) {
                Some(seen) if seen.ty != ty => {
                    return Err(PipelineError::data(format!(
                        "table {}: column `{name}` is written as {ty} in {} and as {} in {}: the files disagree on \
                         its new type",
                        t.qualified(),
                        file.path,
                        seen.ty,
                        seen.first_file
                    )));
                }
                Some(_) => {}
                None => out.push(ColumnChange {
                    name: name.clone(),
                    ty,
                    change: ChangeKind::Retyped,
                    first_file: file.path.clone(),
                    from: Some(declared.ty),
                }),
            }
        }
    }
    Ok(out)
}

/// The type an added column gets in the target, from its Parquet type.
/// Text has no length in Parquet: an added text column is `varchar` at its
/// widest, so no later value is refused for its length.
pub fn column_type_of(f: &FileColumnType) -> Option<ColumnType> {
    use FileColumnType as F;
    Some(match f {
        F::Int16 => ColumnType::SmallInt,
        F::Int32 => ColumnType::Integer,
        F::Int64 => ColumnType::BigInt,
        F::Float32 => ColumnType::Real,
        F::Float64 => ColumnType::Double,
        F::Boolean => ColumnType::Boolean,
        F::Date => ColumnType::Date,
        F::Timestamp => ColumnType::Timestamp,
        F::String => ColumnType::Varchar(None),
        F::Decimal(p, s) => ColumnType::Numeric(*p, *s),
        F::Other(_) => return None,
    })
}

/// How a batch's files stand against the effective schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchColumns {
    /// Columns this batch adds to the target (and records).
    pub added: Vec<ColumnChange>,
    /// `(kind, column)`: effective columns no file of that kind in the batch
    /// carries; they load as NULL.
    pub absent: BTreeSet<(FileKind, Ident)>,
    /// Kinds whose files do not all carry the same columns, or not with the
    /// same types: DuckDB reads them by name (`union_by_name`, which also
    /// reads a column at the widest of its files' types).
    pub mixed: BTreeSet<FileKind>,
    /// Columns whose type the files widened: only a rebuild applies these
    /// ([`crate::load::submit_load`] turns a load that finds one into one).
    pub retyped: Vec<ColumnChange>,
}

impl BatchColumns {
    /// Every change the batch makes to the table's columns: the added ones,
    /// then the retyped ones, as they are applied and recorded.
    pub fn changes(&self) -> impl Iterator<Item = &ColumnChange> {
        self.added.iter().chain(&self.retyped)
    }

    /// Whether the column is read from the files of `kind`.
    pub fn reads(&self, kind: FileKind, column: &Ident) -> bool {
        !self.absent.contains(&(kind, column.clone()))
    }
}

/// Which effective columns each kind's files lack, and which kinds mix
/// column sets; `t` must already include `added`.
pub fn batch_columns(
    t: &TableConfig,
    files: &[RawFile],
    schemas: &[Vec<FileColumn>],
    added: Vec<ColumnChange>,
) -> BatchColumns {
    let mut out = BatchColumns { added, ..BatchColumns::default() };
    for kind in [FileKind::Full, FileKind::Cdc] {
        let of_kind: Vec<&Vec<FileColumn>> =
            files.iter().zip(schemas).filter(|(f, _)| f.kind == kind).map(|(_, s)| s).collect();
        if of_kind.is_empty() {
            continue;
        }
        let names = |s: &Vec<FileColumn>| -> BTreeSet<String> {
            s.iter().map(|c| format!("{}:{:?}", c.name.to_ascii_lowercase(), c.ty)).collect()
        };
        let first = names(of_kind[0]);
        if of_kind.iter().any(|s| names(s) != first) {
            out.mixed.insert(kind);
        }
        for c in &t.columns {
            if !of_kind.iter().any(|s| s.iter().any(|f| f.name.eq_ignore_ascii_case(c.name.as_str()))) {
                out.absent.insert((kind, c.name.clone()));
            }
        }
    }
    out
}

/// The columns a batch adds: each file's columns the effective table lacks,
/// typed from the first file (in path order) that carries them. Under
/// `on_schema_change = "fail"` there are none: [`crate::load::check_file_schema`]
/// has refused such a file already.
pub fn additions(
    t: &TableConfig,
    files: &[RawFile],
    extras: &[Vec<FileColumn>],
) -> Result<Vec<ColumnChange>, PipelineError> {
    let mut order: Vec<(&RawFile, &Vec<FileColumn>)> = files.iter().zip(extras).collect();
    order.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    let mut out: Vec<(ColumnChange, FileColumnType)> = Vec::new();
    for (file, columns) in order {
        for c in columns {
            let at = |what: String| {
                PipelineError::data(format!(
                    "table {}: file {}: new column `{}` {what}",
                    t.qualified(),
                    file.path,
                    c.name
                ))
            };
            if let Some((seen, seen_ty)) = out.iter().find(|(a, _)| a.name.as_str().eq_ignore_ascii_case(&c.name)) {
                if *seen_ty != c.ty {
                    return Err(at(format!("is {:?} here and {seen_ty:?} in {}", c.ty, seen.first_file)));
                }
                continue;
            }
            let name = Ident::new(&c.name).map_err(|e| at(format!("cannot be added: {e}")))?;
            let ty = column_type_of(&c.ty)
                .ok_or_else(|| at(format!("has the Parquet type {:?}, which the pipeline cannot store", c.ty)))?;
            out.push((
                ColumnChange { name, ty, change: ChangeKind::Added, first_file: file.path.clone(), from: None },
                c.ty.clone(),
            ));
        }
    }
    debug_assert!(out.is_empty() || t.on_schema_change == SchemaChangePolicy::AddColumns);
    Ok(out.into_iter().map(|(a, _)| a).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;

    fn accounts() -> TableConfig {
        let cfg = PipelineConfig::parse(include_str!("../../../config/pipeline.toml"), "demo").unwrap();
        cfg.table("pgbench_accounts").unwrap().clone()
    }

    fn file(path: &str, kind: FileKind) -> RawFile {
        RawFile {
            path: path.into(),
            kind,
            partition: None,
            size: 1,
            modified: chrono::DateTime::UNIX_EPOCH,
            version: String::new(),
        }
    }

    fn col(name: &str, ty: FileColumnType) -> FileColumn {
        FileColumn { name: name.into(), ty }
    }

    #[test]
    fn an_added_column_is_typed_from_the_first_file_that_carries_it() {
        // GIVEN two files carrying `email`, the later one listed first
        let t = accounts();
        let files = [file("s3://b/t/2.parquet", FileKind::Cdc), file("s3://b/t/1.parquet", FileKind::Cdc)];
        let extras = vec![vec![col("Email", FileColumnType::String)], vec![col("email", FileColumnType::String)]];
        // WHEN the additions are found
        let added = additions(&t, &files, &extras).unwrap();
        // THEN one column, lower-cased, varchar at its widest, first seen in 1.parquet
        assert_eq!(added.len(), 1);
        assert_eq!((added[0].name.as_str(), added[0].ty), ("email", ColumnType::Varchar(None)));
        assert_eq!(added[0].first_file, "s3://b/t/1.parquet");
        // AND the effective table has it last, once
        let e = effective(&effective(&t, &added), &added);
        assert_eq!(e.columns.last().unwrap().name.as_str(), "email");
        assert_eq!(e.columns.len(), t.columns.len() + 1);
    }

    #[test]
    fn files_that_disagree_on_a_new_column_s_type_name_both() {
        let t = accounts();
        let files = [file("s3://b/t/1.parquet", FileKind::Cdc), file("s3://b/t/2.parquet", FileKind::Cdc)];
        let extras = vec![vec![col("score", FileColumnType::Int32)], vec![col("score", FileColumnType::String)]];
        let e = additions(&t, &files, &extras).unwrap_err();
        assert!(
            e.message.contains("2.parquet") && e.message.contains("1.parquet") && e.message.contains("score"),
            "{e}"
        );
        // AND a name the pipeline cannot quote safely is refused naming it
        let e = additions(&t, &files[..1], &[vec![col("bad-name", FileColumnType::Int32)]]).unwrap_err();
        assert!(e.message.contains("bad-name"), "{e}");
    }

    #[test]
    fn columns_no_file_of_a_kind_carries_are_absent_and_mixed_sets_are_marked() {
        // GIVEN a full-load file without `filler` and CDC files with and without it
        let t = accounts();
        let base =
            [("aid", FileColumnType::Int32), ("bid", FileColumnType::Int32), ("abalance", FileColumnType::Int32)];
        let with = |extra: bool| -> Vec<FileColumn> {
            let mut v: Vec<FileColumn> = base.iter().map(|(n, ty)| col(n, ty.clone())).collect();
            if extra {
                v.push(col("filler", FileColumnType::String));
            }
            v
        };
        let files = [
            file("s3://b/LOAD1.parquet", FileKind::Full),
            file("s3://b/c1.parquet", FileKind::Cdc),
            file("s3://b/c2.parquet", FileKind::Cdc),
        ];
        let bc = batch_columns(&t, &files, &[with(false), with(true), with(false)], Vec::new());
        let filler = Ident::new("filler").unwrap();
        // THEN filler is absent from the full load only, and the CDC files mix
        assert!(!bc.reads(FileKind::Full, &filler) && bc.reads(FileKind::Cdc, &filler));
        assert_eq!(bc.mixed, BTreeSet::from([FileKind::Cdc]));
    }
}

#[cfg(test)]
mod widening_tests {
    use super::*;
    use crate::sql::merge::columns_to_widen;

    #[test]
    fn a_failed_load_names_the_columns_to_widen_and_their_lengths() {
        let message = "CDC_DATA_ERROR: table public.t: text longer than its column (the source widened it): \
                       CDC_WIDEN(filler=120,v=7,)";
        assert_eq!(columns_to_widen(message), Some(vec![("filler".to_string(), 120), ("v".to_string(), 7)]));
        assert_eq!(columns_to_widen("CDC_DATA_ERROR: table public.t: null key (id) in file f"), None);
        assert_eq!(columns_to_widen("CDC_WIDEN()"), None);
    }

    #[test]
    fn text_widens_to_the_longest_value_and_past_the_config_s_limit_to_varchar() {
        assert_eq!(widened(ColumnType::Varchar(Some(10)), 25), Some(ColumnType::Varchar(Some(25))));
        assert_eq!(widened(ColumnType::Char(84), 100), Some(ColumnType::Varchar(Some(100))));
        assert_eq!(widened(ColumnType::Varchar(Some(10)), 10), None, "it fits");
        assert_eq!(widened(ColumnType::Varchar(Some(10)), 20_000), Some(ColumnType::Varchar(None)));
        assert_eq!(widened(ColumnType::Integer, 20), None, "not text");
    }
}
