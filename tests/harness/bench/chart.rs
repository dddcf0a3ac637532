//! The report as a PNG: one panel per figure, with a bar each for Berth, kcm
//! and raw on the figure's own scale (the median, with a whisker from min to
//! max when a contender ran more than once); below them one panel of every
//! figure's Berth/kcm ratio as a horizontal bar against a line at 1.0. Text
//! needs a font file (plotters draws with ab_glyph, not the system's font
//! config): DejaVu Sans if installed, else the panels are drawn without text
//! and the JSON report carries the labels (in the same order: left to right,
//! top to bottom).
use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::CONTENDERS;
use super::report::Figure;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const COLUMNS: usize = 4;
const PANEL: (u32, u32) = (420, 300);
const BARS: [(&str, RGBColor); 3] = [("berth", RGBColor(31, 119, 180)), ("kcm", RGBColor(255, 127, 14)), ("raw", RGBColor(127, 127, 127))];
/// The ratio panel: a row per figure, and room on the left for its name.
const RATIO_ROW: u32 = 22;
const RATIO_LABELS: u32 = 560;
const BETTER: RGBColor = RGBColor(44, 160, 44);
const WORSE: RGBColor = RGBColor(214, 39, 40);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws the chart; returns whether it has text.
pub fn draw(figures: &[Figure], path: &Path) -> Result<bool> {
    let labelled = register_font();
    let rows = figures.len().div_ceil(COLUMNS).max(1);
    let ratios: Vec<(String, f64)> = figures.iter().filter_map(|f| Some((format!("{}: {}", f.scenario, f.metric), f.berth_vs_kcm?))).collect();
    let bars_height = PANEL.1 * rows as u32;
    let ratio_height = RATIO_ROW * ratios.len() as u32 + 80;
    let root = BitMapBackend::new(path, (PANEL.0 * COLUMNS as u32, bars_height + ratio_height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (bars, ratio_area) = root.split_vertically(bars_height);
    for (figure, area) in figures.iter().zip(bars.split_evenly((rows, COLUMNS))) {
        panel(figure, &area, labelled).map_err(|e| anyhow!("drawing {}: {e}", figure.metric))?;
    }
    ratio_panel(&ratios, &ratio_area, labelled).map_err(|e| anyhow!("drawing the ratios: {e}"))?;
    root.present().map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(labelled)
}

fn register_font() -> bool {
    let Ok(bytes) = std::fs::read(FONT) else { return false };
    // plotters keeps the font for the life of the process.
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice())).is_ok()
}

fn panel(figure: &Figure, area: &Area<'_>, labelled: bool) -> Result<(), Box<dyn std::error::Error>> {
    let runs = CONTENDERS.map(|c| figure.runs(c));
    // From zero, or below it for a negative figure (a slope may be).
    let top = runs.iter().flatten().map(|r| r.max).fold(0.0_f64, f64::max).max(1e-9) * 1.15;
    let bottom = runs.iter().flatten().map(|r| r.min).fold(0.0_f64, f64::min) * 1.15;
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if labelled {
        builder.caption(format!("{}: {}", figure.scenario, figure.metric), ("sans-serif", 13)).x_label_area_size(22).y_label_area_size(48);
    }
    let mut chart = builder.build_cartesian_2d(0.0_f64..3.0, bottom..top)?;
    if labelled {
        chart.configure_mesh().disable_x_mesh().x_labels(0).y_desc(figure.unit.as_str()).label_style(("sans-serif", 11)).draw()?;
    }
    for (i, ((name, color), runs)) in BARS.iter().zip(runs).enumerate() {
        let x = i as f64;
        let Some(runs) = runs else { continue };
        chart.draw_series([Rectangle::new([(x + 0.15, 0.0), (x + 0.85, runs.median)], color.filled())])?;
        if runs.values.len() > 1 {
            let (middle, cap) = (x + 0.5, 0.12);
            let whisker = [
                vec![(middle, runs.min), (middle, runs.max)],
                vec![(middle - cap, runs.min), (middle + cap, runs.min)],
                vec![(middle - cap, runs.max), (middle + cap, runs.max)],
            ];
            chart.draw_series(whisker.map(|line| PathElement::new(line, BLACK.stroke_width(1))))?;
        }
        if labelled {
            chart.draw_series([Text::new(format!("{name} {:.2}", runs.median), (x + 0.12, runs.max.max(0.0) + top * 0.02), ("sans-serif", 11))])?;
        }
    }
    Ok(())
}

/// Every figure's Berth/kcm ratio of medians, top to bottom in the report's
/// order: green at or below 1.0 (Berth as good or better), red above.
fn ratio_panel(ratios: &[(String, f64)], area: &Area<'_>, labelled: bool) -> Result<(), Box<dyn std::error::Error>> {
    let right = ratios.iter().map(|r| r.1).fold(1.0_f64, f64::max) * 1.15;
    let left = ratios.iter().map(|r| r.1).fold(0.0_f64, f64::min) * 1.15;
    let rows = ratios.len().max(1) as f64;
    let mut builder = ChartBuilder::on(area);
    builder.margin(12).y_label_area_size(RATIO_LABELS);
    if labelled {
        builder.caption("Berth / kcm (median over median; below 1.0: Berth did better)", ("sans-serif", 14)).x_label_area_size(22);
    }
    let mut chart = builder.build_cartesian_2d(left..right, 0.0..rows)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh().y_labels(0).light_line_style(TRANSPARENT);
    if labelled {
        mesh.label_style(("sans-serif", 11));
    } else {
        mesh.x_labels(0);
    }
    mesh.draw()?;
    let base = area.get_base_pixel();
    for (i, (name, ratio)) in ratios.iter().enumerate() {
        let y = rows - 1.0 - i as f64;
        let color = if *ratio <= 1.0 { BETTER } else { WORSE };
        chart.draw_series([Rectangle::new([(0.0, y + 0.2), (*ratio, y + 0.8)], color.filled())])?;
        if labelled {
            let after_bar = Pos::new(HPos::Left, VPos::Center);
            chart.draw_series([Text::new(format!(" {ratio:.2}"), (*ratio, y + 0.5), ("sans-serif", 11).into_font().into_text_style(area).pos(after_bar))])?;
            // The figure's name in the label area left of the axis, in the area's own pixels.
            let (x, y) = chart.backend_coord(&(left, y + 0.5));
            let style = ("sans-serif", 11).into_font().into_text_style(area).pos(Pos::new(HPos::Right, VPos::Center));
            area.draw(&Text::new(name.clone(), (x - base.0 - 6, y - base.1), style))?;
        }
    }
    chart.draw_series([PathElement::new(vec![(1.0, 0.0), (1.0, rows)], BLACK.stroke_width(2))])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Runs;

    fn runs(values: &[f64]) -> Option<Runs> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Runs { median: sorted[sorted.len() / 2], min: sorted[0], max: sorted[sorted.len() - 1], values: values.to_vec() })
    }

    #[test]
    fn draws_bars_with_whiskers_negative_figures_and_a_ratio_panel() {
        let figure = |metric: &str, berth: &[f64], kcm: &[f64], raw: Option<&[f64]>| Figure {
            scenario: "scale-up".into(), metric: metric.into(), unit: "s".into(),
            berth: runs(berth), kcm: runs(kcm), raw: raw.and_then(runs),
            berth_vs_kcm: Some(runs(berth).unwrap().median / runs(kcm).unwrap().median), berth_vs_raw: None,
        };
        let figures = [
            figure("1 service x 1000: all exist", &[8.0, 8.2, 9.1], &[8.1, 8.3, 8.6], Some(&[2.7, 2.8, 2.9])),
            figure("100 services x 10: all exist", &[13.0, 13.6, 14.0], &[10.2, 10.7, 11.0], Some(&[2.7, 2.8, 2.9])),
            figure("resident memory with 10000 tasks", &[125.0], &[241.0], None),
        ];
        let slope = Figure { scenario: "slope".into(), metric: "one Service reconcile per 1,000 tasks".into(), unit: "ms/1k tasks".into(),
            berth: runs(&[-0.7]), kcm: None, raw: None, berth_vs_kcm: None, berth_vs_raw: None };
        let figures = [figures.as_slice(), &[slope]].concat();
        let path = std::env::temp_dir().join(format!("berth-chart-{}.png", std::process::id()));
        draw(&figures, &path).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
        if std::env::var("BERTH_KEEP_CHART").is_err() {
            std::fs::remove_file(&path).unwrap();
        }
    }
}
