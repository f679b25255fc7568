//! Options shared by the file-based loaders, and what they report about bad input.

/// How file-based loaders (image folders, CSV metadata) decode images.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Resize every image to `(height, width)`; `None`: the first image's size, and any
    /// other size is an error (batches need one size).
    pub size: Option<(usize, usize)>,
    /// 1 (grey) or 3 (RGB); `None`: 3.
    pub channels: Option<usize>,
    /// Skip unreadable images and bad rows instead of failing; they are counted and listed.
    pub skip_bad: bool,
    /// How WAV folders become mel features; `None`: `MelFeatures::voices()` (an audio
    /// adapter's `[mel]` table is passed here wherever a run has one).
    pub mel: Option<super::mel_clips::MelFeatures>,
}

/// What a loader skipped (only with `skip_bad`; otherwise the first problem is an error).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadReport {
    pub loaded: usize,
    pub skipped: usize,
    /// The first few problems, each naming the file and row.
    pub problems: Vec<String>,
}

impl LoadReport {
    pub(crate) fn skip(&mut self, problem: String) {
        self.skipped += 1;
        if self.problems.len() < 20 {
            self.problems.push(problem);
        }
    }

    /// One line for the terminal.
    pub fn summary(&self) -> String {
        self.summary_of("images")
    }

    /// One line for the terminal, counting `noun` (e.g. "WAV files").
    pub fn summary_of(&self, noun: &str) -> String {
        if self.skipped == 0 {
            format!("loaded {} {noun}", self.loaded)
        } else {
            format!(
                "loaded {} {noun}, skipped {} bad ones (--skip-bad); first: {}",
                self.loaded,
                self.skipped,
                self.problems.first().map(String::as_str).unwrap_or("")
            )
        }
    }
}
