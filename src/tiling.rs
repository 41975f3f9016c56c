//! Splitting an image into tiles of one constant shape, and stitching the results.
//!
//! A GPU (and a browser tab) has a memory limit that a whole photo can exceed, and a compiled
//! kernel is cheapest reused on one shape; so the network sees tiles of a fixed size. Each tile
//! carries `context` pixels of border on every side (the network's receptive radius; its
//! convolutions are all *valid*), read from the image with reflection where the border falls
//! outside. Each output pixel is then computed from exactly the inputs it would see untiled,
//! so stitching is a plain copy of each tile's interior and the result does not depend on the
//! tile size. The last tile of a row or column is shifted back inside the image rather than
//! padded, which keeps every tile the same shape.
//!
//! Imported networks ([`crate::compact`]) pad every convolution with zeros instead: their tiles
//! carry zeros where the border falls outside the image, and the network, told how much of the
//! border that is ([`Outside`]), zeroes those pixels again after each layer, which is what zero
//! padding at the image's edge computes. Their tiles join exactly too.

use image::RgbImage;

use crate::{Error, Result};

/// A rectangle of pixels: a tile's interior in input-image coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// What a tile's border holds where it falls outside the image: what the network was trained
/// to see there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Border {
    /// The image mirrored about its edge pixels (upres's networks: valid convolutions).
    #[default]
    Reflect,
    /// Zeros, at every layer (networks whose convolutions pad with zeros).
    Zero,
}

/// How many pixels of a tile's border lie outside the image on each side: a zero-padded network
/// keeps them zero at every layer. All zero for a tile whose border is inside the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outside {
    pub left: usize,
    pub top: usize,
    pub right: usize,
    pub bottom: usize,
}

/// How one image is cut into tiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TilePlan {
    /// Interior size shared by every tile (at most the requested tile size).
    pub tile_width: usize,
    pub tile_height: usize,
    /// Border pixels each tile carries on every side.
    pub context: usize,
    /// What the border holds where it falls outside the image.
    pub border: Border,
    /// Tile interiors, row by row; the last ones of a row or column may overlap their neighbours.
    pub tiles: Vec<Rect>,
    /// The image's width and height.
    pub image: (usize, usize),
}

impl TilePlan {
    /// Plans tiles of at most `tile_size`² interior pixels for a `width`×`height` image, as
    /// few per row and column as that allows and as even as they can be, so that overlapping
    /// tiles do not repeat much work (512 px cut by 400 px tiles is two of 256, not 400 + 400).
    pub fn new(width: usize, height: usize, tile_size: usize, context: usize) -> Result<Self> {
        Self::with_border(width, height, tile_size, context, Border::Reflect)
    }

    /// [`TilePlan::new`] for a network that expects `border` outside the image.
    pub fn with_border(width: usize, height: usize, tile_size: usize, context: usize, border: Border) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::Parameter(format!("cannot tile an empty image ({width}×{height})")));
        }
        if tile_size == 0 {
            return Err(Error::Parameter("the tile size must be at least 1 pixel".into()));
        }
        let tile_width = even_tile(width, tile_size);
        let tile_height = even_tile(height, tile_size);
        let xs = starts(width, tile_width);
        let tiles = starts(height, tile_height)
            .into_iter()
            .flat_map(|y| xs.iter().map(move |&x| Rect { x, y, width: tile_width, height: tile_height }))
            .collect();
        Ok(Self { tile_width, tile_height, context, border, tiles, image: (width, height) })
    }

    /// Input size of every tile: the interior plus its border.
    pub fn input_size(&self) -> (usize, usize) {
        (self.tile_width + 2 * self.context, self.tile_height + 2 * self.context)
    }

    /// The network input for `tile`: planar RGB (`[3, h, w]`), values in 0..1, the border
    /// reflected or zero outside the image ([`Border`]).
    pub fn extract(&self, tile: Rect, source: &RgbImage) -> Vec<f32> {
        let (width, height) = self.input_size();
        let (source_width, source_height) = (source.width() as usize, source.height() as usize);
        let place = |start: usize, i: usize, len: usize| {
            let index = start as isize + i as isize - self.context as isize;
            match self.border {
                Border::Reflect => Some(reflect(index, len)),
                Border::Zero => usize::try_from(index).ok().filter(|&index| index < len),
            }
        };
        let columns: Vec<Option<usize>> = (0..width).map(|i| place(tile.x, i, source_width)).collect();
        let mut planes = vec![0.0f32; 3 * width * height];
        let raw = source.as_raw();
        for row in 0..height {
            let Some(y) = place(tile.y, row, source_height) else { continue };
            let line = &raw[y * source_width * 3..(y + 1) * source_width * 3];
            for (i, x) in columns.iter().enumerate() {
                let Some(x) = x else { continue };
                for channel in 0..3 {
                    planes[(channel * height + row) * width + i] = f32::from(line[x * 3 + channel]) / 255.0;
                }
            }
        }
        planes
    }

    /// How much of `tile`'s border lies outside the image; nothing for reflected borders, which
    /// the network reads as image.
    pub fn outside(&self, tile: Rect) -> Outside {
        if self.border == Border::Reflect {
            return Outside::default();
        }
        let (width, height) = self.image;
        let before = |start: usize| self.context.saturating_sub(start);
        let after = |end: usize, len: usize| (end + self.context).saturating_sub(len).min(self.context);
        Outside {
            left: before(tile.x),
            top: before(tile.y),
            right: after(tile.x + tile.width, width),
            bottom: after(tile.y + tile.height, height),
        }
    }

    /// Writes the network output for `tile` (interleaved RGB from [`to_rgb`], `scale`× the
    /// interior) into `dest`, which is `scale`× the input image.
    pub fn paste(&self, tile: Rect, scale: usize, rgb: &[u8], dest: &mut RgbImage) {
        let row_bytes = tile.width * scale * 3;
        let dest_width = dest.width() as usize;
        let raw: &mut [u8] = dest;
        for (row, line) in rgb.chunks_exact(row_bytes).take(tile.height * scale).enumerate() {
            let start = ((tile.y * scale + row) * dest_width + tile.x * scale) * 3;
            raw[start..start + row_bytes].copy_from_slice(line);
        }
    }
}

/// The network's planar output (three planes, values in 0..1) as interleaved 8-bit RGB. Done
/// where the tile ran: in the browser, in the tile worker, so that the worker that stitches
/// copies rows and moves a quarter of the bytes.
pub fn to_rgb(planes: &[f32]) -> Vec<u8> {
    let plane = planes.len() / 3;
    let (red, rest) = planes.split_at(plane);
    let (green, blue) = rest.split_at(plane);
    red.iter().zip(green).zip(blue).flat_map(|((&r, &g), &b)| [to_u8(r), to_u8(g), to_u8(b)]).collect()
}

/// Rounds a 0..1 sample to 8 bits, clamping what the network overshoots.
pub fn to_u8(value: f32) -> u8 {
    (value * 255.0).round().clamp(0.0, 255.0) as u8
}

/// The tile length that covers `len` with the fewest tiles of at most `max`, rounded up to a
/// multiple of 16 (fewer distinct shapes for the GPU's compiled kernels) within `max`.
fn even_tile(len: usize, max: usize) -> usize {
    if len <= max {
        return len;
    }
    let count = len.div_ceil(max);
    len.div_ceil(count).next_multiple_of(16).min(max)
}

/// Start offsets of tiles of length `tile` covering `0..len`, the last one flush with the end.
fn starts(len: usize, tile: usize) -> Vec<usize> {
    let mut starts: Vec<usize> = (0..len).step_by(tile).take_while(|&x| x + tile < len).collect();
    starts.push(len - tile);
    starts
}

/// Maps any index onto `0..len` by mirroring about the edge pixels (…2 1 | 0 1 2 … n−1 | n−2…),
/// folding again as often as needed, so even a 1-pixel-wide image can carry a wide border.
pub fn reflect(index: isize, len: usize) -> usize {
    if len <= 1 {
        return 0;
    }
    let period = 2 * (len as isize - 1);
    let folded = index.rem_euclid(period);
    (if folded >= len as isize { period - folded } else { folded }) as usize
}

/// The largest tile interior whose input, with its border, keeps the network's activations
/// within `budget_bytes`, given the activation bytes per tile input pixel.
pub fn tile_size_for_budget(budget_bytes: u64, bytes_per_pixel: u64, context: usize) -> usize {
    let pixels = budget_bytes / bytes_per_pixel.max(1);
    let side = (pixels as f64).sqrt() as usize;
    side.saturating_sub(2 * context).clamp(MIN_TILE, MAX_TILE)
}

/// Below this the border dominates the work; above it progress reports become too coarse.
pub const MIN_TILE: usize = 32;
pub const MAX_TILE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_mirrors_about_edge_pixels_and_folds() {
        let mapped: Vec<usize> = (-4..8).map(|i| reflect(i, 4)).collect();
        assert_eq!(mapped, [2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        assert_eq!(reflect(-7, 1), 0);
        assert_eq!(reflect(5, 2), 1);
    }

    #[test]
    fn tiles_cover_the_image_with_one_shape() {
        let plan = TilePlan::new(10, 7, 4, 2).unwrap();
        assert_eq!((plan.tile_width, plan.tile_height), (4, 4));
        let xs: Vec<usize> = plan.tiles.iter().filter(|t| t.y == 0).map(|t| t.x).collect();
        let ys: Vec<usize> = plan.tiles.iter().filter(|t| t.x == 0).map(|t| t.y).collect();
        assert_eq!(xs, [0, 4, 6]);
        assert_eq!(ys, [0, 3]);
        let mut covered = [false; 70];
        for tile in &plan.tiles {
            for y in tile.y..tile.y + tile.height {
                for x in tile.x..tile.x + tile.width {
                    covered[y * 10 + x] = true;
                }
            }
        }
        assert!(covered.iter().all(|&c| c));
    }

    #[test]
    fn tiles_are_as_even_as_the_maximum_allows() {
        let plan = TilePlan::new(512, 300, 401, 6).unwrap();
        assert_eq!((plan.tile_width, plan.tile_height), (256, 300));
        assert_eq!(plan.tiles.len(), 2);
        // 1000 px needs three tiles of at most 401: 336 each (334 rounded up to 16).
        let plan = TilePlan::new(1000, 1000, 401, 6).unwrap();
        assert_eq!(plan.tile_width, 336);
        assert_eq!(plan.tiles.len(), 9);
        let xs: Vec<usize> = plan.tiles.iter().filter(|t| t.y == 0).map(|t| t.x).collect();
        assert_eq!(xs, [0, 336, 664]);
    }

    #[test]
    fn small_images_get_one_tile_of_their_own_size() {
        let plan = TilePlan::new(1, 4000, 256, 6).unwrap();
        assert_eq!((plan.tile_width, plan.tile_height), (1, 256));
        assert_eq!(plan.tiles.len(), 16);
        assert!(TilePlan::new(0, 5, 8, 1).is_err());
        assert!(TilePlan::new(5, 5, 0, 1).is_err());
    }

    #[test]
    fn extract_then_paste_at_scale_one_round_trips() {
        let source = RgbImage::from_fn(9, 5, |x, y| image::Rgb([x as u8 * 20, y as u8 * 40, 7]));
        let plan = TilePlan::new(9, 5, 4, 3).unwrap();
        let mut dest = RgbImage::new(9, 5);
        for &tile in &plan.tiles {
            let input = plan.extract(tile, &source);
            let (w, h) = plan.input_size();
            // Crop the border off, as the network's valid convolutions do.
            let c = plan.context;
            let interior: Vec<f32> = (0..3)
                .flat_map(|ch| {
                    let input = &input;
                    (c..h - c).flat_map(move |y| (c..w - c).map(move |x| input[(ch * h + y) * w + x]))
                })
                .collect();
            plan.paste(tile, 1, &to_rgb(&interior), &mut dest);
        }
        assert_eq!(dest, source);
    }

    #[test]
    fn a_zero_border_is_zero_beyond_the_image_and_says_how_far() {
        let source = RgbImage::from_pixel(10, 6, image::Rgb([255, 255, 255]));
        let plan = TilePlan::with_border(10, 6, 4, 3, Border::Zero).unwrap();
        let (first, last) = (plan.tiles[0], plan.tiles[plan.tiles.len() - 1]);
        assert_eq!((first, last), (Rect { x: 0, y: 0, width: 4, height: 4 }, Rect { x: 6, y: 2, width: 4, height: 4 }));
        assert_eq!(plan.outside(first), Outside { left: 3, top: 3, right: 0, bottom: 1 });
        assert_eq!(plan.outside(last), Outside { left: 0, top: 1, right: 3, bottom: 3 });
        let (width, height) = plan.input_size();
        let input = plan.extract(first, &source);
        for y in 0..height {
            for x in 0..width {
                let inside = x >= 3 && y >= 3 && y < height - 1;
                assert_eq!(input[y * width + x], f32::from(u8::from(inside)), "({x}, {y})");
            }
        }
        let reflected = TilePlan::new(10, 6, 4, 3).unwrap();
        assert_eq!(reflected.outside(first), Outside::default());
        assert!(reflected.extract(first, &source).iter().all(|&v| v == 1.0));
    }

    #[test]
    fn budget_gives_bigger_tiles_for_more_memory() {
        let small = tile_size_for_budget(16 << 20, 400, 6);
        let large = tile_size_for_budget(256 << 20, 400, 6);
        assert!(small < large, "{small} vs {large}");
        assert_eq!(tile_size_for_budget(1, 400, 6), MIN_TILE);
        assert_eq!(tile_size_for_budget(u64::MAX, 1, 6), MAX_TILE);
    }
}
