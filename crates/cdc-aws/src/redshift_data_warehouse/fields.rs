//! Data API fields → the port's cells. The Data API sends integers as
//! `longValue`, floating point as `doubleValue`, booleans as `booleanValue`,
//! and everything else (DECIMAL, dates, timestamps, text) as `stringValue`.

use aws_sdk_redshiftdata::types::Field;
use aws_smithy_types::base64;

use cdc_core::PipelineError;
use cdc_core::ports::Cell;

pub fn cell(field: &Field) -> Result<Cell, PipelineError> {
    Ok(match field {
        Field::IsNull(_) => Cell::Null,
        Field::BooleanValue(b) => Cell::Bool(*b),
        Field::LongValue(v) => Cell::Long(*v),
        Field::DoubleValue(v) => Cell::Double(*v),
        Field::StringValue(s) => Cell::Text(s.clone()),
        // Our SQL selects no binary column; keep the bytes readable anyway.
        Field::BlobValue(b) => Cell::Text(base64::encode(b.as_ref())),
        other => return Err(PipelineError::config(format!("a result field of an unknown kind: {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use aws_smithy_types::Blob;

    use super::*;

    #[test]
    fn every_field_kind_maps_to_its_cell() {
        assert_eq!(cell(&Field::IsNull(true)).unwrap(), Cell::Null);
        assert_eq!(cell(&Field::BooleanValue(true)).unwrap(), Cell::Bool(true));
        assert_eq!(cell(&Field::LongValue(-7)).unwrap(), Cell::Long(-7));
        assert_eq!(cell(&Field::DoubleValue(1.5)).unwrap(), Cell::Double(1.5));
        assert_eq!(
            cell(&Field::StringValue("2026-11-01 20:00:00".into())).unwrap(),
            Cell::Text("2026-11-01 20:00:00".into())
        );
        assert_eq!(cell(&Field::BlobValue(Blob::new(b"hi".to_vec()))).unwrap(), Cell::Text("aGk=".into()));
    }
}
