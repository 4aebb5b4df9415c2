//! Items imported from CSV, as a barcode scanner or a spreadsheet exports them.
//!
//! The first line names the columns, in any order: `nomenclature`, `serial`, `class` and
//! `title_holder` are required; `case` and `condition` may be given (condition defaults
//! to `serviceable`). Fields may be quoted (RFC 4180, `""` for a quote); a quoted field
//! may not span lines. A byte-order mark and CRLF line ends are accepted; blank lines
//! are skipped.
//!
//! Every bad row is reported with its line number (the header is line 1), not only the
//! first, and a file with any bad row yields no items at all: nothing is half-imported.

use crate::item::{check_name, check_party, AccountingClass, Condition, ItemKey};
use crate::Error;
use std::collections::HashMap;

/// Most rows in one import.
pub const MAX_ROWS: usize = 1_000_000;
/// Longest line.
pub const MAX_LINE: usize = 4096;
/// Most bad rows shown in an error (all are counted).
pub const MAX_REPORTED: usize = 50;

/// One row read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line it was on.
    pub line: usize,
    /// Nomenclature and serial.
    pub key: ItemKey,
    /// Accounting class.
    pub class: AccountingClass,
    /// Case or letter of offer.
    pub case: Option<String>,
    /// Who holds title.
    pub title_holder: String,
    /// Condition.
    pub condition: Condition,
}

const COLUMNS: [&str; 6] = [
    "nomenclature",
    "serial",
    "class",
    "title_holder",
    "case",
    "condition",
];
const REQUIRED: usize = 4;

/// Split one line into fields.
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            was_quoted = false;
        } else if c == '"' && cur.is_empty() && !was_quoted {
            quoted = true;
            was_quoted = true;
        } else if was_quoted {
            return Err(format!("text {c:?} after a closing quote"));
        } else if c == '"' {
            return Err("a quote inside an unquoted field".into());
        } else {
            cur.push(c);
        }
    }
    if quoted {
        return Err("a quoted field is not closed on its line".into());
    }
    out.push(cur);
    Ok(out)
}

/// Read every row of `text`, or every bad row's line and reason.
pub fn read(text: &str) -> Result<Vec<Row>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    let mut bad: Vec<(usize, String)> = Vec::new();
    let Some((_, header)) = lines.by_ref().find(|(_, l)| !l.trim().is_empty()) else {
        return Err(Error::Csv(vec![(1, "the file is empty: the first line names the columns (nomenclature,serial,class,title_holder)".into())]));
    };
    let names = fields(header).map_err(|e| Error::Csv(vec![(1, e)]))?;
    let mut at = [usize::MAX; 6];
    for (i, n) in names.iter().enumerate() {
        let n = n.trim().to_ascii_lowercase();
        match COLUMNS.iter().position(|c| *c == n) {
            Some(c) if at[c] != usize::MAX => {
                return Err(Error::Csv(vec![(
                    1,
                    format!("column {n:?} is named twice"),
                )]))
            }
            Some(c) => at[c] = i,
            None => {
                return Err(Error::Csv(vec![(
                    1,
                    format!(
                        "unknown column {n:?} (the columns are {})",
                        COLUMNS.join(", ")
                    ),
                )]))
            }
        }
    }
    if let Some(m) = (0..REQUIRED).find(|c| at[*c] == usize::MAX) {
        return Err(Error::Csv(vec![(
            1,
            format!(
                "the header has no {:?} column (required: {})",
                COLUMNS[m],
                COLUMNS[..REQUIRED].join(", ")
            ),
        )]));
    }
    let mut rows = Vec::new();
    let mut first_seen: HashMap<ItemKey, usize> = HashMap::new();
    for (line, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        if rows.len() + bad.len() >= MAX_ROWS {
            bad.push((line, format!("more than {MAX_ROWS} rows: split the file")));
            break;
        }
        if text.len() > MAX_LINE {
            bad.push((
                line,
                format!("{} bytes long; a line is at most {MAX_LINE}", text.len()),
            ));
            continue;
        }
        match row(line, text, &names, &at) {
            Err(why) => bad.push((line, why)),
            Ok(r) => match first_seen.get(&r.key) {
                Some(first) => bad.push((line, format!("{} is already on line {first}", r.key))),
                None => {
                    first_seen.insert(r.key.clone(), line);
                    rows.push(r);
                }
            },
        }
    }
    if bad.is_empty() {
        Ok(rows)
    } else {
        Err(Error::Csv(bad))
    }
}

fn row(line: usize, text: &str, names: &[String], at: &[usize; 6]) -> Result<Row, String> {
    let f = fields(text)?;
    if f.len() != names.len() {
        return Err(format!(
            "{} fields; the header names {}",
            f.len(),
            names.len()
        ));
    }
    let get = |c: usize| -> Option<&str> {
        (at[c] != usize::MAX)
            .then(|| f[at[c]].trim())
            .filter(|s| !s.is_empty())
    };
    let need = |c: usize| get(c).ok_or_else(|| format!("{} is empty", COLUMNS[c]));
    let strip = |e: Error| match e {
        Error::Field { field, problem } => format!("{field} {problem}"),
        other => other.to_string(),
    };
    let nomenclature = need(0)?;
    let serial = need(1)?;
    let key = ItemKey::new(nomenclature, serial).map_err(strip)?;
    let class = AccountingClass::parse(need(2)?)?;
    let title_holder = need(3)?;
    check_party("title_holder", title_holder).map_err(strip)?;
    let case = match get(4) {
        Some(c) => {
            check_name("case", c).map_err(strip)?;
            Some(c.to_string())
        }
        None => None,
    };
    let condition = match get(5) {
        Some(c) => Condition::parse(c)?,
        None => Condition::Serviceable,
    };
    Ok(Row {
        line,
        key,
        class,
        case,
        title_holder: title_holder.to_string(),
        condition,
    })
}

/// Read a list of items sighted or named (`nomenclature,serial`, optionally `holder`
/// and `condition`; the header names the columns), every bad row named by its line.
pub fn read_lines(text: &str) -> Result<Vec<crate::record::Line>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    let Some((_, header)) = lines.by_ref().find(|(_, l)| !l.trim().is_empty()) else {
        return Err(Error::Csv(vec![(
            1,
            "the file is empty: the first line names the columns (nomenclature,serial)".into(),
        )]));
    };
    const COLS: [&str; 4] = ["nomenclature", "serial", "holder", "condition"];
    let names = fields(header).map_err(|e| Error::Csv(vec![(1, e)]))?;
    let mut at = [usize::MAX; 4];
    for (i, n) in names.iter().enumerate() {
        let n = n.trim().to_ascii_lowercase();
        match COLS.iter().position(|c| *c == n) {
            Some(c) if at[c] == usize::MAX => at[c] = i,
            _ => {
                return Err(Error::Csv(vec![(
                    1,
                    format!(
                        "column {n:?} is unknown or named twice (the columns are {})",
                        COLS.join(", ")
                    ),
                )]))
            }
        }
    }
    if at[0] == usize::MAX || at[1] == usize::MAX {
        return Err(Error::Csv(vec![(
            1,
            "the header names the nomenclature and serial columns".into(),
        )]));
    }
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let mut seen: HashMap<ItemKey, usize> = HashMap::new();
    for (line, t) in lines {
        if t.trim().is_empty() {
            continue;
        }
        if out.len() + bad.len() >= MAX_ROWS || t.len() > MAX_LINE {
            bad.push((
                line,
                format!("more than {MAX_ROWS} rows, or a line over {MAX_LINE} bytes"),
            ));
            break;
        }
        let row = (|| -> Result<crate::record::Line, String> {
            let f = fields(t)?;
            if f.len() != names.len() {
                return Err(format!(
                    "{} fields; the header names {}",
                    f.len(),
                    names.len()
                ));
            }
            let get = |c: usize| {
                (at[c] != usize::MAX)
                    .then(|| f[at[c]].trim())
                    .filter(|s| !s.is_empty())
            };
            let key = ItemKey::new(get(0).unwrap_or(""), get(1).unwrap_or(""))
                .map_err(|e| e.to_string())?;
            let holder = match get(2) {
                Some(h) => {
                    check_name("holder", h).map_err(|e| e.to_string())?;
                    Some(h.to_string())
                }
                None => None,
            };
            let condition = get(3).map(Condition::parse).transpose()?;
            Ok(crate::record::Line {
                holder,
                condition,
                ..crate::record::Line::of(key)
            })
        })();
        match row {
            Err(why) => bad.push((line, why)),
            Ok(l) => match seen.get(&l.key) {
                Some(first) => bad.push((line, format!("{} is already on line {first}", l.key))),
                None => {
                    seen.insert(l.key.clone(), line);
                    out.push(l);
                }
            },
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(Error::Csv(bad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_in_any_column_order() {
        let t = "\u{feff}serial,nomenclature,class,title_holder,case\r\n0001,KIV-77,cci,USA,PK-D-QAB\r\n\r\n\"00,2\",KIV-77,cci,USA,\n";
        let e = read(t).unwrap_err().to_string();
        assert!(
            e.contains("line 4: field `serial`") || e.contains("line 4: serial"),
            "{e}"
        );
        let t = "serial,nomenclature,class,title_holder,case\n0001,KIV-77,cci,USA,PK-D-QAB\n\"0002\",\"AN/PRC-117G\",eeum,PAK,\n";
        let rows = read(t).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].key.nomenclature, "AN/PRC-117G");
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[0].case.as_deref(), Some("PK-D-QAB"));
    }

    #[test]
    fn every_bad_row_is_named_by_line() {
        let t = "nomenclature,serial,class,title_holder\nKIV-77,1,cci,USA\nKIV-77,1,cci,USA\nKIV-77,2,secret,USA\nKIV-77,3,cci\nKIV-77,4,cci,usa\n\"KIV-77,5,cci,USA\n";
        let Error::Csv(bad) = read(t).unwrap_err() else {
            panic!()
        };
        let lines: Vec<usize> = bad.iter().map(|b| b.0).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7], "{bad:?}");
        assert!(bad[0].1.contains("already on line 2"));
        assert!(bad[1].1.contains("accounting class \"secret\""));
        for bad_header in [
            "",
            "serial,class",
            "nomenclature,serial,class,title_holder,colour",
        ] {
            assert!(matches!(read(bad_header), Err(Error::Csv(b)) if b[0].0 == 1));
        }
    }
}
