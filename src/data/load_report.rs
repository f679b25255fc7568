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
    /// Audio as mel features: the fractions of feature values outside [-1, 1], clamped there
    /// (generator space; see `mel_clips`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clamped: Option<super::mel_clips::Clamped>,
}

/// Above this fraction of mel values clamped at +1, the front end's `mean`/`std` do not fit
/// the clips: their loudest detail flattens, where the classifier and D see nothing.
pub const MAX_CLAMPED_FRACTION: f64 = 0.02;

/// Above this fraction clamped at −1, most of the features are flat: the quiet end is not
/// just silence at the floor (a third of the bundled clips' values are, harmlessly).
pub const MAX_FLOORED_FRACTION: f64 = 0.6;

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
        let mut line = if self.skipped == 0 {
            format!("loaded {} {noun}", self.loaded)
        } else {
            format!(
                "loaded {} {noun}, skipped {} bad ones (--skip-bad); first: {}",
                self.loaded,
                self.skipped,
                self.problems.first().map(String::as_str).unwrap_or("")
            )
        };
        if let Some(c) = self.clamped {
            line.push_str(&format!(
                "; mel feature values clamped to [-1, 1]: {:.2}% above, {:.1}% below",
                100.0 * c.above,
                100.0 * c.below
            ));
        }
        line
    }

    /// A warning when too many mel feature values were clamped for `what` (e.g. "--data x").
    pub fn clamp_warning(&self, what: &str) -> Option<String> {
        let c = self.clamped?;
        let (share, end, limit) = if c.above > MAX_CLAMPED_FRACTION {
            (
                c.above,
                "above 1 (their loudest detail)",
                MAX_CLAMPED_FRACTION,
            )
        } else if c.below > MAX_FLOORED_FRACTION {
            (
                c.below,
                "below -1 (more than silence)",
                MAX_FLOORED_FRACTION,
            )
        } else {
            return None;
        };
        Some(format!(
            "warning: {what}: {:.1}% of the mel feature values fall {end} and are clamped \
             (limit {:.0}%): the adapter's [mel] mean/std do not fit these clips, so that part \
             reaches the classifier flat; set mean/std so that the clips' log-mel values span \
             about [-1, 1]",
            100.0 * share,
            100.0 * limit
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamped_mel_values_are_summarised_and_warned_about_above_the_limit() {
        let images = LoadReport {
            loaded: 3,
            ..Default::default()
        };
        assert_eq!(images.summary(), "loaded 3 images");
        assert!(images.clamp_warning("x").is_none());
        let with = |above, below| LoadReport {
            clamped: Some(super::super::mel_clips::Clamped { above, below }),
            ..images.clone()
        };
        // Silence at the floor is no alarm.
        let fits = with(0.004, 0.34);
        let line = fits.summary_of("clips");
        assert!(
            line.ends_with("clamped to [-1, 1]: 0.40% above, 34.0% below"),
            "{line}"
        );
        assert!(fits.clamp_warning("x").is_none());
        let w = with(0.15, 0.1).clamp_warning("--data loud/").unwrap();
        assert!(
            w.contains("--data loud/") && w.contains("15.0%") && w.contains("above 1"),
            "{w}"
        );
        let w = with(0.0, 0.8).clamp_warning("--data quiet/").unwrap();
        assert!(w.contains("80.0%") && w.contains("below -1"), "{w}");
    }
}
