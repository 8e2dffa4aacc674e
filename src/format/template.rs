//! Go text/template execution against JSON values, with podman's template
//! functions and podman's printing of values.
//!
//! gtmpl parses and executes the templates, with two additions. Every
//! printing action is rewritten to pass its value through
//! [`PRINT_FUNCTION`], which prints arrays, maps and nil as Go's `fmt` does,
//! because gtmpl would print Rust debug output. And the functions podman
//! adds (`json`, `upper`, `join`, ...) are registered.

use gtmpl::error::{ExecError, ParseError};
use gtmpl::{Context, Func, FuncError, Template, Value};

use super::FormatError;

/// Name of the function appended to every printing action. It is not a
/// valid Go identifier for users to collide with by accident, but gtmpl's
/// lexer accepts it.
const PRINT_FUNCTION: &str = "_berth_print";

/// Keywords whose actions print nothing and so must not be rewritten.
const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

/// A parsed format template, ready to execute against many values.
pub(crate) struct CompiledTemplate {
    template: Template,
    /// The normalized text, to quote in error messages.
    text: String,
}

impl CompiledTemplate {
    /// Parses `text`, which must already be normalized by
    /// [`normalize_format`] or [`normalize_table_format`].
    pub(crate) fn parse(text: &str) -> Result<Self, FormatError> {
        let mut template = Template::with_name("format");
        template.add_funcs(FUNCTIONS);
        template.add_func(PRINT_FUNCTION, print_value as Func);
        template
            .parse(add_print_calls(text))
            .map_err(|error| invalid_template(text, error))?;
        Ok(Self {
            template,
            text: text.to_string(),
        })
    }

    /// Executes the template with `value` as dot.
    pub(crate) fn execute(&self, value: &serde_json::Value) -> Result<String, FormatError> {
        let context = Context::from(to_template_value(value));
        self.template
            .render(&context)
            .map_err(|error| execution_failed(&self.text, error))
    }
}

/// Applies podman's rewriting of a non-table `--format` string: the
/// two-character sequences `\t` and `\n` typed on a command line become a tab
/// and a newline, and the result ends with a newline.
pub(crate) fn normalize_format(format: &str) -> String {
    terminate_line(replace_escapes(format, false))
}

/// Applies podman's rewriting of a `table ...` format string: like
/// [`normalize_format`], but every `table ` is dropped and every space
/// becomes a tab, also inside quoted strings, as podman 4.3.1 does.
pub(crate) fn normalize_table_format(format: &str) -> String {
    terminate_line(replace_escapes(format, true))
}

/// Returns true if the normalized text ranges over dot itself, in which case
/// podman executes it once for the whole list instead of once per row.
pub(crate) fn ranges_over_dot(text: &str) -> bool {
    let actions: Vec<&str> = split_actions(text)
        .into_iter()
        .filter_map(|segment| match segment {
            Segment::Action(body) => Some(body),
            Segment::Text(_) => None,
        })
        .collect();
    let is_range_dot = |body: &str| {
        let rest = body.trim_start().strip_prefix("range");
        rest.is_some_and(|rest| rest.trim() == ".")
    };
    let is_end = |body: &str| {
        let rest = body.trim_start().strip_prefix("end");
        rest.is_some_and(|rest| matches!(rest.trim(), "" | "-"))
    };
    match actions.iter().position(|body| is_range_dot(body)) {
        Some(start) => actions[start + 1..].iter().any(|body| is_end(body)),
        None => false,
    }
}

/// Lists the field names that the text's actions read from dot (the `Names`
/// of `{{.Names}}`, the `State` of `{{.State.Status}}`), in order of first use.
pub(crate) fn referenced_fields(text: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for segment in split_actions(text) {
        let Segment::Action(body) = segment else {
            continue;
        };
        let mut previous = ' ';
        let mut chars = body.char_indices().peekable();
        while let Some((index, c)) = chars.next() {
            if c == '"' || c == '`' || c == '\'' {
                skip_quoted(c, &mut chars);
                previous = c;
                continue;
            }
            // A field of dot starts with '.' after a separator. The `.B` in
            // `.A.B`, `$x.B` or `(.A).B` is a field of something else.
            let starts_field =
                c == '.' && !(previous.is_alphanumeric() || "_$)".contains(previous));
            if starts_field {
                let name: String = body[index + 1..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && !fields.contains(&name) {
                    fields.push(name);
                }
            }
            previous = c;
        }
    }
    fields
}

fn terminate_line(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Replaces in one left-to-right pass, like Go's `strings.NewReplacer`.
fn replace_escapes(format: &str, table: bool) -> String {
    let mut out = String::with_capacity(format.len());
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if table && rest.starts_with("table ") {
            rest = &rest["table ".len()..];
        } else if rest.starts_with("\\t") {
            out.push('\t');
            rest = &rest[2..];
        } else if rest.starts_with("\\n") {
            out.push('\n');
            rest = &rest[2..];
        } else {
            out.push(if table && c == ' ' { '\t' } else { c });
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// A piece of template text: literal text, or the body of an action
/// between `{{` and `}}`.
#[derive(Debug, PartialEq)]
enum Segment<'a> {
    Text(&'a str),
    Action(&'a str),
}

/// Splits template text into literal text and action bodies, skipping
/// quoted strings and comments inside actions. An unterminated action is
/// returned as text, and the template parser then reports it.
fn split_actions(text: &str) -> Vec<Segment<'_>> {
    let mut segments = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = find_action_end(&rest[open + 2..]) else {
            break;
        };
        if open > 0 {
            segments.push(Segment::Text(&rest[..open]));
        }
        segments.push(Segment::Action(&rest[open + 2..open + 2 + close]));
        rest = &rest[open + 2 + close + 2..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest));
    }
    segments
}

/// Returns the offset of the `}}` that ends the action starting at `body`.
fn find_action_end(body: &str) -> Option<usize> {
    let comment_start = body.trim_start_matches(['-', ' ', '\t', '\n', '\r']);
    if comment_start.starts_with("/*") {
        let after_comment = body.find("*/")? + 2;
        return body[after_comment..]
            .find("}}")
            .map(|end| after_comment + end);
    }
    let mut chars = body.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' | '`' | '\'' => skip_quoted(c, &mut chars),
            '}' if body[index..].starts_with("}}") => return Some(index),
            _ => {}
        }
    }
    None
}

/// Advances past the closing `quote`, honouring backslash escapes except in
/// Go raw strings.
fn skip_quoted(quote: char, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) {
    while let Some((_, c)) = chars.next() {
        if c == '\\' && quote != '`' {
            chars.next();
        } else if c == quote {
            return;
        }
    }
}

/// Rewrites `{{PIPELINE}}` to `{{PIPELINE | _berth_print}}` for every action
/// that prints its value. Control actions, declarations and comments stay
/// unchanged.
fn add_print_calls(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for segment in split_actions(text) {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Action(body) if prints_value(body) => {
                let (pipeline, right_trim) = split_right_trim(body);
                out.push_str("{{");
                out.push_str(pipeline);
                out.push_str(" | ");
                out.push_str(PRINT_FUNCTION);
                out.push_str(right_trim);
                out.push_str("}}");
            }
            Segment::Action(body) => {
                out.push_str("{{");
                out.push_str(body);
                out.push_str("}}");
            }
        }
    }
    out
}

/// Splits a trailing trim marker (`-` after white space, as in `{{.A -}}`)
/// off an action body.
fn split_right_trim(body: &str) -> (&str, &str) {
    let trimmed = body.trim_end();
    match trimmed.strip_suffix('-') {
        Some(before) if before.ends_with(char::is_whitespace) => {
            (before.trim_end(), &body[before.trim_end().len()..])
        }
        _ => (body, ""),
    }
}

fn prints_value(body: &str) -> bool {
    let mut inner = body.trim();
    // A left trim marker is `-` followed by white space, as in `{{- .A}}`.
    if let Some(after) = inner.strip_prefix('-') {
        if after.starts_with(char::is_whitespace) {
            inner = after.trim_start();
        }
    }
    let (pipeline, _) = split_right_trim(inner);
    let pipeline = pipeline.trim();
    if pipeline.is_empty() || pipeline.starts_with("/*") {
        return false;
    }
    let first_word = pipeline
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or_default();
    !KEYWORDS.contains(&first_word) && !is_declaration(pipeline)
}

/// Matches `$x := ...`, `$x = ...` and `$i, $v := ...`.
fn is_declaration(pipeline: &str) -> bool {
    let mut rest = pipeline;
    loop {
        let Some(after_dollar) = rest.strip_prefix('$') else {
            return false;
        };
        let name_length = after_dollar
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after_dollar.len());
        rest = after_dollar[name_length..].trim_start();
        match rest.strip_prefix(',') {
            Some(after_comma) => rest = after_comma.trim_start(),
            None => break,
        }
    }
    rest.starts_with(":=") || (rest.starts_with('=') && !rest.starts_with("=="))
}

/// Converts JSON into template values.
///
/// An object whose keys are all exported Go identifiers (`State`, `ExitCode`)
/// is treated as a Go struct: reading a missing field is an error, as podman
/// reports `can't evaluate field X`. Any other object (labels, annotations,
/// and the empty object) is treated as a Go map: a missing key reads as
/// `<no value>`. Integers stay integers, so `{{.State.ExitCode}}` prints `0`.
///
/// NOTE: gtmpl keeps objects in a hash map, so `{{range $k, $v := .Labels}}`
/// visits keys in arbitrary order, where Go visits them sorted.
pub(crate) fn to_template_value(value: &serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match value {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_template_value).collect()),
        Json::Object(object) => {
            let fields = object
                .iter()
                .map(|(key, value)| (key.clone(), to_template_value(value)))
                .collect();
            let is_struct = !object.is_empty() && object.keys().all(|key| is_exported_name(key));
            if is_struct {
                Value::Object(fields)
            } else {
                Value::Map(fields)
            }
        }
    }
}

fn is_exported_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Converts a template value back to JSON. Object keys come out sorted,
/// because gtmpl keeps them in a hash map.
fn to_json_value(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(go_time_to_rfc3339(s).unwrap_or_else(|| s.clone())),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Json::from(u)
            } else if let Some(i) = n.as_i64() {
                Json::from(i)
            } else {
                n.as_f64().map(Json::from).unwrap_or(Json::Null)
            }
        }
        Value::Array(items) => Json::Array(items.iter().map(to_json_value).collect()),
        Value::Object(fields) | Value::Map(fields) => Json::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), to_json_value(value)))
                .collect(),
        ),
    }
}

/// Turns a time in Go's `String()` form, as templates see times, back into
/// RFC 3339, which is how Go's `json` writes a `time.Time`. Any other
/// string gives `None`.
fn go_time_to_rfc3339(text: &str) -> Option<String> {
    let local = text.strip_suffix(" +0000 UTC")?;
    let time = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Some(
        time.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

/// Formats a value as Go's `fmt.Sprint` (`%v`) does: `[a b]` for arrays,
/// `map[k:v]` for maps, `{v1 v2}` for structs, `<nil>` for null.
///
/// NOTE: JSON null does not tell a nil slice or map (Go prints `[]` or
/// `map[]`) from a nil pointer (Go prints `<nil>`), and it always prints
/// `<nil>`. Callers should put `[]` or `{}` in the value where podman has an
/// empty slice or map. Struct fields print in key order, not declaration order.
pub(crate) fn go_display(value: &Value) -> String {
    match value {
        Value::NoValue => "<no value>".to_string(),
        Value::Nil => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Function(_) => "<function>".to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_display).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Map(fields) => {
            let mut entries: Vec<(&String, &Value)> = fields.iter().collect();
            entries.sort_by_key(|(key, _)| *key);
            let entries: Vec<String> = entries
                .into_iter()
                .map(|(key, value)| format!("{key}:{}", go_display(value)))
                .collect();
            format!("map[{}]", entries.join(" "))
        }
        Value::Object(fields) => {
            let mut entries: Vec<(&String, &Value)> = fields.iter().collect();
            entries.sort_by_key(|(key, _)| *key);
            let values: Vec<String> = entries.into_iter().map(|(_, v)| go_display(v)).collect();
            format!("{{{}}}", values.join(" "))
        }
    }
}

/// Serializes JSON compactly as Go's `encoding/json` encoder does with HTML
/// escaping off: U+2028 and U+2029 are still escaped.
pub(crate) fn to_compact_json(value: &serde_json::Value) -> String {
    escape_line_separators(value.to_string())
}

pub(crate) fn escape_line_separators(json: String) -> String {
    if json.contains(['\u{2028}', '\u{2029}']) {
        json.replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    } else {
        json
    }
}

/// The functions podman's templates offer on top of Go's built-ins
/// (containers/common `pkg/report`), plus Go-style `print`, `println` and
/// `len` and `index`, which gtmpl gets wrong for maps.
const FUNCTIONS: &[(&str, Func)] = &[
    ("json", json),
    ("upper", upper),
    ("lower", lower),
    ("title", title),
    ("truncate", truncate),
    ("join", join),
    ("split", split),
    ("pad", pad),
    ("print", print),
    ("println", println),
    ("len", len),
    ("index", index),
];

fn print_value(args: &[Value]) -> Result<Value, FuncError> {
    let [value] = args else {
        return Err(FuncError::ExactlyXArgs(PRINT_FUNCTION.into(), 1));
    };
    Ok(Value::String(go_display(value)))
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    let [value] = args else {
        return Err(FuncError::ExactlyXArgs("json".into(), 1));
    };
    Ok(Value::String(to_compact_json(&to_json_value(value))))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    let [text] = args else {
        return Err(FuncError::ExactlyXArgs("upper".into(), 1));
    };
    Ok(Value::String(expect_string("upper", text)?.to_uppercase()))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    let [text] = args else {
        return Err(FuncError::ExactlyXArgs("lower".into(), 1));
    };
    Ok(Value::String(expect_string("lower", text)?.to_lowercase()))
}

/// Upper-cases the first letter of every word, like Go's `strings.Title`:
/// letters, digits and `_` continue a word, anything else separates words.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let [text] = args else {
        return Err(FuncError::ExactlyXArgs("title".into(), 1));
    };
    let mut previous_separates = true;
    let mut out = String::new();
    for c in expect_string("title", text)?.chars() {
        if previous_separates {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        previous_separates = !(c.is_alphanumeric() || c == '_');
    }
    Ok(Value::String(out))
}

/// Keeps the first N bytes, like podman's `truncate`, but never splits a
/// UTF-8 character.
fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let [text, length] = args else {
        return Err(FuncError::ExactlyXArgs("truncate".into(), 2));
    };
    let text = expect_string("truncate", text)?;
    let mut end = expect_count("truncate", length)?.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Ok(Value::String(text[..end].to_string()))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let [items, separator] = args else {
        return Err(FuncError::ExactlyXArgs("join".into(), 2));
    };
    let separator = expect_string("join", separator)?;
    let parts: Vec<String> = match items {
        Value::Array(items) => items.iter().map(go_display).collect(),
        Value::Nil => Vec::new(),
        other => return Err(wrong_type("join", "an array", other)),
    };
    Ok(Value::String(parts.join(separator)))
}

/// Splits like Go's `strings.Split`: an empty separator splits after each
/// character.
fn split(args: &[Value]) -> Result<Value, FuncError> {
    let [text, separator] = args else {
        return Err(FuncError::ExactlyXArgs("split".into(), 2));
    };
    let text = expect_string("split", text)?;
    let separator = expect_string("split", separator)?;
    let parts: Vec<Value> = if separator.is_empty() {
        text.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        text.split(separator.as_str())
            .map(|part| Value::String(part.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

/// Adds N spaces before and M after a non-empty string.
fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let [text, before, after] = args else {
        return Err(FuncError::ExactlyXArgs("pad".into(), 3));
    };
    let text = expect_string("pad", text)?;
    if text.is_empty() {
        return Ok(Value::String(String::new()));
    }
    let before = " ".repeat(expect_count("pad", before)?);
    let after = " ".repeat(expect_count("pad", after)?);
    Ok(Value::String(format!("{before}{text}{after}")))
}

/// Go's `fmt.Sprint`: a space goes between two operands when neither is a
/// string.
fn print(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = String::new();
    for (index, value) in args.iter().enumerate() {
        let is_string = matches!(value, Value::String(_));
        let previous_is_string = index > 0 && matches!(args[index - 1], Value::String(_));
        if index > 0 && !is_string && !previous_is_string {
            out.push(' ');
        }
        out.push_str(&go_display(value));
    }
    Ok(Value::String(out))
}

/// Go's `fmt.Sprintln`: operands separated by spaces, then a newline.
fn println(args: &[Value]) -> Result<Value, FuncError> {
    let parts: Vec<String> = args.iter().map(go_display).collect();
    Ok(Value::String(format!("{}\n", parts.join(" "))))
}

fn len(args: &[Value]) -> Result<Value, FuncError> {
    let [value] = args else {
        return Err(FuncError::ExactlyXArgs("len".into(), 1));
    };
    let length = match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.len(),
        Value::Map(fields) | Value::Object(fields) => fields.len(),
        Value::Nil => 0,
        other => return Err(wrong_type("len", "a string, array or map", other)),
    };
    Ok(Value::from(length))
}

/// Go's `index` for JSON: an element of an array, or the value of a key in
/// an object. A missing key gives an empty string, as indexing Go's
/// `map[string]string` (labels, annotations) gives its zero value.
fn index(args: &[Value]) -> Result<Value, FuncError> {
    let [collection, keys @ ..] = args else {
        return Err(FuncError::AtLeastXArgs("index".into(), 2));
    };
    if keys.is_empty() {
        return Err(FuncError::AtLeastXArgs("index".into(), 2));
    }
    let mut current = collection.clone();
    for key in keys {
        current = match (&current, key) {
            (Value::Array(items), Value::Number(number)) => {
                let position = number.as_u64().and_then(|n| usize::try_from(n).ok());
                match position.and_then(|position| items.get(position)) {
                    Some(item) => item.clone(),
                    None => {
                        return Err(FuncError::Generic(format!(
                            "error calling index: index out of range: {number}"
                        )))
                    }
                }
            }
            (Value::Map(fields) | Value::Object(fields), Value::String(key)) => fields
                .get(key)
                .cloned()
                .unwrap_or_else(|| Value::String(String::new())),
            (Value::Nil, Value::String(_)) => Value::String(String::new()),
            (other, key) => {
                return Err(FuncError::Generic(format!(
                    "error calling index: cannot index {} with {}",
                    go_display(other),
                    go_display(key)
                )))
            }
        };
    }
    Ok(current)
}

/// Finds the whole field chain that ends in `field` in the template text
/// (`.State.Nope` for field `Nope`), as podman names it in its error.
fn field_expression(text: &str, field: &str) -> String {
    let needle = format!(".{field}");
    let is_name_char = |c: char| c.is_alphanumeric() || c == '_';
    for (start, _) in text.match_indices(&needle) {
        let end = start + needle.len();
        if text[end..].starts_with(is_name_char) {
            continue;
        }
        let chain_start = text[..start]
            .rfind(|c: char| !(is_name_char(c) || c == '.' || c == '$'))
            .map_or(0, |position| position + 1);
        return text[chain_start..end].to_string();
    }
    needle
}

fn expect_string<'a>(function: &str, value: &'a Value) -> Result<&'a String, FuncError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(function, "a string", other)),
    }
}

fn expect_count(function: &str, value: &Value) -> Result<usize, FuncError> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| wrong_type(function, "a non-negative integer", value)),
        other => Err(wrong_type(function, "a non-negative integer", other)),
    }
}

fn wrong_type(function: &str, expected: &str, got: &Value) -> FuncError {
    FuncError::Generic(format!(
        "error calling {function}: wrong type for value; expected {expected}; got {}",
        go_display(got)
    ))
}

fn invalid_template(text: &str, error: ParseError) -> FormatError {
    // gtmpl's position ("template: format:3:") counts lines wrongly, so only
    // its message is kept.
    let message = match error {
        ParseError::WithContext(_, message) => message,
        other => other.to_string(),
    };
    FormatError::InvalidTemplate {
        template: text.trim_end_matches('\n').to_string(),
        message,
    }
}

fn execution_failed(text: &str, error: ExecError) -> FormatError {
    match error {
        ExecError::NoFiledFor(field, _) => FormatError::NoSuchField {
            expression: field_expression(text, &field),
            field,
        },
        ExecError::FuncError(error) => FormatError::ExecutionFailed {
            message: error.to_string(),
        },
        other => FormatError::ExecutionFailed {
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_writes_times_as_rfc3339() {
        let time = Value::String("2026-12-04 23:59:22.143354909 +0000 UTC".into());
        assert_eq!(
            json(&[time]).unwrap(),
            Value::String("\"2026-12-04T23:59:22.143354909Z\"".into())
        );
        let zero = Value::String("0001-01-01 00:00:00 +0000 UTC".into());
        assert_eq!(
            json(&[zero]).unwrap(),
            Value::String("\"0001-01-01T00:00:00Z\"".into())
        );
        let text = Value::String("2026-12-04 not a time".into());
        assert_eq!(
            json(&[text]).unwrap(),
            Value::String("\"2026-12-04 not a time\"".into())
        );
    }

    #[test]
    fn normalize_replaces_typed_escapes() {
        assert_eq!(
            normalize_format(r"{{.ID}}\t{{.Name}}"),
            "{{.ID}}\t{{.Name}}\n"
        );
        assert_eq!(normalize_format(r"{{.ID}}\n"), "{{.ID}}\n");
        assert_eq!(normalize_format("{{.ID}} {{.Name}}"), "{{.ID}} {{.Name}}\n");
    }

    #[test]
    fn normalize_table_turns_spaces_into_tabs() {
        assert_eq!(
            normalize_table_format("table {{.ID}} {{.Name}}"),
            "{{.ID}}\t{{.Name}}\n"
        );
        assert_eq!(
            normalize_table_format(r"table {{.ID}}\t{{.Name}}\n"),
            "{{.ID}}\t{{.Name}}\n"
        );
    }

    #[test]
    fn print_calls_added_to_printing_actions_only() {
        assert_eq!(add_print_calls("a{{.A}}b"), "a{{.A | _berth_print}}b");
        assert_eq!(add_print_calls("{{- .A -}}"), "{{- .A | _berth_print -}}");
        assert_eq!(
            add_print_calls(r#"{{if .A}}{{"}}" | upper}}{{end}}"#),
            r#"{{if .A}}{{"}}" | upper | _berth_print}}{{end}}"#
        );
        for unchanged in [
            "{{range .}}{{end}}",
            "{{else if .B}}",
            "{{$x := .A}}",
            "{{$i, $v := .A}}",
            "{{/* a }} comment */}}",
            r#"{{template "x" .}}"#,
        ] {
            assert_eq!(add_print_calls(unchanged), unchanged);
        }
    }

    #[test]
    fn referenced_fields_lists_fields_of_dot() {
        assert_eq!(
            referenced_fields(r#"{{.Names}} {{.State.Status}} {{$x.Y}} {{join .Ports ".Z"}}"#),
            ["Names", "State", "Ports"]
        );
    }

    #[test]
    fn range_over_dot_detected() {
        assert!(ranges_over_dot("{{range .}}{{.ID}}{{end}}\n"));
        assert!(ranges_over_dot("{{ range . }}{{.ID}}{{end -}}\n"));
        assert!(!ranges_over_dot("{{range .Names}}{{.}}{{end}}\n"));
        assert!(!ranges_over_dot("{{.ID}}\n"));
    }

    #[test]
    fn go_display_matches_fmt() {
        let value = to_template_value(&serde_json::json!({
            "Cmd": ["sh", "-c", "true"],
            "Labels": {"b": "2", "a": "1"},
            "Limit": {"Hard": 10, "Soft": 5},
            "Ports": null,
        }));
        let Value::Object(fields) = value else {
            panic!("expected a struct-like object");
        };
        assert_eq!(go_display(&fields["Cmd"]), "[sh -c true]");
        assert_eq!(go_display(&fields["Labels"]), "map[a:1 b:2]");
        assert_eq!(go_display(&fields["Limit"]), "{10 5}");
        assert_eq!(go_display(&fields["Ports"]), "<nil>");
    }
}
