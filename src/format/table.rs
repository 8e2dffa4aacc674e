//! Column alignment as podman prints tables.
//!
//! podman 4.3.1 writes its tables through Go's `text/tabwriter` with
//! minimum cell width 12, padding 2 and space as the pad character
//! (containers/common `report.NewWriterDefault`). Checked against
//! `podman images` and `podman ps -a` on Debian 12:
//!
//! ```text
//! REPOSITORY         TAG         IMAGE ID      CREATED        SIZE
//! localhost/busybox  latest      6b287eac55a1  3 seconds ago  2.14 MB
//! ```

/// Minimum width of a column, padding included.
const MIN_CELL_WIDTH: usize = 12;
/// Spaces added after the widest cell of a column.
const PADDING: usize = 2;

/// Formats a header row and data rows as podman's default `ps` and `images`
/// tables do. Every line, the last included, ends with a newline. Cells
/// must not contain tabs or newlines.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut text = headers.join("\t");
    text.push('\n');
    for row in rows {
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    align(&text)
}

/// Aligns tab-separated cells into columns exactly as Go's `tabwriter` does
/// with podman's settings.
///
/// As in Go, a cell is text terminated by a tab, so the text after a line's
/// last tab is not part of any column and gets no padding. A column runs
/// over consecutive lines that all have a cell in it, and a line with fewer
/// cells ends the column. The lines after it are aligned on their own.
pub(crate) fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text
        .split('\n')
        .map(|line| line.split('\t').collect())
        .collect();
    let mut aligner = Aligner {
        lines: &lines,
        widths: Vec::new(),
        out: String::with_capacity(text.len() * 2),
    };
    aligner.format(0, lines.len());
    aligner.out
}

struct Aligner<'a> {
    lines: &'a [Vec<&'a str>],
    /// Widths of the columns left of the one being measured.
    widths: Vec<usize>,
    out: String,
}

impl Aligner<'_> {
    /// Port of the recursive `format` of Go's tabwriter: finds each block of
    /// lines that share the column `self.widths.len()`, measures it, and
    /// recurses into the next column for that block.
    fn format(&mut self, first: usize, end: usize) {
        let column = self.widths.len();
        let mut unwritten = first;
        let mut line = first;
        while line < end {
            if !self.has_cell(line, column) {
                line += 1;
                continue;
            }

            self.write_lines(unwritten, line);
            let block_start = line;
            let mut width = MIN_CELL_WIDTH;
            while line < end && self.has_cell(line, column) {
                width = width.max(cell_width(self.lines[line][column]) + PADDING);
                line += 1;
            }

            self.widths.push(width);
            self.format(block_start, line);
            self.widths.pop();
            unwritten = line;
        }
        self.write_lines(unwritten, end);
    }

    /// True if the line has a tab-terminated cell in the column.
    fn has_cell(&self, line: usize, column: usize) -> bool {
        column + 1 < self.lines[line].len()
    }

    fn write_lines(&mut self, first: usize, end: usize) {
        for index in first..end {
            for (column, cell) in self.lines[index].iter().enumerate() {
                self.out.push_str(cell);
                if let Some(width) = self.widths.get(column) {
                    let padding = width.saturating_sub(cell_width(cell));
                    self.out.push_str(&" ".repeat(padding));
                }
            }
            // Every line but the text after the final newline ends with one.
            if index + 1 < self.lines.len() {
                self.out.push('\n');
            }
        }
    }
}

/// Width of a cell in characters, as tabwriter counts UTF-8 runes.
fn cell_width(cell: &str) -> usize {
    cell.chars().count()
}

/// Derives a column header from a field name as podman does: split at
/// camel-case boundaries, join with spaces, upper-case (`CreatedAt` becomes
/// `CREATED AT`, `ID` stays `ID`, `RepoDigests` becomes `REPO DIGESTS`).
pub(crate) fn default_header(field: &str) -> String {
    split_camel_case(field).join(" ").to_uppercase()
}

/// Splits like github.com/fatih/camelcase, which podman uses: runs of lower
/// case, upper case, digits and other characters are words, and the last
/// capital of an upper-case run starts the next word (`PDFLoader` becomes
/// `PDF Loader`).
fn split_camel_case(name: &str) -> Vec<String> {
    fn class(c: char) -> u8 {
        if c.is_lowercase() {
            1
        } else if c.is_uppercase() {
            2
        } else if c.is_numeric() {
            3
        } else {
            4
        }
    }

    let mut runs: Vec<Vec<char>> = Vec::new();
    let mut last_class = 0;
    for c in name.chars() {
        let class = class(c);
        match runs.last_mut() {
            Some(run) if class == last_class => run.push(c),
            _ => runs.push(vec![c]),
        }
        last_class = class;
    }

    for index in 0..runs.len().saturating_sub(1) {
        let upper_then_lower = runs[index][0].is_uppercase() && runs[index + 1][0].is_lowercase();
        if upper_then_lower {
            if let Some(capital) = runs[index].pop() {
                runs[index + 1].insert(0, capital);
            }
        }
    }

    runs.into_iter()
        .filter(|run| !run.is_empty())
        .map(|run| run.into_iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_podman_images() {
        let output = table(
            &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
            &[vec![
                "localhost/busybox".to_string(),
                "latest".to_string(),
                "6b287eac55a1".to_string(),
                "3 seconds ago".to_string(),
                "2.14 MB".to_string(),
            ]],
        );
        assert_eq!(
            output,
            "REPOSITORY         TAG         IMAGE ID      CREATED        SIZE\n\
             localhost/busybox  latest      6b287eac55a1  3 seconds ago  2.14 MB\n"
        );
    }

    #[test]
    fn table_pads_empty_cells_to_min_width() {
        let output = table(
            &["STATUS", "PORTS", "NAMES"],
            &[vec!["Created".to_string(), String::new(), "c1".to_string()]],
        );
        assert_eq!(
            output,
            "STATUS      PORTS       NAMES\n\
             Created                 c1\n"
        );
    }

    #[test]
    fn table_without_rows_prints_header() {
        assert_eq!(table(&["NAMES"], &[]), "NAMES\n");
    }

    #[test]
    fn align_counts_characters_not_bytes() {
        assert_eq!(align("é\tx\nab\ty\n"), "é           x\nab          y\n");
    }

    #[test]
    fn align_line_with_fewer_cells_ends_column() {
        // The middle line has no tab, so the first and last lines are
        // aligned separately, as Go's tabwriter does.
        assert_eq!(
            align("a-long-first-cell\tx\nplain\nb\ty\n"),
            "a-long-first-cell  x\nplain\nb           y\n"
        );
    }

    #[test]
    fn default_header_splits_camel_case() {
        assert_eq!(default_header("Names"), "NAMES");
        assert_eq!(default_header("CreatedAt"), "CREATED AT");
        assert_eq!(default_header("ID"), "ID");
        assert_eq!(default_header("RepoDigests"), "REPO DIGESTS");
        assert_eq!(default_header("PDFLoader"), "PDF LOADER");
        assert_eq!(default_header("IPv4Address"), "I PV 4 ADDRESS");
        assert_eq!(default_header("Fieldb"), "FIELDB");
    }
}
