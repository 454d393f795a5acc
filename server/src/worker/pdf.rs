//! A small page-layout for reports on krilla: a report is a list of blocks (titles, lines of
//! text, table rows at fixed column positions, rules), laid out top to bottom on pages of one
//! size, a table's header repeated at the top of each page it continues on, and every page
//! footed with its number of the total. Text is DejaVu Sans (regular and bold, from
//! fonts-dejavu-core), embedded and subset by krilla; a cell longer than its column is cut
//! with an ellipsis, so nothing overflows.

use std::path::Path;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use krilla::Document;

/// The two faces reports use.
#[derive(Clone)]
pub struct Fonts {
    regular: Font,
    bold: Font,
}

impl Fonts {
    /// Reads DejaVuSans.ttf and DejaVuSans-Bold.ttf from `dir`.
    pub fn load(dir: &Path) -> Result<Fonts, String> {
        let face = |name: &str| -> Result<Font, String> {
            let path = dir.join(name);
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Font::new(data.into(), 0).ok_or_else(|| format!("{}: not a font", path.display()))
        };
        Ok(Fonts {
            regular: face("DejaVuSans.ttf")?,
            bold: face("DejaVuSans-Bold.ttf")?,
        })
    }
}

/// How a cell sits in its column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Align {
    /// From the column's left edge.
    Left,
    /// Against the column's right edge.
    Right,
}

/// A table column: where it starts, how wide it is, how its cells align.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Left edge, in points from the left margin.
    pub x: f32,
    /// Width in points.
    pub width: f32,
    /// Alignment of its cells.
    pub align: Align,
}

/// One block of a report.
#[derive(Debug, Clone)]
pub enum Block {
    /// The report's title (18 pt, bold).
    Title(String),
    /// A section heading (12 pt, bold).
    Heading(String),
    /// A line of text (10 pt).
    Text(String),
    /// A line of small print (8 pt, grey).
    Small(String),
    /// Vertical space.
    Gap(f32),
    /// A table's header row: repeated on each page the table continues on.
    Header(Vec<Column>, Vec<String>),
    /// A table row (9 pt; `true`: bold).
    Row(Vec<Column>, Vec<String>, bool),
    /// A thin line across the page.
    Rule,
    /// The end of a table: later pages repeat no header.
    EndTable,
}

/// Page size and margins, in points.
#[derive(Debug, Clone, Copy)]
pub struct Sheet {
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// Margin on every side.
    pub margin: f32,
}

/// A4, portrait.
pub const A4: Sheet = Sheet {
    width: 595.0,
    height: 842.0,
    margin: 48.0,
};

/// A4, landscape.
pub const A4_LANDSCAPE: Sheet = Sheet {
    width: 842.0,
    height: 595.0,
    margin: 36.0,
};

/// Average advance of DejaVu Sans, in ems, for cutting cells to their column (the widest
/// capitals run about 0.75 em; digits and lower case about 0.6).
const EM_PER_CHAR: f32 = 0.62;

fn height(b: &Block) -> f32 {
    match b {
        Block::Title(_) => 28.0,
        Block::Heading(_) => 20.0,
        Block::Text(_) => 14.0,
        Block::Small(_) => 11.0,
        Block::Gap(g) => *g,
        Block::Header(..) | Block::Row(..) => 13.0,
        Block::Rule => 6.0,
        Block::EndTable => 0.0,
    }
}

/// `text` cut to fit `width` points at `size`, with an ellipsis when cut.
fn fit(text: &str, width: f32, size: f32) -> String {
    let max = ((width / (size * EM_PER_CHAR)).floor() as usize).max(1);
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `text` broken at spaces into lines of at most `width` points at `size` (a word longer than
/// a line is cut by [`fit`]).
fn wrap(text: &str, width: f32, size: f32) -> Vec<String> {
    let max = ((width / (size * EM_PER_CHAR)).floor() as usize).max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// Blocks of text longer than a line, as one block per line.
fn wrapped(blocks: &[Block], sheet: Sheet) -> Vec<Block> {
    let width = sheet.width - 2.0 * sheet.margin;
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        match b {
            Block::Text(t) => out.extend(wrap(t, width, 10.0).into_iter().map(Block::Text)),
            Block::Small(t) => out.extend(wrap(t, width, 8.0).into_iter().map(Block::Small)),
            other => out.push(other.clone()),
        }
    }
    out
}

/// Lays `blocks` out on pages of `sheet`: the blocks of each page, a continued table's header
/// first.
pub fn paginate(blocks: &[Block], sheet: Sheet, footer: f32) -> Vec<Vec<Block>> {
    let bottom = sheet.height - sheet.margin - footer;
    let mut pages: Vec<Vec<Block>> = vec![Vec::new()];
    let mut y = sheet.margin;
    let mut header: Option<Block> = None;
    for b in blocks {
        if matches!(b, Block::EndTable) {
            header = None;
            continue;
        }
        if y + height(b) > bottom && !pages.last().is_none_or(Vec::is_empty) {
            pages.push(Vec::new());
            y = sheet.margin;
            if let (Some(h), Block::Row(..)) = (&header, b) {
                if let Some(page) = pages.last_mut() {
                    page.push(h.clone());
                }
                y += height(h);
            }
        }
        if let Block::Header(..) = b {
            header = Some(b.clone());
        }
        if let Some(page) = pages.last_mut() {
            page.push(b.clone());
        }
        y += height(b);
    }
    pages
}

fn grey(level: u8) -> Fill {
    Fill {
        paint: rgb::Color::new(level, level, level).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// Renders `blocks` as a PDF on `sheet`, each page footed with `footer_text` and its number:
/// the bytes and the page count.
pub fn render(
    fonts: &Fonts,
    sheet: Sheet,
    blocks: &[Block],
    footer_text: &str,
) -> Result<(Vec<u8>, usize), String> {
    let pages = paginate(&wrapped(blocks, sheet), sheet, 24.0);
    let total = pages.len();
    let mut document = Document::new();
    for (n, page_blocks) in pages.iter().enumerate() {
        let settings = PageSettings::from_wh(sheet.width, sheet.height).ok_or("bad page size")?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let mut y = sheet.margin;
        let text = |surface: &mut krilla::surface::Surface<'_>,
                    x: f32,
                    y: f32,
                    font: &Font,
                    size: f32,
                    s: &str| {
            surface.draw_text(
                Point::from_xy(x, y),
                font.clone(),
                size,
                s,
                false,
                TextDirection::Auto,
            );
        };
        for b in page_blocks {
            let h = height(b);
            let base = y + h - 3.0;
            match b {
                Block::Title(s) => {
                    surface.set_fill(Some(grey(0)));
                    text(&mut surface, sheet.margin, base - 4.0, &fonts.bold, 18.0, s);
                }
                Block::Heading(s) => {
                    surface.set_fill(Some(grey(0)));
                    text(&mut surface, sheet.margin, base, &fonts.bold, 12.0, s);
                }
                Block::Text(s) | Block::Small(s) => {
                    let (size, level) = match b {
                        Block::Small(_) => (8.0, 90),
                        _ => (10.0, 0),
                    };
                    surface.set_fill(Some(grey(level)));
                    let width = sheet.width - 2.0 * sheet.margin;
                    text(
                        &mut surface,
                        sheet.margin,
                        base,
                        &fonts.regular,
                        size,
                        &fit(s, width, size),
                    );
                }
                Block::Header(cols, cells) | Block::Row(cols, cells, _) => {
                    let bold = matches!(b, Block::Header(..) | Block::Row(_, _, true));
                    let font = if bold { &fonts.bold } else { &fonts.regular };
                    surface.set_fill(Some(grey(0)));
                    for (c, cell) in cols.iter().zip(cells) {
                        let s = fit(cell, c.width, 9.0);
                        let x = match c.align {
                            Align::Left => sheet.margin + c.x,
                            // Right-aligned cells are numbers and codes: their width is
                            // close to the estimate.
                            Align::Right => {
                                sheet.margin + c.x + c.width - s.chars().count() as f32 * 9.0 * 0.6
                            }
                        };
                        text(&mut surface, x, base, font, 9.0, &s);
                    }
                    if matches!(b, Block::Header(..)) {
                        rule(&mut surface, sheet, y + h + 1.0);
                    }
                }
                Block::Rule => rule(&mut surface, sheet, y + h / 2.0),
                Block::Gap(_) | Block::EndTable => {}
            }
            y += h;
        }
        surface.set_fill(Some(grey(90)));
        let foot = format!("{footer_text} · page {} of {total}", n + 1);
        let foot = fit(&foot, sheet.width - 2.0 * sheet.margin, 8.0);
        surface.draw_text(
            Point::from_xy(sheet.margin, sheet.height - sheet.margin / 2.0),
            fonts.regular.clone(),
            8.0,
            &foot,
            false,
            TextDirection::Auto,
        );
        surface.finish();
        page.finish();
    }
    let bytes = document
        .finish()
        .map_err(|e| format!("the PDF could not be written: {e:?}"))?;
    Ok((bytes, total))
}

fn rule(surface: &mut krilla::surface::Surface<'_>, sheet: Sheet, y: f32) {
    let mut pb = PathBuilder::new();
    pb.move_to(sheet.margin, y);
    pb.line_to(sheet.width - sheet.margin, y);
    if let Some(path) = pb.finish() {
        surface.set_fill(None);
        surface.set_stroke(Some(Stroke {
            paint: rgb::Color::new(160, 160, 160).into(),
            width: 0.5,
            ..Default::default()
        }));
        surface.draw_path(&path);
        surface.set_stroke(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_cells_are_cut_and_continued_tables_repeat_their_header() {
        assert_eq!(fit("short", 100.0, 9.0), "short");
        let cut = fit(&"x".repeat(200), 60.0, 9.0);
        assert!(cut.ends_with('…') && cut.chars().count() < 20, "{cut}");
        let cols = vec![Column {
            x: 0.0,
            width: 100.0,
            align: Align::Left,
        }];
        let mut blocks = vec![
            Block::Title("T".into()),
            Block::Header(cols.clone(), vec!["H".into()]),
        ];
        for i in 0..200 {
            blocks.push(Block::Row(cols.clone(), vec![i.to_string()], false));
        }
        blocks.push(Block::EndTable);
        blocks.push(Block::Text("after".into()));
        let pages = paginate(&blocks, A4, 24.0);
        assert!(pages.len() >= 3, "{}", pages.len());
        for p in &pages[1..] {
            assert!(matches!(p[0], Block::Header(..)), "{:?}", p[0]);
        }
        let rows: usize = pages
            .iter()
            .flatten()
            .filter(|b| matches!(b, Block::Row(..)))
            .count();
        assert_eq!(rows, 200);
        let lines = wrap(&"word ".repeat(60), 200.0, 10.0);
        assert!(
            lines.len() > 5 && lines.iter().all(|l| l.chars().count() <= 32),
            "{lines:?}"
        );
    }
}
