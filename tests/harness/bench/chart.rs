//! The report as a PNG: one panel per figure, with a bar each for Berth, kcm
//! and raw on the figure's own scale. Text needs a font file (plotters draws
//! with ab_glyph, not the system's font config): DejaVu Sans if installed,
//! else the panels are drawn without text and the JSON report carries the
//! labels (in the same order: left to right, top to bottom).
use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use super::CONTENDERS;
use super::report::Figure;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const COLUMNS: usize = 4;
const PANEL: (u32, u32) = (420, 300);
const BARS: [(&str, RGBColor); 3] = [("berth", RGBColor(31, 119, 180)), ("kcm", RGBColor(255, 127, 14)), ("raw", RGBColor(127, 127, 127))];

/// Draws the chart; returns whether it has text.
pub fn draw(figures: &[Figure], path: &Path) -> Result<bool> {
    let labelled = register_font();
    let rows = figures.len().div_ceil(COLUMNS).max(1);
    let root = BitMapBackend::new(path, (PANEL.0 * COLUMNS as u32, PANEL.1 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    for (figure, area) in figures.iter().zip(root.split_evenly((rows, COLUMNS))) {
        panel(figure, &area, labelled).map_err(|e| anyhow!("drawing {}: {e}", figure.metric))?;
    }
    root.present().map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(labelled)
}

fn register_font() -> bool {
    let Ok(bytes) = std::fs::read(FONT) else { return false };
    // plotters keeps the font for the life of the process.
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice())).is_ok()
}

fn panel(figure: &Figure, area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, labelled: bool) -> Result<(), Box<dyn std::error::Error>> {
    let values = CONTENDERS.map(|c| figure.median(c));
    let top = values.iter().flatten().copied().fold(0.0_f64, f64::max).max(1e-9) * 1.15;
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if labelled {
        builder.caption(format!("{}: {}", figure.scenario, figure.metric), ("sans-serif", 13)).x_label_area_size(22).y_label_area_size(48);
    }
    let mut chart = builder.build_cartesian_2d(0.0_f64..3.0, 0.0..top)?;
    if labelled {
        chart.configure_mesh().disable_x_mesh().x_labels(0).y_desc(figure.unit.as_str()).label_style(("sans-serif", 11)).draw()?;
    }
    for (i, ((name, color), value)) in BARS.iter().zip(values).enumerate() {
        let x = i as f64;
        let Some(value) = value else { continue };
        chart.draw_series([Rectangle::new([(x + 0.15, 0.0), (x + 0.85, value)], color.filled())])?;
        if labelled {
            chart.draw_series([Text::new(format!("{name} {value:.2}"), (x + 0.12, value + top * 0.02), ("sans-serif", 11))])?;
        }
    }
    Ok(())
}
