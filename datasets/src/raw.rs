//! Decoded source data shared by the format readers (IDX, npm JSON, parquet) and the
//! benchmark builders.

/// Grey-scale labelled images, row-major, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// `len() × rows × cols` pixels, 0..=255.
    pub pixels: Vec<u8>,
    /// One class label per image.
    pub labels: Vec<u8>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}
