//! The two-item images: items placed on the canvas, rescaled and resized (layout
//! `sener-koltun`) or jittered (`pareto-mtl`), and each split's left items paired with
//! partners drawn by a seeded ChaCha8 stream.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Layout;
use crate::formats::FormatError;
use crate::image_sources::normalise;
use crate::raw::ImageSet;
use crate::tabular::TabularSplit;
use crate::{Result, Targets};

/// Side of the canvas the two items are placed on.
pub const CANVAS: usize = 36;
/// Side of a Sener & Koltun output image.
pub const OUT_SIDE: usize = 28;
/// Offset of the right item in the Sener & Koltun layout.
pub const RIGHT_OFFSET: usize = 6;
/// Largest shift of an item in the Pareto-MTL layout.
pub const JITTER: i64 = 4;

/// Composed two-item images of one split with both labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiImageSet {
    /// Image side.
    pub side: usize,
    /// `len × side × side` pixels.
    pub pixels: Vec<u8>,
    /// Left item's class per image.
    pub left: Vec<u8>,
    /// Right item's class per image.
    pub right: Vec<u8>,
}

/// Draws `item` (28 × 28) onto `canvas` (`CANVAS²`) at (`top`, `left`) by pixel-wise maximum,
/// dropping pixels that fall outside.
fn place(canvas: &mut [u8], item: &[u8], side: usize, top: i64, left: i64) {
    for r in 0..side {
        for c in 0..side {
            let (y, x) = (top + r as i64, left + c as i64);
            if (0..CANVAS as i64).contains(&y) && (0..CANVAS as i64).contains(&x) {
                let at = y as usize * CANVAS + x as usize;
                canvas[at] = canvas[at].max(item[r * side + c]);
            }
        }
    }
}

/// Rescales to 0..255 (rounded half up) as `scipy.misc.bytescale`.
fn bytescale(canvas: &mut [u8]) {
    let (lo, hi) = canvas
        .iter()
        .fold((u8::MAX, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if hi > lo {
        let span = u32::from(hi - lo);
        for v in canvas.iter_mut() {
            *v = ((u32::from(*v - lo) * 510 + span) / (2 * span)) as u8;
        }
    }
}

/// Nearest-neighbour resize of a `CANVAS²` image to `OUT_SIDE²` (PIL's sampling).
fn resize(canvas: &[u8]) -> Vec<u8> {
    let src = |d: usize| (2 * d + 1) * CANVAS / (2 * OUT_SIDE);
    (0..OUT_SIDE * OUT_SIDE)
        .map(|i| canvas[src(i / OUT_SIDE) * CANVAS + src(i % OUT_SIDE)])
        .collect()
}

/// The composed image of items `a` (left) and `b` (right), each `side × side`, with item
/// shifts `(dy_a, dx_a, dy_b, dx_b)` (zero for the Sener & Koltun layout).
pub fn render(layout: Layout, a: &[u8], b: &[u8], side: usize, shift: [i64; 4]) -> Vec<u8> {
    let mut canvas = vec![0u8; CANVAS * CANVAS];
    let off = RIGHT_OFFSET as i64;
    place(&mut canvas, a, side, shift[0], shift[1]);
    place(&mut canvas, b, side, off + shift[2], off + shift[3]);
    match layout {
        Layout::SenerKoltun => {
            bytescale(&mut canvas);
            resize(&canvas)
        }
        Layout::ParetoMtl => canvas,
    }
}

/// Pairs every image of `left` with a partner drawn from `right` (stream `stream` of
/// ChaCha8 seeded by `seed`) and renders the pairs.
pub fn compose(
    left: &ImageSet,
    right: &ImageSet,
    layout: Layout,
    seed: u64,
    stream: u64,
) -> Result<MultiImageSet> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let side = layout.side();
    let mut out = MultiImageSet {
        side,
        pixels: Vec::with_capacity(left.len() * side * side),
        left: Vec::with_capacity(left.len()),
        right: Vec::with_capacity(left.len()),
    };
    if right.is_empty() && !left.is_empty() {
        return Err(
            FormatError::invalid("partner images", "split", "at least one image", "none").into(),
        );
    }
    for i in 0..left.len() {
        let mut j = rng.random_range(0..right.len());
        let mut shift = [0i64; 4];
        if layout == Layout::ParetoMtl {
            let mut tries = 0;
            while right.labels[j] == left.labels[i] {
                tries += 1;
                if tries > 10_000 {
                    return Err(FormatError::invalid(
                        "partner images",
                        format!("partner of left image {i}"),
                        "a partner of another class",
                        format!("only class {} after 10000 draws", left.labels[i]),
                    )
                    .into());
                }
                j = rng.random_range(0..right.len());
            }
            for s in &mut shift {
                *s = rng.random_range(-JITTER..=JITTER);
            }
        }
        out.pixels.extend(render(
            layout,
            left.image(i),
            right.image(j),
            left.rows,
            shift,
        ));
        out.left.push(left.labels[i]);
        out.right.push(right.labels[j]);
    }
    Ok(out)
}

impl MultiImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.left.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.left.is_empty()
    }

    pub(super) fn into_split(self) -> TabularSplit {
        let labels = |v: Vec<u8>| Targets::Labels(v.into_iter().map(u32::from).collect());
        TabularSplit {
            x: self.pixels.iter().map(|&p| normalise(p)).collect(),
            dim: self.side * self.side,
            targets: vec![labels(self.left), labels(self.right)],
        }
    }
}
