//! Output formatting as podman does it: `--format` Go templates, `json`,
//! `table ...` templates, and the aligned default tables.
//!
//! Templates run against `serde_json::Value`s whose keys are the field names
//! a podman user writes (`{{.State.ExitCode}}`, `{{.Names}}`). Every render
//! function returns text ready for `print!`: each record ends with a newline.

mod table;
mod template;

use std::collections::{BTreeSet, HashMap};
use std::fmt;

pub use table::table;

use template::{
    normalize_format, normalize_table_format, ranges_over_dot, referenced_fields, CompiledTemplate,
};

/// A `--format` template that cannot be parsed or executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The template is not valid Go template syntax, or calls an unknown
    /// function.
    InvalidTemplate { template: String, message: String },
    /// The template reads a field that the value does not have.
    /// `expression` is the field chain as written, such as `.State.Nope`.
    NoSuchField { field: String, expression: String },
    /// Executing the template failed, for example a function got an
    /// argument of the wrong type.
    ExecutionFailed { message: String },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidTemplate { template, message } => {
                write!(f, "invalid format template {template:?}: {message}")
            }
            Self::NoSuchField { field, expression } => {
                write!(
                    f,
                    "template: executing at <{expression}>: can't evaluate field {field}"
                )
            }
            Self::ExecutionFailed { message } => write!(f, "template: {message}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// JSON layout of `--format json`, which differs between podman commands
/// (checked against podman 4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStyle {
    /// `ps`, `pod ps`, `volume ls`, `network ls`: 2-space indent, with `<`,
    /// `>` and `&` escaped as `\u003c`, `\u003e`, `\u0026`.
    List,
    /// `images`: 4-space indent, HTML characters escaped as for `List`.
    ImageList,
    /// `inspect` and `image inspect`: 5-space indent, nothing escaped.
    Inspect,
}

/// Serializes a value as the podman command of the given style prints it,
/// ending with a newline. Object keys come out in the value's order.
pub fn to_json(value: &serde_json::Value, style: JsonStyle) -> String {
    use serde::Serialize;

    let (indent, escape_html): (&[u8], bool) = match style {
        JsonStyle::List => (b"  ", true),
        JsonStyle::ImageList => (b"    ", true),
        JsonStyle::Inspect => (b"     ", false),
    };
    let mut buffer = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent);
    let mut serializer = serde_json::Serializer::with_formatter(&mut buffer, formatter);
    value
        .serialize(&mut serializer)
        .expect("serializing a serde_json::Value into memory cannot fail");
    let mut json = String::from_utf8(buffer).expect("serde_json writes UTF-8");

    // `<`, `>` and `&` can only occur inside JSON strings, so replacing them
    // in the whole text escapes exactly the string contents, as Go does.
    if escape_html && json.contains(['<', '>', '&']) {
        json = json
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
    }
    let mut json = template::escape_line_separators(json);
    json.push('\n');
    json
}

/// Executes a Go template against one value, as `podman inspect --format`
/// does.
///
/// `\t` and `\n` typed literally become a tab and a newline, and the output
/// ends with a newline unless the template already produces one at its end:
/// `{{.State.ExitCode}}` renders as `"0\n"`. Besides Go's built-ins the
/// template can call podman's `json`, `upper`, `lower`, `title`,
/// `truncate N`, `join SEP`, `split SEP` and `pad BEFORE AFTER`.
///
/// Objects whose keys are all exported Go names (`State`, `ExitCode`) act as
/// Go structs: a missing field is [`FormatError::NoSuchField`]. Other
/// objects act as maps, where a missing key prints `<no value>`.
pub fn render(template: &str, value: &serde_json::Value) -> Result<String, FormatError> {
    CompiledTemplate::parse(&normalize_format(template))?.execute(value)
}

/// Formats the rows of a list command (`ps`, `images`, ...) for its
/// `--format` option, as podman does:
///
/// - `json`: the rows as a JSON array in [`JsonStyle::List`];
/// - `table TEMPLATE`: a header row, then one line per row, aligned like
///   [`table`]. Spaces in the template separate columns like `\t`. The header
///   is the template executed with each field replaced by its header:
///   `headers[field]` upper-cased if given, otherwise the field name split at
///   camel case and upper-cased (`CreatedAt` becomes `CREATED AT`);
/// - a template containing `{{range .}}...{{end}}`: executed once with the
///   array of rows as dot;
/// - any other template: executed once per row, each output ending with a
///   newline, without header or alignment.
pub fn render_rows(
    format: &str,
    rows: &[serde_json::Value],
    headers: &HashMap<&str, &str>,
) -> Result<String, FormatError> {
    if format.trim() == "json" {
        return Ok(to_json(
            &serde_json::Value::Array(rows.to_vec()),
            JsonStyle::List,
        ));
    }

    if format.starts_with("table ") {
        let text = normalize_table_format(format);
        let template = CompiledTemplate::parse(&text)?;
        let mut output = template.execute(&header_row(&text, rows, headers))?;
        for row in rows {
            output.push_str(&template.execute(row)?);
        }
        return Ok(table::align(&output));
    }

    let text = normalize_format(format);
    let template = CompiledTemplate::parse(&text)?;
    if ranges_over_dot(&text) {
        return template.execute(&serde_json::Value::Array(rows.to_vec()));
    }
    let mut output = String::new();
    for row in rows {
        output.push_str(&template.execute(row)?);
    }
    Ok(output)
}

/// Builds the value a table template is executed with to print its header:
/// every field named in the template, in `headers` or in a row maps to its
/// header text.
fn header_row(
    text: &str,
    rows: &[serde_json::Value],
    headers: &HashMap<&str, &str>,
) -> serde_json::Value {
    let mut fields: BTreeSet<String> = referenced_fields(text).into_iter().collect();
    fields.extend(headers.keys().map(|field| field.to_string()));
    for row in rows {
        if let serde_json::Value::Object(object) = row {
            fields.extend(object.keys().cloned());
        }
    }

    let header_for = |field: &str| match headers.get(field) {
        Some(header) => header.to_uppercase(),
        None => table::default_header(field),
    };
    fields
        .into_iter()
        .map(|field| {
            let header = header_for(&field);
            (field, serde_json::Value::String(header))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container() -> serde_json::Value {
        json!({
            "Id": "774894f3e737",
            "Name": "c1",
            "State": {"Status": "exited", "ExitCode": 0, "Running": false},
            "Config": {
                "Cmd": ["sh", "-c", "a>b&c"],
                "Labels": {"maintainer": "me"},
            },
        })
    }

    fn ps_rows() -> Vec<serde_json::Value> {
        vec![
            json!({"ID": "774894f3e737", "Names": "c1", "Image": "localhost/busybox:latest", "CreatedAt": "2026-12-04 21:12:10 +0000 UTC"}),
            json!({"ID": "c864bfdccce8", "Names": "c2", "Image": "localhost/busybox:latest", "CreatedAt": "2026-12-04 21:13:36 +0000 UTC"}),
        ]
    }

    #[test]
    fn render_prints_integer_exit_code() {
        assert_eq!(render("{{.State.ExitCode}}", &container()).unwrap(), "0\n");
    }

    #[test]
    fn render_replaces_typed_tab_and_newline() {
        let output = render(r"{{.State.ExitCode}}\t{{.Name}}\n", &container()).unwrap();
        assert_eq!(output, "0\tc1\n");
    }

    #[test]
    fn render_prints_arrays_like_go() {
        assert_eq!(
            render("{{.Config.Cmd}}", &container()).unwrap(),
            "[sh -c a>b&c]\n"
        );
    }

    #[test]
    fn render_unknown_field_fails() {
        let error = render("{{.State.ExitCode}} {{.State.Nope}}", &container()).unwrap_err();
        assert_eq!(
            error,
            FormatError::NoSuchField {
                field: "Nope".into(),
                expression: ".State.Nope".into(),
            }
        );
        assert_eq!(
            error.to_string(),
            "template: executing at <.State.Nope>: can't evaluate field Nope"
        );
    }

    #[test]
    fn render_missing_map_key_prints_no_value() {
        let output = render(
            "{{.Config.Labels.foo}}|{{.Config.Labels.maintainer}}",
            &container(),
        );
        assert_eq!(output.unwrap(), "<no value>|me\n");
    }

    #[test]
    fn render_invalid_template_fails() {
        let error = render("{{.Name", &container()).unwrap_err();
        assert!(
            matches!(error, FormatError::InvalidTemplate { .. }),
            "got {error:?}"
        );
        let error = render("{{nosuchfunction .Name}}", &container()).unwrap_err();
        assert!(
            matches!(error, FormatError::InvalidTemplate { .. }),
            "got {error:?}"
        );
    }

    #[test]
    fn render_podman_functions() {
        let value = container();
        let cases = [
            (r#"{{join .Config.Cmd ", "}}"#, "sh, -c, a>b&c\n"),
            ("{{json .Config.Cmd}}", "[\"sh\",\"-c\",\"a>b&c\"]\n"),
            ("{{json .State.Running}}", "false\n"),
            ("{{json .Config.Labels}}", "{\"maintainer\":\"me\"}\n"),
            ("{{upper .Name}}", "C1\n"),
            ("{{.Name | upper}}", "C1\n"),
            ("{{lower \"AbC\"}}", "abc\n"),
            (
                r#"{{title "hello wORld-foo bar_baz o'neil"}}"#,
                "Hello WORld-Foo Bar_baz O'Neil\n",
            ),
            ("{{truncate .Id 5}}", "77489\n"),
            ("{{truncate .Name 5}}", "c1\n"),
            (r#"{{split "a,b" ","}}"#, "[a b]\n"),
            ("{{len .Config.Cmd}}", "3\n"),
            ("{{len .Config.Labels}}", "1\n"),
            ("{{pad .Name 1 2}}|", " c1  |\n"),
            // The template does not end with a newline, so one is appended
            // after println's own, as podman does.
            (r#"{{println .Config.Cmd 3 "x"}}"#, "[sh -c a>b&c] 3 x\n\n"),
            (r#"{{print 1 2 "a" 3 "b" "c"}}"#, "1 2a3bc\n"),
            (
                r#"{{range $i, $c := .Config.Cmd}}{{if $i}},{{end}}{{$c}}{{end}}"#,
                "sh,-c,a>b&c\n",
            ),
            (r#"{{if eq .State.Status "exited"}}down{{end}}"#, "down\n"),
            (r#"{{index .Config.Labels "maintainer"}}"#, "me\n"),
            (r#"{{index .Config.Labels "missing"}}|"#, "|\n"),
            ("{{index .Config.Cmd 1}}", "-c\n"),
        ];
        for (template, expected) in cases {
            assert_eq!(
                render(template, &value).unwrap(),
                expected,
                "template {template}"
            );
        }
    }

    #[test]
    fn render_function_wrong_type_fails() {
        let error = render("{{upper .State}}", &container()).unwrap_err();
        assert!(
            matches!(error, FormatError::ExecutionFailed { .. }),
            "got {error:?}"
        );
    }

    #[test]
    fn rows_json_is_indented_and_html_escaped() {
        let rows = [json!({"Command": ["a>b&c"], "Id": "x"})];
        let output = render_rows("json", &rows, &HashMap::new()).unwrap();
        assert_eq!(
            output,
            "[\n  {\n    \"Command\": [\n      \"a\\u003eb\\u0026c\"\n    ],\n    \"Id\": \"x\"\n  }\n]\n"
        );
    }

    #[test]
    fn rows_json_without_rows_is_empty_array() {
        assert_eq!(render_rows("json", &[], &HashMap::new()).unwrap(), "[]\n");
    }

    #[test]
    fn rows_table_has_aligned_header() {
        let output = render_rows(
            r"table {{.Names}}\t{{.Image}}\t{{.CreatedAt}}\t{{.Names|upper}}",
            &ps_rows(),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(
            output,
            "NAMES       IMAGE                     CREATED AT                     NAMES\n\
             c1          localhost/busybox:latest  2026-12-04 21:12:10 +0000 UTC  C1\n\
             c2          localhost/busybox:latest  2026-12-04 21:13:36 +0000 UTC  C2\n"
        );
    }

    #[test]
    fn rows_table_uses_given_headers_upper_cased() {
        let headers = HashMap::from([("ID", "container id")]);
        let output = render_rows("table {{.ID}} {{.Names}}", &ps_rows(), &headers).unwrap();
        assert_eq!(
            output,
            "CONTAINER ID  NAMES\n\
             774894f3e737  c1\n\
             c864bfdccce8  c2\n"
        );
    }

    #[test]
    fn rows_table_without_rows_prints_header() {
        let output = render_rows("table {{.Names}}", &[], &HashMap::new()).unwrap();
        assert_eq!(output, "NAMES\n");
    }

    #[test]
    fn rows_template_renders_line_per_row_unaligned() {
        let output = render_rows(r"{{.Names}}\t{{.Image}}", &ps_rows(), &HashMap::new()).unwrap();
        assert_eq!(
            output,
            "c1\tlocalhost/busybox:latest\nc2\tlocalhost/busybox:latest\n"
        );
    }

    #[test]
    fn rows_template_with_range_runs_once() {
        let output =
            render_rows("{{range .}}{{.Names}},{{end}}", &ps_rows(), &HashMap::new()).unwrap();
        assert_eq!(output, "c1,c2,\n");
    }

    #[test]
    fn rows_unknown_field_fails() {
        let error = render_rows("{{.Nope}}", &ps_rows(), &HashMap::new()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "template: executing at <.Nope>: can't evaluate field Nope"
        );
    }

    #[test]
    fn json_styles_match_podman() {
        let value = json!([{"Cmd": ["a<b"]}]);
        assert_eq!(
            to_json(&value, JsonStyle::ImageList),
            "[\n    {\n        \"Cmd\": [\n            \"a\\u003cb\"\n        ]\n    }\n]\n"
        );
        assert_eq!(
            to_json(&value, JsonStyle::Inspect),
            "[\n     {\n          \"Cmd\": [\n               \"a<b\"\n          ]\n     }\n]\n"
        );
    }
}

/// Formats a time as Go's `time.Time.String()` does, which is what podman's
/// templates print: `2026-12-04 21:36:13.747150073 +0000 UTC`, with trailing
/// zeros of the fraction dropped.
pub fn go_time(time: &chrono::DateTime<chrono::Utc>) -> String {
    let nanos = time.timestamp_subsec_nanos();
    let fraction = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    format!("{}{fraction} +0000 UTC", time.format("%Y-%m-%d %H:%M:%S"))
}

/// Replaces the RFC 3339 string at `pointer` in `value` with [`go_time`]'s
/// form; leaves anything else alone.
pub fn rfc3339_to_go_time(value: &mut serde_json::Value, pointer: &str) {
    let Some(slot) = value.pointer_mut(pointer) else {
        return;
    };
    let Some(text) = slot.as_str() else {
        return;
    };
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        *slot = serde_json::Value::String(go_time(&time.with_timezone(&chrono::Utc)));
    }
}

#[cfg(test)]
mod go_time_tests {
    use super::*;

    #[test]
    fn go_time_trims_fraction() {
        let time = chrono::DateTime::parse_from_rfc3339("2026-12-04T21:36:13.747150073Z").unwrap();
        assert_eq!(
            go_time(&time.with_timezone(&chrono::Utc)),
            "2026-12-04 21:36:13.747150073 +0000 UTC"
        );
        let time = chrono::DateTime::parse_from_rfc3339("2026-12-04T21:36:13.5Z").unwrap();
        assert_eq!(
            go_time(&time.with_timezone(&chrono::Utc)),
            "2026-12-04 21:36:13.5 +0000 UTC"
        );
        let time = chrono::DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(
            go_time(&time.with_timezone(&chrono::Utc)),
            "0001-01-01 00:00:00 +0000 UTC"
        );
    }
}
