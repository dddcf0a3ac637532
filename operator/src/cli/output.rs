//! What a verb prints: the AWS CLI's JSON (`--output json`) or a table for people
//! (`--output table`, the default).

use serde_json::Value;

use super::CliError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Table,
}

impl Format {
    pub fn parse(text: Option<&str>) -> Result<Format, CliError> {
        match text {
            None | Some("table") => Ok(Format::Table),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(CliError::usage(format!("--output: {other:?} is not json or table"))),
        }
    }
}

/// A verb's answer in both forms.
pub struct Response {
    pub json: Value,
    pub table: String,
}

impl Response {
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => format!("{}\n", serde_json::to_string_pretty(&self.json).expect("JSON values serialize")),
            Format::Table => self.table.clone(),
        }
    }
}

/// Rows under headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(headers.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// `failures[]` as lines under a table.
pub fn failure_lines(failures: &[Value]) -> String {
    failures.iter().map(|f| format!("FAILURE  {}  {}\n", text(&f["arn"]), text(&f["reason"]))).collect()
}

/// A JSON value as a table cell: strings bare, absent as `-`.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let rows = vec![vec!["web".to_string(), "6".to_string()], vec!["worker-long".to_string(), "12".to_string()]];
        assert_eq!(table(&["NAME", "DESIRED"], &rows), "NAME         DESIRED\nweb          6\nworker-long  12\n");
    }

    #[test]
    fn only_json_and_table_are_formats() {
        assert_eq!(Format::parse(None).unwrap(), Format::Table);
        assert_eq!(Format::parse(Some("json")).unwrap(), Format::Json);
        assert!(Format::parse(Some("yaml")).unwrap_err().to_string().contains("--output"));
    }
}
