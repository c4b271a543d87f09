//! Column names in messages: the list of a file's names, short and printable, and what is said
//! of columns a file lacks, for a CSV header and a Parquet schema alike. A column the file has
//! but for surrounding whitespace or letter case is pointed out, since a list of names does not
//! show a leading space; it is not taken in its place, as scoring matches names exactly.

use crate::error::Error;

/// The most column names an error message lists.
const SHOWN_NAMES: usize = 30;

/// The header's names for a message: control characters escaped, long names cut, and at most
/// [`SHOWN_NAMES`] of them, so that a file that is not what it should be gives one short line.
pub(crate) fn shown_names(names: &[String]) -> String {
    const LONGEST: usize = 64;
    let mut shown: Vec<String> = Vec::new();
    for name in names.iter().take(SHOWN_NAMES) {
        let mut text = String::new();
        for c in name.chars().take(LONGEST) {
            if c.is_control() {
                text.extend(c.escape_default());
            } else {
                text.push(c);
            }
        }
        if name.chars().count() > LONGEST {
            text.push_str("...");
        }
        shown.push(text);
    }
    if names.len() > SHOWN_NAMES {
        shown.push(format!("and {} more", names.len() - SHOWN_NAMES));
    }
    shown.join(", ")
}

/// The message for the `missing` columns (wanted as `what`: "feature", "target") of a file
/// whose columns are `names`: `missing feature column CRIM; the file has " CRIM" (CRIM with a
/// leading space), but column names must match exactly`. The file's names are listed unless
/// every missing column is one of those near misses, which then say all there is to say.
pub(crate) fn missing_columns(what: &str, missing: &[&str], names: &[String]) -> String {
    let plural = if missing.len() == 1 { "" } else { "s" };
    let near = near_misses(missing, names);
    let mut message = format!("missing {what} column{plural} {}", missing.join(", "));
    if near.len() < missing.len() {
        message.push_str(&format!(" (the file has: {})", shown_names(names)));
    }
    message + &must_match_exactly(&near) + &other_separator(missing, names)
}

/// `; the header is one column, whose name holds the missing names between ';': columns are
/// separated by commas here, so convert the file to commas first`, when a file separated by
/// semicolons, tabs or bars (as spreadsheets in many locales save them) was given; or nothing.
fn other_separator(missing: &[&str], names: &[String]) -> String {
    let [only] = names else {
        return String::new();
    };
    let found = [(';', "';'"), ('\t', "tabs"), ('|', "'|'")]
        .into_iter()
        .find(|&(c, _)| {
            let parts: Vec<&str> = only.split(c).map(str::trim).collect();
            parts.len() > 1 && missing.iter().any(|m| parts.contains(m))
        });
    match found {
        Some((_, between)) => format!(
            "; the header is one column, whose name holds the missing names between {between}: \
             columns are separated by commas here, so convert the file to commas first"
        ),
        None => String::new(),
    }
}

/// The usage error for `--id-column`s `ids` that `path`, with columns `names`, does not have,
/// pointing out near misses as [`missing_columns`] does.
pub(crate) fn unknown_id_columns(path: &str, names: &[String], ids: &[String]) -> Error {
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !names.contains(id))
        .map(String::as_str)
        .collect();
    let plural = if missing.len() == 1 { "" } else { "s" };
    let near = near_misses(&missing, names);
    let mut message = format!(
        "--id-column {}: {path} has no column{plural} of that name",
        missing.join(",")
    );
    if near.len() < missing.len() {
        message.push_str(&format!("; its columns are {}", shown_names(names)));
    }
    Error::Usage(message + &must_match_exactly(&near))
}

/// `; the file has " CRIM" (CRIM with a leading space), but column names must match exactly`,
/// or nothing when there are no near misses. Several that differ alike (a header written
/// `CRIM, ZN, INDUS`) are said once: `the file has each of them with a leading space (" ZN",
/// " INDUS")`. At most [`SHOWN_NAMES`] are listed.
fn must_match_exactly(near: &[NearMiss]) -> String {
    let Some(first) = near.first() else {
        return String::new();
    };
    let alike = near.len() > 1 && near.iter().all(|n| n.how == first.how);
    let mut listed: Vec<String> = near
        .iter()
        .take(SHOWN_NAMES)
        .map(|n| match alike {
            true => format!("{:?}", n.name),
            false => format!("{:?} ({} {})", n.name, n.wanted, n.how),
        })
        .collect();
    if near.len() > SHOWN_NAMES {
        listed.push(format!("and {} more", near.len() - SHOWN_NAMES));
    }
    let listed = listed.join(", ");
    let has = match alike {
        true => format!("each of them {} ({listed})", first.how),
        false => listed,
    };
    format!("; the file has {has}, but column names must match exactly")
}

/// A column the file has that is a wanted one but for whitespace around it or letter case.
struct NearMiss<'a> {
    /// The wanted name.
    wanted: &'a str,
    /// The file's name.
    name: &'a str,
    /// How the file's name differs: "with a leading space".
    how: String,
}

/// For each of the `missing` names that one of `names` matches but for surrounding whitespace
/// or letter case, the first such name.
fn near_misses<'a>(missing: &[&'a str], names: &'a [String]) -> Vec<NearMiss<'a>> {
    missing
        .iter()
        .filter_map(|&wanted| {
            names.iter().find_map(|name| {
                let how = how_it_differs(wanted, name)?;
                Some(NearMiss { wanted, name, how })
            })
        })
        .collect()
}

/// How `name` differs from `wanted`, when it is `wanted` but for whitespace around it or the
/// case of its letters: "with a leading space", "in another case, with trailing spaces".
fn how_it_differs(wanted: &str, name: &str) -> Option<String> {
    let trimmed = name.trim();
    if name == wanted || trimmed.to_lowercase() != wanted.to_lowercase() {
        return None;
    }
    let leading = &name[..name.len() - name.trim_start().len()];
    let trailing = &name[name.trim_end().len()..];
    let mut spaces = Vec::new();
    for (blank, side) in [(leading, "leading"), (trailing, "trailing")] {
        spaces.push(match blank {
            "" => continue,
            " " => format!("a {side} space"),
            _ if blank.chars().all(|c| c == ' ') => format!("{side} spaces"),
            _ => format!("{side} whitespace"),
        });
    }
    let spaces = (!spaces.is_empty()).then(|| format!("with {}", spaces.join(" and ")));
    let case = (trimmed != wanted).then(|| "in another case".to_string());
    Some(match (case, spaces) {
        (Some(case), Some(spaces)) => format!("{case}, {spaces}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => unreachable!("name differs from wanted, so in case or in spaces"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_column_with_a_space_around_it_is_named_as_it_is_in_the_file() {
        let file = names(&[" CRIM", "ZN  ", "\tINDUS", " NOX "]);
        assert_eq!(
            missing_columns("feature", &["CRIM", "ZN", "INDUS", "NOX"], &file),
            "missing feature columns CRIM, ZN, INDUS, NOX; the file has \" CRIM\" (CRIM with a \
             leading space), \"ZN  \" (ZN with trailing spaces), \"\\tINDUS\" (INDUS with \
             leading whitespace), \" NOX \" (NOX with a leading space and a trailing space), \
             but column names must match exactly"
        );
    }

    #[test]
    fn a_header_separated_by_semicolons_tabs_or_bars_is_pointed_out() {
        let hint = |between: &str| {
            format!(
                "; the header is one column, whose name holds the missing names between \
                 {between}: columns are separated by commas here, so convert the file to commas \
                 first"
            )
        };
        for (header, between) in [
            ("CRIM;ZN", "';'"),
            ("CRIM\tZN", "tabs"),
            ("CRIM | ZN", "'|'"),
        ] {
            let message = missing_columns("feature", &["CRIM", "ZN"], &names(&[header]));
            assert!(message.ends_with(&hint(between)), "{message}");
            assert!(message.starts_with("missing feature columns CRIM, ZN (the file has: "));
        }
        // Not for a one-column header that does not hold the names, nor for several columns.
        for file in [
            names(&["a;b"]),
            names(&["CRIM;ZN", "x"]),
            names(&["CRIMZN"]),
        ] {
            let message = missing_columns("feature", &["CRIM", "ZN"], &file);
            assert!(!message.contains("separated by commas"), "{message}");
        }
    }

    #[test]
    fn a_column_in_another_case_is_named_as_it_is_in_the_file() {
        let file = names(&["crim", " Zn"]);
        assert_eq!(
            missing_columns("feature", &["CRIM", "ZN"], &file),
            "missing feature columns CRIM, ZN; the file has \"crim\" (CRIM in another case), \
             \" Zn\" (ZN in another case, with a leading space), but column names must match \
             exactly"
        );
    }

    #[test]
    fn the_files_columns_are_listed_when_a_missing_one_has_no_near_miss() {
        let file = names(&["A", " B"]);
        assert_eq!(
            missing_columns("feature", &["B", "C"], &file),
            "missing feature columns B, C (the file has: A,  B); the file has \" B\" (B with a \
             leading space), but column names must match exactly"
        );
        assert_eq!(
            missing_columns("target", &["C"], &file),
            "missing target column C (the file has: A,  B)"
        );
    }

    #[test]
    fn columns_that_differ_alike_are_said_once() {
        let file = names(&["CRIM", " ZN", " INDUS"]);
        assert_eq!(
            missing_columns("feature", &["ZN", "INDUS"], &file),
            "missing feature columns ZN, INDUS; the file has each of them with a leading space \
             (\" ZN\", \" INDUS\"), but column names must match exactly"
        );
    }

    #[test]
    fn only_whitespace_and_case_make_a_near_miss() {
        assert_eq!(how_it_differs("CRIM", "CRIM"), None);
        assert_eq!(how_it_differs("CRIM", "CRIM2"), None);
        assert_eq!(how_it_differs("CRIM", "C RIM"), None);
        assert_eq!(how_it_differs("CRIM", "  "), None);
    }

    #[test]
    fn an_id_column_near_miss_is_pointed_out_too() {
        let file = names(&[" id", "CRIM"]);
        let err = unknown_id_columns("d.csv", &file, &names(&["id"]));
        assert_eq!(
            err.to_string(),
            "--id-column id: d.csv has no column of that name; the file has \" id\" (id with a \
             leading space), but column names must match exactly"
        );
        let err = unknown_id_columns("d.csv", &file, &names(&["key"]));
        assert_eq!(
            err.to_string(),
            "--id-column key: d.csv has no column of that name; its columns are  id, CRIM"
        );
    }
}
