//! Pictures for examples and experiment logs: PNG grids of image batches, volume slices and
//! label maps ([`save_image_grid`], [`GridBuilder`]), and loss curves ([`save_loss_plot`]).
//! Everything is drawn in-house on an [`RgbImage`] and written with the `png` crate.

pub mod canvas;
pub mod font;
pub mod grid;
pub mod palette;
pub mod plot;

pub use canvas::{Rgb, RgbImage};
pub use grid::{
    GRID_BACKGROUND, GridBuilder, MAX_GRID_PIXELS, NAN_COLOR, VolumeSlice, save_image_grid,
    save_volume_grid, volume_slices,
};
pub use palette::{LABEL_PALETTE, heat_map_to_rgb, label_color, label_map_to_rgb};
pub use plot::{LossPlotConfig, render_loss_plot, save_loss_plot};
